"""Flow control for providers: adaptive concurrency, client-side rate limits, retry policy.

* :class:`AdaptiveLimiter` bounds requests in flight. It starts at ``max_concurrency`` and tracks
  the share of recent attempts that were throttled (429/529, exponentially weighted over about
  ``window`` attempts). When a throttle arrives while that share is above ``throttle_threshold``
  (sustained throttling, as when a rate limit is really exceeded, rather than a sporadic 429 that
  its own retry-after handles) it multiplies the limit by ``decrease_factor``, at most once per
  ``cooldown_s``; each success adds 1/limit (about one slot per window of successes, TCP-style)
  back up to the maximum. Waiters are served by priority: retries first, so a retried
  sample does not queue behind every fresh request.
* :class:`RateLimiter` enforces requests/min and tokens/min with token buckets (capacity = one
  minute's budget, continuously refilled, as Anthropic's limits work).
* :class:`RetryPolicy` decides the wait before the next attempt: the server's ``retry-after``
  when given, else exponential backoff with jitter.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from dataclasses import dataclass


@dataclass
class RetryPolicy:
    """Retries for 429, 529, 5xx, timeouts, connection errors and malformed bodies."""

    max_attempts: int = 8  # total attempts per request, first one included
    initial_backoff_s: float = 0.1  # 5xx / 529 / dropped connections are usually transient
    multiplier: float = 2.0
    max_backoff_s: float = 20.0
    jitter: float = 0.5  # share of the backoff that is randomized (0 = none, 1 = full jitter)
    max_retry_after_s: float = 120.0  # a larger retry-after is capped here
    retry_after_jitter: float = 0.05  # up to +5% on top of retry-after, to de-synchronize clients

    def delay(self, attempt: int, retry_after_s: float | None, rng: random.Random | None = None) -> float:
        """Seconds to wait after a failure: the server's ``retry-after`` if given, else the backoff for
        the ``attempt``-th (1-based) failure that came without one."""
        r = (rng or random).random()
        if retry_after_s is not None and retry_after_s >= 0:
            base = min(retry_after_s, self.max_retry_after_s)
            return base * (1.0 + self.retry_after_jitter * r)
        backoff = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        return backoff * (1.0 - self.jitter * r)


class AdaptiveLimiter:
    """Concurrency limit that backs off on throttling and recovers after sustained success."""

    def __init__(
        self,
        max_concurrency: int,
        *,
        min_concurrency: int = 1,
        decrease_factor: float = 0.75,
        cooldown_s: float = 1.0,
        throttle_threshold: float = 0.35,
        window: int | None = None,
        adaptive: bool = True,
    ):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency={max_concurrency}: must be at least 1")
        self.max_concurrency = max_concurrency
        self.min_concurrency = max(1, min(min_concurrency, max_concurrency))
        self.decrease_factor = decrease_factor
        self.cooldown_s = cooldown_s
        self.adaptive = adaptive
        self.throttle_threshold = throttle_threshold
        self._alpha = 1.0 / max(4, window or max(32, 2 * max_concurrency))
        self.throttle_rate = 0.0
        self.limit = float(max_concurrency)
        self.min_seen = float(max_concurrency)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.decreases = 0
        self._last_decrease = -1e18
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"AdaptiveLimiter(limit={self.limit:.1f}/{self.max_concurrency}, in_flight={self.in_flight})"

    async def acquire(self, priority: int = 1) -> None:
        """Wait for a slot; lower ``priority`` values are served first (0 = retry, 1 = fresh)."""
        if self.in_flight < int(self.limit) and not self._waiters:
            self._take()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(None)  # slot was handed over just before the cancel: give it back
            raise

    def _take(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight

    def release(self, throttled: bool | None) -> None:
        """Give the slot back. ``throttled``: True after a 429/529, False after a success, None otherwise."""
        self.in_flight -= 1
        if self.adaptive and throttled is not None:
            self.throttle_rate += self._alpha * ((1.0 if throttled else 0.0) - self.throttle_rate)
            if throttled:
                now = time.monotonic()
                if (
                    self.throttle_rate > self.throttle_threshold
                    and now - self._last_decrease >= self.cooldown_s
                ):
                    self._last_decrease = now
                    self.limit = max(float(self.min_concurrency), self.limit * self.decrease_factor)
                    self.min_seen = min(self.min_seen, self.limit)
                    self.decreases += 1
            elif self.limit < self.max_concurrency:
                self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            _, _, fut = heapq.heappop(self._waiters)
            if fut.done():
                continue
            self._take()
            fut.set_result(None)


class TokenBucket:
    """Continuously refilled bucket of ``per_minute`` units (capacity: one minute's worth)."""

    def __init__(self, per_minute: float):
        if per_minute <= 0:
            raise ValueError(f"rate limit {per_minute}/min: must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self._t = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._t) * self.rate)
        self._t = now

    async def take(self, amount: float) -> None:
        """Wait until ``amount`` units are available, then take them (amounts above capacity wait for a full bucket)."""
        amount = min(amount, self.capacity)
        while True:
            self._refill()
            if self.level >= amount:
                self.level -= amount
                return
            await asyncio.sleep((amount - self.level) / self.rate)

    def adjust(self, delta: float) -> None:
        """Correct an estimate after the fact (positive = more units were used than taken)."""
        self._refill()
        self.level = min(self.capacity, self.level - delta)


class RateLimiter:
    """Client-side requests/min and tokens/min limits (either may be None = unlimited)."""

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None):
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    async def acquire(self, estimated_tokens: float) -> None:
        """Wait for one request and ``estimated_tokens`` tokens of budget."""
        if self.requests is not None:
            await self.requests.take(1)
        if self.tokens is not None:
            await self.tokens.take(estimated_tokens)

    def settle(self, estimated_tokens: float, actual_tokens: float) -> None:
        """Replace the token estimate by the actual usage once known."""
        if self.tokens is not None:
            self.tokens.adjust(actual_tokens - estimated_tokens)
