"""What a driver sends, and how it reads the answers: the machine's requests as URLs, query parameters,
headers and timeouts, and the error for a non-2xx answer. No I/O here."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import InclusterSDKError
from ..resource import Resource

CONNECT_TIMEOUT = 10.0
"""Seconds to connect to the API server, for every request. Our choice: connecting takes milliseconds; 10 s
covers a loaded server without letting a black-holed address stall the informer for the OS default
(minutes)."""
LIST_READ_TIMEOUT = 60.0
"""Seconds a LIST read may wait for data. Our choice: a page of 500 objects from a busy server, generous but
bounded."""
VERSION_READ_TIMEOUT = 10.0
"""Seconds a ``GET /version`` read may wait. Our choice: the answer is tiny; a server that cannot give it in
10 s is retried like any failure."""
WATCH_INACTIVITY_GRACE = 15.0
"""Seconds: a watch that has sent nothing for its ``timeoutSeconds`` plus this is dead (the server should have
closed it); the sum is the driver's read timeout. Our choice; it is what catches the "hung watch" after a
silent network drop."""
VERSION_UNAVAILABLE = frozenset({401, 403, 404})
"""HTTP statuses of ``GET /version`` that mean "you will not learn it here" (RBAC locked down, a proxy that
hides it): stay with paged LIST. Anything else (5xx, connection errors) is retried."""
READ_BYTES = 65536
"""Bytes: the most one network read takes off a busy watch (about 30 pods). Each read's handler calls go to
the handlers at once, and the handlers run before the next read, while the objects those calls replaced are
still hot in the CPU's cache. Measured with 2.3 KB pods: 256 KiB reads (what aiohttp hands out on a busy
stream) cost the asyncio informer a fifth of its throughput; holding 1,000 calls instead of ~30 cost the
threaded one 11% with the collector off (a fifth with handlers called inline), so batching more to save
thread wake-ups loses (docs/performance.md)."""
LIST_READ_BYTES = 2**20
"""Bytes (1 MiB): the most one network read takes off a LIST response (about 250 pods); each read's items are
stored and handed to the handlers before the next read. Larger than a watch's reads because a LIST arrives as
fast as the server can write it (one hand-off to the handlers per 64 KiB read would cost more than it gives),
and small enough that a read's decoded objects never weigh much (measured: docs/performance.md)."""

VERSION_PATH = "/version"
"""The path of the server's version, for a :class:`VersionRequest`."""
JSON = "application/json"
"""The ``Accept`` header of every request but a metadata-only informer's LIST and watch."""
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
"""The ``Accept`` header of a metadata-only LIST: the server converts every object to PartialObjectMetadata
(name, namespace, labels, annotations, owners, resourceVersion...); plain JSON is the content-negotiation
fallback."""
METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
"""The ``Accept`` header of a metadata-only watch (each event's object as PartialObjectMetadata)."""


# -- what the machine asks a driver to do ----------------------------------------------------------------
@dataclass(frozen=True)
class ListRequest:
    """GET one page of a LIST: the query ``limit=...&resourceVersion=...[&continue=...]``.

    The driver gives each item of the answer to :meth:`~incluster_sdk.watch.machine.WatchMachine.list_item`,
    then the rest of it to :meth:`~incluster_sdk.watch.machine.WatchMachine.list_page`. Read timeout:
    :data:`LIST_READ_TIMEOUT` (60 s).

    :param resource_version: the ``resourceVersion`` parameter: ``"0"`` for the first list (answered from the
        API server's watch cache, as client-go's first list is), ``""`` after a relist (a consistent read).
    :param continue_token: the previous page's ``metadata.continue`` (the ``continue`` parameter); None for
        the first page.
    :param limit: the most objects in the page (the ``limit`` parameter); the machine sends its ``page_size``,
        default 500 (client-go's pager default). A server may answer ``resourceVersion=0`` from its watch
        cache in one response whatever the limit.
    """

    resource_version: str
    continue_token: str | None
    limit: int


