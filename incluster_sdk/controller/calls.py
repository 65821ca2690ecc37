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
"""The default Content-Type of a :class:`Call`'s body: ``application/json``."""


@dataclass(frozen=True)
class Call:
    """One request a flow asks its driver to send; the driver answers ``(HTTP status, body bytes)``.

    :param method: the HTTP method, e.g. ``"GET"``, ``"PUT"``, ``"PATCH"``.
    :param path: the request path from the API server's root, with any query string (e.g.
        ``/api/v1/namespaces/shop/configmaps/web``).
    :param body: the JSON body, a dict or pre-serialised bytes; None (default) sends none.
    :param content_type: the body's media type; default ``application/json`` (a patch names its own).
    """

    method: str
    path: str
    body: Any = None
    content_type: str = JSON


Answer = tuple[int, bytes]
"""What a driver answers a :class:`Call` with: ``(HTTP status, body bytes)``."""


@dataclass(frozen=True)
class ObjectRef:
    """Where one object lives: its resource collection, name and namespace; ``str()`` reads like kubectl's
    (``configmaps "web" in namespace "shop"``). Build one with :func:`object_ref`, which checks it.

    :param resource: the object's resource.
    :param name: the object's metadata.name.
    :param namespace: the object's namespace; None for a cluster-scoped resource.
    """

    resource: Resource
    name: str
    namespace: str | None

    @property
    def collection(self) -> str:
        """The path of the object's collection, e.g. ``/api/v1/namespaces/shop/configmaps`` (POST creates there)."""
        return self.resource.path(self.namespace)

    @property
    def path(self) -> str:
        """The object's path, e.g. ``/api/v1/namespaces/shop/configmaps/web`` (the name URL-quoted)."""
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
    """Build the :class:`ObjectRef` of an object, checked: a name that fits in a path, and a namespace iff the
    resource is namespaced.

    :param resource: the object's resource.
    :param name: the object's name (anything: checked to be a non-empty str, not ``.`` or ``..``, without ``/``
        or ``%``).
    :param namespace: the object's namespace: required (and checked likewise) for a namespaced resource, ignored
        for a cluster-scoped one.
    :param what: how error messages name the operation, e.g. ``"create"``; default ``"object"``.
    :returns: the reference (its namespace None for a cluster-scoped resource).
    :raises ObjectError: for a missing or unusable name, or a namespaced resource without a namespace.
    """
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
    """Return a copy of ``obj``'s metadata.

    :param obj: an object, expected to be a mapping (a Kubernetes object as a dict).
    :param what: how an error message names the operation and object.
    :returns: a shallow copy of ``obj["metadata"]`` as a dict; ``{}`` when it has none.
    :raises ObjectError: when ``obj`` or its metadata is not a mapping.
    """
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
    """Build the :class:`ObjectRef` of ``obj`` from its metadata.name and metadata.namespace.

    :param resource: the object's resource.
    :param obj: the object, a dict as the API server sends it.
    :param namespace: the namespace when ``obj``'s metadata has none; None (default) gives none.
    :returns: the checked reference (see :func:`object_ref`).
    :raises ObjectError: when ``obj`` is not a mapping, or its name or namespace is missing or unusable.
    """
    metadata = metadata_of(obj, resource.plural)
    return object_ref(resource, metadata.get("name"), metadata.get("namespace") or namespace)


def decoded(verb: str, ref: ObjectRef, status: int, data: bytes) -> dict[str, Any]:
    """Decode the JSON object of a 2xx answer to ``verb`` on ``ref``.

    :param verb: the operation, for the error message (e.g. ``"get"``).
    :param ref: the object the request was about.
    :param status: the answer's HTTP status.
    :param data: the answer's body, bytes.
    :returns: the object, a dict.
    :raises ObjectApiError: when the status is not 2xx, or the body is not a JSON object.
    """
    try:
        return rest.decode_object(status, data, f"{verb} {ref}")
    except ApiError as exc:
        raise ObjectApiError(str(exc), exc.status) from None


def send(client: ApiClient, call: Call, *, retry: bool = True) -> Answer:
    """Send one :class:`Call` with the sync client (:func:`incluster_sdk.rest.request`, with the call's
    Content-Type).

    :param client: the SDK's sync client.
    :param call: the request.
    :param retry: True (default): the client's own retries of transient failures apply; False skips them (the
        caller has its own loop).
    :returns: ``(HTTP status, body bytes)``; a non-2xx answer is returned, not raised.
    """
    return rest.request(client, call.method, call.path, call.body, retry=retry, content_type=call.content_type)


async def async_send(client: AsyncApiClient, call: Call, *, retry: bool = True) -> Answer:
    """Send one :class:`Call` with the asyncio client (:func:`incluster_sdk.rest.async_request`, with the call's
    Content-Type).

    :param client: the SDK's asyncio client.
    :param call: the request.
    :param retry: True (default): the client's own retries of transient failures apply; False skips them (the
        caller has its own loop).
    :returns: ``(HTTP status, body bytes)``; a non-2xx answer is returned, not raised.
    """
    return await rest.async_request(
        client, call.method, call.path, call.body, retry=retry, content_type=call.content_type
    )


def sender(client: ApiClient, *, retry: bool = True) -> Callable[[Call], Answer]:
    """Make the ``perform`` for :func:`~incluster_sdk.flows.drive`: :func:`send` with ``client``.

    :param client: the SDK's sync client.
    :param retry: passed to :func:`send`; default True.
    :returns: a function called as ``perform(call) -> (status, body bytes)``; it looks :func:`send` up when
        called, so a test can replace this module's ``send``.
    """
    return lambda call: send(client, call, retry=retry)


def async_sender(client: AsyncApiClient, *, retry: bool = True) -> Callable[[Call], Awaitable[Answer]]:
    """Make the ``perform`` for :func:`~incluster_sdk.flows.async_drive`: :func:`async_send` with ``client``.

    :param client: the SDK's asyncio client.
    :param retry: passed to :func:`async_send`; default True.
    :returns: a function called as ``perform(call)``, returning an awaitable of ``(status, body bytes)``.
    """
    return lambda call: async_send(client, call, retry=retry)
