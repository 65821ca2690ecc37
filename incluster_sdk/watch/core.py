"""What the threaded and the asyncio informer share: options, the machine, the cache, request building,
and how a failure is classified. The drivers only move bytes and deliver handler calls."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from .cache import CacheApplier, Transform
from .handlers import HandlerCall
from .machine import (
    InitialList,
    ListRequest,
    Phase,
    Sleep,
    VersionRequest,
    Watcher,
    WatchProtocolError,
    WatchRequest,
    parse_server_version,
)
from .requests import HTTPStatusError, collection_url, list_params, selector_params, watch_params
from .resource import Resource
from .store import Indexer, Store

log = logging.getLogger("incluster_sdk.watch.informer")

#: Connecting to the API server should take milliseconds; 10 s covers a loaded server without letting a
#: black-holed address stall the informer for the OS default (minutes).
CONNECT_TIMEOUT = 10.0
#: A LIST page of 500 objects from a busy server: generous, but bounded.
LIST_READ_TIMEOUT = 60.0
#: GET /version is tiny; a server that cannot answer it in 10 s is retried like any failure.
VERSION_READ_TIMEOUT = 10.0
#: Answers to GET /version that mean "you will not learn it here" (RBAC locked down, a proxy that hides it):
#: stay with paged LIST. Anything else (5xx, connection errors) is retried.
VERSION_UNAVAILABLE = frozenset({401, 403, 404})
#: Resync replays the cache to the handlers; more often than once a second is a busy loop (client-go's floor).
MIN_RESYNC_PERIOD = 1.0

_JSON = "application/json"
#: Metadata-only: the server converts every object to PartialObjectMetadata (name, namespace, labels,
#: annotations, owners, resourceVersion...). Plain JSON is accepted as a fallback by content negotiation.
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

#: The most one network read takes off a busy watch (about 30 pods). Each read's handler calls go to the
#: handlers at once, and the handlers run before the next read, while the objects those calls replaced
#: are still hot in the CPU's cache. Measured with 2.3 KB pods: 256 KiB reads (what aiohttp hands out on a
#: busy stream) cost the asyncio informer a fifth of its throughput; holding 1,000 calls instead of ~30
#: cost the threaded one 11% with the collector off (a fifth with handlers called inline), so batching
#: more to save thread wake-ups loses (docs/performance.md).
READ_BYTES = 65536

#: Failures every driver treats as transient (each driver adds its transport's exceptions).
DECODE_ERRORS: tuple[type[Exception], ...] = (OSError, WatchProtocolError, orjson.JSONDecodeError)


class InformerCore:
    """Options and state common to :class:`~.informer.Informer` and :class:`~.aio.AsyncInformer`."""

    def __init__(
        self,
        resource: Resource,
        *,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        indexers: Mapping[str, Indexer] | None,
        transform: Transform | None,
        metadata_only: bool,
        initial_list: InitialList | str,
        resync_period: float | None,
    ) -> None:
        if resync_period is not None and resync_period < MIN_RESYNC_PERIOD:
            raise ValueError(f"resync_period must be at least {MIN_RESYNC_PERIOD}s (or None for no resync)")
        try:
            initial_list = InitialList(initial_list)
        except ValueError:
            raise ValueError(
                f"initial_list must be one of {[m.value for m in InitialList]}, not {initial_list!r}"
            ) from None
        self.resource = resource
        self.namespace = namespace
        self.metadata_only = metadata_only
        self.resync_period = resync_period
        self.field_selector = field_selector
        self._selectors = selector_params(label_selector, field_selector)
        self.store = Store(indexers)
        self.watcher = Watcher(initial_list=initial_list)
        self._outbox: list[HandlerCall] = []
        #: Set by the driver when the first handler is added. Until then no handler call is collected:
        #: holding each replaced object until the end of a read is what makes CPython's collector busy.
        self._has_handlers = False
        self._started = False
        self._cache = CacheApplier(self.store, transform, self._dispatch)

    def _check_not_started(self) -> None:
        if self._started:
            raise RuntimeError(
                f"this {type(self).__name__} for {self.resource.plural} is already started: an informer runs once "
                "(`with informer:` starts it; `with informer.start():` is fine too; to watch again, create a new one)"
            )

    # -- what the drivers provide --------------------------------------------------------------------------
    @property
    def has_synced(self) -> bool:
        raise NotImplementedError

    def _deliver(self, batch: list[HandlerCall]) -> None:
        """Hand ``batch`` to every handler, in order."""
        raise NotImplementedError

    def _signal_synced(self) -> None:
        raise NotImplementedError

    # -- cache and handler calls ------------------------------------------------------------------------------
    def _dispatch(self, *call: Any) -> None:
        if self._has_handlers:
            self._outbox.append(call)

    def _flush(self) -> None:
        """Deliver the handler calls collected so far; then, the first time the cache is complete, say so."""
        if self._outbox:
            batch, self._outbox = self._outbox, []
            self._deliver(batch)
        if self._cache.synced and not self.has_synced:
            self._signal_synced()

    def _list_page(self, body: dict[str, Any]) -> None:
        self._cache.apply(self.watcher.list_page(body))
        self._flush()

    def _consume(self, events: Iterable[dict[str, Any]]) -> bool:
        """Apply one network read's watch events; False when the machine wants a relist (stop reading)."""
        watcher, apply = self.watcher, self._cache.apply  # bound once: this loop runs for every event
        try:
            for event in events:
                apply(watcher.watch_event(event))
                if watcher.phase is Phase.LIST:
                    return False
            return True
        finally:
            self._flush()

    def _cached_as(self, kind: str) -> list[HandlerCall]:
        """The cache as handler calls: adds for a late handler, updates for a resync."""
        if kind == "add":
            return [("add", obj, True) for obj in self.store.list()]
        return [("update", obj, obj) for obj in self.store.list()]

    # -- requests --------------------------------------------------------------------------------------------
    def _url(self, host: str, request: ListRequest | WatchRequest) -> str:
        params = list_params(request) if isinstance(request, ListRequest) else watch_params(request)
        return collection_url(host, self.resource, self.namespace, {**self._selectors, **params})

    def _headers(self, request: ListRequest | WatchRequest) -> dict[str, str]:
        if not self.metadata_only:
            return {"Accept": _JSON}
        return {"Accept": _METADATA_LIST if isinstance(request, ListRequest) else _METADATA_ONE}

    @staticmethod
    def _read_timeout(request: ListRequest | WatchRequest | VersionRequest) -> float:
        if isinstance(request, WatchRequest):
            return request.read_timeout
        return LIST_READ_TIMEOUT if isinstance(request, ListRequest) else VERSION_READ_TIMEOUT

    @staticmethod
    def _list_body(data: bytes) -> dict[str, Any]:
        body = orjson.loads(data)
        if not isinstance(body, dict):
            raise WatchProtocolError("LIST response is not an object")
        return body

    def _version_answer(self, data: bytes | None) -> None:
        try:
            version = parse_server_version(orjson.loads(data)) if data is not None else None
        except orjson.JSONDecodeError:
            version = None
        self.watcher.server_version(version)

    # -- outcomes --------------------------------------------------------------------------------------------
    def _log_sleep(self, request: Sleep) -> None:
        log.info("informer %s: retrying in %.1fs after %s", self.resource.plural, request.seconds, request.reason)

    def _failed(self, exc: BaseException, transient: tuple[type[BaseException], ...]) -> None:
        """Classify a failure for the machine. Nothing stops the informer: a bug is logged and backed off."""
        if isinstance(exc, HTTPStatusError):
            log.warning("informer %s: HTTP %s", self.resource.plural, exc.status)
            self.watcher.failed(exc.status, retry_after=exc.retry_after)
        elif isinstance(exc, transient):
            # str(exc), not exc: a kept log record (pytest's capture, a MemoryHandler) would otherwise keep the
            # exception's traceback alive, and with its frames the dead connection's socket.
            log.warning("informer %s: %s: %s", self.resource.plural, type(exc).__name__, str(exc))
            self.watcher.failed(None)
        else:
            log.error("informer %s: unexpected error; retrying", self.resource.plural, exc_info=exc)
            self.watcher.failed(None)
