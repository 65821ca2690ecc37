"""Event handlers, each fed by its own ordered queue and thread: a slow or failing handler neither blocks
the watch nor loses events for the others.

Calls travel in batches (everything one network read produced): one queue hand-off per read instead of
one per event, which is what keeps a handler thread from halving watch throughput on GIL hand-offs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

OnAdd = Callable[[Mapping[str, Any], bool], None]
OnUpdate = Callable[[Mapping[str, Any], Mapping[str, Any]], None]
OnDelete = Callable[[Any], None]
#: ("add" | "update" | "delete", *the handler's arguments): one flat tuple per call, because every container
#: still alive when CPython's collector runs costs a traversal (see docs/performance.md)
HandlerCall = tuple[Any, ...]


@dataclass
class Handler:
    on_add: OnAdd | None = None
    on_update: OnUpdate | None = None
    on_delete: OnDelete | None = None


_STOP = object()


class HandlerRunner:
    def __init__(self, handler: Handler, name: str) -> None:
        self.handler = handler
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"incluster-sdk-handler {name}", daemon=True)
        self._thread.start()

    def put(self, batch: list[HandlerCall]) -> None:
        self._queue.put(batch)

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _STOP:
            for kind, *args in batch:
                callback = getattr(self.handler, f"on_{kind}")
                if callback is None:
                    continue
                try:
                    callback(*args)
                except Exception:  # logged, never silently dropped; the next event still comes
                    log.exception("informer handler on_%s failed", kind)

    def stop(self, timeout: float | None = None) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)
