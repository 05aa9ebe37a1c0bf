"""The project: suites, model registry, model versions, paths, hashing and table schemas.

In: the data folder (``data/``: ``models.yaml``, ``suites/*.yaml``, ``prompts/``). Out: typed,
validated config objects every stage reads: :mod:`.suites` (``Suite``, ``EvalSet``, ``load_suite``),
:mod:`.registry` (``ModelVersion``, ``ModelRegistry``, ``load_registry``), :mod:`.config`
(``Project``, ``load_project``), :mod:`.errors` (``ConfigError`` naming file and key path);
:mod:`.versions` (model-version snapshots in the warehouse), :mod:`.registration` (config-change
plans), :mod:`.paths`, :mod:`.hashing`, :mod:`.schemas`. No Dagster here.
"""
