"""The work queue's logic, sans-I/O: client-go's dirty/processing sets and delayed adds, with time passed in.

:class:`QueueCore` is client-go's ``workqueue.Type`` and ``delayingType`` without goroutines, locks or clock
reads: every call that depends on time takes ``now`` (seconds, from one monotonic clock), and it never blocks.
The thread and asyncio front-ends (``workqueue.py``) hold it, serialize calls to it, and wait when it has
nothing to give; they use what the calls return to know whom to wake.

The rules, client-go's:

- ``dirty`` holds every item that needs processing; ``queue`` is the order to hand them out, and holds the
  dirty items that are not being processed; ``processing`` holds the items a worker has taken.
- ``add``: an item already dirty is not added again; an item being processed becomes dirty but is queued only
  when its worker calls ``done``. So an item is never handed to two workers at once.
- ``add_after``: a delay <= 0 adds now; otherwise the item waits until ``now + delay``. An item already waiting
  keeps the earlier of its two ready times (client-go's ``insert`` into ``waitingForQueue``). A waiting item is
  added independently of the queue: when its time comes, it is ``add``-ed (and de-duplicated) then.
- ``shutdown``: later adds are ignored and waiting items not yet due are dropped; workers still get the items already
  queued (and the dirty items requeued by ``done``) until the queue is empty, then learn it is shut down.

Waiting items are moved to the queue lazily, by any call that passes ``now`` (``promote``); their add time,
for the metrics, is their ready time, not the moment they were noticed.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, Literal, TypeVar

from .queue_metrics import NoMetrics, QueueMetrics

__all__ = ["EMPTY", "Empty", "QueueCore"]

T = TypeVar("T", bound=Hashable)


class Empty(enum.Enum):
    """What :meth:`QueueCore.get` returns when it has no item to give."""

    EMPTY = "empty"


EMPTY: Literal[Empty.EMPTY] = Empty.EMPTY
"""What :meth:`QueueCore.get` returns when no item is ready (a sentinel: items may be anything hashable, None
included)."""


class QueueCore(Generic[T]):
    """client-go's rate-limiting work queue as a state machine: no threads, no clock, no blocking.

    Calls that can make items available return how many became available (the front-end wakes that many
    waiting workers). Not thread-safe: the front-end serializes the calls. Every ``now`` is in seconds, from
    one monotonic clock.

    :param metrics: told of every add, get, done and retry (:class:`~.queue_metrics.QueueMetrics`); None (the
        default) records nothing (and skips the calls on the hot path).
    """

    def __init__(self, metrics: QueueMetrics | None = None) -> None:
        self.metrics: QueueMetrics = NoMetrics() if metrics is None else metrics
        self._metered = metrics is not None  # skips the calls on the hot path when nothing records them
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        # waitingForQueue: a heap of (ready_at, seq, item); _waiting maps an item to its live (ready_at, seq).
        # An entry whose seq is not the live one for its item is stale (superseded by an earlier time): skipped.
        self._heap: list[tuple[float, int, T]] = []
        self._waiting: dict[T, tuple[float, int]] = {}
        self._seq = itertools.count()
        self.shutting_down = False
        """True once :meth:`shutdown` was called: later adds are ignored."""
        self.drain = False
        """True while a ``shutdown_with_drain`` waits for :attr:`drained` (a plain :meth:`shutdown` clears it)."""

    # -- client-go's Type -------------------------------------------------------------------------------------

    def add(self, item: T, now: float) -> int:
        """Mark ``item`` as needing processing (client-go's ``Add``); ignored once shut down.

        :param item: the item.
        :param now: the current time, in seconds (waiting items due by then are added first).
        :returns: how many items became available to a worker (0 to 1 + the waiting items promoted).
        """
        available = self.promote(now) if self._heap else 0
        return available + self._add(item, now)

    def _add(self, item: T, at: float) -> int:
        if self.shutting_down or item in self._dirty:
            return 0
        if self._metered:
            self.metrics.add(item, at)
        self._dirty.add(item)
        if item in self._processing:
            return 0
        self._queue.append(item)
        return 1

    def get(self, now: float) -> T | Literal[Empty.EMPTY]:
        """Take the next item (it is now processing: call :meth:`done`), or :data:`EMPTY` if none is ready.

        :param now: the current time, in seconds.
        :returns: the item, or :data:`EMPTY`; :data:`EMPTY` with :attr:`finished` true means the worker should
            stop.
        """
        if self._heap:
            self.promote(now)
        if not self._queue:
            return EMPTY
        item = self._queue.popleft()
        if self._metered:
            self.metrics.get(item, now)
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T, now: float) -> int:
        """``item``'s worker finished it; if it was added again meanwhile, queue it (client-go's ``Done``).

        :param item: the item :meth:`get` returned.
        :param now: the current time, in seconds.
        :returns: how many items became available to a worker.
        :raises ValueError: if ``item`` is not being processed (client-go would queue a dirty item twice).
        """
        if item not in self._processing:
            raise ValueError(f"done({item!r}) for an item that is not being processed: call done once per get")
        available = self.promote(now) if self._heap else 0  # what was due before goes first, as in client-go
        if self._metered:
            self.metrics.done(item, now)
        self._processing.remove(item)
        if item in self._dirty:
            self._queue.append(item)
            available += 1
        return available

    def shutdown(self, now: float, *, drain: bool = False) -> int:
        """Ignore later adds and drop waiting items (client-go's ``ShutDown``).

        Waiting items whose time has come are added first (client-go's waiting loop would have added them).

        :param now: the current time, in seconds.
        :param drain: records that a caller waits for :attr:`drained` (``shutdown_with_drain``); False ends
            such a wait.
        :returns: how many items became available to a worker.
        """
        available = self.promote(now)
        self.shutting_down = True
        self.drain = drain
        self._heap.clear()
        self._waiting.clear()
        return available

    def __len__(self) -> int:
        """Items queued for a worker, as client-go's ``Len``.

        :returns: the count, not including the items processing nor those waiting for their time.
        """
        return len(self._queue)

    @property
    def finished(self) -> bool:
        """Shut down and nothing left to hand out: ``get`` will never return an item again."""
        return self.shutting_down and not self._queue

    @property
    def drained(self) -> bool:
        """Nothing queued and nothing processing (what ``shutdown_with_drain`` waits for)."""
        return not self._queue and not self._processing

    @property
    def processing(self) -> frozenset[T]:
        """The items workers hold now."""
        return frozenset(self._processing)

    @property
    def dirty(self) -> frozenset[T]:
        """The items that need processing (queued, or to be queued again when their worker is done)."""
        return frozenset(self._dirty)

    # -- client-go's delayingType -----------------------------------------------------------------------------

    def add_after(self, item: T, delay: float, now: float) -> int:
        """Add ``item`` once ``delay`` seconds have passed (client-go's ``AddAfter``).

        Ignored when shut down. Counts one retry in the metrics, as client-go's ``AddAfter`` does. An item
        already waiting keeps the earlier of its two ready times.

        :param item: the item.
        :param delay: how long to wait, in seconds; <= 0 adds now.
        :param now: the current time, in seconds.
        :returns: how many items became available to a worker.
        """
        if self.shutting_down:
            return 0
        self.metrics.retry()
        if delay <= 0:
            return self.add(item, now)
        available = self.promote(now)  # what is due was added by client-go's waiting loop before this call
        ready_at = now + delay
        current = self._waiting.get(item)
        if current is None or ready_at < current[0]:
            seq = next(self._seq)
            self._waiting[item] = (ready_at, seq)
            heapq.heappush(self._heap, (ready_at, seq, item))
        return available

    def promote(self, now: float) -> int:
        """Add every waiting item whose time has come (dated, for the metrics, at its ready time).

        :param now: the current time, in seconds.
        :returns: how many items became available to a worker.
        """
        heap = self._heap
        available = 0
        while heap and heap[0][0] <= now:
            ready_at, seq, item = heapq.heappop(heap)
            if self._waiting.get(item, (None, None))[1] != seq:
                continue
            del self._waiting[item]
            available += self._add(item, ready_at)
        return available

    def next_ready_at(self) -> float | None:
        """When the earliest waiting item is ready.

        :returns: that time, in seconds of the callers' clock, or None if no item waits.
        """
        heap = self._heap
        while heap:
            ready_at, seq, item = heap[0]
            if self._waiting.get(item, (None, None))[1] == seq:
                return ready_at
            heapq.heappop(heap)
        return None

    @property
    def waiting(self) -> dict[T, float]:
        """Each waiting item and the time it becomes ready (seconds, the callers' clock); a copy."""
        return {item: ready_at for item, (ready_at, _) in self._waiting.items()}