@dataclass(frozen=True)
class WatchRequest:
    """Open a watch: the query ``watch=1&resourceVersion=...&allowWatchBookmarks=true&timeoutSeconds=...``.

    The driver gives each event to :meth:`~incluster_sdk.watch.machine.WatchMachine.watch_event` while
    :attr:`~incluster_sdk.watch.machine.WatchMachine.reading`, then calls
    :meth:`~incluster_sdk.watch.machine.WatchMachine.watch_ended` if the server ended the watch normally.

    :param resource_version: where the watch starts (the ``resourceVersion`` parameter): the list's, or the
        last event's or bookmark's; ``""`` for a streaming list.
    :param timeout_seconds: seconds after which the server ends the watch normally (the ``timeoutSeconds``
        parameter). The machine draws it in [240, 290) s, its ``WATCH_TIMEOUT_MIN`` and ``WATCH_TIMEOUT_MAX``:
        our choice, under the 5-minute idle limit of many proxies (kube-rs asks 290 s; client-go draws in
        [5, 10) min from its ``minWatchTimeout``).
    :param send_initial_events: True for a streaming list: adds ``sendInitialEvents=true`` and
        ``resourceVersionMatch=NotOlderThan``, so the watch starts with an ADDED event per object; default
        False, a plain watch.
    """

    resource_version: str
    timeout_seconds: int
    send_initial_events: bool = False

    @property
    def read_timeout(self) -> float:
        """Seconds the driver waits for data before it calls the watch dead: ``timeout_seconds`` plus
        :data:`WATCH_INACTIVITY_GRACE` (15 s)."""
        return self.timeout_seconds + WATCH_INACTIVITY_GRACE


@dataclass(frozen=True)
class VersionRequest:
    """GET /version, to learn whether the server may stream lists.

    The driver reads the answer with :func:`server_version` and hands the result to
    :meth:`~incluster_sdk.watch.machine.WatchMachine.server_version` (None when the server answers 401, 403
    or 404, :data:`VERSION_UNAVAILABLE`; other failures go to
    :meth:`~incluster_sdk.watch.machine.WatchMachine.failed`). Read timeout: :data:`VERSION_READ_TIMEOUT`
    (10 s).
    """


@dataclass(frozen=True)
class Sleep:
    """Wait before the next request (a backoff after a failure); no request is sent.

    :param seconds: how long to wait, in seconds.
    :param reason: why, for a log line: ``"HTTP 503"``, or ``"connection error"`` for a failure without a
        status.
    """

    seconds: float
    reason: str


Request = ListRequest | WatchRequest | VersionRequest | Sleep


class HTTPStatusError(InclusterSDKError):
    """A non-2xx answer to one of the machine's requests; the drivers raise it and hand its ``status`` and
    ``retry_after`` to :meth:`~incluster_sdk.watch.machine.WatchMachine.failed`.

    :param status: the HTTP status code; also the ``status`` attribute.
    :param retry_after: the answer's ``Retry-After`` header as sent, None if absent. The ``retry_after``
        attribute holds it in seconds (a float), or None when absent or an HTTP-date (the backoff decides
        then).
    """

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        try:
            self.retry_after: float | None = float(retry_after) if retry_after else None
        except ValueError:  # an HTTP-date Retry-After: fall back to our own backoff
            self.retry_after = None


