"""Object helpers a reconcile needs: get-or-create, update with retry on 409 Conflict, server-side apply,
finalizers and owner references; each one sans-I/O flow that a sync and an asyncio driver run.

```python
cm, created = get_or_create(client, CONFIGMAPS, {"metadata": {"name": "web", "namespace": "shop"}, "data": {}})
update_with_retry(client, CONFIGMAPS, "web", lambda cm: {**cm, "data": {"k": "v"}}, namespace="shop")
server_side_apply(client, CONFIGMAPS, desired, field_manager="example.com/my-controller")
add_finalizer(client, CONFIGMAPS, cm, "example.com/cleanup")
set_owner_reference(child, owner)  # pure: no request
```

The objects are plain JSON dicts, as the API server sends them. ``client`` is the SDK's
:func:`~incluster_sdk.api_client` (``async_`` twins: :func:`~incluster_sdk.async_api_client`); the
client's own retry rules (reads on blips, writes only when never sent) apply underneath. Every error these
helpers raise is an :class:`~incluster_sdk.errors.InclusterSDKError` whose message names the object and says what
to do (messages carry names, paths and the server's own text, never a credential), except a request that got no
answer (connection refused, reset, timeout) after the client's own retries: that propagates as the client
library raised it (``urllib3.exceptions.HTTPError`` for the sync client, ``aiohttp.ClientError`` or
``asyncio.TimeoutError`` for the asyncio one).
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
    """Return the object named by ``obj``'s metadata if it exists, else create ``obj``.

    An existing object is returned as it is, not compared with ``obj``: use :func:`update_with_retry` or
    :func:`server_side_apply` to converge it. One GET when it exists (no write: cheap in a steady state, and only
    ``get`` is needed then); GET + POST when it does not; a 409 AlreadyExists on the POST (another writer created it in
    between) reads it again and returns it with ``created`` False. An ``obj`` with only metadata.generateName (no name)
    is always created (one POST; the server picks the name).

    :param client: the SDK's sync client, from :func:`~incluster_sdk.api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``; whether it is namespaced
        decides whether ``obj`` needs a metadata.namespace.
    :param obj: the object to create when absent, a dict as the API server takes it
        (``{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"}, ...}``);
        its metadata.name (or metadata.generateName) and metadata.namespace name the object. Not modified.
    :returns: ``(object, created)``: the object as the server stored it (a dict), and True if this call created
        it, False if it existed already (or another writer created it in between).
    :raises ObjectError: before any request, when ``obj`` is not a dict, has no name (nor generateName) or a name
        that cannot be a URL path segment, or lacks a namespace for a namespaced resource.
    :raises NotFoundError: when the POST gets 404: the namespace does not exist.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant,
        ``get`` or ``create``), 422 (an invalid object), 429 or 5xx (an overloaded or failing API server).
    :raises urllib3.exceptions.HTTPError: when a request got no answer (connection refused, reset, timeout), after the
        client's own retries.
    """
    return drive(get_or_create_flow(resource, obj), calls.sender(client))


async def async_get_or_create(
    client: AsyncApiClient, resource: Resource, obj: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Return the object named by ``obj``'s metadata if it exists, else create ``obj``; the asyncio twin of
    :func:`get_or_create`.

    An existing object is returned as it is, not compared with ``obj``: use :func:`async_update_with_retry` or
    :func:`async_server_side_apply` to converge it. One GET when it exists (no write: cheap in a steady state, and only
    ``get`` is needed then); GET + POST when it does not; a 409 AlreadyExists on the POST (another writer created it in
    between) reads it again and returns it with ``created`` False. An ``obj`` with only metadata.generateName (no name)
    is always created (one POST; the server picks the name).

    :param client: the SDK's asyncio client, from :func:`~incluster_sdk.async_api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``; whether it is namespaced
        decides whether ``obj`` needs a metadata.namespace.
    :param obj: the object to create when absent, a dict as the API server takes it
        (``{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"}, ...}``);
        its metadata.name (or metadata.generateName) and metadata.namespace name the object. Not modified.
    :returns: ``(object, created)``: the object as the server stored it (a dict), and True if this call created
        it, False if it existed already (or another writer created it in between).
    :raises ObjectError: before any request, when ``obj`` is not a dict, has no name (nor generateName) or a name
        that cannot be a URL path segment, or lacks a namespace for a namespaced resource.
    :raises NotFoundError: when the POST gets 404: the namespace does not exist.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant,
        ``get`` or ``create``), 422 (an invalid object), 429 or 5xx (an overloaded or failing API server).
    :raises aiohttp.ClientError: when a request got no answer (connection refused, reset), after the client's
        own retries; a timeout may raise ``asyncio.TimeoutError`` instead.
    """
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
    """Read the object, ``mutate`` it and write it back; on 409 Conflict read it again and re-apply ``mutate``.

    client-go's ``retry.RetryOnConflict(retry.DefaultRetry, ...)`` around a Get, a mutation and an Update. Each
    try is a GET, ``mutate`` on a copy, and a PUT that carries the metadata.resourceVersion read (optimistic
    concurrency: the server refuses the PUT with 409 Conflict if anyone wrote in between). Only that 409 (Status
    reason ``Conflict``) starts another try, on a fresh read; every other error ends the call at once. No PUT is
    made when ``mutate`` returns None or the object unchanged. What ``mutate`` raises propagates, without a
    retry.

    :param client: the SDK's sync client, from :func:`~incluster_sdk.api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``.
    :param name: the object's metadata.name.
    :param mutate: called as ``mutate(obj) -> dict | None`` with a private deep copy of the object as read (a
        dict); returns the object to write (that dict edited, or a new one), or None for "no change". It runs
        once per try, so it must be a pure function of its argument. The PUT carries the resourceVersion
        read, whatever ``mutate`` set there; changing the name or namespace is refused.
    :param namespace: the object's namespace: required for a namespaced resource, ignored for a cluster-scoped
        one; None (default) gives none.
    :param attempts: tries in all, at least 1; default 5, client-go's ``retry.DefaultRetry`` ``Steps``.
    :param backoff: the wait between two tries, a tenacity wait strategy (``tenacity.wait.wait_base``, e.g.
        ``wait_exponential(multiplier=0.01)``, in seconds); default 10 ms plus a random 0-1 ms, client-go's
        ``retry.DefaultRetry`` (``Duration`` 10 ms, ``Factor`` 1.0: no growth, ``Jitter`` 0.1).
    :returns: the object as stored after the PUT (a dict), or as read when ``mutate`` changed nothing.
    :raises ObjectError: before any request, for a bad name or namespace or ``attempts`` < 1; or when ``mutate``
        returns something other than a dict or None, or changes the name or namespace.
    :raises NotFoundError: when the object (or its namespace) does not exist, at the GET or at the PUT.
    :raises ConflictError: when every try got 409 Conflict (other writers kept changing the object); its
        ``status`` is 409.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant,
        ``get`` or ``update``), 422 (e.g. an immutable field changed), 429 or 5xx (an overloaded or failing API server).
    :raises urllib3.exceptions.HTTPError: when a request got no answer (connection refused, reset, timeout), after the
        client's own retries.
    """
    retry, flow = update_retry(resource, name, namespace, mutate, attempts, backoff)
    perform = calls.sender(client)
    result: dict[str, Any] = Retrying(**retry)(lambda: drive(flow(), perform))
    return result


async def async_update_with_retry(
    client: AsyncApiClient, resource: Resource, name: str, mutate: Mutate, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS, backoff: wait_base = DEFAULT_CONFLICT_BACKOFF,
) -> dict[str, Any]:  # fmt: skip
    """Read the object, ``mutate`` it and write it back; on 409 Conflict read it again and re-apply ``mutate``;
    the asyncio twin of :func:`update_with_retry`.

    client-go's ``retry.RetryOnConflict(retry.DefaultRetry, ...)`` around a Get, a mutation and an Update. Each
    try is a GET, ``mutate`` on a copy, and a PUT that carries the metadata.resourceVersion read (optimistic
    concurrency: the server refuses the PUT with 409 Conflict if anyone wrote in between). Only that 409 (Status
    reason ``Conflict``) starts another try, on a fresh read; every other error ends the call at once. No PUT is
    made when ``mutate`` returns None or the object unchanged. What ``mutate`` raises propagates, without a
    retry.

    :param client: the SDK's asyncio client, from :func:`~incluster_sdk.async_api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``.
    :param name: the object's metadata.name.
    :param mutate: called as ``mutate(obj) -> dict | None`` with a private deep copy of the object as read (a dict);
        returns the object to write (that dict edited, or a new one), or None for "no change". It runs once per try, so
        it must be a pure function of its argument (a plain function, not a coroutine function). The PUT carries the
        resourceVersion read, whatever ``mutate`` set there; changing the name or namespace is refused.
    :param namespace: the object's namespace: required for a namespaced resource, ignored for a cluster-scoped
        one; None (default) gives none.
    :param attempts: tries in all, at least 1; default 5, client-go's ``retry.DefaultRetry`` ``Steps``.
    :param backoff: the wait between two tries, a tenacity wait strategy (``tenacity.wait.wait_base``, e.g.
        ``wait_exponential(multiplier=0.01)``, in seconds); default 10 ms plus a random 0-1 ms, client-go's
        ``retry.DefaultRetry`` (``Duration`` 10 ms, ``Factor`` 1.0: no growth, ``Jitter`` 0.1).
    :returns: the object as stored after the PUT (a dict), or as read when ``mutate`` changed nothing.
    :raises ObjectError: before any request, for a bad name or namespace or ``attempts`` < 1; or when ``mutate``
        returns something other than a dict or None, or changes the name or namespace.
    :raises NotFoundError: when the object (or its namespace) does not exist, at the GET or at the PUT.
    :raises ConflictError: when every try got 409 Conflict (other writers kept changing the object); its
        ``status`` is 409.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant,
        ``get`` or ``update``), 422 (e.g. an immutable field changed), 429 or 5xx (an overloaded or failing API server).
    :raises aiohttp.ClientError: when a request got no answer (connection refused, reset), after the client's
        own retries; a timeout may raise ``asyncio.TimeoutError`` instead.
    """
    retry, flow = update_retry(resource, name, namespace, mutate, attempts, backoff)
    result: dict[str, Any] = await AsyncRetrying(**retry)(_async_try, flow, calls.async_sender(client))
    return result


async def _async_try(flow: Callable[[], Flow], perform: Callable[[Call], Any]) -> Any:
    # a coroutine function, so that AsyncRetrying awaits each try (it calls a plain function as it is)
    return await async_drive(flow(), perform)


def server_side_apply(
    client: ApiClient, resource: Resource, obj: Mapping[str, Any], *, field_manager: str, force: bool = False
) -> dict[str, Any]:
    """Server-side apply ``obj``: create it or merge the fields it sets, owned by ``field_manager``.

    One PATCH of type ``application/apply-patch+yaml`` with ``?fieldManager=`` (and ``&force=true``): the
    server merges the fields ``obj`` sets into the stored object, creating it if absent, and records
    ``field_manager`` as their owner. Fields this manager set before and ``obj`` no longer sets are removed
    (unless another manager owns them too), so apply the full intent each time, under the same name.

    :param client: the SDK's sync client, from :func:`~incluster_sdk.api_client`.
    :param resource: the object's resource, e.g. ``Resource("apps/v1", "deployments")``.
    :param obj: the fully specified intent, a dict: apiVersion, kind, metadata.name (and metadata.namespace for
        a namespaced resource), and only the fields this manager owns, e.g.
        ``{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"},
        "data": {"k": "v"}}``. Sent as JSON (which is YAML); not modified.
    :param field_manager: the name the server records as the owner of the fields ``obj`` sets, e.g.
        ``"example.com/my-controller"``; required, with no default, because kube-apiserver refuses an apply
        without one. At most 128 bytes of UTF-8 (kube-apiserver's ``FieldManagerMaxLength``), printable
        characters only.
    :param force: True takes over fields that another manager owns (``force=true``, kubectl's
        ``--force-conflicts``); False (default, the API's default) fails with 409 Conflict instead. Kubernetes'
        server-side apply documentation recommends that controllers force on the objects they own.
    :returns: the object as stored (a dict).
    :raises ObjectError: before any request, for an invalid ``field_manager``, an ``obj`` without apiVersion,
        kind or name, or without a namespace for a namespaced resource.
    :raises ConflictError: on 409 Conflict without ``force``: another manager owns fields ``obj`` sets (the
        message lists the fields and their managers, from the server).
    :raises NotFoundError: when the namespace does not exist.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant:
        ``patch``), 422 (an invalid object), 429 or 5xx (an overloaded or failing API server).
    :raises urllib3.exceptions.HTTPError: when the request got no answer (connection refused, reset, timeout), after the
        client's own retries.
    """
    return drive(apply_flow(resource, obj, field_manager, force), calls.sender(client))


async def async_server_side_apply(
    client: AsyncApiClient, resource: Resource, obj: Mapping[str, Any], *, field_manager: str, force: bool = False
) -> dict[str, Any]:
    """Server-side apply ``obj``: create it or merge the fields it sets, owned by ``field_manager``; the
    asyncio twin of :func:`server_side_apply`.

    One PATCH of type ``application/apply-patch+yaml`` with ``?fieldManager=`` (and ``&force=true``): the
    server merges the fields ``obj`` sets into the stored object, creating it if absent, and records
    ``field_manager`` as their owner. Fields this manager set before and ``obj`` no longer sets are removed
    (unless another manager owns them too), so apply the full intent each time, under the same name.

    :param client: the SDK's asyncio client, from :func:`~incluster_sdk.async_api_client`.
    :param resource: the object's resource, e.g. ``Resource("apps/v1", "deployments")``.
    :param obj: the fully specified intent, a dict: apiVersion, kind, metadata.name (and metadata.namespace for
        a namespaced resource), and only the fields this manager owns, e.g.
        ``{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"},
        "data": {"k": "v"}}``. Sent as JSON (which is YAML); not modified.
    :param field_manager: the name the server records as the owner of the fields ``obj`` sets, e.g.
        ``"example.com/my-controller"``; required, with no default, because kube-apiserver refuses an apply
        without one. At most 128 bytes of UTF-8 (kube-apiserver's ``FieldManagerMaxLength``), printable
        characters only.
    :param force: True takes over fields that another manager owns (``force=true``, kubectl's
        ``--force-conflicts``); False (default, the API's default) fails with 409 Conflict instead. Kubernetes'
        server-side apply documentation recommends that controllers force on the objects they own.
    :returns: the object as stored (a dict).
    :raises ObjectError: before any request, for an invalid ``field_manager``, an ``obj`` without apiVersion,
        kind or name, or without a namespace for a namespaced resource.
    :raises ConflictError: on 409 Conflict without ``force``: another manager owns fields ``obj`` sets (the
        message lists the fields and their managers, from the server).
    :raises NotFoundError: when the namespace does not exist.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant:
        ``patch``), 422 (an invalid object), 429 or 5xx (an overloaded or failing API server).
    :raises aiohttp.ClientError: when the request got no answer (connection refused, reset), after the client's
        own retries; a timeout may raise ``asyncio.TimeoutError`` instead.
    """
    return await async_drive(apply_flow(resource, obj, field_manager, force), calls.async_sender(client))


def add_finalizer(
    client: ApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any]:  # fmt: skip
    """Make sure ``finalizer`` is in the object's metadata.finalizers, adding it if absent.

    Idempotent: when it is there already, one GET and no write. Conflict-safe: a read-modify-write that carries the
    resourceVersion, read again and re-applied on 409 (:func:`update_with_retry`), as controller-runtime users do with
    ``AddFinalizer`` + ``Update`` in ``RetryOnConflict``. A merge patch would replace the whole list (JSON merge patch
    has no list merge) and could drop another controller's finalizer added in between; a JSON patch with a test op is
    equally safe but no cheaper, so one mechanism serves both finalizer helpers and every update. Needs ``get`` and
    ``update`` on the resource.

    :param client: the SDK's sync client, from :func:`~incluster_sdk.api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``.
    :param obj_or_name: the object, a dict whose metadata.name and metadata.namespace are used (the object is
        read again, fresh), or its name.
    :param finalizer: the finalizer, ``PREFIX/NAME`` (e.g. ``"example.com/cleanup"``): a DNS-subdomain prefix,
        and 1-63 letters, digits, ``-``, ``_`` or ``.`` starting and ending alphanumeric (kube-apiserver's
        rules); unprefixed, only the standard ``kubernetes``, ``orphan`` and ``foregroundDeletion``.
    :param namespace: the object's namespace when ``obj_or_name`` is a name (required for a namespaced
        resource), or when the object's metadata has none; None (default) gives none.
    :param attempts: tries in all on 409 Conflict, at least 1, as :func:`update_with_retry`'s; default 5, client-go's
        ``retry.DefaultRetry`` ``Steps``, 10-11 ms apart.
    :returns: the object as stored (a dict): after the write, or as read when the finalizer was there already.
    :raises ObjectError: before any request, for an invalid finalizer, an object that is not a dict, or a
        missing name or namespace.
    :raises NotFoundError: when the object (or its namespace) does not exist.
    :raises ConflictError: when every try got 409 Conflict.
    :raises ObjectApiError: when the server refuses otherwise: 422 when the object is being deleted
        (kube-apiserver forbids new finalizers then), 403 (the message names the need to grant, ``get`` or
        ``update``), 429 or 5xx (an overloaded or failing API server).
    :raises urllib3.exceptions.HTTPError: when a request got no answer (connection refused, reset, timeout), after the
        client's own retries.
    """
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, True)
    return update_with_retry(client, resource, name, attempts=attempts, **edit)


