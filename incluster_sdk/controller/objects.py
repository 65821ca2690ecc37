"""Object helpers a reconcile needs: get-or-create, update with retry on 409 Conflict, server-side apply,
finalizers and owner references; each a flow (:mod:`.object_flows`) run by a sync and an asyncio driver.

    cm, created = get_or_create(client, CONFIGMAPS, {"metadata": {"name": "web", "namespace": "shop"}, "data": {}})
    update_with_retry(client, CONFIGMAPS, "web", lambda cm: {**cm, "data": {"k": "v"}}, namespace="shop")
    server_side_apply(client, CONFIGMAPS, desired, field_manager="example.com/my-controller")
    add_finalizer(client, CONFIGMAPS, cm, "example.com/cleanup")
    set_owner_reference(child, owner)  # pure: no request

The objects are plain JSON dicts, as the API server sends them. ``client`` is the SDK's
:func:`~incluster_sdk.api_client` (``async_`` twins: :func:`~incluster_sdk.async_api_client`); the
client's own retry rules (reads on blips, writes only when never sent) apply underneath. Every error is an
:class:`~incluster_sdk.errors.InclusterSDKError` whose message names the object and says what to do; messages
carry names, paths and the server's own text, never a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, Retrying
from tenacity.wait import wait_base

from ..flows import async_drive, drive
from ..resource import Resource
from . import calls
from .calls import Answer, Call, ObjectRef, async_send, object_ref, ref_of, send
from .object_errors import AlreadyOwnedError, ConflictError, NotFoundError, ObjectApiError, ObjectError, api_error
from .object_flows import (
    APPLY_PATCH,
    CONFLICT_RETRY_STEPS,
    DEFAULT_CONFLICT_BACKOFF,
    Flow,
    Mutate,
    apply_flow,
    finalizer_edit,
    get_or_create_flow,
    update_retry,
)
from .owners import set_owner_reference
from .validation import FIELD_MANAGER_MAX_LENGTH, STANDARD_FINALIZERS, validate_field_manager, validate_finalizer_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..aio_client import AsyncApiClient
    from ..client import ApiClient

__all__ = [
    "APPLY_PATCH",
    "CONFLICT_RETRY_STEPS",
    "DEFAULT_CONFLICT_BACKOFF",
    "FIELD_MANAGER_MAX_LENGTH",
    "STANDARD_FINALIZERS",
    "AlreadyOwnedError",
    "Answer",
    "Call",
    "ConflictError",
    "Mutate",
    "NotFoundError",
    "ObjectApiError",
    "ObjectError",
    "ObjectRef",
    "add_finalizer",
    "api_error",
    "async_add_finalizer",
    "async_get_or_create",
    "async_remove_finalizer",
    "async_send",
    "async_server_side_apply",
    "async_update_with_retry",
    "get_or_create",
    "object_ref",
    "ref_of",
    "remove_finalizer",
    "send",
    "server_side_apply",
    "set_owner_reference",
    "update_with_retry",
    "validate_field_manager",
    "validate_finalizer_name",
]

# The asyncio twins' signatures are the sync ones' (same names, order and defaults), written on two lines each
# so that they read as one declaration; the logic both share is the flow each driver runs.


def get_or_create(client: ApiClient, resource: Resource, obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The object named by ``obj``'s metadata (name, namespace) if it exists, else ``obj`` created:
    ``(object as stored, created)``. An existing object is returned as it is (not compared with ``obj``: use
    :func:`update_with_retry` or :func:`server_side_apply` to converge it).

    One GET when it exists (no write: cheap in a steady state, and only ``get`` is needed then); GET + POST when
    it does not; a 409 AlreadyExists on the POST (another writer created it in between) reads it again and
    returns it with ``created=False``. ``obj`` with only metadata.generateName is always created (POST).

    Raises :class:`ObjectError` for an object without a name, or a namespaced resource without a namespace
    (before any request); :class:`ObjectApiError` when the server refuses (403 names the need to grant)."""
    return drive(get_or_create_flow(resource, obj), calls.sender(client))


