"""Handlers and the runners that call them: each handler is fed by its own ordered queue, on its own thread
(:class:`ThreadRunner`) or asyncio task (:class:`TaskRunner`), so a slow or failing handler neither blocks
the watch nor loses events for the others.

Calls travel in batches (everything one network read produced): one queue hand-off per read instead of one
per event. After queuing a read's batch, the watch thread hands the GIL to each handler that has kept up,
for a moment (:data:`HANDOFF_WAIT`), so that the batch runs while its objects are fresh.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

OnAdd = Callable[[Mapping[str, Any], bool], Any]
OnUpdate = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
OnDelete = Callable[[Any], Any]

# One handler call is one flat tuple, tagged with the callback it is for: (ADD, obj, initial),
# (UPDATE, old, new), (DELETE, obj or DeletedFinalStateUnknown). Tuples, not objects: every container alive
# when CPython's collector runs costs a traversal, and building a class instance per event costs 0.3-1 µs
# more than a tuple (measured), on a path that takes about 15 µs per event (docs/performance.md).
ADD: Literal["add"] = "add"
UPDATE: Literal["update"] = "update"
DELETE: Literal["delete"] = "delete"
AddCall = tuple[Literal["add"], Mapping[str, Any], bool]
UpdateCall = tuple[Literal["update"], Mapping[str, Any], Mapping[str, Any]]
DeleteCall = tuple[Literal["delete"], Any]
HandlerCall = AddCall | UpdateCall | DeleteCall


@dataclass
class Handler:
    on_add: OnAdd | None = None
    on_update: OnUpdate | None = None
    on_delete: OnDelete | None = None

    def by_tag(self) -> dict[str, Callable[..., Any] | None]:
        return {ADD: self.on_add, UPDATE: self.on_update, DELETE: self.on_delete}


_STOP = object()

#: How long the watch thread lets a handler that has kept up run the batch it was just given, before it
#: reads on. Without this, the handler thread gets the GIL only when CPython's 5 ms switch interval
#: forces it: by then the watch has decoded a thousand more objects, and every object they replaced is
#: still held for on_update(old, new). Those late frees cost about a fifth of the throughput (new objects
#: land in cold memory, and CPython's collector runs more often; docs/performance.md). A fast handler runs
#: a read's batch (dozens of calls) well within 2 ms. A handler that needs longer is left to catch up on
#: its own and is not waited for again until it has, so a slow one delays the watch by 2 ms per backlog.
HANDOFF_WAIT = 0.002


class ThreadRunner:
    """One handler on its own thread, fed batches in order."""

    def __init__(self, handler: Handler, name: str) -> None:
        self._callbacks = handler.by_tag()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = threading.Event()  # nothing queued: everything put so far has run
        self._idle.set()
        self._lagging = False
        self._thread = threading.Thread(target=self._run, name=f"incluster-sdk-handler {name}", daemon=True)
        self._thread.start()

    def put(self, batch: list[HandlerCall]) -> None:
        self._idle.clear()
        self._queue.put(batch)

    def hand_off(self, timeout: float = HANDOFF_WAIT) -> None:
        """Let the handler run what was just put, if it has kept up (see :data:`HANDOFF_WAIT`)."""
        if self._lagging and not self._idle.is_set():
            return
        self._lagging = not self._idle.wait(timeout)

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _STOP:
            _call(self._callbacks, batch)
            batch = None  # the replaced objects go now, before the watch thread reads on
            if self._queue.empty():
                self._idle.set()

    def stop(self, timeout: float | None = None) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)


class TaskRunner:
    """One handler in its own asyncio task, fed batches in order; callbacks may be plain or async."""

    def __init__(self, handler: Handler, name: str) -> None:
        self._callbacks = handler.by_tag()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name=f"incluster-sdk-handler {name}")

    def put(self, batch: list[HandlerCall]) -> None:
        self._queue.put_nowait(batch)

    async def _run(self) -> None:
        callbacks = self._callbacks
        while (batch := await self._queue.get()) is not _STOP:
            for call in batch:
                callback = callbacks[call[0]]
                if callback is None:
                    continue
                try:
                    result = callback(*call[1:])
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:  # logged, never silently dropped; the next event still comes
                    log.exception("informer handler on_%s failed", call[0])
            batch = None  # the replaced objects go now, not when the next read comes

    async def stop(self) -> None:
        """Run what is queued, then end."""
        self._queue.put_nowait(_STOP)
        await asyncio.gather(self.task, return_exceptions=True)


def _call(callbacks: dict[str, Callable[..., Any] | None], batch: list[HandlerCall]) -> None:
    for call in batch:
        callback = callbacks[call[0]]
        if callback is None:
            continue
        try:
            callback(*call[1:])
        except Exception:  # logged, never silently dropped; the next event still comes
            log.exception("informer handler on_%s failed", call[0])
