"""A suite folder is used from inside it: ``cd my-evals && eval-pipeline run`` reads ``./data``.

In: the current directory and the environment. Out: ``EVAL_DATA_DIR``, ``EVAL_WAREHOUSE_URL`` and
``DAGSTER_HOME`` defaulted to ``./data``, ``./warehouse`` and ``./.dagster_home`` when the current
directory holds ``data/models.yaml`` (what ``eval-pipeline init`` makes) and the variable is unset or
empty. A variable that is set always wins; outside such a folder nothing changes (the project's own
``data/``, as before; in the repository itself nothing is set either: its defaults are the same). Plain Python.
"""

from __future__ import annotations

import os
from pathlib import Path

from eval_pipeline.project.paths import PROJECT_ROOT

FOLDER_DEFAULTS = {
    "EVAL_DATA_DIR": "data",
    "EVAL_WAREHOUSE_URL": "warehouse",
    "DAGSTER_HOME": ".dagster_home",
}
INSTANCE_FILE = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def is_suite_folder(path: Path) -> bool:
    return (path / "data" / "models.yaml").is_file()


def apply_folder_defaults(cwd: Path | None = None) -> Path | None:
    """Default the settings to the suite folder ``cwd`` (if it is one); returns the folder, else None."""

    cwd = (cwd or Path.cwd()).resolve()
    if not is_suite_folder(cwd) or cwd == PROJECT_ROOT.resolve():  # the repository: its defaults already
        return None
    for name, rel in FOLDER_DEFAULTS.items():
        if not os.environ.get(name):
            os.environ[name] = str(cwd / rel)
    home = Path(os.environ["DAGSTER_HOME"])
    if home == cwd / FOLDER_DEFAULTS["DAGSTER_HOME"] and not (home / "dagster.yaml").exists():
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(INSTANCE_FILE, encoding="utf-8")
    return cwd
