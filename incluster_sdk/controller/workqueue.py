"""The rate-limited work queue (client-go ``util/workqueue``), for worker threads and for asyncio tasks.

:class:`RateLimitingQueue` (threads) and :class:`AsyncRateLimitingQueue` (asyncio) are thin drivers of one
sans-I/O :class:`~.queue_core.QueueCore`, so both keep client-go's rules exactly:

- an item added while it is already queued is queued once;
- an item added while a worker processes it is processed again after that worker calls ``done``, never by
  two workers at once;
- ``add_after(item, delay)`` adds later (now if ``delay <= 0``); an item already waiting keeps its earlier time;
- ``add_rate_limited(item)`` waits as long as the rate limiter says (default: client-go's
  ``DefaultControllerRateLimiter``); ``forget(item)`` resets the item's backoff, ``num_requeues(item)`` reads it;
- ``shutdown()``: later adds are ignored, delayed items not yet due are dropped, and workers get the items already
  queued; once none is left, ``get`` raises :class:`ShutDown`.

A worker loop:

```python
queue: RateLimitingQueue[str] = RateLimitingQueue(name="bindings")
queue.add("default/web")

def worker() -> None:
    while True:
        try:
            key = queue.get()
        except ShutDown:
            return
        try:
            reconcile(key)
            queue.forget(key)
        except Exception:
            queue.add_rate_limited(key)
        finally:
            queue.done(key)
```

The asyncio twin has the same methods; ``get`` and ``shutdown_with_drain`` are coroutines.

Two clocks: delays (``add_after``, the rate limiter) and metrics use the queue's ``clock`` (monotonic seconds,
injectable for tests); the ``timeout`` of the blocking calls is real waiting, measured with
``time.monotonic``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ..errors import InclusterSDKError
from .queue_core import EMPTY, Empty, QueueCore
from .queue_metrics import MetricsUnavailable, PrometheusMetricsProvider
from .ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)

__all__ = [
    "AsyncRateLimitingQueue",
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "MetricsUnavailable",
    "PrometheusMetricsProvider",
    "RateLimiter",
    "RateLimitingQueue",
    "ShutDown",
    "default_controller_rate_limiter",
]

T = TypeVar("T", bound=Hashable)


class ShutDown(InclusterSDKError):
    """The queue is shut down and has no item left for this worker: the worker should stop.

    Raised by ``get`` of :class:`RateLimitingQueue` and :class:`AsyncRateLimitingQueue` (client-go's ``Get``
    returns ``shutdown=true`` instead).
    """


def _wait_seconds(core: QueueCore[T], now: float, deadline: float | None) -> float | None:
    """How long a getter may sleep: until the next waiting item is ready or the deadline; None is forever.

    Raises ``TimeoutError`` if the deadline (``time.monotonic`` seconds) has passed.
    """
    waits: list[float] = []
    ready_at = core.next_ready_at()
    if ready_at is not None:
        waits.append(max(ready_at - now, 0.0))
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no item became available in the work queue before the timeout")
        waits.append(remaining)
    return min(waits) if waits else None


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


class _Queue(Generic[T]):
    """What both front-ends share: the core, the rate limiter, the clock, and each step of their methods.

    A front-end serializes the calls (the threads' lock; asyncio's one loop), implements :meth:`_wake` and
    waits where :meth:`_take` tells it to.
    """

    def __init__(
        self,
        rate_limiter: RateLimiter | None = None,
        *,
        name: str = "",
        metrics: PrometheusMetricsProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.rate_limiter: RateLimiter = (
            default_controller_rate_limiter(clock=clock) if rate_limiter is None else rate_limiter
        )
        self._clock = clock
        self._core: QueueCore[T] = QueueCore(None if metrics is None else metrics.new_queue_metrics(name, clock))
        self._init_waiting()

    def _init_waiting(self) -> None:
        """Make what callers wait on: a lock and conditions (threads), or lists of futures (asyncio)."""
        raise NotImplementedError

    def _wake(self, n: int) -> None:
        """Let up to ``n`` sleeping getters look at the queue again."""
        raise NotImplementedError

    def _add_after(self, item: T, delay_seconds: float) -> bool:
        """``add_after``'s step; True if the earliest ready time changed (a sleeping getter must re-compute)."""
        before = self._core.next_ready_at()
        self._wake(self._core.add_after(item, delay_seconds, self._clock()))
        return self._core.next_ready_at() != before

    def _take(self, deadline: float | None) -> tuple[T | Empty, float | None]:
        """``get``'s step: a ready item, taken (a getter woken for each other item made ready); or
        :data:`~.queue_core.EMPTY` and how long to sleep (None: until woken).

        Raises :class:`ShutDown` once the queue is shut down and empty, ``TimeoutError`` past ``deadline``.
        """
        core = self._core
        now = self._clock()
        promoted = core.promote(now)
        item = core.get(now)
        if item is not EMPTY:
            if promoted > 1:
                self._wake(promoted - 1)
            return item, None
        if core.finished:
            raise self._shut_down()
        return EMPTY, _wait_seconds(core, now, deadline)

    def _len(self) -> int:
        self._wake(self._core.promote(self._clock()))
        return len(self._core)

    def forget(self, item: T) -> None:
        """Stop tracking ``item``'s failures: its next ``add_rate_limited`` waits the shortest delay again.

        client-go's ``Forget``: call it when the item succeeded, or when you give up retrying it. Only the rate
        limiter forgets: the item stays queued or processing as it was, and you still call ``done``.

        :param item: the item (for a controller, its key); one the rate limiter never saw is ignored.
        """
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How many times ``item`` was requeued with ``add_rate_limited`` since it was last forgotten.

        client-go's ``NumRequeues``: the rate limiter's count (with the default limiter, the per-item
        backoff's failure count). Useful to give up after N failures (then call :meth:`forget`).

        :param item: the item.
        :returns: the count (0 for an item never requeued, or just forgotten).
        """
        return self.rate_limiter.num_requeues(item)

    @property
    def shutting_down(self) -> bool:
        """True once ``shutdown`` or ``shutdown_with_drain`` was called (client-go's ``ShuttingDown``).

        Workers may still get the items queued before the shutdown; ``get`` raises :class:`ShutDown` once none
        is left.
        """
        return self._core.shutting_down

    def _shut_down(self) -> ShutDown:
        return ShutDown(f"the work queue {self.name!r} is shut down and has no item left: stop this worker")


class RateLimitingQueue(_Queue[T]):
    """client-go's rate-limiting work queue for worker threads; every method is thread-safe.

    Items are any hashable values (a controller's are string keys ``namespace/name``); see the module's
    docstring for the rules and a worker loop.

    :param rate_limiter: decides how long ``add_rate_limited`` waits (any :class:`~.ratelimit.RateLimiter`);
        None (the default) means a new :func:`~.ratelimit.default_controller_rate_limiter`, client-go's
        ``DefaultControllerRateLimiter``: per item 5 ms doubling to 1,000 s, overall 10 per second with a
        burst of 100.
    :param name: labels the queue in messages and metrics; default ``""`` (no name; allowed without metrics).
    :param metrics: a :class:`~.queue_metrics.PrometheusMetricsProvider` to export client-go's ``workqueue_*``
        series for this queue (labelled ``name``); None (the default) records nothing.
    :param clock: the clock of delays and metrics, called as ``clock() -> float`` in monotonic seconds; default
        ``time.monotonic`` (injectable for tests; ``get``'s timeout always waits real time).
    :raises ValueError: if ``metrics`` is given and ``name`` is empty.
    """

    def _init_waiting(self) -> None:
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)  # an item may be ready, or the queue shut down
        self._idle = threading.Condition(self._lock)  # drained, or the drain was cancelled by shutdown()

    def _wake(self, n: int) -> None:
        if n:
            self._available.notify(n)

    def add(self, item: T) -> None:
        """Queue ``item`` unless it is already queued (if a worker holds it, it runs again after ``done``).

        Ignored after a shutdown (client-go's ``Add``).

        :param item: the item to process (hashable; for a controller, the key).
        """
        with self._lock:
            self._wake(self._core.add(item, self._clock()))

    def add_after(self, item: T, delay_seconds: float) -> None:
        """Add ``item`` once ``delay_seconds`` have passed; if it already waits, the earlier time wins.

        client-go's ``AddAfter``: the wait is separate from the queue (an item both queued and waiting is added
        again, and de-duplicated, when its time comes). Ignored after a shutdown; a waiting item not yet due
        at the shutdown is dropped. Counts one retry in the metrics.

        :param item: the item to process.
        :param delay_seconds: how long to wait, in seconds of the queue's clock; <= 0 adds now.
        """
        with self._lock:
            if self._add_after(item, delay_seconds):
                self._available.notify()

    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the delay the rate limiter gives it (each call counts one requeue).

        client-go's ``AddRateLimited``: call it when processing ``item`` failed; :meth:`forget` resets the
        count when it succeeds.

        :param item: the item to retry.
        """
        self.add_after(item, self.rate_limiter.when(item))

    def get(self, timeout: float | None = None) -> T:
        """Block until an item is ready and take it; you must call ``done(item)`` when finished with it.

        The item is now processing: no other worker gets it until ``done``.

        :param timeout: the longest wait, in seconds of real time; None (the default) waits for ever, 0 only
            looks.
        :returns: the item.
        :raises ShutDown: once the queue is shut down and has no item left: stop this worker.
        :raises TimeoutError: if no item was ready within ``timeout`` seconds.
        """
        deadline = _deadline(timeout)
        with self._lock:
            while True:
                item, wait = self._take(deadline)
                if item is not EMPTY:
                    return item
                self._available.wait(wait)

    def done(self, item: T) -> None:
        """Mark ``item`` finished; if it was added while processing, it is queued again now.

        Call it once per ``get``, whatever the outcome (client-go's ``Done``).

        :param item: the item ``get`` returned.
        :raises ValueError: if ``item`` is not being processed (``done`` without ``get``, or twice).
        """
        with self._lock:
            self._wake(self._core.done(item, self._clock()))
            if self._core.drained:
                self._idle.notify_all()

    def __len__(self) -> int:
        """How many items are queued for a worker (client-go's ``Len``).

        :returns: the count of items queued: not those processing, nor those waiting for their ``add_after``
            time.
        """
        with self._lock:
            return self._len()

    def shutdown(self) -> None:
        """Ignore later adds, drop delayed items not yet due; workers get what is queued, then :class:`ShutDown`.

        client-go's ``ShutDown``; it does not wait. Also ends a ``shutdown_with_drain`` that is waiting, as
        client-go's does. Calling it again does nothing more.
        """
        with self._lock:
            self._core.shutdown(self._clock(), drain=False)
            self._available.notify_all()
            self._idle.notify_all()

    def shutdown_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down as :meth:`shutdown`, then wait until no item is queued or being processed.

        Your workers must go on calling ``get`` and ``done`` meanwhile (so do not call it from a worker that
        holds an item). Unlike client-go's ``ShutDownWithDrain``, which returns when nothing is *processing*
        (and so can return between a worker's ``done`` and its next ``get``), this also waits for the items
        still queued, which workers take after a shutdown anyway.

        :param timeout: the longest wait, in seconds of real time; None (the default) waits for ever
            (client-go's has no timeout).
        :returns: True if nothing was queued or processing when it returned; False if ``timeout`` passed first
            or a ``shutdown()`` call ended the wait with items left.
        """
        deadline = _deadline(timeout)
        core = self._core
        with self._lock:
            core.shutdown(self._clock(), drain=True)
            self._available.notify_all()
            while core.drain and not core.drained:
                if deadline is None:
                    self._idle.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
            return core.drained


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class AsyncRateLimitingQueue(_Queue[T]):
    """The asyncio twin of :class:`RateLimitingQueue`: the same core, methods and rules; for one event loop.

    ``get`` and ``shutdown_with_drain`` are coroutines; the other methods are plain and never block. Call it
    from the loop's thread only (from another thread, use ``loop.call_soon_threadsafe(queue.add, key)``). It
    may be created outside a running loop.

    :param rate_limiter: decides how long ``add_rate_limited`` waits; None (the default) means a new
        :func:`~.ratelimit.default_controller_rate_limiter` (client-go's ``DefaultControllerRateLimiter``: per
        item 5 ms doubling to 1,000 s, overall 10 per second with a burst of 100).
    :param name: labels the queue in messages and metrics; default ``""`` (no name; allowed without metrics).
    :param metrics: a :class:`~.queue_metrics.PrometheusMetricsProvider` to export client-go's ``workqueue_*``
        series for this queue (labelled ``name``); None (the default) records nothing.
    :param clock: the clock of delays and metrics, called as ``clock() -> float`` in monotonic seconds; default
        ``time.monotonic`` (injectable for tests; ``get``'s timeout always waits real time).
    :raises ValueError: if ``metrics`` is given and ``name`` is empty.
    """

    def _init_waiting(self) -> None:
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drainers: list[asyncio.Future[None]] = []

    def _wake(self, n: int) -> None:
        getters = self._getters
        while n > 0 and getters:
            waiter = getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                n -= 1

    def _wake_all(self) -> None:
        self._wake(len(self._getters))

    def add(self, item: T) -> None:
        """As :meth:`RateLimitingQueue.add`: queued once, and again after ``done`` if a worker holds it.

        :param item: the item to process (hashable; for a controller, the key).
        """
        available = self._core.add(item, self._clock())
        if available and self._getters:
            self._wake(available)

    def add_after(self, item: T, delay_seconds: float) -> None:
        """As :meth:`RateLimitingQueue.add_after`: later (now if <= 0); of two waits, the earlier time wins.

        :param item: the item to process.
        :param delay_seconds: how long to wait, in seconds of the queue's clock; <= 0 adds now.
        """
        if self._add_after(item, delay_seconds):
            self._wake(1)  # a sleeping getter re-computes how long to sleep

    def add_rate_limited(self, item: T) -> None:
        """As :meth:`RateLimitingQueue.add_rate_limited`: after the rate limiter's delay (one more requeue).

        :param item: the item to retry.
        """
        self.add_after(item, self.rate_limiter.when(item))

    async def get(self, timeout: float | None = None) -> T:
        """Wait until an item is ready and take it; you must call ``done(item)`` when finished with it.

        Cancelling the waiting task takes no item (a wake-up it was given passes to the next getter).

        :param timeout: the longest wait, in seconds of real time; None (the default) waits for ever, 0 only
            looks.
        :returns: the item.
        :raises ShutDown: once the queue is shut down and has no item left: stop this worker.
        :raises TimeoutError: the builtin (also on Python 3.10, where ``asyncio.TimeoutError`` differs), if no
            item was ready within ``timeout`` seconds.
        """
        deadline = _deadline(timeout)
        while True:
            item, wait = self._take(deadline)
            if item is not EMPTY:
                return item
            await self._sleep(wait)

    async def _sleep(self, wait: float | None) -> None:
        """Sleep until woken, or ``wait`` seconds (None: until woken)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._getters.append(waiter)
        timer = None if wait is None else loop.call_later(wait, _release, waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake(1)  # the wake-up this getter was given goes to the next one
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._getters.remove(waiter)

    def done(self, item: T) -> None:
        """As :meth:`RateLimitingQueue.done`: requeued now if added while processing.

        :param item: the item ``get`` returned.
        :raises ValueError: if ``item`` is not being processed (``done`` without ``get``, or twice).
        """
        available = self._core.done(item, self._clock())
        if available:
            self._wake(available)
        if self._drainers and self._core.drained:
            self._release_drainers()

    def _release_drainers(self) -> None:
        for waiter in self._drainers:
            _release(waiter)
        self._drainers.clear()

    def __len__(self) -> int:
        """As :meth:`RateLimitingQueue.__len__`.

        :returns: the count of items queued for a worker (not processing, nor waiting for their time).
        """
        return self._len()

    def shutdown(self) -> None:
        """As :meth:`RateLimitingQueue.shutdown`, which also ends a waiting ``shutdown_with_drain``."""
        self._core.shutdown(self._clock(), drain=False)
        self._wake_all()
        self._release_drainers()

    async def shutdown_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down as :meth:`shutdown`, then wait until no item is queued or being processed.

        Your worker tasks must go on calling ``get`` and ``done`` meanwhile; see
        :meth:`RateLimitingQueue.shutdown_with_drain` for how this differs from client-go.

        :param timeout: the longest wait, in seconds of real time; None (the default) waits for ever.
        :returns: True if nothing was queued or processing when it returned; False if ``timeout`` passed first
            or a ``shutdown()`` call ended the wait with items left.
        """
        core = self._core
        core.shutdown(self._clock(), drain=True)
        self._wake_all()
        if core.drained:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drainers.append(waiter)
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in self._drainers:
                self._drainers.remove(waiter)
        return core.drained