async def async_add_finalizer(
    client: AsyncApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any]:  # fmt: skip
    """Make sure ``finalizer`` is in the object's metadata.finalizers, adding it if absent; the asyncio twin of
    :func:`add_finalizer`.

    Idempotent: when it is there already, one GET and no write. Conflict-safe: a read-modify-write that carries the
    resourceVersion, read again and re-applied on 409 (:func:`async_update_with_retry`), as controller-runtime users do
    with ``AddFinalizer`` + ``Update`` in ``RetryOnConflict``. A merge patch would replace the whole list (JSON merge
    patch has no list merge) and could drop another controller's finalizer added in between; a JSON patch with a test op
    is equally safe but no cheaper, so one mechanism serves both finalizer helpers and every update. Needs ``get`` and
    ``update`` on the resource.

    :param client: the SDK's asyncio client, from :func:`~incluster_sdk.async_api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``.
    :param obj_or_name: the object, a dict whose metadata.name and metadata.namespace are used (the object is
        read again, fresh), or its name.
    :param finalizer: the finalizer, ``PREFIX/NAME`` (e.g. ``"example.com/cleanup"``): a DNS-subdomain prefix,
        and 1-63 letters, digits, ``-``, ``_`` or ``.`` starting and ending alphanumeric (kube-apiserver's
        rules); unprefixed, only the standard ``kubernetes``, ``orphan`` and ``foregroundDeletion``.
    :param namespace: the object's namespace when ``obj_or_name`` is a name (required for a namespaced
        resource), or when the object's metadata has none; None (default) gives none.
    :param attempts: tries in all on 409 Conflict, at least 1, as :func:`async_update_with_retry`'s; default 5,
        client-go's ``retry.DefaultRetry`` ``Steps``, 10-11 ms apart.
    :returns: the object as stored (a dict): after the write, or as read when the finalizer was there already.
    :raises ObjectError: before any request, for an invalid finalizer, an object that is not a dict, or a
        missing name or namespace.
    :raises NotFoundError: when the object (or its namespace) does not exist.
    :raises ConflictError: when every try got 409 Conflict.
    :raises ObjectApiError: when the server refuses otherwise: 422 when the object is being deleted
        (kube-apiserver forbids new finalizers then), 403 (the message names the need to grant, ``get`` or
        ``update``), 429 or 5xx (an overloaded or failing API server).
    :raises aiohttp.ClientError: when a request got no answer (connection refused, reset), after the client's
        own retries; a timeout may raise ``asyncio.TimeoutError`` instead.
    """
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, True)
    return await async_update_with_retry(client, resource, name, attempts=attempts, **edit)


