"""The informer's state, sans-I/O: the watch machine and the cache it keeps, turning what the server said
into batches of handler calls. Both drivers hold one; it calls nothing back: every method returns its calls.

    calls = state.watch_read(decoder.events())    # one network read's events → its handler calls
    runners.deliver(calls)                        # the driver hands them on (handlers.py)
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable
from typing import Any

from ..resource import Resource
from .cache import Transform
from .endpoints import VERSION_UNAVAILABLE, HTTPStatusError, VersionRequest, server_version
from .handlers import ADD, DELETE, UPDATE, HandlerCall
from .machine import Applied, Deleted, Restarted, WatchMachine
from .options import InformerOptions
from .store import Store
from .wire import WatchProtocolError

log = logging.getLogger("incluster_sdk.watch.informer")

Obj = dict[str, Any]

#: Failures every driver treats as transient (each driver adds its transport's exceptions).
TRANSIENT: tuple[type[Exception], ...] = (OSError, WatchProtocolError)


class InformerState:
    """The machine, the store, and the rule that turns each change into handler calls."""

    def __init__(self, resource: Resource, options: InformerOptions, store: Store) -> None:
        self.resource = resource
        self.machine = WatchMachine(initial_list=options.initial_list)
        self.store = store
        self.transform: Transform | None = options.transform
        #: No handler call is collected until the driver says a handler exists: holding each replaced object
        #: until the end of a read for nobody is what makes CPython's collector busy.
        self.has_handlers = False
        #: True once the cache has been complete (the first list or streaming list applied).
        self.synced = False

    # -- what the server said → handler calls --------------------------------------------------------------
    def list_page(self, body: Obj) -> list[HandlerCall]:
        restarted = self.machine.list_page(body)
        return self._restart(restarted) if restarted is not None else []

    def watch_read(self, events: Iterable[Obj]) -> list[HandlerCall]:
        """Apply one network read's watch events. Stops early when the machine is done with the stream
        (a 410): then ``machine.reading`` is False and the driver drops the connection."""
        calls: list[HandlerCall] = []
        collect = self.has_handlers
        machine, store, transform = self.machine, self.store, self.transform  # this loop runs for every event
        for event in events:
            change = machine.watch_event(event)
            if type(change) is Applied:
                previous, current = store.upsert(transform(change.obj) if transform else change.obj)
                if collect:
                    calls.append((ADD, current, False) if previous is None else (UPDATE, previous, current))
            elif type(change) is Deleted:
                store.delete(change.obj)
                if collect:
                    calls.append((DELETE, change.obj))
            elif change is not None:
                assert type(change) is Restarted
                calls.extend(self._restart(change))
            elif not machine.reading:
                break  # 410 in the stream: relist now
            change = None  # the replaced object goes with its call, not with the next event
        return calls

    def _restart(self, restarted: Restarted) -> list[HandlerCall]:
        transform = self.transform
        objects = [transform(o) for o in restarted.objects] if transform else restarted.objects
        diff = self.store.replace(objects)
        initial, self.synced = not self.synced, True
        if not self.has_handlers:
            return []
        calls: list[HandlerCall] = [(ADD, obj, initial) for obj in diff.added]
        calls.extend((UPDATE, old, new) for old, new in diff.updated)
        calls.extend((DELETE, tombstone) for tombstone in diff.deleted)
        return calls

    # -- the cache as calls ------------------------------------------------------------------------------
    def snapshot(self) -> list[HandlerCall]:
        """The cache as adds (``initial=True``), for a handler that joins late."""
        return [(ADD, obj, True) for obj in self.store.list()] if self.synced else []

    def resync(self) -> list[HandlerCall]:
        """The cache as ``on_update(obj, obj)``: a resync replays memory, it never relists."""
        return [(UPDATE, obj, obj) for obj in self.store.list()] if self.synced else []

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
        log.info("informer %s: retrying in %.1fs after %s", self.resource.plural, seconds, reason)
