"""Bounded waiting and early stops for one step's requests: the retry budget, the stall timer, the
circuit breaker for errors that retrying cannot fix, and the live counters the progress display reads.

In: a :class:`StepBudget` (configurable; defaults keep a hanging endpoint under about two minutes)
and the endpoint's name. Out: a :class:`StepGuard` that the runner creates per step and publishes
in the context variable :data:`CURRENT_GUARD`; providers report every attempt to it
(:meth:`StepGuard.attempt_started` / ``answered`` / ``timed_out`` / ``rejected`` / ``allow_retry``).
The first condition below *trips* the guard; the runner then cancels every request not yet sent and
raises the trip (:class:`StepStopped` and subclasses), whose message names the endpoint, what went
wrong, how long the step waited, and what to fix:

* :class:`EndpointRejected` - ``fatal_after`` (default 3) answers of one non-retryable kind
  (401/403 authentication, 404 model not found, 400 invalid request with the same message): a
  configuration error (exit code 2). Nothing more is sent.
* :class:`EndpointUnresponsive` - the endpoint gave no answer at all (no status, no header, no
  byte) for ``stall_timeout_s`` (default 90 s) while requests were in flight (a watchdog in the
  runner checks every second; a timed-out attempt checks too): an infrastructure error (exit code 3).
* :class:`RetryBudgetExhausted` - the step used ``max_retries`` retries of failures (default: 32 + 20% of
  its requests): an infrastructure error (exit code 3). Retries after throttling (429 rate limited,
  overloaded, e.g. 529: what the provider classifies as throttled) are counted in ``retried`` but do not
  use the budget: the endpoint is answering and asking to slow down, the adaptive limiter does, and each
  request's ``max_attempts`` still bounds them.
  (Counting them stopped a 500-request step under a 22% fault mix, 15 points of it throttling.)

No I/O, no Dagster.
"""

from __future__ import annotations

import contextvars
import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "CURRENT_GUARD",
    "EndpointRejected",
    "EndpointUnresponsive",
    "RetryBudgetExhausted",
    "StepBudget",
    "StepGuard",
    "StepStopped",
]


class StepStopped(RuntimeError):
    """A step stopped sending requests; ``exit_kind`` is ``"config"`` (2) or ``"infra"`` (3)."""

    exit_kind = "infra"


class EndpointRejected(StepStopped):
    """The endpoint refused requests in a way a retry cannot fix (key, model, request shape)."""

    exit_kind = "config"


class EndpointUnresponsive(StepStopped):
    """The endpoint accepted connections but answered nothing for too long."""


class RetryBudgetExhausted(StepStopped):
    """The step's retries are used up."""


@dataclass(frozen=True)
class StepBudget:
    """How long one step may wait and retry. ``max_retries`` None = 32 + 20% of the step's requests."""

    max_retries: int | None = None
    stall_timeout_s: float = 90.0
    fatal_after: int = 3

    def retries_for(self, n_requests: int) -> int:
        return self.max_retries if self.max_retries is not None else 32 + n_requests // 5


_FATAL_HINTS = {
    "authentication": "authentication failed at {endpoint}: check {key_env}",
    "permission": "permission denied at {endpoint} (HTTP 403): check that {key_env} may use this model",
    "model_not_found": "model not found at {endpoint} (HTTP 404): check the model id in the model registry",
    "invalid_request": "invalid request rejected by {endpoint} (HTTP 400): fix the request parameters",
}


