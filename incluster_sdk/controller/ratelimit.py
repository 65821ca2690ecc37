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

DEFAULT_BASE_DELAY = 0.005
"""The first retry delay of a failing item, in seconds: 5 ms, client-go's ``DefaultControllerRateLimiter``
(``NewItemExponentialFailureRateLimiter(5*time.Millisecond, 1000*time.Second)``).

Nearly immediate, which is what a transient failure (a 409 Conflict, a cache a moment behind) needs; doubling
from it, the 18th retry in a row waits 655 s and the 19th and later ones :data:`DEFAULT_MAX_DELAY` (0.005 s *
2**18 = 1,310 s is past it)."""

DEFAULT_MAX_DELAY = 1000.0
"""The longest retry delay of a failing item, in seconds: 1,000 s (about 17 minutes), client-go's
``DefaultControllerRateLimiter``. A key that keeps failing is still retried a few times an hour, without a hot
loop."""

DEFAULT_QPS = 10.0
"""The overall retry rate of all items together, in retries per second: 10, client-go's
``DefaultControllerRateLimiter`` (``rate.NewLimiter(rate.Limit(10), 100)``, "only for retry speed and its only
the overall factor (not per item)")."""

DEFAULT_BURST = 100
"""How many retries (tokens) the overall bucket holds: 100, client-go's ``DefaultControllerRateLimiter``. A burst
of 100 retries goes through at once; after that all keys together retry at most :data:`DEFAULT_QPS` times a
second."""


class RateLimiter(Protocol):
    """What a work queue asks of a rate limiter (client-go ``workqueue.RateLimiter``).

    Any object with these three methods will do (a structural protocol: no need to subclass it). It must be
    thread-safe if the queue's workers are threads.
    """

    def when(self, item: Hashable) -> float:
        """Count one more requeue of ``item`` and say how long it should wait before it is queued again.

        :param item: the queue item (for a controller, the key ``namespace/name``, or ``name`` when
            cluster-scoped).
        :returns: the delay in seconds (>= 0; 0 means now).
        """
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (it succeeded, or it is given up on): its next delay starts over.

        :param item: the queue item whose failures are cleared.
        """
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times :meth:`when` was asked about ``item`` since it was last forgotten.

        :param item: the queue item.
        :returns: the count of requeues (0 for an item never seen or just forgotten).
        """
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
        """Stop tracking ``item``'s failures: its next :meth:`when` answers the first delay again.

        :param item: the queue item; one never seen is ignored.
        """
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        """How many times :meth:`when` was asked about ``item`` since it was last forgotten.

        :param item: the queue item.
        :returns: the count of failures tracked (0 for an item never seen or just forgotten).
        """
        with self._lock:
            return self._failures.get(item, 0)


class ItemExponentialFailureRateLimiter(_PerItemFailures):
    """Per item, ``base_delay * 2**failures`` seconds, capped at ``max_delay`` (client-go's limiter of that name).

    ``failures`` is how many times ``when(item)`` was called since ``forget(item)``: the first call answers
    ``base_delay``, the second twice that, and so on. Overflow-safe: a failure count so large that the power
    overflows a float answers ``max_delay``, as client-go caps the product before it overflows an int64 of
    nanoseconds. Each item backs off alone: one failing key does not slow the others.

    :param base_delay: the first delay, in seconds; default :data:`DEFAULT_BASE_DELAY` (5 ms, client-go's
        ``DefaultControllerRateLimiter``).
    :param max_delay: the cap, in seconds; default :data:`DEFAULT_MAX_DELAY` (1,000 s, client-go's).
    :raises ValueError: if a delay is negative or ``max_delay < base_delay``.
    """

    def __init__(self, base_delay: float = DEFAULT_BASE_DELAY, max_delay: float = DEFAULT_MAX_DELAY) -> None:
        if base_delay < 0 or max_delay < base_delay:
            raise ValueError(f"need 0 <= base_delay <= max_delay, got base_delay={base_delay}, max_delay={max_delay}")
        super().__init__()
        self.base_delay = base_delay
        self.max_delay = max_delay

    def when(self, item: Hashable) -> float:
        """Count one more failure of ``item``; answer ``base_delay * 2**(failures before this one)``, capped.

        :param item: the queue item.
        :returns: the delay in seconds, between ``base_delay`` and ``max_delay``.
        """
        exp = self._count(item)
        try:
            backoff = math.ldexp(self.base_delay, exp)
        except OverflowError:
            return self.max_delay
        return min(backoff, self.max_delay)


