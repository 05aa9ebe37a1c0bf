"""Dagster entry point: every definition under ``eval_pipeline/defs/`` is autoloaded.

``dg dev``, ``dg check defs`` and ``dagster dev -w workspace.yaml`` all load ``defs`` from here
(``[tool.dg]`` in ``pyproject.toml``). Nothing is listed by hand: an asset, asset check, job,
schedule or sensor defined at module level anywhere under ``defs/`` is picked up, and the
resources come from the ``@dg.definitions`` function in ``defs/resources.py``.
"""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
