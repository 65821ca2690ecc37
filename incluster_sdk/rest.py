"""One JSON request to the API server and its answer as (status, body bytes), for the SDK's own tools
(discovery, access reviews), through the SDK's sync or asyncio client and their credentials.

Non-2xx answers are returned, not raised, so callers decide what a 403 or a 404 means; errors that are
not answers (connection refused, TLS) propagate. ``decode_object`` turns an answer into a JSON object or
an :class:`~incluster_sdk.errors.ApiError` that names the request.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson

from .errors import ApiError

if TYPE_CHECKING:
    from .aio_client import AsyncApiClient
    from .client import ApiClient

JSON = "application/json"
JSON_HEADERS = {"Accept": JSON, "Content-Type": JSON}
#: Seconds to wait for one answer (connect + read). A review or discovery document takes milliseconds; 30 s
#: covers a loaded API server, and stops one that accepts connections but never answers from hanging a
#: CLI command or a preflight forever. The client's own retry rules apply on top.
REQUEST_TIMEOUT = 30.0


def _headers(content_type: str) -> dict[str, str]:
    return {"Accept": JSON, "Content-Type": content_type}


def request(
    client: ApiClient, method: str, path: str, body: Any = None, *,
    timeout: float = REQUEST_TIMEOUT, retry: bool = True, content_type: str = JSON,
) -> tuple[int, bytes]:  # fmt: skip
    """``method path`` with a JSON ``body``; (HTTP status, raw body). ``timeout`` in seconds per attempt;
    ``retry=False`` skips the client's retries of transient failures (429/5xx, resets), not its 401 rule.
    ``content_type``: the body's media type, for the JSON dialects (a merge or strategic-merge patch, an apply
    patch: pass the body pre-serialised as bytes when the client libraries would not pass it through)."""
    from kubernetes.client.exceptions import ApiException

    try:
        response = client.call_api(
            method,
            f"{client.configuration.host}{path}",
            _headers(content_type),
            body,
            _request_timeout=timeout,
            _incluster_retry=retry,
        )
    except ApiException as exc:  # kubernetes < 37 raises non-2xx answers
        data = exc.body
        return exc.status or 0, data if isinstance(data, bytes) else str(data or "").encode()
    response.read()
    return int(response.status), bytes(response.data or b"")


async def async_request(
    client: AsyncApiClient, method: str, path: str, body: Any = None, *,
    timeout: float = REQUEST_TIMEOUT, retry: bool = True, content_type: str = JSON,
) -> tuple[int, bytes]:  # fmt: skip
    """:func:`request` for the asyncio client."""
    from kubernetes_asyncio.client.exceptions import ApiException

    try:
        response = await client.request(
            method,
            f"{client.configuration.host}{path}",
            headers=_headers(content_type),
            body=body,
            _preload_content=False,
            _request_timeout=timeout,
            _incluster_retry=retry,
        )
    except ApiException as exc:
        data = exc.body
        return exc.status or 0, data if isinstance(data, bytes) else str(data or "").encode()
    try:
        return int(response.status), bytes(await response.read())
    finally:
        response.release()


def decode_object(status: int, data: bytes, what: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; else :class:`ApiError` with ``what`` (e.g. "POST /apis/...") and the
    server's message."""
    if not 200 <= status <= 299:
        message = ""
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            message = str(orjson.loads(data).get("message", ""))
        raise ApiError(f"{what}: HTTP {status}{': ' + message if message else ''}", status)
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"{what}: the answer is not JSON ({exc})", status) from None
    if not isinstance(body, dict):
        raise ApiError(f"{what}: the answer is not a JSON object", status)
    return body
