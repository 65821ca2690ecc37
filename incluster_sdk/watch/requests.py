"""What both informer drivers send: URLs and query parameters for the machine's requests, and the
error they raise for a non-2xx answer. No I/O here."""

from __future__ import annotations

import urllib.parse
from typing import Any

import orjson

from .machine import ListRequest, WatchProtocolError, WatchRequest
from .resource import Resource


class HTTPStatusError(Exception):
    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        try:
            self.retry_after: float | None = float(retry_after) if retry_after else None
        except ValueError:  # an HTTP-date Retry-After: fall back to our own backoff
            self.retry_after = None


def selector_params(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    return {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}


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


def collection_url(host: str, resource: Resource, namespace: str | None, params: dict[str, Any]) -> str:
    return f"{host}{resource.path(namespace)}?{urllib.parse.urlencode(params)}"


#: The largest watch event accepted. etcd's default request limit is 1.5 MiB per object, and an event can
#: carry it twice (MODIFIED with an old object on some servers): 16 MiB leaves room, and stops a stream that
#: never sends a newline from eating the process's memory.
MAX_EVENT_BYTES = 16 * 2**20


class WatchStreamDecoder:
    """Bytes of a watch response in, decoded events out (one JSON object per line), whatever the chunking.

    Anything that is not a stream of JSON objects raises :class:`WatchProtocolError` (the informer then
    reconnects); nothing else escapes.
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pending = b""
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        if len(self._pending) > self._max:
            raise WatchProtocolError(f"watch event larger than {self._max} bytes (no newline)")
        events = []
        for line in lines:
            if line.strip():
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise WatchProtocolError(f"watch event is not JSON: {exc}") from None
                if not isinstance(event, dict):
                    raise WatchProtocolError("watch event is not an object")
                events.append(event)
        return events

    def end(self) -> None:
        """The stream closed; anything left over is half an event."""
        if self._pending.strip():
            raise WatchProtocolError("watch stream ended mid-event")
