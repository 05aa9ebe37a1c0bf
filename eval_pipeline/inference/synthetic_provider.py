"""The ``synthetic`` provider: the real Anthropic (or OpenAI) SDK path against ``eval-pipeline serve-model``
on loopback.

In: the same requests as :class:`~eval_pipeline.inference.anthropic_provider.AnthropicProvider` and the
server's loopback URL. Out: answers labelled ``provenance="synthetic"`` and keyed in the response store
under the provider name ``synthetic`` - so a synthetic answer is never served to a live run, and every
run that used one says ``NOT LIVE - synthetic answers: n/n`` (see :mod:`.provenance`).

Only a loopback URL is accepted (127.0.0.1, ::1, localhost): this provider never reaches a real API and
never labels a paid answer synthetic. No API key is needed. Plain Python; no Dagster.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.openai_provider import OpenAIProvider

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SYNTHETIC_KEY = "synthetic-no-key"  # what the SDK sends as x-api-key; the synthetic server ignores it


def check_loopback(base_url: str | None) -> str:
    """``base_url`` if it is an http URL on loopback, else a ValueError saying how to start the server."""
    host = urlparse(base_url or "").hostname
    if not base_url or host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"EVAL_PROVIDER=synthetic needs ANTHROPIC_BASE_URL on loopback (got {base_url!r}): start the "
            "synthetic model server with `eval-pipeline serve-model --port 8765 ...` and set "
            "ANTHROPIC_BASE_URL=http://127.0.0.1:8765"
        )
    return base_url


class SyntheticProvider(AnthropicProvider):
    """AnthropicProvider against the synthetic server; its answers are ``synthetic``."""

    name = "synthetic"
    provenance = "synthetic"
    default_headers = {"x-eval-pipeline-synthetic": "1"}

    def __init__(self, base_url: str | None, **kwargs: Any):
        super().__init__(SYNTHETIC_KEY, base_url=check_loopback(base_url), **kwargs)

    def __repr__(self) -> str:
        return f"SyntheticProvider(base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"


def synthetic_openai_provider(base_url: str | None, **kwargs: Any) -> OpenAIProvider:
    """An :class:`~eval_pipeline.inference.openai_provider.OpenAIProvider` against the synthetic server's
    ``/v1/chat/completions`` (a model version with ``provider: openai``): store-key name
    ``synthetic-openai``, answers ``synthetic``."""

    provider = OpenAIProvider(
        SYNTHETIC_KEY,
        base_url=check_loopback(base_url).rstrip("/") + "/v1",
        default_headers=SyntheticProvider.default_headers,
        **kwargs,
    )
    provider.name = "synthetic-openai"
    provider.provenance = "synthetic"
    return provider