def remove_finalizer(
    client: ApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any] | None:  # fmt: skip
    """Make sure ``finalizer`` is not in the object's metadata.finalizers, removing it if present.

    The same mechanism as :func:`add_finalizer`: idempotent (when it is absent already, one GET and no write) and
    conflict-safe (a read-modify-write re-applied on 409). Removing the last finalizer of an object being
    deleted lets the server finish deleting it. Needs ``get`` and ``update`` on the resource.

    :param client: the SDK's sync client, from :func:`~incluster_sdk.api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``.
    :param obj_or_name: the object, a dict whose metadata.name and metadata.namespace are used (the object is
        read again, fresh), or its name.
    :param finalizer: the finalizer, ``PREFIX/NAME`` (e.g. ``"example.com/cleanup"``): a DNS-subdomain prefix,
        and 1-63 letters, digits, ``-``, ``_`` or ``.`` starting and ending alphanumeric (kube-apiserver's
        rules); unprefixed, only the standard ``kubernetes``, ``orphan`` and ``foregroundDeletion``.
    :param namespace: the object's namespace when ``obj_or_name`` is a name (required for a namespaced
        resource), or when the object's metadata has none; None (default) gives none.
    :param attempts: tries in all on 409 Conflict, at least 1, as :func:`update_with_retry`'s; default 5, client-go's
        ``retry.DefaultRetry`` ``Steps``, 10-11 ms apart.
    :returns: the object as stored (a dict): after the write, or as read when the finalizer was absent; None when
        the object does not exist (404 at the read or the write: the finalizer is gone either way).
    :raises ObjectError: before any request, for an invalid finalizer, an object that is not a dict, or a
        missing name or namespace.
    :raises ConflictError: when every try got 409 Conflict.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant,
        ``get`` or ``update``), 422, 429 or 5xx (an overloaded or failing API server).
    :raises urllib3.exceptions.HTTPError: when a request got no answer (connection refused, reset, timeout), after the
        client's own retries.
    """
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, False)
    try:
        return update_with_retry(client, resource, name, attempts=attempts, **edit)
    except NotFoundError:
        return None