class ItemFastSlowRateLimiter(_PerItemFailures):
    """Per item, ``fast_delay`` for the first ``max_fast_attempts`` requeues, then ``slow_delay`` (client-go's).

    client-go has no default for it: each caller picks its numbers (e.g. retry every 5 s a few times, then
    every minute). Counts restart at :meth:`forget`.

    :param fast_delay: the delay of the first ``max_fast_attempts`` requeues of an item, in seconds.
    :param slow_delay: the delay of every later requeue, in seconds.
    :param max_fast_attempts: how many requeues get ``fast_delay`` (a count; 0 makes every delay ``slow_delay``).
    :raises ValueError: if a delay or ``max_fast_attempts`` is negative.
    """

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        if fast_delay < 0 or slow_delay < 0 or max_fast_attempts < 0:
            raise ValueError("delays and max_fast_attempts must not be negative")
        super().__init__()
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts

    def when(self, item: Hashable) -> float:
        """Count one more requeue of ``item``; answer ``fast_delay`` up to ``max_fast_attempts``, then ``slow_delay``.

        :param item: the queue item.
        :returns: the delay in seconds.
        """
        failures = self._count(item) + 1
        return self.fast_delay if failures <= self.max_fast_attempts else self.slow_delay


class BucketRateLimiter:
    """One token bucket for all items: ``qps`` tokens a second, holding at most ``burst`` (client-go's).

    ``when`` reserves one token and answers how long until it is available, exactly as client-go's
    ``Limiter.Reserve().Delay()`` from golang.org/x/time/rate: the bucket starts full, a reservation may drive
    it below zero (the next caller waits longer), and time refills it. It tracks no item, so
    ``num_requeues`` is always 0 and ``forget`` does nothing.

    :param qps: tokens added per second (the sustained retry rate of all items together); default
        :data:`DEFAULT_QPS` (10 per second, client-go's ``DefaultControllerRateLimiter``). ``math.inf`` never
        waits (as Go's ``rate.Inf``).
    :param burst: the most tokens the bucket holds (retries that may go at once), a count; default
        :data:`DEFAULT_BURST` (100, client-go's).
    :param clock: called as ``clock() -> float``, monotonic seconds; default ``time.monotonic`` (injectable for
        tests).
    :raises ValueError: if ``qps <= 0`` or ``burst < 1``, which in Go would make every reservation wait forever.
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
        """Reserve one token and answer how long until it is available (the item itself is not looked at).

        :param item: the queue item (ignored: the bucket is shared by all items).
        :returns: the delay in seconds: 0 while the bucket has a token, else the time it takes to refill one.
        """
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
        """Do nothing: the bucket tracks no item (tokens already reserved stay reserved).

        :param item: the queue item (ignored).
        """
        return None

    def num_requeues(self, item: Hashable) -> int:
        """Always 0: the bucket tracks no item.

        :param item: the queue item (ignored).
        :returns: 0.
        """
        return 0


class MaxOfRateLimiter:
    """Asks every limiter and answers the longest delay (client-go's ``MaxOfRateLimiter``).

    Every limiter is asked on each ``when`` (so each counts the requeue); ``num_requeues`` is the largest
    count; ``forget`` forgets in all. As client-go notes, with a token bucket inside, the bucket's burst can
    appear exceeded when some items were separately delayed longer.

    :param limiters: the limiters to combine, in any order; none at all makes every delay 0.
    """

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters: tuple[RateLimiter, ...] = limiters

    def when(self, item: Hashable) -> float:
        """Ask every limiter (each counts one more requeue of ``item``) and answer the longest delay.

        :param item: the queue item.
        :returns: the longest of the limiters' delays, in seconds (0 without limiters).
        """
        return max((limiter.when(item) for limiter in self.limiters), default=0.0)

    def forget(self, item: Hashable) -> None:
        """Forget ``item`` in every limiter.

        :param item: the queue item.
        """
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """The largest of the limiters' requeue counts for ``item``.

        :param item: the queue item.
        :returns: the count (0 without limiters).
        """
        return max((limiter.num_requeues(item) for limiter in self.limiters), default=0)


def default_controller_rate_limiter(*, clock: Callable[[], float] = time.monotonic) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: per-item 5 ms doubling to 1,000 s, overall 10/s burst 100.

    A :class:`MaxOfRateLimiter` of an :class:`ItemExponentialFailureRateLimiter` (:data:`DEFAULT_BASE_DELAY`,
    :data:`DEFAULT_MAX_DELAY`) and a :class:`BucketRateLimiter` (:data:`DEFAULT_QPS`, :data:`DEFAULT_BURST`):
    a failing key backs off alone, and many failing keys together retry at most 10 times a second after a
    burst of 100. A fresh limiter each call (the bucket and the failure counts belong to one queue).

    :param clock: feeds the token bucket; called as ``clock() -> float``, monotonic seconds; default
        ``time.monotonic`` (injectable for tests).
    :returns: a new limiter; its ``limiters`` are the per-item one, then the bucket.
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY),
        BucketRateLimiter(DEFAULT_QPS, DEFAULT_BURST, clock=clock),
    )
