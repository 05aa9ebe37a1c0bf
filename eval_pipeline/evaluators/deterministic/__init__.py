"""Deterministic checks, moving to one small file per group of checks; for now all in :mod:`.base`."""
from eval_pipeline.evaluators.deterministic.base import *  # noqa: F401,F403
