"""The e2e tier: every test here runs with Dagster's defs-state reset (support/dagster_state.py)."""

from eval_pipeline_tests.support.dagster_state import _no_stale_dagster_defs_state_storage  # noqa: F401
