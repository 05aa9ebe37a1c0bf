"""The demo: a recorded week replayed through the Dagster assets, and synthetic traffic.

Not on the serving path: nothing under ``eval_pipeline/defs`` or the stage packages imports it.
In: ``data/recordings``, ``data/synthetic``. Out: a local warehouse with a week of history.
"""
