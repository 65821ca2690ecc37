"""Recording core/v1 Events about objects, with client-go ``tools/record``'s de-duplication and spam filter.

    recorder = EventRecorder(client, "example.com/readonly-default")
    recorder.event(namespace_obj, "Normal", "Repaired", "re-created RoleBinding readonly-default")
    ...
    recorder.close()      # at shutdown: sends what is queued (bounded by a timeout)

What it does, as client-go's ``EventBroadcaster`` + ``EventCorrelator`` (events_cache.go, event.go):

- **De-duplication.** An event identical to one already sent (same source, object, type, reason and message)
  PATCHes that Event's ``count``, ``lastTimestamp`` (and message) instead of creating another. client-go
  remembers the last 4,096 distinct events (an LRU), with no time limit; if the server dropped the Event (the
  API server keeps Events for an hour by default), the PATCH gets 404 and a new Event is created.
- **Aggregation.** When events about one object (same source, type and reason) carry 10 distinct messages,
  each within 10 minutes of the previous one, the 10th and later ones are folded into one Event whose message
  starts "(combined from similar events): ", counted like a duplicate.
- **Spam filter.** Per source + object (+ type), a token bucket of 25 events, refilled at 1 per 5 minutes:
  a reconcile loop stuck on one object cannot flood the API server; past the burst, events are dropped.

:class:`EventCorrelator` (:mod:`.correlator`) is all of that, sans-I/O: ``correlate(event, now)`` with the time
passed in, so it is tested with an injected clock. The write (POST, or PATCH then POST on 404) is one flow
(:func:`write_flow`, :mod:`.recorder_core`) that both recorders drive; :mod:`.event_objects` builds the Event.

**Never in the caller's way.** ``event()`` validates, builds the Event and puts it on a bounded queue
(1,000, client-go's ``maxQueuedEvents``); it does no I/O, never raises, and takes microseconds. One
background worker (a daemon thread for :class:`EventRecorder`, a task for :class:`AsyncEventRecorder`)
correlates and writes, in order. A full queue drops the event with a log line, as client-go's broadcaster
does (``DropIfChannelFull``). A write that fails without an answer (connection refused, reset, timeout) is
tried up to 12 times, 10 s apart (the first wait random), client-go's ``maxTriesPerEvent`` and
``defaultSleepDuration``; an answer that refuses it (403, 404 namespace gone, 422) drops it with a log line
that says what to fix. Why a background worker rather than a synchronous write with a short timeout: a
reconcile that records an event should not wait a round trip (about 1-3 ms locally, far more on a loaded
API server), and an API server outage must not slow every reconcile by a timeout.

Permissions: ``create`` and ``patch`` on ``events`` in the namespaces of the objects (``default`` for
cluster-scoped objects, as client-go). Events are written with the client's credentials; nothing here logs
or keeps a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, RetryCallState, Retrying, stop_when_event_set
from tenacity.stop import stop_base

from ..flows import async_drive, drive
from . import calls
from .correlator import (
    AGGREGATE_INTERVAL,
    AGGREGATE_MAX_EVENTS,
    AGGREGATE_MESSAGE_PREFIX,
    LRU_CACHE_ENTRIES,
    SPAM_BURST,
    SPAM_QPS,
    Correlation,
    EventCorrelator,
    TokenBucket,
    aggregate_key,
    event_key,
    spam_key,
)
from .event_objects import EVENT_TYPES, NORMAL, WARNING, make_event, object_reference, rfc3339, wall_clock
from .recorder_core import (
    CLOSE_TIMEOUT,
    MAX_QUEUED_EVENTS,
    MAX_TRIES_PER_EVENT,
    RETRY_SLEEP,
    STRATEGIC_MERGE_PATCH,
    Item,
    RecorderBase,
    RecorderStats,
    Written,
    about,
    log,
    write_flow,
)

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient  # noqa: F401 - the recorders' client types, in their base classes
    from ..client import ApiClient  # noqa: F401


__all__ = [
    "AGGREGATE_INTERVAL",
    "AGGREGATE_MAX_EVENTS",
    "AGGREGATE_MESSAGE_PREFIX",
    "CLOSE_TIMEOUT",
    "EVENT_TYPES",
    "LRU_CACHE_ENTRIES",
    "MAX_QUEUED_EVENTS",
    "MAX_TRIES_PER_EVENT",
    "NORMAL",
    "RETRY_SLEEP",
    "SPAM_BURST",
    "SPAM_QPS",
    "STRATEGIC_MERGE_PATCH",
    "WARNING",
    "AsyncEventRecorder",
    "Correlation",
    "EventCorrelator",
    "EventRecorder",
    "RecorderStats",
    "TokenBucket",
    "Written",
    "aggregate_key",
    "event_key",
    "make_event",
    "object_reference",
    "rfc3339",
    "spam_key",
    "wall_clock",
    "write_flow",
]


class EventRecorder(RecorderBase["ApiClient"]):
    """Records core/v1 Events through the sync client, from any thread; one background thread writes them.

    client-go's ``EventBroadcaster`` with ``StartRecordingToSink`` and an ``EventRecorder``, in one object.
    :meth:`event` never raises and never blocks: it queues the Event. The worker, a daemon thread started by the
    first event, correlates (de-duplication into a count, aggregation, spam filter) and writes the events in
    order. :meth:`flush` waits for the queue to drain (tests); :meth:`close`, or leaving a ``with`` block, sends
    what is queued within a timeout and stops the thread. Needs ``create`` and ``patch`` on ``events`` in the
    objects' namespaces (``default`` for cluster-scoped objects).

    :param client: the SDK's sync client, from :func:`~incluster_sdk.api_client`. Events are written with its
        credentials, without its own retries (the recorder retries: ``max_tries``).
    :param component: the reporting controller's name, written as source.component and reportingComponent
        (e.g. ``"example.com/readonly-default"``); required: a non-blank, printable str.
    :param host: written as source.host and reportingInstance: this replica, e.g. the pod name; None (default):
        no source.host and an empty reportingInstance.
    :param queue_size: events waiting to be written, at most; past it, new events are dropped (logged). Default
        1,000, client-go's ``maxQueuedEvents``. 0 or less means no limit (``queue.Queue``'s ``maxsize``).
    :param correlator: the :class:`~incluster_sdk.controller.correlator.EventCorrelator` the worker uses (it is
        not thread-safe: do not share it with another recorder). None (default): a new one with client-go's
        defaults: a spam filter of 25 events per source, object and type, refilled 1 per 300 s
        (``defaultSpamBurst``, ``defaultSpamQPS``); aggregation from the 10th distinct message within 600 s
        (``defaultAggregateMaxEvents``, ``defaultAggregateIntervalInSeconds``); 4,096 remembered events
        (``maxLruCacheEntries``).
    :param clock: called as ``clock() -> datetime`` (timezone-aware) when an event is recorded: the Event's
        timestamps, and the time the aggregation window and the spam filter count with. Default: UTC now
        (``wall_clock``); tests pass a fake.
    :param max_tries: tries in all for a write that gets no answer (connection refused, reset, timeout), at least
        1; default 12, client-go's ``maxTriesPerEvent``. An answer that refuses the write (403, 404 namespace
        gone, 422) is never retried: the event is dropped with a log line that says what to fix.
    :param retry_sleep: seconds between those tries; the first wait is random in [0, ``retry_sleep``) so that
        recorders do not all come back at once after an outage. Default 10 s, client-go's
        ``defaultSleepDuration``.
    :raises ~incluster_sdk.controller.object_errors.ObjectError: when ``component`` is not a str, blank, or has
        non-printable characters.
    """

    def _setup(self) -> None:
        self._queue: queue.Queue[Item | None] = queue.Queue(maxsize=self._queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def event(
        self, obj: Mapping[str, Any], event_type: str, reason: str, message: str, *, field_path: str | None = None
    ) -> None:
        """Record an event about ``obj``: queue it for the background thread and return at once.

        Never raises, never blocks, does no I/O (microseconds). An invalid event (bad type, empty reason, object
        without kind, apiVersion or name) is logged and dropped, as client-go does; so is an event that finds the
        queue full or the recorder closed. :attr:`stats` counts each outcome.

        :param obj: the object the event is about: as the API server or an informer gives it (a dict with
            apiVersion, kind and metadata.name; list items lack kind and apiVersion: set them), or an
            ObjectReference as a dict (kind, apiVersion, name, namespace, uid). The Event goes to its namespace,
            ``default`` for a cluster-scoped object.
        :param event_type: :data:`~incluster_sdk.controller.events.NORMAL` (``"Normal"``) or
            :data:`~incluster_sdk.controller.events.WARNING` (``"Warning"``).
        :param reason: why, short and UpperCamelCase, e.g. ``"Repaired"``; non-empty.
        :param message: what happened, for humans (``kubectl describe`` shows it).
        :param field_path: the part of the object the event is about (ObjectReference.fieldPath, e.g.
            ``"spec.containers{web}"``); None (default): none, or the reference's own.
        """
        try:
            item = self._core.accept(obj, event_type, reason, message, field_path, self._closed.is_set())
            if item is None:
                return
            with self._lock:
                self._start()
                try:
                    self._queue.put_nowait(item)
                except queue.Full:
                    self._core.queue_full(item, self._queue.maxsize)
                    return
                self._pending += 1
        except Exception:  # recording must never fail a reconcile
            log.exception("event not recorded")

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"events-{self._core.component}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._record(item)
            except Exception:
                log.exception("event %s not recorded", about(item.event))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _record(self, item: Item) -> None:
        correlation = self._core.correlate(item)
        if correlation.skip:
            return
        perform = calls.sender(self._client, retry=False)
        # once closing, each event is tried once more (client-go: the broadcaster's context is cancelled)
        retrying = Retrying(sleep=self._sleep, **self._core.tenacity(stop_when_event_set(self._closed)))
        written: Written = retrying(lambda: drive(write_flow(self._core.correlator, correlation), perform))
        self._core.account(item, written)

    def _sleep(self, seconds: float) -> None:
        self._closed.wait(seconds)  # close() cuts a retry wait short

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been written (or dropped).

        An event whose write gets no answer keeps the queue busy through its retries (up to ``max_tries``, about
        2 minutes by default).

        :param timeout: seconds to wait at most; None (default) waits as long as it takes.
        :returns: True when the queue is empty, False when ``timeout`` passed first.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop accepting events, send what is queued, and stop the thread, within ``timeout`` seconds.

        First waits up to half of ``timeout`` for the queue to drain normally; then stops retrying (each event
        left is tried once more, and a retry wait in progress is cut short) and waits the rest of ``timeout`` for
        the thread to finish. Past that, an ERROR log line says how many events were not written; the daemon
        thread may still write them until the process exits. Events recorded after this are dropped. Idempotent.

        :param timeout: seconds in all; default 5 s (:data:`~incluster_sdk.controller.recorder_core.CLOSE_TIMEOUT`,
            our choice: several round trips, well within a pod's default 30 s termination grace period;
            client-go's ``Shutdown`` has no deadline).
        """
        with self._lock:
            thread = self._thread
            if self._closed.is_set() and thread is None:
                return
        deadline = time.monotonic() + timeout
        self.flush(timeout=max(0.0, timeout / 2))  # first, a normal drain
        self._closed.set()
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.error("event recorder: %d events not written before close's %.1f s timeout", self._pending, timeout)
        with self._lock:
            self._thread = None

    def __enter__(self) -> EventRecorder:
        """Use the recorder in a ``with`` block, which closes it (:meth:`close`) on leaving.

        :returns: the recorder itself.
        """
        return self

    def __exit__(self, *exc: object) -> None:
        """:meth:`close` the recorder with its default timeout (5 s); an exception in the block propagates."""
        self.close()


