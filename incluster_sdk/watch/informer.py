"""The threaded informer: the sans-I/O :class:`~.machine.Watcher` driven over the sync ``kubernetes`` client.

informer = Informer(api_client(cfg), PODS, namespace=cfg.namespace)
informer.add_handler(on_add=lambda pod, initial: ...)
informer.start()
informer.wait_for_sync(timeout=30)
informer.store.by_index("namespace", "default")
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import urllib3
from kubernetes.client.exceptions import ApiException

from ..client import ApiClient
from .cache import CacheApplier, Transform, strip_managed_fields
from .handlers import Handler, HandlerRunner, OnAdd, OnDelete, OnUpdate
from .machine import Event, ListRequest, Phase, Sleep, Watcher, WatchProtocolError, WatchRequest
from .requests import (
    HTTPStatusError,
    WatchStreamDecoder,
    collection_url,
    list_params,
    selector_params,
    watch_params,
)
from .resource import Resource
from .store import Indexer, Store

log = logging.getLogger(__name__)

#: Connecting to the API server should take milliseconds; 10 s covers a loaded server without letting a
#: black-holed address stall the informer for the OS default (minutes).
CONNECT_TIMEOUT = 10.0
#: A LIST page of 500 objects from a busy server: generous, but bounded.
LIST_READ_TIMEOUT = 60.0
#: Resync replays the cache to the handlers; more often than once a second is a busy loop (client-go's floor).
MIN_RESYNC_PERIOD = 1.0


class _Stopped(Exception):
    """The informer was stopped while a request was in flight."""


class Informer:
    def __init__(
        self,
        client: ApiClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, Indexer] | None = None,
        transform: Transform | None = strip_managed_fields,
        resync_period: float | None = None,
    ) -> None:
        if resync_period is not None and resync_period < MIN_RESYNC_PERIOD:
            raise ValueError(f"resync_period must be at least {MIN_RESYNC_PERIOD}s (or None for no resync)")
        self.resync_period = resync_period
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self._selectors = selector_params(label_selector, field_selector)
        self.store = Store(indexers)
        self.watcher = Watcher()
        self._handlers: list[HandlerRunner] = []
        self._cache = CacheApplier(self.store, transform, self._dispatch)
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None

    # -- public --------------------------------------------------------------------------------------------
    def add_handler(
        self, on_add: OnAdd | None = None, on_update: OnUpdate | None = None, on_delete: OnDelete | None = None
    ) -> None:
        """Call these for every change, in order. Added after start, a handler first gets the cache as adds."""
        runner = HandlerRunner(Handler(on_add, on_update, on_delete), self.resource.plural)
        if self._synced.is_set():
            for obj in self.store.list():
                runner.put("add", obj, True)
        self._handlers.append(runner)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def start(self) -> Informer:
        if self.resync_period is not None:
            threading.Thread(
                target=self._resync_loop, name=f"incluster-sdk-resync {self.resource.plural}", daemon=True
            ).start()
        self._thread = threading.Thread(
            target=self._run, name=f"incluster-sdk-informer {self.resource.plural}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, close the connection, and stop the handler threads (after their queued events)."""
        self._stop.set()
        response = self._response
        if response is not None:
            response.shutdown() if hasattr(response, "shutdown") else response.close()
        if self._thread is not None:
            self._thread.join(timeout)
        for runner in self._handlers:
            runner.stop(timeout)

    def __enter__(self) -> Informer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            request = self.watcher.next_request()
            try:
                if isinstance(request, Sleep):
                    log.info(
                        "informer %s: retrying in %.1fs after %s", self.resource.plural, request.seconds, request.reason
                    )
                    self._stop.wait(request.seconds)
                elif isinstance(request, ListRequest):
                    self._apply(self.watcher.list_page(self._list(request)))
                else:
                    for event in self._watch(request):
                        self._apply(self.watcher.watch_event(event))
                        if self.watcher.phase is Phase.LIST or self._stop.is_set():
                            break  # 410 in the stream: relist now
                    else:
                        self.watcher.watch_ended()
            except _Stopped:
                break
            except HTTPStatusError as exc:
                log.warning("informer %s: HTTP %s", self.resource.plural, exc.status)
                self.watcher.failed(exc.status, retry_after=exc.retry_after)
            except (urllib3.exceptions.HTTPError, OSError, WatchProtocolError, orjson.JSONDecodeError) as exc:
                if self._stop.is_set():
                    break
                log.warning("informer %s: %s: %s", self.resource.plural, type(exc).__name__, exc)
                self.watcher.failed(None)
            except Exception:  # a bug here must not blind the app: log it and back off like any failure
                log.exception("informer %s: unexpected error; retrying", self.resource.plural)
                self.watcher.failed(None)
            finally:
                self._close_response()

    def _url(self, params: dict[str, Any]) -> str:
        return collection_url(
            self.client.configuration.host, self.resource, self.namespace, {**self._selectors, **params}
        )

    def _get(self, params: dict[str, Any], read_timeout: float) -> Any:
        try:
            response = self.client.call_api(
                "GET",
                self._url(params),
                {"Accept": "application/json"},
                _request_timeout=(CONNECT_TIMEOUT, read_timeout),
            )
        except ApiException as exc:  # kubernetes < 35 raises non-2xx answers in its REST layer
            headers = exc.headers or {}
            raise HTTPStatusError(exc.status or 0, headers.get("Retry-After")) from None
        self._response = response.response
        if self._stop.is_set():
            # stop() may have run while this request was in flight and closed the previous response:
            # stop() sets the flag before reading _response, so one of us always closes this one.
            raise _Stopped
        if not 200 <= response.status <= 299:
            raise HTTPStatusError(response.status, (response.headers or {}).get("Retry-After"))
        return response.response

    def _close_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            # A watch left mid-stream (stop, a 410 ERROR event) must never go back to the pool: the next
            # request would read the old stream's bytes. close() drops its socket; a fully read LIST
            # response has already returned its connection to the pool, so close() does nothing to it.
            response.close()
            response.release_conn()

    def _list(self, request: ListRequest) -> dict[str, Any]:
        body = orjson.loads(self._get(list_params(request), LIST_READ_TIMEOUT).data)
        if not isinstance(body, dict):
            raise WatchProtocolError("LIST response is not an object")
        return body

    def _watch(self, request: WatchRequest) -> Iterator[dict[str, Any]]:
        raw = self._get(watch_params(request), request.read_timeout)
        decoder = WatchStreamDecoder()
        for chunk in raw.stream(65536, decode_content=True):
            yield from decoder.feed(chunk)
        decoder.end()

    def _resync_loop(self) -> None:
        """Replay the cache as on_update(obj, obj) every resync_period: from memory, never a relist."""
        assert self.resync_period is not None
        while not self._stop.wait(self.resync_period):
            if self._synced.is_set():
                for obj in self.store.list():
                    self._dispatch("update", obj, obj)

    # -- cache and handlers ---------------------------------------------------------------------------------
    def _apply(self, events: list[Event]) -> None:
        if self._cache.apply(events):
            self._synced.set()

    def _dispatch(self, kind: str, *args: Any) -> None:
        for runner in self._handlers:
            runner.put(kind, *args)
