"""The everyday commands of ``eval-pipeline`` beyond the CI ones: one module per command.

* :mod:`.workdir` - a suite folder made by ``init`` is used from inside it (data, warehouse, instance).
* :mod:`.dates` - ``--date`` checked against the evaluable dates (a clear error, exit 2).
* :mod:`.init` - ``eval-pipeline init [DIR]``: a suite that validates and runs right away.
* :mod:`.serve_model` - ``eval-pipeline serve-model``: the synthetic model server (no key, no network).
* :mod:`.view` - ``eval-pipeline view``: open or serve the history report.

Plain Python (no Dagster): the Dagster side of the commands is in ``eval_pipeline/defs/``
(``cli_history.py``: the report refresh; ``progress.py``: progress bars of a run's steps; ``ci.py``).
``eval_pipeline/cli.py`` only wires them to arguments.
"""