class _StopWhenClosing(stop_base):
    """tenacity stop condition: the asyncio recorder is closing (tenacity's stop_when_event_set is for threads)."""

    def __init__(self, closing: asyncio.Event) -> None:
        self.closing = closing

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.closing.is_set()


class AsyncEventRecorder(RecorderBase["AsyncApiClient"]):
    """Records core/v1 Events through the asyncio client, from the event loop's thread; one task writes them.

    :class:`EventRecorder` for asyncio: :meth:`event` is a plain method (call it from coroutines or callbacks on
    the running loop's thread); it never raises and never blocks: it queues the Event. The worker, a task started
    on the running loop by the first event, correlates (de-duplication into a count, aggregation, spam filter)
    and writes the events in order. :meth:`flush` waits for the queue to drain (tests); ``await``
    :meth:`aclose`, or leaving an ``async with`` block, sends what is queued within a timeout and stops the
    task. Needs ``create`` and ``patch`` on ``events`` in the objects' namespaces (``default`` for
    cluster-scoped objects).

    :param client: the SDK's asyncio client, from :func:`~incluster_sdk.async_api_client`. Events are written with its
        credentials, without its own retries (the recorder retries: ``max_tries``).
    :param component: the reporting controller's name, written as source.component and reportingComponent
        (e.g. ``"example.com/readonly-default"``); required: a non-blank, printable str.
    :param host: written as source.host and reportingInstance: this replica, e.g. the pod name; None (default):
        no source.host and an empty reportingInstance.
    :param queue_size: events waiting to be written, at most; past it, new events are dropped (logged). Default
        1,000, client-go's ``maxQueuedEvents``. 0 or less means no limit (``asyncio.Queue``'s ``maxsize``).
    :param correlator: the :class:`~incluster_sdk.controller.correlator.EventCorrelator` the worker uses (it is
        not thread-safe: do not share it with another recorder). None (default): a new one with client-go's
        defaults: a spam filter of 25 events per source, object and type, refilled 1 per 300 s
        (``defaultSpamBurst``, ``defaultSpamQPS``); aggregation from the 10th distinct message within 600 s
        (``defaultAggregateMaxEvents``, ``defaultAggregateIntervalInSeconds``); 4,096 remembered events
        (``maxLruCacheEntries``).
    :param clock: called as ``clock() -> datetime`` (timezone-aware) when an event is recorded: the Event's
        timestamps, and the time the aggregation window and the spam filter count with. Default: UTC now
        (``wall_clock``); tests pass a fake.
    :param max_tries: tries in all for a write that gets no answer (connection refused, reset, timeout), at least
        1; default 12, client-go's ``maxTriesPerEvent``. An answer that refuses the write (403, 404 namespace
        gone, 422) is never retried: the event is dropped with a log line that says what to fix.
    :param retry_sleep: seconds between those tries; the first wait is random in [0, ``retry_sleep``) so that
        recorders do not all come back at once after an outage. Default 10 s, client-go's
        ``defaultSleepDuration``.
    :raises ~incluster_sdk.controller.object_errors.ObjectError: when ``component`` is not a str, blank, or has
        non-printable characters.
    """

    def _setup(self) -> None:
        self._queue: asyncio.Queue[Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._closed = False

    def event(
        self, obj: Mapping[str, Any], event_type: str, reason: str, message: str, *, field_path: str | None = None
    ) -> None:
        """Record an event about ``obj``: queue it for the background task and return at once.

        Never raises, never blocks, does no I/O (microseconds). Needs a running event loop: without one the event
        is logged and dropped. An invalid event (bad type, empty reason, object without kind, apiVersion or name)
        is logged and dropped, as client-go does; so is an event that finds the queue full or the recorder
        closed. :attr:`stats` counts each outcome.

        :param obj: the object the event is about: as the API server or an informer gives it (a dict with
            apiVersion, kind and metadata.name; list items lack kind and apiVersion: set them), or an
            ObjectReference as a dict (kind, apiVersion, name, namespace, uid). The Event goes to its namespace,
            ``default`` for a cluster-scoped object.
        :param event_type: :data:`~incluster_sdk.controller.events.NORMAL` (``"Normal"``) or
            :data:`~incluster_sdk.controller.events.WARNING` (``"Warning"``).
        :param reason: why, short and UpperCamelCase, e.g. ``"Repaired"``; non-empty.
        :param message: what happened, for humans (``kubectl describe`` shows it).
        :param field_path: the part of the object the event is about (ObjectReference.fieldPath, e.g.
            ``"spec.containers{web}"``); None (default): none, or the reference's own.
        """
        try:
            item = self._core.accept(obj, event_type, reason, message, field_path, self._closed)
            if item is None:
                return
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                self._core.stats.dropped += 1
                log.error("event %s not recorded: AsyncEventRecorder.event needs a running loop", about(item.event))
                return
            events = self._start()
            try:
                events.put_nowait(item)
            except asyncio.QueueFull:
                self._core.queue_full(item, self._queue_size)
        except Exception:
            log.exception("event not recorded")

    def _start(self) -> asyncio.Queue[Item | None]:
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self._queue_size)
            self._closing = asyncio.Event()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue), name="event-recorder")
        return self._queue

    async def _run(self, events: asyncio.Queue[Item | None]) -> None:
        while True:
            item = await events.get()
            try:
                if item is None:
                    return
                await self._record(item)
            except Exception:
                log.exception("event %s not recorded", about(item.event) if item else "")
            finally:
                events.task_done()

    async def _sleep(self, seconds: float) -> None:
        assert self._closing is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _record(self, item: Item) -> None:
        correlation = self._core.correlate(item)
        if correlation.skip:
            return
        closing = self._closing
        assert closing is not None
        perform = calls.async_sender(self._client, retry=False)
        retrying = AsyncRetrying(sleep=self._sleep, **self._core.tenacity(_StopWhenClosing(closing)))

        async def attempt() -> Written:  # a coroutine function: tenacity awaits it (a lambda would not be)
            return await async_drive(write_flow(self._core.correlator, correlation), perform)

        written: Written = await retrying(attempt)
        self._core.account(item, written)

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been written (or dropped).

        An event whose write gets no answer keeps the queue busy through its retries (up to ``max_tries``, about
        2 minutes by default).

        :param timeout: seconds to wait at most; None (default) waits as long as it takes.
        :returns: True when the queue is empty, False when ``timeout`` passed first.
        """
        if self._queue is None:
            return True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop accepting events, send what is queued, and stop the task, within ``timeout`` seconds.

        First waits up to half of ``timeout`` for the queue to drain normally; then stops retrying (each event
        left is tried once more, and a retry wait in progress is cut short) and waits the rest of ``timeout`` for
        the task to finish. Past that, an ERROR log line says how many events were not written and the task is
        cancelled: they are dropped. Events recorded after this are dropped. Idempotent.

        :param timeout: seconds in all; default 5 s (:data:`~incluster_sdk.controller.recorder_core.CLOSE_TIMEOUT`,
            our choice: several round trips, well within a pod's default 30 s termination grace period;
            client-go's ``Shutdown`` has no deadline).
        """
        self._closed = True
        task, events = self._task, self._queue
        if task is None or events is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.flush(timeout / 2)
        assert self._closing is not None
        self._closing.set()
        with contextlib.suppress(asyncio.QueueFull):
            events.put_nowait(None)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if not done:
            log.error("event recorder: %d events not written before aclose's %.1f s timeout", events.qsize(), timeout)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._task = None

    async def __aenter__(self) -> AsyncEventRecorder:
        """Use the recorder in an ``async with`` block, which closes it (:meth:`aclose`) on leaving.

        :returns: the recorder itself.
        """
        return self

    async def __aexit__(self, *exc: object) -> None:
        """:meth:`aclose` the recorder with its default timeout (5 s); an exception in the block propagates."""
        await self.aclose()
