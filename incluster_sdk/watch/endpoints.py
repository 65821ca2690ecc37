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

#: Connecting to the API server should take milliseconds; 10 s covers a loaded server without letting a
#: black-holed address stall the informer for the OS default (minutes).
CONNECT_TIMEOUT = 10.0
#: A LIST page of 500 objects from a busy server: generous, but bounded.
LIST_READ_TIMEOUT = 60.0
#: GET /version is tiny; a server that cannot answer it in 10 s is retried like any failure.
VERSION_READ_TIMEOUT = 10.0
#: A watch that has sent nothing for its timeout plus this grace is dead (the server should have closed it):
#: the driver's read timeout. This is what catches the "hung watch" after a silent network drop.
WATCH_INACTIVITY_GRACE = 15.0
#: Answers to GET /version that mean "you will not learn it here" (RBAC locked down, a proxy that hides it):
#: stay with paged LIST. Anything else (5xx, connection errors) is retried.
VERSION_UNAVAILABLE = frozenset({401, 403, 404})
#: The most one network read takes off a busy watch (about 30 pods). Each read's handler calls go to the
#: handlers at once, and the handlers run before the next read, while the objects those calls replaced
#: are still hot in the CPU's cache. Measured with 2.3 KB pods: 256 KiB reads (what aiohttp hands out on a
#: busy stream) cost the asyncio informer a fifth of its throughput; holding 1,000 calls instead of ~30
#: cost the threaded one 11% with the collector off (a fifth with handlers called inline), so batching
#: more to save thread wake-ups loses (docs/performance.md).
READ_BYTES = 65536
#: The most one network read takes off a LIST response (about 250 pods): each read's items are stored and
#: handed to the handlers before the next read. Larger than a watch's reads because a LIST arrives as fast as
#: the server can write it (one hand-off to the handlers per 64 KiB read would cost more than it gives), and
#: small enough that a read's decoded objects never weigh much (measured: docs/performance.md).
LIST_READ_BYTES = 2**20

VERSION_PATH = "/version"
JSON = "application/json"
#: Metadata-only: the server converts every object to PartialObjectMetadata (name, namespace, labels,
#: annotations, owners, resourceVersion...). Plain JSON is accepted as a fallback by content negotiation.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


# -- what the machine asks a driver to do ----------------------------------------------------------------
@dataclass(frozen=True)
class ListRequest:
    resource_version: str
    continue_token: str | None
    limit: int


@dataclass(frozen=True)
class WatchRequest:
    resource_version: str
    timeout_seconds: int
    send_initial_events: bool = False

    @property
    def read_timeout(self) -> float:
        return self.timeout_seconds + WATCH_INACTIVITY_GRACE


@dataclass(frozen=True)
class VersionRequest:
    """GET /version; the driver hands the answer (or None) to the machine's ``server_version``."""


@dataclass(frozen=True)
class Sleep:
    """Wait before the next request (a backoff); no I/O."""

    seconds: float
    reason: str


Request = ListRequest | WatchRequest | VersionRequest | Sleep


class HTTPStatusError(InclusterSDKError):
    """A non-2xx answer, with its ``Retry-After`` in seconds when the server sent one."""

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
    """One informer's collection: the URL, headers and read timeout of each of its requests."""

    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    metadata_only: bool = False

    def url(self, host: str, request: ListRequest | WatchRequest | VersionRequest) -> str:
        if isinstance(request, VersionRequest):
            return f"{host}{VERSION_PATH}"
        params = {
            k: v for k, v in (("labelSelector", self.label_selector), ("fieldSelector", self.field_selector)) if v
        }
        params.update(list_params(request) if isinstance(request, ListRequest) else watch_params(request))
        return f"{host}{self.resource.path(self.namespace)}?{urllib.parse.urlencode(params)}"

    def headers(self, request: ListRequest | WatchRequest | VersionRequest) -> dict[str, str]:
        if not self.metadata_only or isinstance(request, VersionRequest):
            return {"Accept": JSON}
        return {"Accept": METADATA_LIST if isinstance(request, ListRequest) else METADATA_ONE}

    @staticmethod
    def read_timeout(request: ListRequest | WatchRequest | VersionRequest) -> float:
        if isinstance(request, WatchRequest):
            return request.read_timeout
        return LIST_READ_TIMEOUT if isinstance(request, ListRequest) else VERSION_READ_TIMEOUT

    def timeouts(self, request: ListRequest | WatchRequest | VersionRequest) -> tuple[float, float]:
        """(connect, read) seconds: what both clients take as ``_request_timeout``."""
        return CONNECT_TIMEOUT, self.read_timeout(request)


def list_params(request: ListRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": request.limit, "resourceVersion": request.resource_version}
    if request.continue_token:
        params["continue"] = request.continue_token
    return params


def watch_params(request: WatchRequest) -> dict[str, Any]:
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
