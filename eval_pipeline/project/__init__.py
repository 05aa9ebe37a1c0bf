"""The project: suites, model registry, model versions, paths, hashing and table schemas.

In: the data folder (``data/``: ``models.yaml``, ``suites/*.yaml``, ``prompts/``). Out: typed,
validated config objects every stage reads. No Dagster here.
"""
