"""Shared test setup: offline model loading, no real API, loopback only."""
import os

# Never reach a hub or the real API from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.pop("ANTHROPIC_BASE_URL", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from eval_pipeline_tests.servers.seaweed import seaweed_fixture  # noqa: E402

# One real SeaweedFS S3 server on 127.0.0.1 for the whole session (modules may define their own).
seaweed_s3 = seaweed_fixture()
