"""The threaded informer: the sans-I/O :class:`~.machine.Watcher` driven over the sync ``kubernetes`` client.

informer = Informer(api_client(cfg), PODS, namespace=cfg.namespace)
informer.add_handler(on_add=lambda pod, initial: ...)
informer.start()
informer.wait_for_sync(timeout=30)
informer.store.by_index("namespace", "default")
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from ..client import ApiClient
from .cache import Transform, strip_managed_fields
from .core import CONNECT_TIMEOUT, DECODE_ERRORS, VERSION_READ_TIMEOUT, VERSION_UNAVAILABLE, InformerCore
from .handlers import Handler, HandlerCall, HandlerRunner, OnAdd, OnDelete, OnUpdate
from .machine import InitialList, ListRequest, Sleep, VersionRequest, WatchRequest
from .reads import network_reads
from .requests import HTTPStatusError, WatchStreamDecoder
from .resource import Resource
from .store import Indexer

_TRANSIENT: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, *DECODE_ERRORS)


class _Stopped(Exception):
    """The informer was stopped while a request was in flight."""


class Informer(InformerCore):
    """Keeps ``store`` equal to the server's collection and calls handlers on every change.

    Options: ``namespace`` (None: all namespaces), ``label_selector`` / ``field_selector``, extra
    ``indexers`` (name → function returning index values), ``transform`` applied to each object before it
    is stored (default: drop managedFields), ``metadata_only`` (the server sends only metadata: the
    lightest cache), ``initial_list`` ("auto": streaming list where the server has it, else paged LIST;
    "stream"; "list"), ``resync_period`` (seconds; replays the cache to handlers as updates),
    ``preflight`` (check list/watch permissions at start and fail fast with the fix).
    """

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
        metadata_only: bool = False,
        initial_list: InitialList | str = InitialList.AUTO,
        resync_period: float | None = None,
        preflight: bool = True,
    ) -> None:
        super().__init__(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            indexers=indexers,
            transform=transform,
            metadata_only=metadata_only,
            initial_list=initial_list,
            resync_period=resync_period,
        )
        self.client = client
        self.preflight = preflight
        self._handlers: list[HandlerRunner] = []
        # Held while a network read is applied and delivered, and while a handler joins: a late handler's
        # snapshot of the cache and the batches it then receives neither overlap nor leave a gap.
        self._handlers_lock = threading.Lock()
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
        with self._handlers_lock:
            if self._synced.is_set():
                runner.put(self._cached_as("add"))
            self._handlers.append(runner)
            self._has_handlers = True

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def start(self) -> Informer:
        """Start watching. With ``preflight`` (the default), first check with the API server that this
        identity may list and watch the resource; raises :class:`~incluster_sdk.PermissionDeniedError`
        naming what is missing and the RBAC that grants it. An informer starts once."""
        self._check_not_started()
        if self.preflight:
            from ..rbac.preflight import check_access  # rbac builds on watch: imported late

            check_access(self.client, self.resource, self.namespace, field_selector=self.field_selector)
        if self.resync_period is not None:
            threading.Thread(
                target=self._resync_loop, name=f"incluster-sdk-resync {self.resource.plural}", daemon=True
            ).start()
        self._started = True
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
        return self if self._started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            request = self.watcher.next_request()
            try:
                if isinstance(request, Sleep):
                    self._log_sleep(request)
                    self._stop.wait(request.seconds)
                elif isinstance(request, VersionRequest):
                    self._version()
                elif isinstance(request, ListRequest):
                    self._list_page(self._list_body(self._get(request).data))
                else:
                    for events in self._watch(request):
                        if not self._consume(events) or self._stop.is_set():
                            break  # 410 in the stream: relist now
                    else:
                        self.watcher.watch_ended()
            except _Stopped:
                break
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._failed(exc, _TRANSIENT)
            finally:
                self._close_response()

    def _call(self, url: str, headers: dict[str, str], read_timeout: float) -> Any:
        try:
            response = self.client.call_api(
                "GET", url, headers, _request_timeout=(CONNECT_TIMEOUT, read_timeout), _incluster_retry=False
            )
        except ApiException as exc:  # kubernetes < 37 raises non-2xx answers in its REST layer
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

    def _get(self, request: ListRequest | WatchRequest) -> Any:
        host = self.client.configuration.host
        return self._call(self._url(host, request), self._headers(request), self._read_timeout(request))

    def _version(self) -> None:
        try:
            url = f"{self.client.configuration.host}/version"
            self._version_answer(self._call(url, {"Accept": "application/json"}, VERSION_READ_TIMEOUT).data)
        except HTTPStatusError as exc:
            if exc.status not in VERSION_UNAVAILABLE:
                raise  # a 5xx: back off and ask again
            self._version_answer(None)

    def _close_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            # A watch left mid-stream (stop, a 410 ERROR event) must never go back to the pool: the next
            # request would read the old stream's bytes. close() drops its socket; a fully read LIST
            # response has already returned its connection to the pool, so close() does nothing to it.
            response.close()
            response.release_conn()

    def _watch(self, request: WatchRequest) -> Iterator[Iterator[dict[str, Any]]]:
        """The events of each network read (everything that had arrived, up to 64 KiB)."""
        decoder = WatchStreamDecoder()
        for body in network_reads(self._get(request)):
            yield decoder.feed(body)
        decoder.end()

    def _list_page(self, body: dict[str, Any]) -> None:
        with self._handlers_lock:
            super()._list_page(body)

    def _consume(self, events: Iterable[dict[str, Any]]) -> bool:
        with self._handlers_lock:
            return super()._consume(events)

    def _resync_loop(self) -> None:
        """Replay the cache as on_update(obj, obj) every resync_period: from memory, never a relist."""
        assert self.resync_period is not None
        while not self._stop.wait(self.resync_period):
            if self._synced.is_set():
                with self._handlers_lock:
                    self._deliver(self._cached_as("update"))

    # -- handlers ----------------------------------------------------------------------------------------------
    def _deliver(self, batch: list[HandlerCall]) -> None:
        for runner in self._handlers:
            runner.put(batch)
        for runner in self._handlers:
            runner.hand_off()

    def _signal_synced(self) -> None:
        self._synced.set()
