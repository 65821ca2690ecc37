"""Handlers and the runners that call them: each handler is fed by its own ordered queue, on its own thread
or asyncio task, so a slow or failing handler neither blocks the watch nor loses events for the others.

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .store import DeletedFinalStateUnknown, object_key

log = logging.getLogger(__name__)

OnAdd = Callable[[dict[str, Any], bool], object]
"""``on_add(obj, initial)``: called for each object that enters the cache.

- ``obj``: the object as a dict, as the API server sends it (``{"apiVersion": "v1", "kind": "Pod",
  "metadata": {...}, "spec": {...}, "status": {...}}``) after the informer's ``transform`` (by default without
  ``metadata.managedFields``); with ``metadata_only=True``, a ``PartialObjectMetadata`` (metadata only). It is
  the handler's own dict: changing it changes neither the cache nor what other handlers get.
- ``initial``: True for the objects of the informer's first list, and for the cache handed to a handler
  added after the informer synced; False for objects created later (a watch event, or an object a relist
  finds) (client-go's ``isInInitialList``).

Calls run on the handler's own thread (:class:`~incluster_sdk.watch.informer.Informer`: a daemon thread named
``incluster-sdk-handler <plural>``) or in its own asyncio task on the loop that called ``add_handler``
(:class:`~incluster_sdk.watch.aio.AsyncInformer`), one at a time, in the order of the changes; never on the
watch's thread or task. The return value is ignored, except that the asyncio informer awaits an awaitable one
(so ``async def`` handlers work there; the threaded informer never awaits). An exception is logged (logger
``incluster_sdk.watch.handlers``, with the informer, the handler and the object's key) and the next call
still comes.
"""
OnUpdate = Callable[[dict[str, Any], dict[str, Any]], object]
"""``on_update(old, new)``: called when a cached object changes, for every object a relist still finds, and
on each resync.

- ``old``: what the cache held before, as a dict (the handler's own copy).
- ``new``: the object now, as a dict, same shape as ``on_add``'s ``obj``. On a resync
  (``resync_period``) ``old`` and ``new`` are the same dict (``old is new``).

A watch's MODIFIED event always gives a call. A relist (after a 410) gives one for every object it still finds,
changed or not, as client-go's informer does: compare ``old["metadata"]["resourceVersion"]`` with ``new``'s to
skip unchanged ones.
Called on the handler's own thread or task, in order, as ``on_add`` (see :data:`OnAdd`).
"""
OnDelete = Callable[["dict[str, Any] | DeletedFinalStateUnknown"], object]
"""``on_delete(obj)``: called when an object leaves the cache (a DELETED event for an object the cache does not
have calls nothing, as in client-go).

- ``obj``: the object's final state as a dict (from the DELETED event), or, when the delete was noticed only
  by a relist (the watch missed it), a :class:`~incluster_sdk.watch.store.DeletedFinalStateUnknown` whose
  ``key`` is the store key (``namespace/name``, or ``name``) and whose ``obj`` is the last state the cache
  held. Check with ``isinstance(obj, DeletedFinalStateUnknown)``.

Called on the handler's own thread or task, in order, as ``on_add`` (see :data:`OnAdd`).
"""
Decode = Callable[[bytes], dict[str, Any]]

# One handler call is one flat tuple, tagged with the callback it is for, carrying the object twice: the dict
# decoded off the wire (or None) and its encoding in the store. The first handler gets the dict (nobody else
# holds it); every other handler decodes its own copy, so no handler can change what another one sees.
#   (ADD, obj, data, initial)   (UPDATE, new_obj, new_data, old_data)   (DELETE, obj, data, tombstone_key)
# tombstone_key is set when the delete was noticed only by a relist: the handler then gets a
# DeletedFinalStateUnknown. Tuples, not objects: every container alive when CPython's collector runs costs a
# traversal, and building a class instance per event costs 0.3-1 µs more than a tuple (measured).
ADD: Literal["add"] = "add"
UPDATE: Literal["update"] = "update"
DELETE: Literal["delete"] = "delete"
AddCall = tuple[Literal["add"], "dict[str, Any] | None", bytes, bool]
UpdateCall = tuple[Literal["update"], "dict[str, Any] | None", bytes, bytes]
DeleteCall = tuple[Literal["delete"], "dict[str, Any] | None", bytes, "str | None"]
HandlerCall = AddCall | UpdateCall | DeleteCall


@dataclass
class Handler:
    on_add: OnAdd | None = None
    on_update: OnUpdate | None = None
    on_delete: OnDelete | None = None

    def by_tag(self) -> dict[str, Callable[..., Any] | None]:
        return {ADD: self.on_add, UPDATE: self.on_update, DELETE: self.on_delete}


_STOP = object()
#: Queued after the calls that make the cache complete (or after a late handler's snapshot): once a runner
#: reaches it, its handler has seen every object of the initial state (client-go's per-handler HasSynced).
_SYNCED = object()

HANDOFF_WAIT = 0.002
"""Seconds (2 ms) the watch thread lets a handler that has kept up run the batch it was just given, before
it reads on. Without this, the handler thread gets the GIL only when CPython's 5 ms switch interval forces
it: by then the watch has decoded a thousand more objects, and every object they replaced is still held for
on_update(old, new). Those late frees cost about a fifth of the throughput (new objects land in cold memory,
and CPython's collector runs more often; docs/performance.md). A fast handler runs a read's batch (dozens of
calls) well within 2 ms. A handler that needs longer is left to catch up on its own and is not waited for
again until it has, so a slow one delays the watch by 2 ms per backlog."""


class _Runner:
    """What both runners share: the handler's callbacks, the queue protocol, the sync marker."""

    def __init__(self, handler: Handler, name: str, decode: Decode) -> None:
        self._callbacks = handler.by_tag()
        self._name = name
        self._decode = decode
        #: True once the handler has run every call of the initial state (see :data:`_SYNCED`).
        self.synced = False

    def _enqueue(self, item: object) -> None:
        raise NotImplementedError

    def put(self, batch: list[HandlerCall], owner: bool = False) -> None:
        """Queue a batch; ``owner``: this handler may have the batch's decoded dicts (one handler only)."""
        self._enqueue((batch, owner))

    def mark_synced(self) -> None:
        """Queue the marker that sets :attr:`synced` once everything queued before it has run."""
        self._enqueue(_SYNCED)

    def close(self) -> None:
        """Run what is queued, then end, without waiting for it."""
        self._enqueue(_STOP)

    def _calls(self, item: Any) -> Iterator[tuple[Callable[..., Any], tuple[Any, ...]]]:
        """The calls a queued item holds, with their arguments (none for the sync marker, which it records)."""
        if item is _SYNCED:
            self.synced = True
            return iter(())
        return _arguments(self._callbacks, item[0], item[1], self._decode, self._name)


class ThreadRunner(_Runner):
    """One handler on its own thread, fed batches in order."""

    def __init__(self, handler: Handler, name: str, decode: Decode) -> None:
        super().__init__(handler, name, decode)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = threading.Event()  # nothing queued: everything put so far has run
        self._idle.set()
        self._lagging = False
        self._thread = threading.Thread(target=self._run, name=f"incluster-sdk-handler {name}", daemon=True)
        self._thread.start()

    def _enqueue(self, item: object) -> None:
        self._queue.put(item)

    def put(self, batch: list[HandlerCall], owner: bool = False) -> None:
        self._idle.clear()
        self._queue.put((batch, owner))

    def hand_off(self, timeout: float = HANDOFF_WAIT) -> None:
        """Let the handler run what was just put, if it has kept up (see :data:`HANDOFF_WAIT`)."""
        if self._lagging and not self._idle.is_set():
            return
        self._lagging = not self._idle.wait(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            for callback, args in self._calls(item):
                try:
                    callback(*args)
                except Exception:  # logged, never silently dropped; the next event still comes
                    _failed(self._name, callback, args)
            item = None  # the replaced objects go now, before the watch thread reads on
            if self._queue.empty():
                self._idle.set()

    def stop(self, timeout: float | None = None) -> None:
        """Run what is queued, then end (waits up to ``timeout``; not at all from the handler's own thread)."""
        self.close()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class TaskRunner(_Runner):
    """One handler in its own asyncio task, fed batches in order; callbacks may be plain or async."""

    def __init__(self, handler: Handler, name: str, decode: Decode) -> None:
        super().__init__(handler, name, decode)
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name=f"incluster-sdk-handler {name}")

    def _enqueue(self, item: object) -> None:
        self._queue.put_nowait(item)

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not _STOP:
            for callback, args in self._calls(item):
                try:
                    result = callback(*args)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:  # logged, never silently dropped; the next event still comes
                    _failed(self._name, callback, args)
            item = None  # the replaced objects go now, not when the next read comes

    async def stop(self) -> None:
        """Run what is queued, then end."""
        self.close()
        await asyncio.gather(self.task, return_exceptions=True)


def _arguments(
    callbacks: dict[str, Callable[..., Any] | None], batch: list[HandlerCall], owner: bool, decode: Decode, name: str
) -> Iterator[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """Each call of ``batch`` that has a callback, with its arguments: this handler's own objects (the
    batch's dicts if ``owner``, else copies decoded from the store's bytes; see the call format above)."""
    for tag, obj, data, extra in batch:
        callback = callbacks[tag]
        if callback is None:
            continue
        try:
            new = obj if owner and obj is not None else decode(data)
            if tag is ADD:
                args: tuple[Any, ...] = (new, extra)
            elif tag is UPDATE:
                args = (new if extra is data else decode(extra), new)  # type: ignore[arg-type]
            else:
                args = (new if extra is None else DeletedFinalStateUnknown(extra, new),)  # type: ignore[arg-type]
        except Exception:  # a stored object that cannot be decoded: a bug, but the next event still comes
            log.exception("informer %s: cannot decode a cached object for on_%s", name, tag)
            continue
        yield callback, args


def _failed(name: str, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Log a handler's failure with the informer, the handler and the object's key."""
    last = args[-1] if len(args) > 1 and not isinstance(args[-1], bool) else args[0]
    target = last.obj if isinstance(last, DeletedFinalStateUnknown) else last
    key = object_key(target) if isinstance(target, Mapping) else "?"
    log.exception("informer %s: handler %s failed for %s", name, getattr(callback, "__qualname__", repr(callback)), key)
