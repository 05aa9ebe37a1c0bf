"""Shared test setup: offline model loading, no real API, loopback only."""
import os

# Never reach a hub or the real API from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.pop("ANTHROPIC_BASE_URL", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