async def async_get_or_create(
    client: AsyncApiClient, resource: Resource, obj: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """:func:`get_or_create` for the asyncio client."""
    return await async_drive(get_or_create_flow(resource, obj), calls.async_sender(client))


def update_with_retry(
    client: ApiClient,
    resource: Resource,
    name: str,
    mutate: Mutate,
    *,
    namespace: str | None = None,
    attempts: int = CONFLICT_RETRY_STEPS,
    backoff: wait_base = DEFAULT_CONFLICT_BACKOFF,
) -> dict[str, Any]:
    """Read the object, ``mutate`` it, write it back with the resourceVersion read; on 409 Conflict read again and
    re-apply ``mutate`` (client-go ``retry.RetryOnConflict(retry.DefaultRetry, ...)``).

    ``mutate(obj)`` gets a private copy of the object as read (a dict) and returns the object to write, or None
    for "no change" (then no write is made; returning the object unchanged is the same). It runs once per try,
    so it must be a pure function of what it is given. ``attempts``: tries in all (default 5) with ``backoff``
    between them (a tenacity wait; default 10-11 ms): both client-go's DefaultRetry.

    Returns the object as stored (or as read, when nothing changed). Raises :class:`ConflictError` when every try
    conflicted, :class:`NotFoundError` when the object does not exist, :class:`ObjectApiError` for other
    refusals, :class:`ObjectError` for a bad argument; what ``mutate`` raises propagates, without a retry.
    """
    retry, flow = update_retry(resource, name, namespace, mutate, attempts, backoff)
    perform = calls.sender(client)
    result: dict[str, Any] = Retrying(**retry)(lambda: drive(flow(), perform))
    return result


async def async_update_with_retry(
    client: AsyncApiClient, resource: Resource, name: str, mutate: Mutate, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS, backoff: wait_base = DEFAULT_CONFLICT_BACKOFF,
) -> dict[str, Any]:  # fmt: skip
    """:func:`update_with_retry` for the asyncio client (``mutate`` is a plain function)."""
    retry, flow = update_retry(resource, name, namespace, mutate, attempts, backoff)
    result: dict[str, Any] = await AsyncRetrying(**retry)(_async_try, flow, calls.async_sender(client))
    return result


async def _async_try(flow: Callable[[], Flow], perform: Callable[[Call], Any]) -> Any:
    # a coroutine function, so that AsyncRetrying awaits each try (it calls a plain function as it is)
    return await async_drive(flow(), perform)


def server_side_apply(
    client: ApiClient, resource: Resource, obj: Mapping[str, Any], *, field_manager: str, force: bool = False
) -> dict[str, Any]:
    """Server-side apply ``obj`` (PATCH ``application/apply-patch+yaml``): the server merges the fields ``obj``
    sets into the stored object (creating it if absent) and records ``field_manager`` as their owner.

    ``obj`` is the fully specified intent: apiVersion, kind, metadata.name (and namespace), and only the fields
    this manager owns. ``field_manager``: required, <= 128 bytes, printable (kube-apiserver's rules). ``force``:
    take over fields another manager owns instead of failing with 409 Conflict.

    Returns the object as stored. Raises :class:`ObjectError` for a bad argument (before any request),
    :class:`ConflictError` on a field conflict (the message lists the fields and their managers, from the
    server), :class:`ObjectApiError` for other refusals (403 names the need to grant: ``patch``)."""
    return drive(apply_flow(resource, obj, field_manager, force), calls.sender(client))


async def async_server_side_apply(
    client: AsyncApiClient, resource: Resource, obj: Mapping[str, Any], *, field_manager: str, force: bool = False
) -> dict[str, Any]:
    """:func:`server_side_apply` for the asyncio client."""
    return await async_drive(apply_flow(resource, obj, field_manager, force), calls.async_sender(client))


def add_finalizer(
    client: ApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any]:  # fmt: skip
    """Make sure ``finalizer`` is in the object's metadata.finalizers; returns the object as stored.

    Idempotent (present already: one GET, no write) and conflict-safe: a read-modify-write with the
    resourceVersion, re-read and re-applied on 409 (:func:`update_with_retry`), as controller-runtime users do
    with ``AddFinalizer`` + ``Update`` in ``RetryOnConflict``. A merge patch would replace the whole list (JSON
    merge patch has no list merge) and could drop another controller's finalizer added in between; a JSON
    patch with a test op or an optimistic-lock patch is equally safe but no cheaper, so one mechanism serves
    both finalizer helpers and every update. Needs get and update on the resource.

    ``obj_or_name``: the object (its metadata.name/namespace are used) or its name (then pass ``namespace``
    for a namespaced resource). Raises :class:`ObjectError` for an invalid finalizer name (before any request),
    :class:`ObjectApiError` with status 422 when the object is being deleted (kube-apiserver forbids new
    finalizers then), and what :func:`update_with_retry` raises."""
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, True)
    return update_with_retry(client, resource, name, attempts=attempts, **edit)


async def async_add_finalizer(
    client: AsyncApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any]:  # fmt: skip
    """:func:`add_finalizer` for the asyncio client."""
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, True)
    return await async_update_with_retry(client, resource, name, attempts=attempts, **edit)


def remove_finalizer(
    client: ApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any] | None:  # fmt: skip
    """Make sure ``finalizer`` is not in the object's metadata.finalizers; the same mechanism as
    :func:`add_finalizer`. Returns the object as stored, or None when the object no longer exists (removing
    the last finalizer of an object being deleted lets the server delete it: the finalizer is gone either way)."""
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, False)
    try:
        return update_with_retry(client, resource, name, attempts=attempts, **edit)
    except NotFoundError:
        return None


async def async_remove_finalizer(
    client: AsyncApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any] | None:  # fmt: skip
    """:func:`remove_finalizer` for the asyncio client."""
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, False)
    try:
        return await async_update_with_retry(client, resource, name, attempts=attempts, **edit)
    except NotFoundError:
        return None
