"""Say why a command stopped, with the right exit code: the root cause of a failed step, and its kind.

In: an exception (raised in the CLI itself) or a failed step's error info (Dagster's
``SerializableErrorInfo``, read duck-typed: ``cls_name``, ``message``, ``cause``, ``context``; no
Dagster import). Out: a :class:`RootCause` (the project's own exception class and message, with the
path or endpoint it names, secrets redacted) and its kind - ``"config"`` (configuration or data:
exit 2) or ``"infra"`` (endpoint, storage, crash: exit 3) - never Dagster's
``DagsterExecutionStepExecutionError`` wrapper.

Exit codes, the same for every command (:data:`EXIT_PASS` ...):

=====  =============================================================================
0      every gate passed
1      a gate failed (a blocking threshold or the regression gate)
2      a configuration or data error (bad config, golden set, template, API key, model id)
3      an infrastructure error (model endpoint, storage, disk, a crash)
=====  =============================================================================
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eval_pipeline.project.secret_values import redact

__all__ = [
    "EXIT_CONFIG",
    "EXIT_GATE_FAILED",
    "EXIT_INFRA",
    "EXIT_PASS",
    "RootCause",
    "exit_code_for",
    "kind_of_exception",
    "root_cause",
]

EXIT_PASS, EXIT_GATE_FAILED, EXIT_CONFIG, EXIT_INFRA = 0, 1, 2, 3

# Exception classes (by name, so a Dagster error record classifies like the live exception) that
# mean "fix your configuration or data". Everything else is infrastructure (or a crash).
CONFIG_CLASSES = frozenset(
    {
        "ConfigError",
        "ConfigErrorLike",
        "GoldenSetError",
        "PromptRenderError",
        "RegressionConfigError",
        "EvaluatorConfigError",
        "ReviewFileError",
        "ReplayMissError",
        "EndpointRejected",
        "ValueError",
        "KeyError",
        "LookupError",
        "DagsterInvalidConfigError",
        "UndefinedError",
        "TemplateSyntaxError",
        "SecurityError",
    }
)
# Dagster's wrappers around the user's exception: never the root cause.
WRAPPERS = frozenset(
    {
        "DagsterExecutionStepExecutionError",
        "DagsterUserCodeExecutionError",
        "DagsterExecutionInterruptedError",
        "DagsterExecutionLoadInputError",
        "DagsterExecutionHandleOutputError",
        "DagsterResourceFunctionError",
    }
)
# dg.Failure raised by our assets without a cause: these phrases mark a configuration problem.
_CONFIG_PHRASES = (
    "no model provider",
    "needs an API key",
    "unknown provider",
    "replay: ",
    "Golden-set validation failed",
    "invalid monitoring config",
    "shadow.candidate_model_version",
)


@dataclass(frozen=True)
class RootCause:
    cls_name: str
    message: str
    kind: str  # "config" | "infra"

    def __str__(self) -> str:
        return f"{self.cls_name}: {self.message}"

    @property
    def exit_code(self) -> int:
        return EXIT_CONFIG if self.kind == "config" else EXIT_INFRA


def _kind_of_name(cls_name: str, message: str = "") -> str:
    if cls_name in CONFIG_CLASSES:
        return "config"
    if cls_name == "Failure" and any(p in message for p in _CONFIG_PHRASES):
        return "config"
    return "infra"


def kind_of_exception(exc: BaseException) -> str:
    """``"config"`` or ``"infra"`` for a live exception (its class or any base class decides)."""
    kind = getattr(exc, "exit_kind", None)
    if kind in ("config", "infra"):
        return str(kind)
    if isinstance(exc, OSError):
        return "infra"
    names = [c.__name__ for c in type(exc).__mro__]
    if any(n in CONFIG_CLASSES for n in names):
        return "config"
    return _kind_of_name(names[0], str(exc))


def _first_lines(message: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in (message or "").strip().splitlines() if ln.strip()]
    return " ".join(lines[:n])


def root_cause(error: Any) -> RootCause:
    """The innermost non-Dagster error of a failed step's error info (following ``cause`` and
    ``context``), its first lines redacted, and its kind. A ``Failure`` raised ``from`` the project's
    exception reports that exception."""
    chain = []
    seen = 0
    node = error
    while node is not None and seen < 20:
        chain.append(node)
        node = getattr(node, "cause", None) or getattr(node, "context", None)
        seen += 1
    own = [e for e in chain if getattr(e, "cls_name", None) not in WRAPPERS] or chain
    # the deepest project exception; a Failure whose cause is ours yields to that cause
    pick = own[-1]
    for e in own:
        if getattr(e, "cls_name", "") != "Failure":
            pick = e
            break
    cls_name = getattr(pick, "cls_name", None) or type(pick).__name__
    message = _first_lines(getattr(pick, "message", "") or "")
    prefix = f"{cls_name}: "
    if message.startswith(prefix):
        message = message[len(prefix) :]
    message = redact(message) or ""
    return RootCause(cls_name, message, _kind_of_name(cls_name, message))


def from_exception(exc: BaseException) -> RootCause:
    """A live exception as a :class:`RootCause` (message redacted)."""
    return RootCause(type(exc).__name__, redact(_first_lines(str(exc))) or "", kind_of_exception(exc))


def exit_code_for(kinds: list[str]) -> int:
    """3 if any error was infrastructure, else 2 if any was configuration/data (kinds of the errors only)."""
    if not kinds:
        return EXIT_PASS
    return EXIT_INFRA if "infra" in kinds else EXIT_CONFIG


def run_guarded(fn: Callable[[Any], int], args: Any, prog: str) -> int:
    """``fn(args)``, with any exception that escapes it printed as one line (its root cause, redacted)
    and turned into exit 2 (configuration / data) or 3 (infrastructure / crash)."""

    try:
        return fn(args)
    except Exception as exc:  # the command's last line of defence: say why, with the right code
        cause = from_exception(exc)
        label = "configuration error" if cause.kind == "config" else "infrastructure error"
        print(f"{prog}: {label}: {cause}", file=sys.stderr)
        return cause.exit_code
