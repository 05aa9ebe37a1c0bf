"""Dagster layer of the scoring stage: ``eval_run`` with its ``quality_gate`` check."""
