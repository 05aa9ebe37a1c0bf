"""Secret values never stored or shown: collect them, and redact them from any text or answer.

In: the environment (``ANTHROPIC_API_KEY``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, plus every
variable named in ``EVAL_SECRET_ENV_VARS``, comma-separated) and values a caller adds (a provider's
own API key). Out: :func:`redact` (text with each secret replaced by ``[REDACTED]``),
:func:`redact_response` (a :class:`~eval_pipeline.inference.types.ModelResponse` whose text, error
message and tool input carry no secret). The runner applies it to every answer before it is stored
(response store, then the responses Parquet and the report built from it); the CLI applies it to every
error text it prints or writes (summary line, JUnit, markdown). Values shorter than 8 characters are
ignored (redacting ``"abc"`` would shred ordinary text).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

__all__ = ["REDACTED", "configured_secrets", "redact", "redact_response"]

REDACTED = "[REDACTED]"
SECRET_ENV_VARS = ("ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
MIN_SECRET_CHARS = 8


def configured_secrets(extra: Iterable[str | None] = ()) -> tuple[str, ...]:
    """The secret values to redact: the environment's and ``extra`` (longest first, so a secret that
    contains another is replaced whole)."""
    names = list(SECRET_ENV_VARS) + [
        n.strip() for n in os.environ.get("EVAL_SECRET_ENV_VARS", "").split(",") if n.strip()
    ]
    values = {os.environ.get(n) or "" for n in names} | {v or "" for v in extra}
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True))


def redact(text: str | None, secrets: Iterable[str] | None = None) -> str | None:
    """``text`` with every secret value replaced by ``[REDACTED]`` (None stays None)."""
    if not text:
        return text
    for s in configured_secrets() if secrets is None else secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    return text


def _redact_obj(obj: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, dict):
        return {k: _redact_obj(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_obj(v, secrets) for v in obj]
    return obj


def redact_response(resp: Any, secrets: tuple[str, ...]) -> Any:
    """A ModelResponse with no secret in its text, error message or tool input (the same object when
    there was none to redact)."""
    if not secrets:
        return resp
    fields = {"text": resp.text, "error_message": resp.error_message}
    blob = "".join(v for v in fields.values() if v) + (repr(resp.tool_input) if resp.tool_input else "")
    if not any(s in blob for s in secrets):
        return resp
    return replace(
        resp,
        text=redact(resp.text, secrets),
        error_message=redact(resp.error_message, secrets),
        tool_input=_redact_obj(resp.tool_input, secrets),
    )