@dataclass
class StepGuard:
    """Counters and trip state of one step (one call of the runner)."""

    budget: StepBudget = field(default_factory=StepBudget)
    endpoint: str = "the model endpoint"
    key_env: str = "ANTHROPIC_API_KEY"
    total: int = 0
    done: int = 0
    cache_hits: int = 0
    errors: int = 0
    sent: int = 0  # attempts sent (first attempts and retries)
    in_flight: int = 0
    retried: int = 0  # every retry, throttled or not (progress)
    failed_retries: int = 0  # retries after a failure that is not throttling (the budget)
    timeouts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    last_answer_at: float | None = None
    tripped: StepStopped | None = None
    _fatal: Counter[tuple[str, str]] = field(default_factory=Counter)
    _fatal_detail: dict[tuple[str, str], tuple[int | None, str]] = field(default_factory=dict)

    def max_retries(self) -> int:
        return self.budget.retries_for(self.total)

    def waited_s(self) -> float:
        return time.monotonic() - self.started_at

    # -- reports from providers
    def attempt_started(self) -> None:
        self.sent += 1
        self.in_flight += 1

    def attempt_ended(self) -> None:
        self.in_flight -= 1

    def answered(self) -> None:
        """The endpoint said something (a body or an HTTP status): it is not hanging."""
        self.last_answer_at = time.monotonic()

    def timed_out(self, request_timeout_s: float) -> None:
        """An attempt got no complete answer in time; trip if nothing was heard for the stall timeout."""
        self.timeouts += 1
        self.check_stall()

    def check_stall(self) -> bool:
        """Trip (and return True) if requests are waiting and the endpoint said nothing for the stall timeout."""
        if self.tripped is not None:
            return True
        quiet = time.monotonic() - (
            self.last_answer_at if self.last_answer_at is not None else self.started_at
        )
        if quiet < self.budget.stall_timeout_s or (self.in_flight == 0 and self.timeouts == 0):
            return False
        self.tripped = EndpointUnresponsive(
            f"model endpoint {self.endpoint} did not answer: no response for {quiet:.0f} s "
            f"({self.in_flight} request(s) in flight, {self.timeouts} attempt(s) timed out; "
            f"{self.done} of {self.total} requests done). Check that the endpoint is up, or raise "
            f"EVAL_STALL_TIMEOUT_S if it is just slow. Answers already received are stored; "
            f"a rerun sends only the missing ones."
        )
        return True

    def rejected(self, kind: str, status: int | None, detail: str) -> None:
        """A non-retryable answer (``kind`` in authentication / permission / model_not_found /
        invalid_request); ``fatal_after`` of one kind (and, for 400, one message) trip the guard."""
        group = (kind, detail[:120] if kind == "invalid_request" else "")
        self._fatal[group] += 1
        self._fatal_detail[group] = (status, detail)
        if self._fatal[group] >= self.budget.fatal_after and self.tripped is None:
            hint = _FATAL_HINTS.get(kind, "requests rejected by {endpoint}").format(
                endpoint=self.endpoint, key_env=self.key_env
            )
            self.tripped = EndpointRejected(
                f"{hint} (HTTP {status}, {self._fatal[group]} of {self.sent} requests sent were rejected; "
                f"nothing more was sent: {detail[:200]})"
            )

    def stop(self, kind: str, status: int | None, detail: str) -> StepStopped:
        """Trip at once on a rejection that no other request can escape (a Message Batches call
        answered 401/403: every further call uses the same key); returns the trip to raise."""
        if self.tripped is None:
            hint = _FATAL_HINTS.get(kind, "requests rejected by {endpoint}").format(
                endpoint=self.endpoint, key_env=self.key_env
            )
            self.tripped = EndpointRejected(f"{hint} (HTTP {status}; nothing more was sent: {detail[:200]})")
        return self.tripped

    def allow_retry(self, category: str, throttled: bool = False) -> bool:
        """Take one retry; a retry after a failure that is not throttling uses the step's budget. False
        (and the guard trips) once the budget is used up."""
        if self.tripped is not None:
            return False
        if not throttled and self.failed_retries >= self.max_retries():
            self.tripped = RetryBudgetExhausted(
                f"retry budget used up at {self.endpoint}: {self.failed_retries} retries after failures "
                f"in {self.waited_s():.0f} s (last failure: {category}; {self.done} of {self.total} requests "
                f"done; retries after throttling are not counted). The endpoint is failing; answers already "
                f"received are stored and a rerun sends only the missing ones. Raise EVAL_MAX_RETRIES if "
                f"these failures are expected."
            )
            return False
        self.retried += 1
        if not throttled:
            self.failed_retries += 1
        return True

    def line(self) -> str:
        """One progress line: done / in flight / retried."""
        return (
            f"{self.done}/{self.total} done ({self.cache_hits} from store), {self.in_flight} in flight, "
            f"{self.retried} retried, {self.errors} errors, {self.waited_s():.0f} s"
        )


CURRENT_GUARD: contextvars.ContextVar[StepGuard | None] = contextvars.ContextVar(
    "eval_pipeline_step_guard", default=None
)
