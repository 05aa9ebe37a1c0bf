"""LLM-as-judge evaluator (package; the code is in :mod:`.base` until the split)."""
from eval_pipeline.evaluators.judge.base import *  # noqa: F401,F403
from eval_pipeline.evaluators.judge.base import _SAMPLE_COLUMNS, _prompt_context  # noqa: F401
