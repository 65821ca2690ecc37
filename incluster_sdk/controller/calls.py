"""What a helper flow asks its driver to send (:class:`Call`), where an object lives (:class:`ObjectRef`), and
the two drivers' ``send``: one request through the sync or the asyncio client.

The flows of :mod:`.objects` and :mod:`.events` yield a :class:`Call` and receive ``(HTTP status, body
bytes)``; :func:`incluster_sdk.flows.drive` answers them with :func:`send`, ``async_drive`` with
:func:`async_send`. Both go through :func:`incluster_sdk.rest.request`, so the client's own retry rules
(reads on blips, writes only when never sent) and its 401 rule apply underneath.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import rest
from ..errors import ApiError
from ..resource import Resource
from .object_errors import ObjectApiError, ObjectError

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient
    from ..client import ApiClient

__all__ = [
    "JSON",
    "Answer",
    "Call",
    "ObjectRef",
    "async_send",
    "async_sender",
    "decoded",
    "metadata_of",
    "object_ref",
    "ref_of",
    "send",
    "sender",
]

JSON = rest.JSON


@dataclass(frozen=True)
class Call:
    """One request a flow asks its driver to send: ``method path`` (path includes any query string) with a JSON
    ``body`` (a dict, or pre-serialised bytes) of ``content_type``. The driver answers (HTTP status, body bytes)."""

    method: str
    path: str
    body: Any = None
    content_type: str = JSON


Answer = tuple[int, bytes]


@dataclass(frozen=True)
class ObjectRef:
    """Where one object lives: its resource collection, name and namespace; ``str()`` reads like kubectl's."""

    resource: Resource
    name: str
    namespace: str | None

    @property
    def collection(self) -> str:
        return self.resource.path(self.namespace)

    @property
    def path(self) -> str:
        return f"{self.collection}/{urllib.parse.quote(self.name, safe='')}"

    @property
    def need_resource(self) -> str:
        """The resource in the SDK's need syntax: ``configmaps``, ``deployments.apps``."""
        group = self.resource.api_version.rpartition("/")[0]
        return f"{self.resource.plural}.{group}" if group else self.resource.plural

    def __str__(self) -> str:
        where = f' in namespace "{self.namespace}"' if self.namespace and self.resource.namespaced else ""
        return f'{self.need_resource} "{self.name}"{where}'


def _check_name(name: Any, what: str) -> str:
    # apimachinery path.IsValidPathSegmentName: any name the server stores is usable in a URL path
    if not isinstance(name, str) or not name:
        raise ObjectError(f"{what}: no name (metadata.name is {name!r}); give the object a name")
    if name in (".", "..") or "/" in name or "%" in name:
        raise ObjectError(f"{what}: the name {name!r} may not be '.' or '..' or contain '/' or '%'; fix the name")
    return name


def object_ref(resource: Resource, name: Any, namespace: Any, *, what: str = "object") -> ObjectRef:
    """The :class:`ObjectRef`, checked: a name that fits in a path, and a namespace iff the resource is namespaced."""
    name = _check_name(name, f"{what} {resource.plural}")
    if resource.namespaced:
        if not isinstance(namespace, str) or not namespace:
            raise ObjectError(
                f'{what} {resource.plural} "{name}": {resource.plural} are namespaced and no namespace was given;'
                " set metadata.namespace or pass namespace="
            )
        _check_name(namespace, f'{what} {resource.plural} "{name}": namespace')
        return ObjectRef(resource, name, namespace)
    return ObjectRef(resource, name, None)


def metadata_of(obj: Any, what: str) -> dict[str, Any]:
    """A copy of ``obj``'s metadata ({} when it has none); :class:`ObjectError` when ``obj`` is not a mapping."""
    if not isinstance(obj, Mapping):
        raise ObjectError(
            f"{what}: expected the object as a dict (JSON as the API server sends it), got {type(obj).__name__}"
        )
    metadata = obj.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ObjectError(f"{what}: metadata is a {type(metadata).__name__}, not a mapping")
    return dict(metadata)


def ref_of(resource: Resource, obj: Mapping[str, Any], namespace: str | None = None) -> ObjectRef:
    """The :class:`ObjectRef` of ``obj`` (its metadata.name and metadata.namespace, else ``namespace``)."""
    metadata = metadata_of(obj, resource.plural)
    return object_ref(resource, metadata.get("name"), metadata.get("namespace") or namespace)


def decoded(verb: str, ref: ObjectRef, status: int, data: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx answer to ``verb`` on ``ref``; :class:`ObjectApiError` when it is not one."""
    try:
        return rest.decode_object(status, data, f"{verb} {ref}")
    except ApiError as exc:
        raise ObjectApiError(str(exc), exc.status) from None


def send(client: ApiClient, call: Call, *, retry: bool = True) -> Answer:
    """Send one :class:`Call` with the sync client (:func:`incluster_sdk.rest.request`, with the call's
    Content-Type). ``retry=False``: skip the client's retries of transient failures (the caller has its own loop)."""
    return rest.request(client, call.method, call.path, call.body, retry=retry, content_type=call.content_type)


async def async_send(client: AsyncApiClient, call: Call, *, retry: bool = True) -> Answer:
    """:func:`send` for the asyncio client."""
    return await rest.async_request(
        client, call.method, call.path, call.body, retry=retry, content_type=call.content_type
    )


def sender(client: ApiClient, *, retry: bool = True) -> Callable[[Call], Answer]:
    """``perform`` for :func:`~incluster_sdk.flows.drive`: :func:`send` with ``client`` (looked up when called,
    so a test can replace this module's ``send``)."""
    return lambda call: send(client, call, retry=retry)


def async_sender(client: AsyncApiClient, *, retry: bool = True) -> Callable[[Call], Awaitable[Answer]]:
    """``perform`` for :func:`~incluster_sdk.flows.async_drive`: :func:`async_send` with ``client``."""
    return lambda call: async_send(client, call, retry=retry)
