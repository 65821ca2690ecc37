"""The informer's state, sans-I/O: the watch machine and the cache it keeps, turning what the server said
into batches of handler calls. Both drivers hold one; it calls nothing back: every method returns its calls.

    request = state.next_request()                # what to do next (the machine's, noting where lists start)
    calls = state.watch_read(decoder.events())    # one network read's events → its handler calls
    calls = state.list_read(decoder.items(), decoder.header)   # one read of a LIST response
    runners.deliver(calls)                        # the driver hands them on (handlers.py)
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Mapping
from typing import Any

from ..resource import Resource
from .cache import Transform
from .endpoints import (
    VERSION_UNAVAILABLE,
    HTTPStatusError,
    ListRequest,
    Request,
    VersionRequest,
    WatchRequest,
    server_version,
)
from .handlers import ADD, DELETE, UPDATE, HandlerCall
from .machine import Applied, Deleted, ListDone, Listed, WatchMachine
from .options import InformerOptions
from .store import Store, object_key
from .wire import WatchProtocolError

log = logging.getLogger("incluster_sdk.watch.informer")

Obj = dict[str, Any]

TRANSIENT: tuple[type[Exception], ...] = (OSError, WatchProtocolError)
"""Failures every driver treats as transient (each driver adds its transport's exceptions)."""


class InformerState:
    """The machine, the store, and the rule that turns each change into handler calls.

    Handler calls carry each object twice: the dict decoded off the wire (for the first handler, which then
    owns it) and its encoding in the store (each other handler decodes its own copy): see handlers.py.

    :param resource: the collection watched (for log lines).
    :param options: the informer's options; ``initial_list`` and ``transform`` are used here.
    :param store: the cache the changes are applied to.
    """

    def __init__(self, resource: Resource, options: InformerOptions, store: Store) -> None:
        self.resource = resource
        self.machine = WatchMachine(initial_list=options.initial_list)
        self.store = store
        self.transform: Transform | None = options.transform
        self.has_handlers = False
        """Whether handler calls are collected; the driver sets it when a handler exists. Holding each replaced
        object until the end of a read for nobody is what makes CPython's collector busy."""
        self.synced = False
        """True once the cache has been complete (the first list or streaming list applied)."""
        # The keys the list being read has had so far (None between lists).
        self._listed: set[str] | None = None

    def next_request(self) -> Request:
        """The machine's next request. A request that starts a list (a first LIST page, a streaming list)
        starts counting what the list has: whatever it lacks at its end is gone."""
        request = self.machine.next_request()
        if (isinstance(request, ListRequest) and request.continue_token is None) or (
            isinstance(request, WatchRequest) and request.send_initial_events
        ):
            self._listed = set()
        return request

    # -- what the server said → handler calls --------------------------------------------------------------
    def list_read(self, items: Iterable[Any], header: Mapping[str, Any]) -> list[HandlerCall]:
        """Apply one network read's LIST items (``header``: the list's kind and apiVersion, as far as known)."""
        calls: list[HandlerCall] = []
        machine = self.machine
        kind, api_version = str(header.get("kind", "")).removesuffix("List"), header.get("apiVersion")
        for item in items:
            self._listed_object(machine.list_item(item, kind, api_version).obj, calls)
        return calls

    def list_page(self, header: Obj) -> list[HandlerCall]:
        """A LIST page is over (``header``: its kind, apiVersion and metadata); after the last, the list is."""
        done = self.machine.list_page(header)
        return self._list_done() if done is not None else []

    def watch_read(self, events: Iterable[Obj]) -> list[HandlerCall]:
        """Apply one network read's watch events. Stops early when the machine is done with the stream
        (a 410): then ``machine.reading`` is False and the driver drops the connection."""
        calls: list[HandlerCall] = []
        collect = self.has_handlers
        machine, store, transform, encode = self.machine, self.store, self.transform, self.store.codec.encode
        for event in events:  # this loop runs for every event
            change = machine.watch_event(event)
            if type(change) is Applied:
                try:
                    obj = transform(change.obj) if transform else change.obj
                    data = encode(obj)
                    old = store.put(object_key(obj), obj, data)
                except Exception as exc:  # the app's transform or indexer: skip this object, keep the rest
                    self._not_cached(change.obj, exc)
                    continue
                if collect:
                    calls.append((ADD, obj, data, False) if old is None else (UPDATE, obj, data, old))
            elif type(change) is Deleted:
                obj = transform(change.obj) if transform else change.obj
                key = object_key(obj)
                gone = store.remove(key)
                if self._listed is not None:
                    self._listed.discard(key)
                # An object the cache does not have calls nothing (client-go's DeltaFIFO.Delete: "presumably,
                # this was deleted when a relist happened; don't provide a second report of the same deletion").
                if collect and gone is not None:
                    calls.append((DELETE, obj, encode(obj), None))
            elif type(change) is Listed:
                self._listed_object(change.obj, calls)
            elif type(change) is ListDone:
                calls.extend(self._list_done())
            elif not machine.reading:
                break  # 410 in the stream: relist now
            change = None  # the replaced object goes with its call, not with the next event
        return calls

    def _listed_object(self, obj: Obj, calls: list[HandlerCall]) -> None:
        """Store an object of the list being read; an add, or an update if the cache had it (even unchanged,
        as client-go's relist does: a handler compares resourceVersions to skip those).

        A list's calls carry only the stored bytes (each handler decodes its own copy), unlike a watch
        event's. A LIST read is a megabyte: holding its 250 decoded objects until the handler runs has
        CPython's collector promote them and run full collections (measured with 10,000 pods: 1.19-1.47 s to
        sync with the dicts, 1.04-1.28 s without, and no full collection). A watch read is 64 KiB: there the
        decode saved is worth more (10-15% less CPU per event, measured)."""
        try:
            if self.transform:
                obj = self.transform(obj)
            key, data = object_key(obj), self.store.codec.encode(obj)
            old = self.store.put(key, obj, data)
        except Exception as exc:  # the app's transform or indexer: skip this object (a list's end removes it)
            self._not_cached(obj, exc)
            return
        if self._listed is not None:
            self._listed.add(key)
        if self.has_handlers:
            if old is None:
                calls.append((ADD, None, data, not self.synced))
            else:  # even unchanged: client-go's relist calls OnUpdate for every object it still has
                calls.append((UPDATE, None, data, old))

    def _not_cached(self, obj: Obj, exc: Exception) -> None:
        """An object the app's transform or an indexer failed on is left out of the cache, with an ERROR naming
        it; the informer goes on with the others (client-go's reflector logs a store error and goes on too)."""
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
        log.error(
            "informer %s: %s is not cached: the transform or an indexer raised %s: %.200s",
            self.resource.plural,
            key,
            type(exc).__name__,
            str(exc),
        )

    def _list_done(self) -> list[HandlerCall]:
        """The list is complete: what it did not have is gone (``DeletedFinalStateUnknown`` to handlers)."""
        listed, self._listed = self._listed or set(), None
        calls: list[HandlerCall] = []
        keys = self.store.keys()  # a copy: the loop removes keys
        for key in [k for k in keys if k not in listed]:
            old = self.store.remove(key)
            if old is not None and self.has_handlers:
                calls.append((DELETE, None, old, key))
        self.synced = True
        return calls

    # -- the cache as calls ------------------------------------------------------------------------------
    def snapshot(self) -> list[HandlerCall]:
        """The cache as adds (``initial=True``), for a handler that joins late: all of it, even during the
        first list (the rest of that list then reaches the handler as it does the others)."""
        return [(ADD, None, data, True) for data in self.store.encoded()]

    def resync(self) -> list[HandlerCall]:
        """The cache as ``on_update(obj, obj)``: a resync replays memory, it never relists."""
        return [(UPDATE, None, data, data) for data in self.store.encoded()] if self.synced else []

    # -- the server's version -----------------------------------------------------------------------------
    def version(self, request: VersionRequest) -> Generator[VersionRequest, bytes, None]:
        """Ask ``request`` (a flow: the driver answers with the body, :func:`~incluster_sdk.flows.drive`) and
        tell the machine the version. A server that will not say (VERSION_UNAVAILABLE) means paged LIST."""
        try:
            data: bytes | None = yield request
        except HTTPStatusError as exc:
            if exc.status not in VERSION_UNAVAILABLE:
                raise  # a 5xx: back off and ask again
            data = None
        self.machine.server_version(server_version(data))

    # -- other outcomes ------------------------------------------------------------------------------------
    def failed(self, exc: BaseException, transient: tuple[type[BaseException], ...]) -> None:
        """Classify a failure for the machine. Nothing stops the informer: a bug is logged and backed off."""
        if isinstance(exc, HTTPStatusError):
            log.warning("informer %s: HTTP %s", self.resource.plural, exc.status)
            self.machine.failed(exc.status, retry_after=exc.retry_after)
        elif isinstance(exc, transient):
            # str(exc), not exc: a kept log record (pytest's capture, a MemoryHandler) would otherwise keep the
            # exception's traceback alive, and with its frames the dead connection's socket.
            log.warning("informer %s: %s: %s", self.resource.plural, type(exc).__name__, str(exc))
            self.machine.failed(None)
        else:
            log.error("informer %s: unexpected error; retrying", self.resource.plural, exc_info=exc)
            self.machine.failed(None)

    def sleeping(self, seconds: float, reason: str) -> None:
        """Log the machine's :class:`~.endpoints.Sleep` (``seconds`` of backoff, its ``reason``)."""
        log.info("informer %s: retrying in %.1fs after %s", self.resource.plural, seconds, reason)
