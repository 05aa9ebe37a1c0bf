"""The deployment's environment variables and the default each takes when unset.

In: nothing (a table). Out: :data:`SETTINGS` (variable -> default; an empty string means "not configured") and
:func:`deployment_defaults` (those plus the demo recordings' folder), read by the Dagster resources
(``defs/resources.py:declare_settings``) and by a command that needs a setting before Dagster is imported
(``inference/settings.py:InferenceSettings.from_env``).
"""

from __future__ import annotations

from eval_pipeline.project.paths import PROJECT_ROOT

# Deployment settings: (environment variable, default when unset). Every resource field (``defs/resources.py:build_resources``) is
# given ``dg.EnvVar(name)`` unconditionally, so Dagster reads the value when a run starts (in the
# run worker), never when the code location loads: a rotated key or a moved warehouse needs no
# redeploy. Dagster fails a run whose EnvVar is unset, so ``declare_settings()`` gives each unset
# variable its documented default (an empty string means "not configured") - it only ever
# *adds* a missing name, it never reads a value into the definitions.
SETTINGS: dict[str, str] = {
    "EVAL_DATA_DIR": "",  # suites, golden sets, models.yaml (empty: the project's data/)
    "EVAL_WAREHOUSE_URL": "",  # folder or s3://bucket/prefix (empty: <project>/warehouse)
    "EVAL_S3_ENDPOINT_URL": "",  # S3-compatible endpoint (empty: AWS_ENDPOINT_URL_S3 / AWS default)
    "EVAL_PROVIDER": "",  # anthropic | replay | synthetic | auto (empty: auto)
    "ANTHROPIC_API_KEY": "",  # the secret; never logged, never stored (only its name is in run config)
    "ANTHROPIC_BASE_URL": "",  # empty: the SDK default
    "EVAL_MAX_CONCURRENCY": "16",  # in-flight requests per run worker
    "EVAL_REQUEST_TIMEOUT_S": "120",  # per attempt (the whole answer)
    "EVAL_STALL_TIMEOUT_S": "90",  # a step stops when its endpoint answers nothing for this long
    "EVAL_MAX_RETRIES": "-1",  # retries after failures per step, throttling not counted (-1: 32 + 20% of the step's requests)
    "EVAL_RESPONSE_STORE": "",  # local folder of the store's journals (empty: see LLMResource.store)
    "EVAL_EMBEDDING_MODEL": "",  # sentence-transformers folder (empty: packaged MiniLM)
    "EVAL_EMBEDDING_CACHE": "",  # local embedding-cache folder (empty: beside a local warehouse)
}


def deployment_defaults() -> dict[str, str]:
    """:data:`SETTINGS` and ``EVAL_RECORDINGS_DIR`` (the demo's synthetic recordings under the project's data/)."""
    return {**SETTINGS, "EVAL_RECORDINGS_DIR": str(PROJECT_ROOT / "data" / "recordings")}
