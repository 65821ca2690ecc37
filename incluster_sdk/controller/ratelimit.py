"""Work-queue rate limiters: how long an item waits before it is retried (client-go ``workqueue`` rate limiters).

Each limiter answers ``when(item)`` with a delay in seconds and counts it as one more requeue of ``item``;
``forget(item)`` clears that count (call it when the item succeeds, or when you give up on it), and
``num_requeues(item)`` reads it. They are client-go's ``util/workqueue/default_rate_limiters.go``, with
seconds (float) where Go uses ``time.Duration``. Every limiter is thread-safe (one short lock), so one
limiter can serve a queue whose workers are threads.

The default combines both kinds, as client-go's ``DefaultControllerRateLimiter`` does: a per-item exponential
backoff (a failing key backs off alone) and one overall token bucket (many failing keys together cannot
retry faster than the bucket allows).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_BURST",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_QPS",
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]

# client-go DefaultControllerRateLimiter: NewItemExponentialFailureRateLimiter(5*time.Millisecond, 1000*time.Second).
# 5 ms: the first retry of a key is nearly immediate, which is what a transient failure (a 409 Conflict, a
# cache a moment behind) needs; doubling reaches the cap after 18 failures (0.005 * 2**18 = 1,310 s).
DEFAULT_BASE_DELAY = 0.005
# 1,000 s (about 17 minutes): a key that keeps failing is still retried a few times an hour, without a hot loop.
DEFAULT_MAX_DELAY = 1000.0
# client-go DefaultControllerRateLimiter: rate.NewLimiter(rate.Limit(10), 100), commented there as "10 qps,
# 100 bucket size. This is only for retry speed and its only the overall factor (not per item)": a burst of
# 100 retries goes through at once, after that all keys together retry at most 10 times a second.
DEFAULT_QPS = 10.0
DEFAULT_BURST = 100


class RateLimiter(Protocol):
    """What a work queue asks of a rate limiter (client-go ``workqueue.RateLimiter``)."""

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait before it is queued again; counts one more requeue of it."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (it succeeded, or it is given up on): its next delay starts over."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``when`` was asked about ``item`` since it was last forgotten."""
        ...


class _PerItemFailures:
    """What both per-item limiters share: each item's failure count, under one short lock."""

    def __init__(self) -> None:
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def _count(self, item: Hashable) -> int:
        """Count one more failure of ``item``; returns how many it had before this one."""
        with self._lock:
            before = self._failures.get(item, 0)
            self._failures[item] = before + 1
        return before

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._failures.get(item, 0)


class ItemExponentialFailureRateLimiter(_PerItemFailures):
    """Per item, ``base_delay * 2**failures`` seconds, capped at ``max_delay`` (client-go's limiter of that name).

    ``failures`` is how many times ``when(item)`` was called since ``forget(item)``: the first call answers
    ``base_delay``. Overflow-safe: a failure count so large that the power overflows a float answers
    ``max_delay``, as client-go caps the product before it overflows an int64 of nanoseconds.
    Defaults: :data:`DEFAULT_BASE_DELAY` (5 ms) and :data:`DEFAULT_MAX_DELAY` (1,000 s), client-go's.
    Raises ``ValueError`` for a negative delay or ``max_delay < base_delay``.
    """

    def __init__(self, base_delay: float = DEFAULT_BASE_DELAY, max_delay: float = DEFAULT_MAX_DELAY) -> None:
        if base_delay < 0 or max_delay < base_delay:
            raise ValueError(f"need 0 <= base_delay <= max_delay, got base_delay={base_delay}, max_delay={max_delay}")
        super().__init__()
        self.base_delay = base_delay
        self.max_delay = max_delay

    def when(self, item: Hashable) -> float:
        exp = self._count(item)
        try:
            backoff = math.ldexp(self.base_delay, exp)
        except OverflowError:
            return self.max_delay
        return min(backoff, self.max_delay)


class ItemFastSlowRateLimiter(_PerItemFailures):
    """Per item, ``fast_delay`` for the first ``max_fast_attempts`` requeues, then ``slow_delay`` (client-go's)."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        if fast_delay < 0 or slow_delay < 0 or max_fast_attempts < 0:
            raise ValueError("delays and max_fast_attempts must not be negative")
        super().__init__()
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts

    def when(self, item: Hashable) -> float:
        failures = self._count(item) + 1
        return self.fast_delay if failures <= self.max_fast_attempts else self.slow_delay


class BucketRateLimiter:
    """One token bucket for all items: ``qps`` tokens a second, holding at most ``burst`` (client-go's).

    ``when`` reserves one token and answers how long until it is available, exactly as client-go's
    ``Limiter.Reserve().Delay()`` from golang.org/x/time/rate: the bucket starts full, a reservation may drive
    it below zero (the next caller waits longer), and time refills it. It tracks no item, so
    ``num_requeues`` is always 0 and ``forget`` does nothing. ``clock`` is a monotonic clock in seconds
    (injectable for tests). Defaults: :data:`DEFAULT_QPS` (10) and :data:`DEFAULT_BURST` (100), client-go's.
    ``qps`` may be ``math.inf`` (never waits, as ``rate.Inf``). Raises ``ValueError`` for ``qps <= 0`` or
    ``burst < 1``, which in Go would make every reservation wait forever.
    """

    def __init__(
        self, qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not qps > 0 or burst < 1:
            raise ValueError(f"need qps > 0 and burst >= 1, got qps={qps}, burst={burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last: float | None = None
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        if math.isinf(self.qps):
            return 0.0
        with self._lock:
            now = self._clock()
            last = now if self._last is None or now < self._last else self._last
            tokens = min(float(self.burst), self._tokens + (now - last) * self.qps) - 1.0
            self._tokens = tokens
            self._last = now
        return -tokens / self.qps if tokens < 0 else 0.0

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """Asks every limiter and answers the longest delay (client-go's ``MaxOfRateLimiter``).

    Every limiter is asked on each ``when`` (so each counts the requeue); ``num_requeues`` is the largest
    count; ``forget`` forgets in all. As client-go notes, with a token bucket inside, the bucket's burst can
    appear exceeded when some items were separately delayed longer.
    """

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters: tuple[RateLimiter, ...] = limiters

    def when(self, item: Hashable) -> float:
        return max((limiter.when(item) for limiter in self.limiters), default=0.0)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max((limiter.num_requeues(item) for limiter in self.limiters), default=0)


def default_controller_rate_limiter(*, clock: Callable[[], float] = time.monotonic) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: per-item 5 ms doubling to 1,000 s, overall 10/s burst 100.

    A fresh limiter each call (the bucket and the failure counts belong to one queue). ``clock`` feeds the
    token bucket (monotonic seconds).
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY),
        BucketRateLimiter(DEFAULT_QPS, DEFAULT_BURST, clock=clock),
    )