async def async_remove_finalizer(
    client: AsyncApiClient, resource: Resource, obj_or_name: Mapping[str, Any] | str, finalizer: str, *,
    namespace: str | None = None, attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any] | None:  # fmt: skip
    """Make sure ``finalizer`` is not in the object's metadata.finalizers, removing it if present; the asyncio
    twin of :func:`remove_finalizer`.

    The same mechanism as :func:`async_add_finalizer`: idempotent (when it is absent already, one GET and no write) and
    conflict-safe (a read-modify-write re-applied on 409). Removing the last finalizer of an object being
    deleted lets the server finish deleting it. Needs ``get`` and ``update`` on the resource.

    :param client: the SDK's asyncio client, from :func:`~incluster_sdk.async_api_client`.
    :param resource: the object's resource, e.g. ``Resource("v1", "configmaps")``.
    :param obj_or_name: the object, a dict whose metadata.name and metadata.namespace are used (the object is
        read again, fresh), or its name.
    :param finalizer: the finalizer, ``PREFIX/NAME`` (e.g. ``"example.com/cleanup"``): a DNS-subdomain prefix,
        and 1-63 letters, digits, ``-``, ``_`` or ``.`` starting and ending alphanumeric (kube-apiserver's
        rules); unprefixed, only the standard ``kubernetes``, ``orphan`` and ``foregroundDeletion``.
    :param namespace: the object's namespace when ``obj_or_name`` is a name (required for a namespaced
        resource), or when the object's metadata has none; None (default) gives none.
    :param attempts: tries in all on 409 Conflict, at least 1, as :func:`async_update_with_retry`'s; default 5,
        client-go's ``retry.DefaultRetry`` ``Steps``, 10-11 ms apart.
    :returns: the object as stored (a dict): after the write, or as read when the finalizer was absent; None when
        the object does not exist (404 at the read or the write: the finalizer is gone either way).
    :raises ObjectError: before any request, for an invalid finalizer, an object that is not a dict, or a
        missing name or namespace.
    :raises ConflictError: when every try got 409 Conflict.
    :raises ObjectApiError: when the server refuses otherwise: 403 (the message names the need to grant,
        ``get`` or ``update``), 422, 429 or 5xx (an overloaded or failing API server).
    :raises aiohttp.ClientError: when a request got no answer (connection refused, reset), after the client's
        own retries; a timeout may raise ``asyncio.TimeoutError`` instead.
    """
    name, edit = finalizer_edit(resource, obj_or_name, finalizer, namespace, False)
    try:
        return await async_update_with_retry(client, resource, name, attempts=attempts, **edit)
    except NotFoundError:
        return None