# -- how each request goes on the wire --------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """One informer's collection: the URL, headers and timeouts of each of its requests.

    :param resource: the collection (:class:`~incluster_sdk.resource.Resource`, e.g. ``PODS``).
    :param namespace: the namespace to watch; None (default) watches all namespaces. Ignored for a
        cluster-scoped resource.
    :param label_selector: the ``labelSelector`` parameter (``"app=web,tier!=db"``); None (default) selects
        every object.
    :param field_selector: the ``fieldSelector`` parameter (``"spec.nodeName=node-1"``); None (default)
        selects every object.
    :param metadata_only: True asks for PartialObjectMetadata (:data:`METADATA_LIST`, :data:`METADATA_ONE`):
        each object's metadata only; default False, whole objects.
    """

    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    metadata_only: bool = False

    def url(self, host: str, request: ListRequest | WatchRequest | VersionRequest) -> str:
        """The URL of ``request``.

        :param host: the API server's base URL without a trailing slash, as in the client's
            ``configuration.host`` (``https://10.96.0.1:443``).
        :param request: the machine's request.
        :returns: ``host`` + the collection's path and query (``.../api/v1/namespaces/ns/pods?limit=500&...``),
            or ``{host}/version`` for a :class:`VersionRequest`.
        """
        if isinstance(request, VersionRequest):
            return f"{host}{VERSION_PATH}"
        params = {
            k: v for k, v in (("labelSelector", self.label_selector), ("fieldSelector", self.field_selector)) if v
        }
        params.update(list_params(request) if isinstance(request, ListRequest) else watch_params(request))
        return f"{host}{self.resource.path(self.namespace)}?{urllib.parse.urlencode(params)}"

    def headers(self, request: ListRequest | WatchRequest | VersionRequest) -> dict[str, str]:
        """The headers of ``request``: its ``Accept``.

        :param request: the machine's request.
        :returns: ``{"Accept": "application/json"}``, or a metadata-only LIST's or watch's ``Accept``
            (:data:`METADATA_LIST`, :data:`METADATA_ONE`).
        """
        if not self.metadata_only or isinstance(request, VersionRequest):
            return {"Accept": JSON}
        return {"Accept": METADATA_LIST if isinstance(request, ListRequest) else METADATA_ONE}

    @staticmethod
    def read_timeout(request: ListRequest | WatchRequest | VersionRequest) -> float:
        """The read timeout of ``request``, in seconds.

        :param request: the machine's request.
        :returns: a watch's :attr:`WatchRequest.read_timeout` (its ``timeout_seconds`` + 15 s),
            :data:`LIST_READ_TIMEOUT` (60 s) for a LIST page, :data:`VERSION_READ_TIMEOUT` (10 s) for
            ``GET /version``.
        """
        if isinstance(request, WatchRequest):
            return request.read_timeout
        return LIST_READ_TIMEOUT if isinstance(request, ListRequest) else VERSION_READ_TIMEOUT

    def timeouts(self, request: ListRequest | WatchRequest | VersionRequest) -> tuple[float, float]:
        """The timeouts of ``request``, as both clients take them in ``_request_timeout``.

        :param request: the machine's request.
        :returns: ``(connect, read)`` in seconds: :data:`CONNECT_TIMEOUT` (10 s) and :meth:`read_timeout`.
        """
        return CONNECT_TIMEOUT, self.read_timeout(request)


def list_params(request: ListRequest) -> dict[str, Any]:
    """The query parameters of a LIST page: ``limit``, ``resourceVersion``, and ``continue`` when set."""
    params: dict[str, Any] = {"limit": request.limit, "resourceVersion": request.resource_version}
    if request.continue_token:
        params["continue"] = request.continue_token
    return params


def watch_params(request: WatchRequest) -> dict[str, Any]:
    """The query parameters of a watch (with those of a streaming list when ``send_initial_events``)."""
    params: dict[str, Any] = {
        "watch": "1",
        "resourceVersion": request.resource_version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": request.timeout_seconds,
    }
    if request.send_initial_events:
        params["sendInitialEvents"] = "true"
        params["resourceVersionMatch"] = "NotOlderThan"
    return params


# -- reading the answers ----------------------------------------------------------------------------------
def server_version(data: bytes | None) -> tuple[int, int] | None:
    """``{"major": "1", "minor": "27+"}`` (managed clusters add "+") → (1, 27); None if unreadable."""
    try:
        body = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    numbers = [re.match(r"\d+", str(body.get(k, ""))) for k in ("major", "minor")]
    if numbers[0] is None or numbers[1] is None:
        return None
    return int(numbers[0].group()), int(numbers[1].group())
