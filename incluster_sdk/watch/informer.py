"""The threaded informer: :class:`~.state.InformerState` driven over the sync ``kubernetes`` client.

```python
informer = Informer(api_client(cfg), PODS, namespace=cfg.namespace)
informer.add_handler(on_add=lambda pod, initial: ...)
informer.start()
informer.wait_for_sync(timeout=30)
informer.store.by_index("namespace", "default")
```

One watch event, top to bottom: the informer's thread reads what the socket holds, the sans-I/O
:class:`~.wire.WatchDecoder` turns the bytes into event dicts, :meth:`~.state.InformerState.watch_read` runs
each through the machine into the store and returns the read's handler calls, and each handler's own thread
gets them, in order. A LIST response takes the same path, through :class:`~.wire.ListDecoder` and
:meth:`~.state.InformerState.list_read`, a read at a time: its items reach the store and the handlers while the
rest of it is still arriving. docs/architecture.md draws the path.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import urllib3
from kubernetes.client.exceptions import ApiException

from ..client import ApiClient
from ..flows import drive
from ..resource import Resource
from .driver import HandlerRegistration, InformerDriver
from .endpoints import LIST_READ_BYTES, READ_BYTES, HTTPStatusError, ListRequest, Sleep, VersionRequest, WatchRequest
from .handlers import Handler, HandlerCall, OnAdd, OnDelete, OnUpdate, ThreadRunner
from .options import InformerKeywords, InformerOptions
from .state import TRANSIENT
from .wire import END, ListDecoder, WatchDecoder

if TYPE_CHECKING:
    from typing_extensions import Unpack

_TRANSIENT: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, *TRANSIENT)
#: ``read1`` on a non-blocking socket with nothing to read: None (plain sockets), these (TLS).
_NOTHING_YET = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class _Stopped(Exception):
    """The informer was stopped while a request was in flight."""


class Informer(InformerDriver[ApiClient, ThreadRunner]):
    """Keeps ``store`` equal to the server's collection and calls handlers on every change, on threads.

    The watch runs on its own daemon thread (``incluster-sdk-informer <plural>``), each handler on another
    (see :meth:`add_handler`). Relists, 410 Gone, hung connections and backoff are handled inside; nothing
    stops it but :meth:`stop`. Use it as a context manager (``with informer:`` starts it and stops it) or call
    :meth:`start` and :meth:`stop`.

    :param client: the API client the requests go through, from :func:`~incluster_sdk.client.api_client`.
    :param resource: the collection to watch, e.g. ``PODS``, a constant of :mod:`incluster_sdk.resource`, or
        :func:`~incluster_sdk.discovery.resource_for`'s answer for any other kind.
    :param options: what to watch and how, an :class:`~incluster_sdk.watch.options.InformerOptions`; default
        None: its defaults.
    :param overrides: keyword arguments, the fields of
        :class:`~incluster_sdk.watch.options.InformerOptions` (namespace, label_selector, field_selector,
        indexers, transform, metadata_only, compress, initial_list, resync_period, preflight; typed by
        :class:`~incluster_sdk.watch.options.InformerKeywords`), applied over ``options``, e.g.
        ``Informer(client, PODS, namespace="default", resync_period=300)``.
    :raises ValueError: for a bad ``initial_list`` or a ``resync_period`` under 1 s.
    :raises TypeError: for an unknown keyword argument.
    """

    def __init__(
        self, client: ApiClient, resource: Resource, options: InformerOptions | None = None,
        **overrides: Unpack[InformerKeywords],
    ) -> None:  # fmt: skip
        # the base is generic in its client: this signature names the real one, for the reference and mypy
        super().__init__(client, resource, options, **overrides)

    _synced: threading.Event
    _thread: threading.Thread | None = None
    _response: Any = None

    def _init_driver(self) -> None:
        self._synced = threading.Event()
        self._stop = threading.Event()

    # -- public --------------------------------------------------------------------------------------------
    def add_handler(
        self, on_add: OnAdd | None = None, on_update: OnUpdate | None = None, on_delete: OnDelete | None = None
    ) -> HandlerRegistration:
        """Call these for every change, in order, on a new thread of their own (one handler).

        A slow or failing handler holds up neither the watch nor the other handlers; an exception is logged
        and the next call still comes. Each handler gets its own copies of the objects. Added after the
        informer synced, a handler first gets the cache as adds (``initial=True``), then every change after it.
        Add handlers before :meth:`start` or once :meth:`wait_for_sync` has returned True: one added while the
        first list is being read does not get the objects listed before it joined.

        :param on_add: called as ``on_add(obj, initial)`` for each object that enters the cache
            (:data:`~incluster_sdk.watch.handlers.OnAdd`); None: no add calls.
        :param on_update: called as ``on_update(old, new)`` for each change and resync
            (:data:`~incluster_sdk.watch.handlers.OnUpdate`); None: no update calls.
        :param on_delete: called as ``on_delete(obj)`` for each object that leaves the cache, ``obj`` possibly a
            :class:`~incluster_sdk.watch.store.DeletedFinalStateUnknown`
            (:data:`~incluster_sdk.watch.handlers.OnDelete`); None: no delete calls.
        :returns: the handler's registration: ``remove()`` it to stop the calls; its ``has_synced`` is True
            once the handler has run the initial state.
        """
        runner = ThreadRunner(Handler(on_add, on_update, on_delete), self.resource.plural, self.store.codec.decode)
        return self._join(runner)

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Block until the cache is complete: the first list applied and its handler calls queued.

        Handlers may still be running the initial adds: each registration's ``has_synced`` says when one has.
        A watch that keeps failing (403, server down) is retried inside: this then returns False at the
        timeout (with no timeout, it keeps waiting). Before :meth:`start`, it waits as well.

        :param timeout: seconds to wait at most; default None: no limit.
        :returns: True once synced (at once if already), False if ``timeout`` seconds passed first.
        """
        return self._synced.wait(timeout)

    def start(self) -> Informer:
        """Start watching, on a new thread; returns at once after the preflight.

        With ``preflight`` (the default), first check with the API server, on the calling thread, that this
        identity may list and watch the resource (a check that cannot be made is logged and skipped). An
        informer starts once, and does not restart after :meth:`stop`: create a new one. ``with informer:``
        starts an informer that was never started and enters a running one as it is.

        :returns: the informer itself, so that ``with Informer(...).start() as informer:`` works.
        :raises RuntimeError: if the informer was started before, or stopped (even if it never ran).
        :raises ~incluster_sdk.PermissionDeniedError: if the preflight finds that this identity may not list or
            watch the resource; the message names what is missing and the RBAC that grants it.
        """
        self._check_not_started("`with informer:` starts it; `with informer.start():` is fine too")
        if self.preflight:
            # rbac sits below watch (the layer table in tests/test_import_graph.py); imported on first use
            # only because it loads RBAC and discovery tables (~0.2 s) that preflight=False never needs.
            from ..rbac.preflight import check_access

            check_access(self.client, self.resource, self.namespace, field_selector=self.field_selector)
        if self.resync_period is not None:
            threading.Thread(
                target=self._resync_loop, name=f"incluster-sdk-resync {self.resource.plural}", daemon=True
            ).start()
        self.started = True
        self._thread = threading.Thread(
            target=self._run, name=f"incluster-sdk-informer {self.resource.plural}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, close the connection, and stop the handler threads after their queued calls.

        Waits for the watch thread, then for each handler thread in turn, each for up to ``timeout``: at most
        ``(1 + number of handlers) * timeout`` seconds in all. A thread still running then is left to finish
        in the background (a daemon thread: it does not keep the process alive). Calling it again, or before
        :meth:`start`, is harmless.

        :param timeout: seconds to wait for each thread (the watch thread, then each handler's) to end; default
            10 s (our choice: time for a handler to finish its queued calls; client-go's informers have no stop
            deadline).
        """
        self.stopped = True
        self._stop.set()
        response = self._response
        if response is not None:
            response.shutdown() if hasattr(response, "shutdown") else response.close()
        if self._thread is not None:
            self._thread.join(timeout)
        for runner in self._runners:
            runner.stop(timeout)

    def __enter__(self) -> Informer:
        """:meth:`start` the informer unless it is running; returns it.

        :raises RuntimeError: if it was stopped (an informer runs once), or as :meth:`start` raises.
        """
        return self if self.started and not self.stopped else self.start()

    def __exit__(self, *exc: object) -> None:
        """:meth:`stop` it, with the default timeout."""
        self.stop()

    # -- the loop --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        machine = self.state.machine
        while not self._stop.is_set():
            request = self.state.next_request()
            try:
                if isinstance(request, Sleep):
                    self.state.sleeping(request.seconds, request.reason)
                    self._stop.wait(request.seconds)
                elif isinstance(request, VersionRequest):
                    drive(self.state.version(request), self._data)
                elif isinstance(request, ListRequest):
                    self._list(request)
                elif self._watch(request):
                    machine.watch_ended()
            except _Stopped:
                break
            except Exception as exc:
                if self._stop.is_set():
                    break
                self.state.failed(exc, _TRANSIENT)
            finally:
                self._close_response()

    def _list(self, request: ListRequest) -> None:
        """Apply a LIST page's items as they arrive, one network read at a time, then the page's end."""
        chunked, reads = urllib3_reads(self._get(request), LIST_READ_BYTES)
        decoder = ListDecoder(chunked=chunked)
        for data in reads:
            decoder.receive_data(data)
            with self._lock:
                self._deliver(self.state.list_read(decoder.items(), decoder.header))
            if decoder.done or self._stop.is_set():
                break
        if not decoder.done:
            decoder.receive_data(b"")  # raises if the response ended before its last chunk
            with self._lock:
                self._deliver(self.state.list_read(decoder.items(), decoder.header))
        with self._lock:
            self._deliver(self.state.list_page(decoder.header))

    def _watch(self, request: WatchRequest) -> bool:
        """Apply the watch's events one network read at a time; True if the server ended it normally."""
        chunked, reads = urllib3_reads(self._get(request))
        decoder = WatchDecoder(chunked=chunked)
        for data in reads:
            decoder.receive_data(data)
            if not self._read(decoder) or self._stop.is_set():
                return False  # 410 in the stream: relist now
            if decoder.next_event() is END:
                return True  # the last chunk: the server ended the watch
        decoder.receive_data(b"")
        self._read(decoder)  # raises if the stream ended mid-event
        return True

    def _read(self, decoder: WatchDecoder) -> bool:
        """Apply the events ``decoder`` holds and hand their calls to the handlers; False if the machine is
        done with this stream."""
        with self._lock:
            self._deliver(self.state.watch_read(decoder.events()))
        return self.state.machine.reading

    def _deliver(self, calls: list[HandlerCall]) -> None:
        """Queue a read's calls to every handler, in order; then, the first time the cache is complete, say so."""
        if calls:
            for index, runner in enumerate(self._runners):
                runner.put(calls, index == 0)  # the first handler has the decoded objects; the others copies
            for runner in self._runners:
                runner.hand_off()
        if self.state.synced and not self._synced.is_set():
            self._mark_synced()

    def _resync_loop(self) -> None:
        """Replay the cache as on_update(obj, obj) every resync_period: from memory, never a relist."""
        assert self.resync_period is not None
        while not self._stop.wait(self.resync_period):
            with self._lock:
                self._deliver(self.state.resync())

    # -- HTTP ------------------------------------------------------------------------------------------------
    def _call(self, url: str, headers: dict[str, str], timeouts: tuple[float, float]) -> Any:
        try:
            response = self.client.call_api("GET", url, headers, _request_timeout=timeouts, _incluster_retry=False)
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

    def _get(self, request: ListRequest | WatchRequest | VersionRequest) -> Any:
        endpoint, host = self.endpoint, self.client.configuration.host
        return self._call(endpoint.url(host, request), endpoint.headers(request), endpoint.timeouts(request))

    def _data(self, request: ListRequest | VersionRequest) -> bytes:
        data: bytes = self._get(request).data
        return data

    def _close_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            # A watch left mid-stream (stop, a 410 ERROR event) must never go back to the pool: the next
            # request would read the old stream's bytes. close() drops its socket; a fully read LIST
            # response has already returned its connection to the pool, so close() does nothing to it.
            response.close()
            response.release_conn()


# -- reading a urllib3 response the way a socket delivers it ---------------------------------------------------
def urllib3_reads(response: Any, max_bytes: int = READ_BYTES) -> tuple[bool, Iterator[bytes]]:
    """(chunked, reads) for a streaming urllib3 response: its raw bytes as the socket delivers them, at most
    ``max_bytes`` a read (chunked framing included, ``b""`` when the connection closed), or, where that is not
    possible, urllib3's own decoded ``stream()`` (chunked False)."""
    raw = _socket_file(response)
    if raw is None:
        return False, response.stream(max_bytes, decode_content=True)
    return True, socket_reads(*raw, max_bytes)


def socket_reads(file: io.BufferedReader, sock: socket.socket, max_bytes: int = READ_BYTES) -> Iterator[bytes]:
    """The raw bytes of a response body, one piece per network read: everything that has arrived, up to
    ``max_bytes``. urllib3 (through ``http.client``) would return a chunked body one HTTP chunk per read,
    and kube-apiserver sends one chunk per event: the informer would wake its handler threads per event, and
    pay two thread wake-ups per event (docs/performance.md). An empty piece means the connection closed."""
    while True:
        data = file.read1(max_bytes)  # waits for the first bytes (up to the socket's read timeout)
        if data and len(data) < max_bytes:
            data += _ready(file, sock, max_bytes - len(data))
        yield data
        if not data:
            return


def _ready(file: io.BufferedReader, sock: socket.socket, max_bytes: int) -> bytes:
    """What can be read right now without waiting (at most ``max_bytes``)."""
    pieces: list[bytes] = []
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        while max_bytes > 0:
            try:
                piece = file.read1(max_bytes)
            except _NOTHING_YET:
                break
            if not piece:  # nothing yet on a plain socket, or the end (the next waiting read sees it)
                break
            pieces.append(piece)
            max_bytes -= len(piece)
    finally:
        sock.settimeout(timeout)
    return b"".join(pieces)


def _socket_file(response: Any) -> tuple[io.BufferedReader, socket.socket] | None:
    """The socket file under a chunked, uncompressed urllib3 response, and its socket; None if not that
    (another urllib3, a compressed body, a body that is not chunked: then urllib3's own ``stream()``).

    This reaches under urllib3: ``HTTPResponse._fp`` (the ``http.client`` response) and its ``fp``."""
    headers = getattr(response, "headers", None) or {}
    if headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    http_response = getattr(response, "_fp", None)
    if not getattr(http_response, "chunked", False) or getattr(http_response, "chunk_left", None) is not None:
        return None  # not chunked, or http.client has already started reading the body
    file = getattr(http_response, "fp", None)
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if not isinstance(file, io.BufferedReader) or not isinstance(sock, socket.socket):
        return None
    return file, sock
