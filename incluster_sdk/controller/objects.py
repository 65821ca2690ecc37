"""Object helpers a reconcile needs: get-or-create, update with retry on 409 Conflict, server-side apply,
finalizers and owner references; each a generator flow run by a sync and an asyncio driver.

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

import contextlib
import copy
import re
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_fixed, wait_random

from .. import rest
from ..errors import ApiError, InclusterSDKError
from ..flows import async_drive, drive
from ..resource import Resource

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient
    from ..client import ApiClient

__all__ = [
    "CONFLICT_RETRY_STEPS",
    "DEFAULT_CONFLICT_BACKOFF",
    "FIELD_MANAGER_MAX_LENGTH",
    "AlreadyOwnedError",
    "Call",
    "ConflictError",
    "NotFoundError",
    "ObjectApiError",
    "ObjectError",
    "Mutate",
    "add_finalizer",
    "async_send",
    "async_add_finalizer",
    "async_get_or_create",
    "async_remove_finalizer",
    "async_server_side_apply",
    "async_update_with_retry",
    "get_or_create",
    "remove_finalizer",
    "send",
    "server_side_apply",
    "set_owner_reference",
    "update_with_retry",
    "validate_field_manager",
    "validate_finalizer_name",
]

JSON = "application/json"
#: Server-side apply's media type (JSON is valid YAML, so the body is JSON). The charset parameter is not
#: decoration: kube-apiserver strips everything after ";" (handlers/patch.go), while the kubernetes client
#: libraries only pass a pre-serialised body through unchanged when the type is not exactly this string
#: (kubernetes 30 and kubernetes_asyncio JSON-encode the bytes again, or refuse them).
APPLY_PATCH = "application/apply-patch+yaml; charset=utf-8"

#: client-go ``util/retry.DefaultRetry`` (util/retry/util.go): ``wait.Backoff{Steps: 5, Duration: 10ms,
#: Factor: 1.0, Jitter: 0.1}``, "the recommended retry for a conflict where multiple clients are making
#: changes to the same resource". Five tries in all...
CONFLICT_RETRY_STEPS = 5
#: ...about 10 ms apart: ``wait.Jitter(10ms, 0.1)`` is 10 ms plus up to 10 % (so between 10 and 11 ms), and
#: Factor 1.0 means no growth. Conflicts between cooperating writers resolve in one re-read; the jitter keeps
#: two writers that collided from re-colliding in lock step.
DEFAULT_CONFLICT_BACKOFF: wait_base = wait_fixed(0.010) + wait_random(0, 0.010 * 0.1)

#: kube-apiserver's ``FieldManagerMaxLength`` (apimachinery meta/v1/validation): 128 bytes.
FIELD_MANAGER_MAX_LENGTH = 128
#: Finalizers without a "/" that kube-apiserver accepts on built-in kinds (IsStandardFinalizerName).
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")  # apimachinery qualifiedNameFmt
_QUALIFIED_NAME_MAX = 63
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_SUBDOMAIN_MAX = 253

#: ``mutate(obj)``: the object as read (a private copy); returns the object to write, or None for "no change".
Mutate = Callable[[dict[str, Any]], "dict[str, Any] | None"]


# -- errors ---------------------------------------------------------------------------------------------------
class ObjectError(InclusterSDKError, ValueError):
    """An object or argument the helpers cannot use (no name, a namespaced resource without a namespace, an
    invalid finalizer or field manager, an owner reference Kubernetes would refuse); raised before any request."""


class AlreadyOwnedError(ObjectError):
    """The object already has a different controller owner; an object has at most one (controller-runtime's
    ``AlreadyOwnedError``). ``owner`` is that existing reference."""

    def __init__(self, message: str, owner: dict[str, Any]) -> None:
        super().__init__(message)
        self.owner = owner


class ObjectApiError(ApiError):
    """The API server refused a request on an object. ``status`` is the HTTP status, ``reason`` the
    ``Status.reason`` (e.g. ``Forbidden``, ``Invalid``, ``AlreadyExists``, ``Conflict``) or ""."""

    def __init__(self, message: str, status: int, reason: str = "") -> None:
        super().__init__(message, status)
        self.reason = reason


class NotFoundError(ObjectApiError):
    """404: the object (or its namespace) does not exist."""


class ConflictError(ObjectApiError):
    """409 Conflict on every try: other writers kept changing the object between our read and our write."""


# -- requests (no I/O) ----------------------------------------------------------------------------------------
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


def _metadata(obj: Any, what: str) -> dict[str, Any]:
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
    metadata = _metadata(obj, resource.plural)
    return object_ref(resource, metadata.get("name"), metadata.get("namespace") or namespace)


def _status_of(data: bytes) -> tuple[str, str]:
    """(reason, message) of a ``Status`` answer; empty strings when the body is not one."""
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        body = orjson.loads(data)
        if isinstance(body, dict):
            return str(body.get("reason") or ""), str(body.get("message") or "")
    return "", ""


def api_error(
    verb: str, ref: ObjectRef, status: int, data: bytes, *, fix: str = "", rbac_verb: str | None = None
) -> ObjectApiError:
    """The error for a refused ``verb`` on ``ref``: the server's reason and message, and what to do about it
    (``rbac_verb``: the verb a 403 asks to grant, when it is not ``verb``)."""
    reason, message = _status_of(data)
    verb_needed = rbac_verb or verb
    if not fix:
        if status == 401:
            fix = "the API server did not accept the credentials; check them with `incluster-sdk whoami`"
        elif status == 403:
            fix = (
                f"this identity may not {verb_needed} {ref.need_resource}; grant it the need"
                f" '{verb_needed}:{ref.need_resource}' (incluster-sdk rbac ... {verb_needed}:{ref.need_resource})"
            )
        elif status == 404:
            fix = "it does not exist (or its namespace does not)"
        elif status == 422:
            fix = "the server refused the object as invalid; fix the fields named above"
        elif status == 409:
            fix = "another writer changed or created it; read it again and retry"
        elif status == 429 or status >= 500:
            fix = "the API server is overloaded or failing; try again later (a reconcile requeue does)"
    text = f"{verb} {ref}: HTTP {status}{f' {reason}' if reason else ''}{f': {message}' if message else ''}"
    text += f"; {fix}" if fix else ""
    cls = (
        NotFoundError if status == 404 else ConflictError if status == 409 and reason == "Conflict" else ObjectApiError
    )
    return cls(text, status, reason)


def _decoded(verb: str, ref: ObjectRef, status: int, data: bytes) -> dict[str, Any]:
    try:
        return rest.decode_object(status, data, f"{verb} {ref}")
    except ApiError as exc:
        raise ObjectApiError(str(exc), exc.status) from None


# -- get-or-create --------------------------------------------------------------------------------------------
def get_or_create_flow(
    resource: Resource, obj: Mapping[str, Any]
) -> Generator[Call, Answer, tuple[dict[str, Any], bool]]:
    """GET the object; if absent POST ``obj``; a 409 AlreadyExists (someone created it in between) reads it."""
    metadata = _metadata(obj, resource.plural)
    if not metadata.get("name") and metadata.get("generateName"):
        # no name to read: the server makes one up, so every call creates
        ref = object_ref(resource, metadata["generateName"], metadata.get("namespace"), what="create")
        status, data = yield Call("POST", ref.collection, dict(obj))
        if status not in (200, 201, 202):
            raise api_error("create", ref, status, data)
        return _decoded("create", ref, status, data), True
    ref = ref_of(resource, obj)
    status, data = yield Call("GET", ref.path)
    if status == 200:
        return _decoded("get", ref, status, data), False
    if status != 404:
        raise api_error("get", ref, status, data)
    status, data = yield Call("POST", ref.collection, dict(obj))
    if status in (200, 201, 202):
        return _decoded("create", ref, status, data), True
    if status == 409 and _status_of(data)[0] == "AlreadyExists":
        status, data = yield Call("GET", ref.path)
        if status == 200:
            return _decoded("get", ref, status, data), False
        raise api_error("get", ref, status, data)
    raise api_error("create", ref, status, data)


# -- update with retry on conflict ----------------------------------------------------------------------------
def update_attempt_flow(
    resource: Resource, name: str, namespace: str | None, mutate: Mutate
) -> Generator[Call, Answer, dict[str, Any]]:
    """One try: GET, ``mutate`` a copy, PUT with the resourceVersion read (optimistic concurrency). No write
    when ``mutate`` returns None or the object unchanged. Raises :class:`ConflictError` on 409 (the driver
    retries the whole try), :class:`NotFoundError` when the object is gone."""
    ref = object_ref(resource, name, namespace)
    status, data = yield Call("GET", ref.path)
    if status != 200:
        raise api_error("get", ref, status, data)
    current = _decoded("get", ref, status, data)
    desired = mutate(copy.deepcopy(current))
    if desired is None or desired == current:
        return current
    if not isinstance(desired, dict):
        raise ObjectError(
            f"update {ref}: mutate returned a {type(desired).__name__}; return the object (a dict) or None"
        )
    metadata = dict(_metadata(desired, f"update {ref}"))
    if metadata.get("name", ref.name) != ref.name or (
        ref.namespace and metadata.get("namespace", ref.namespace) != ref.namespace
    ):
        raise ObjectError(f"update {ref}: mutate changed the name or namespace; an update cannot move an object")
    # the version we read, whatever mutate did with it: a 409 then means someone wrote in between
    metadata["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
    desired = {**desired, "metadata": metadata}
    status, data = yield Call("PUT", ref.path, desired)
    if status == 200:
        return _decoded("update", ref, status, data)
    raise api_error("update", ref, status, data)


def _conflict_retry(ref: ObjectRef, attempts: int, backoff: wait_base) -> dict[str, Any]:
    """tenacity's arguments for the conflict loop, shared by both drivers: retry only ConflictError, ``attempts``
    tries in all, ``backoff`` between them; when the last try conflicts too, a ConflictError that says so."""
    if attempts < 1:
        raise ObjectError(
            f"update {ref}: attempts={attempts}; at least 1 (default {CONFLICT_RETRY_STEPS}, client-go's)"
        )

    def give_up(state: RetryCallState) -> Any:
        last = state.outcome.exception() if state.outcome is not None else None
        status = last.status if isinstance(last, ObjectApiError) else 409
        raise ConflictError(
            f"update {ref}: HTTP 409 Conflict on each of {state.attempt_number} tries: other writers keep changing"
            " it between our read and our write; retry later (a reconcile requeue does) or pass attempts= higher",
            status,
            "Conflict",
        ) from last

    return {
        "retry": retry_if_exception_type(ConflictError),
        "stop": stop_after_attempt(attempts),
        "wait": backoff,
        "retry_error_callback": give_up,
    }


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
    ref = object_ref(resource, name, namespace)
    send = _sender(client)
    for attempt in Retrying(**_conflict_retry(ref, attempts, backoff)):
        with attempt:
            result = drive(update_attempt_flow(resource, name, namespace, mutate), send)
    return result


async def async_update_with_retry(
    client: AsyncApiClient,
    resource: Resource,
    name: str,
    mutate: Mutate,
    *,
    namespace: str | None = None,
    attempts: int = CONFLICT_RETRY_STEPS,
    backoff: wait_base = DEFAULT_CONFLICT_BACKOFF,
) -> dict[str, Any]:
    """:func:`update_with_retry` for the asyncio client (``mutate`` is a plain function)."""
    ref = object_ref(resource, name, namespace)
    send = _async_sender(client)
    async for attempt in AsyncRetrying(**_conflict_retry(ref, attempts, backoff)):
        with attempt:
            result = await async_drive(update_attempt_flow(resource, name, namespace, mutate), send)
    return result


# -- server-side apply ----------------------------------------------------------------------------------------
def validate_field_manager(field_manager: Any) -> str:
    """``field_manager`` as kube-apiserver checks it for an apply patch (ValidatePatchOptions,
    ValidateFieldManager): required (non-empty), at most 128 bytes (UTF-8), printable characters only.
    Raises :class:`ObjectError` naming the rule."""
    if not isinstance(field_manager, str) or not field_manager:
        raise ObjectError(
            f"field_manager={field_manager!r}: server-side apply needs a field manager, the name your controller"
            " owns its fields under (e.g. 'example.com/my-controller'); kube-apiserver requires it for apply"
        )
    if len(field_manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        raise ObjectError(
            f"field_manager={field_manager[:40]!r}...: {len(field_manager.encode())} bytes; kube-apiserver allows"
            f" at most {FIELD_MANAGER_MAX_LENGTH}: use a shorter name"
        )
    for position, char in enumerate(field_manager):
        if not char.isprintable():
            raise ObjectError(
                f"field_manager={field_manager!r}: invalid character {char!r} (U+{ord(char):04X}) at position"
                f" {position}; kube-apiserver allows printable characters only"
            )
    return field_manager


def apply_flow(
    resource: Resource, obj: Mapping[str, Any], field_manager: str, force: bool
) -> Generator[Call, Answer, dict[str, Any]]:
    """One PATCH of type apply with ``fieldManager`` (and ``force=true`` when asked)."""
    validate_field_manager(field_manager)
    ref = ref_of(resource, obj)
    for key in ("apiVersion", "kind"):
        if not obj.get(key):
            raise ObjectError(f"apply {ref}: the object has no {key}; server-side apply needs apiVersion and kind")
    query = {"fieldManager": field_manager, **({"force": "true"} if force else {})}
    body = orjson.dumps(dict(obj))  # JSON is YAML: sent as is (see APPLY_PATCH)
    status, data = yield Call("PATCH", f"{ref.path}?{urllib.parse.urlencode(query)}", body, APPLY_PATCH)
    if status in (200, 201):
        return _decoded("apply", ref, status, data)
    fix = ""
    if status == 409:
        fix = (
            "another field manager owns fields this apply sets (listed above); drop them from the object, or pass"
            " force=True to take them over (controllers that own the object usually do)"
        )
    raise api_error("apply", ref, status, data, fix=fix, rbac_verb="patch")


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
    return drive(apply_flow(resource, obj, field_manager, force), _sender(client))


async def async_server_side_apply(
    client: AsyncApiClient, resource: Resource, obj: Mapping[str, Any], *, field_manager: str, force: bool = False
) -> dict[str, Any]:
    """:func:`server_side_apply` for the asyncio client."""
    return await async_drive(apply_flow(resource, obj, field_manager, force), _async_sender(client))


# -- finalizers -----------------------------------------------------------------------------------------------
def validate_finalizer_name(finalizer: Any) -> str:
    """``finalizer`` as kube-apiserver checks it (apimachinery ValidateFinalizerName: a qualified name, i.e. an
    optional DNS-subdomain prefix and "/", then 1-63 of ``[A-Za-z0-9_.-]`` starting and ending alphanumeric).
    A name without a prefix is refused too unless it is a standard one (kubernetes, orphan,
    foregroundDeletion): kube-apiserver refuses those on built-in kinds and warns on custom resources.
    Raises :class:`ObjectError` naming the rule."""
    example = "use a domain you own as prefix, e.g. 'example.com/cleanup'"
    if not isinstance(finalizer, str) or not finalizer:
        raise ObjectError(f"finalizer={finalizer!r}: empty; {example}")
    parts = finalizer.split("/")
    if len(parts) > 2:
        raise ObjectError(f"finalizer={finalizer!r}: more than one '/'; a finalizer is PREFIX/NAME, {example}")
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix or len(prefix) > _DNS1123_SUBDOMAIN_MAX or not _DNS1123_SUBDOMAIN.match(prefix):
            raise ObjectError(
                f"finalizer={finalizer!r}: the prefix {prefix!r} is not a DNS subdomain (lower-case letters, digits,"
                f" '-' and '.', at most {_DNS1123_SUBDOMAIN_MAX} characters); {example}"
            )
    elif name not in STANDARD_FINALIZERS:
        raise ObjectError(
            f"finalizer={finalizer!r}: not fully qualified; kube-apiserver refuses unprefixed finalizers on built-in"
            f" kinds (other than {', '.join(sorted(STANDARD_FINALIZERS))}) and warns on custom resources; {example}"
        )
    if not name or len(name) > _QUALIFIED_NAME_MAX or not _QUALIFIED_NAME.match(name):
        raise ObjectError(
            f"finalizer={finalizer!r}: the name part {name!r} must be 1-{_QUALIFIED_NAME_MAX} characters of"
            " letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    return finalizer


def _finalizer_target(resource: Resource, obj_or_name: Any, namespace: str | None) -> tuple[str, str | None]:
    if isinstance(obj_or_name, str):
        return obj_or_name, namespace
    metadata = _metadata(obj_or_name, resource.plural)
    ref = object_ref(resource, metadata.get("name"), metadata.get("namespace") or namespace)
    return ref.name, ref.namespace


def _with_finalizer(finalizer: str, present: bool) -> Mutate:
    def mutate(obj: dict[str, Any]) -> dict[str, Any] | None:
        metadata = obj.setdefault("metadata", {})
        finalizers = list(metadata.get("finalizers") or [])
        if (finalizer in finalizers) == present:
            return None  # already so: no write
        metadata["finalizers"] = [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
        return obj

    return mutate


def add_finalizer(
    client: ApiClient,
    resource: Resource,
    obj_or_name: Mapping[str, Any] | str,
    finalizer: str,
    *,
    namespace: str | None = None,
    attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any]:
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
    validate_finalizer_name(finalizer)
    name, ns = _finalizer_target(resource, obj_or_name, namespace)
    return update_with_retry(client, resource, name, _with_finalizer(finalizer, True), namespace=ns, attempts=attempts)


async def async_add_finalizer(
    client: AsyncApiClient,
    resource: Resource,
    obj_or_name: Mapping[str, Any] | str,
    finalizer: str,
    *,
    namespace: str | None = None,
    attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any]:
    """:func:`add_finalizer` for the asyncio client."""
    validate_finalizer_name(finalizer)
    name, ns = _finalizer_target(resource, obj_or_name, namespace)
    return await async_update_with_retry(
        client, resource, name, _with_finalizer(finalizer, True), namespace=ns, attempts=attempts
    )


def remove_finalizer(
    client: ApiClient,
    resource: Resource,
    obj_or_name: Mapping[str, Any] | str,
    finalizer: str,
    *,
    namespace: str | None = None,
    attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any] | None:
    """Make sure ``finalizer`` is not in the object's metadata.finalizers; the same mechanism as
    :func:`add_finalizer`. Returns the object as stored, or None when the object no longer exists (removing
    the last finalizer of an object being deleted lets the server delete it: the finalizer is gone either way)."""
    validate_finalizer_name(finalizer)
    name, ns = _finalizer_target(resource, obj_or_name, namespace)
    try:
        return update_with_retry(
            client, resource, name, _with_finalizer(finalizer, False), namespace=ns, attempts=attempts
        )
    except NotFoundError:
        return None


async def async_remove_finalizer(
    client: AsyncApiClient,
    resource: Resource,
    obj_or_name: Mapping[str, Any] | str,
    finalizer: str,
    *,
    namespace: str | None = None,
    attempts: int = CONFLICT_RETRY_STEPS,
) -> dict[str, Any] | None:
    """:func:`remove_finalizer` for the asyncio client."""
    validate_finalizer_name(finalizer)
    name, ns = _finalizer_target(resource, obj_or_name, namespace)
    try:
        return await async_update_with_retry(
            client, resource, name, _with_finalizer(finalizer, False), namespace=ns, attempts=attempts
        )
    except NotFoundError:
        return None


# -- owner references (pure) ----------------------------------------------------------------------------------
def _group(api_version: Any) -> str | None:
    if not isinstance(api_version, str) or not api_version or api_version.count("/") > 1:
        return None  # schema.ParseGroupVersion fails: never the same object
    return api_version.rpartition("/")[0]


def _same_owner(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """controller-runtime ``referSameObject``: same API group (any version), kind and name; or the same UID."""
    if a.get("uid") and a.get("uid") == b.get("uid"):
        return True
    group_a, group_b = _group(a.get("apiVersion")), _group(b.get("apiVersion"))
    return (
        group_a is not None and group_a == group_b and a.get("kind") == b.get("kind") and a.get("name") == b.get("name")
    )


def _describe(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    where = f"{metadata.get('namespace')}/" if metadata.get("namespace") else ""
    return f"{obj.get('kind') or 'object'} {where}{metadata.get('name') or metadata.get('generateName') or '?'}"


def set_owner_reference(
    obj: dict[str, Any], owner: Mapping[str, Any], *, controller: bool = True, block_owner_deletion: bool = True
) -> None:
    """Add ``owner`` to ``obj``'s metadata.ownerReferences, in place; no request (write ``obj`` afterwards).

    controller-runtime's ``SetControllerReference`` (``controller=True``, the default) and ``SetOwnerReference``
    (``controller=False``). ``owner`` is the owning object as read from the server (it needs apiVersion, kind,
    metadata.name and metadata.uid). A reference to the same owner (same API group, kind and name, or the same
    uid) is replaced in place, so calling this again is harmless and a re-created owner's new uid is taken.
    ``block_owner_deletion``: with foreground deletion the owner waits for this object (controller-runtime's
    default, True); the writer then needs the ``update`` permission on the owner's ``finalizers`` subresource
    where the OwnerReferencesPermissionEnforcement admission plugin is on.

    Raises :class:`AlreadyOwnedError` when ``obj`` already has a different controller (an object has at most one),
    :class:`ObjectError` for a cross-namespace owner, a namespaced owner of a cluster-scoped object (the garbage
    collector would treat either as absent and delete ``obj``), or an owner without uid/name/kind/apiVersion.
    """
    what = f"set owner of {_describe(obj)}"
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise ObjectError(f"{what}: metadata is a {type(metadata).__name__}, not a dict")
    owner_meta = _metadata(owner, what)
    missing = [key for key in ("apiVersion", "kind") if not owner.get(key)]
    missing += [f"metadata.{key}" for key in ("name", "uid") if not owner_meta.get(key)]
    if missing:
        raise ObjectError(
            f"{what}: the owner has no {', '.join(missing)}; pass the owner as read from the API server (the uid is"
            " assigned on create)"
        )
    owner_ns, obj_ns = owner_meta.get("namespace") or "", metadata.get("namespace") or ""
    if owner_ns and not obj_ns:
        raise ObjectError(
            f"{what}: a cluster-scoped object cannot have a namespaced owner ({_describe(owner)}); the garbage"
            " collector would not find the owner and would delete it. Use a cluster-scoped owner"
        )
    if owner_ns and owner_ns != obj_ns:
        raise ObjectError(
            f"{what}: cross-namespace owner references are disallowed (owner in {owner_ns!r}, object in {obj_ns!r});"
            " the owner must be in the object's namespace or cluster-scoped"
        )
    ref: dict[str, Any] = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner_meta["name"],
        "uid": owner_meta["uid"],
    }
    if controller:
        ref["controller"] = True
    if block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    references = [dict(r) for r in metadata.get("ownerReferences") or []]
    if controller:
        existing = next((r for r in references if r.get("controller")), None)
        if existing is not None and not _same_owner(existing, ref):
            raise AlreadyOwnedError(
                f"{what}: it is already controlled by {existing.get('kind')} {existing.get('name')!r}"
                f" (uid {existing.get('uid')}); an object has at most one controller. Remove that reference first,"
                " or pass controller=False to add a non-controlling owner",
                existing,
            )
    for index, existing in enumerate(references):
        if _same_owner(existing, ref):
            references[index] = ref
            break
    else:
        references.append(ref)
    metadata["ownerReferences"] = references


# -- drivers --------------------------------------------------------------------------------------------------
def _headers(content_type: str) -> dict[str, str]:
    return {"Accept": JSON, "Content-Type": content_type}


def send(client: ApiClient, call: Call, *, retry: bool = True) -> Answer:
    """Send one :class:`Call` with the sync client: JSON calls through :func:`incluster_sdk.rest.request`; other
    media types (patches) the same way with their Content-Type (rest.request always sends application/json).
    ``retry=False``: skip the client's retries of transient failures (the caller has its own loop)."""
    if call.content_type == JSON:
        return rest.request(client, call.method, call.path, call.body, retry=retry)
    from kubernetes.client.exceptions import ApiException

    try:
        response = client.call_api(
            call.method,
            f"{client.configuration.host}{call.path}",
            _headers(call.content_type),
            call.body,
            _request_timeout=rest.REQUEST_TIMEOUT,
            _incluster_retry=retry,
        )
    except ApiException as exc:  # kubernetes < 37 raises non-2xx answers
        data = exc.body
        return exc.status or 0, data if isinstance(data, bytes) else str(data or "").encode()
    response.read()
    return int(response.status), bytes(response.data or b"")


async def async_send(client: AsyncApiClient, call: Call, *, retry: bool = True) -> Answer:
    """:func:`send` for the asyncio client."""
    if call.content_type == JSON:
        return await rest.async_request(client, call.method, call.path, call.body, retry=retry)
    from kubernetes_asyncio.client.exceptions import ApiException

    try:
        response = await client.request(
            call.method,
            f"{client.configuration.host}{call.path}",
            headers=_headers(call.content_type),
            body=call.body,
            _preload_content=False,
            _request_timeout=rest.REQUEST_TIMEOUT,
            _incluster_retry=retry,
        )
    except ApiException as exc:
        data = exc.body
        return exc.status or 0, data if isinstance(data, bytes) else str(data or "").encode()
    try:
        return int(response.status), bytes(await response.read())
    finally:
        response.release()


def _sender(client: ApiClient) -> Callable[[Call], Answer]:
    return lambda call: send(client, call)


def _async_sender(client: AsyncApiClient) -> Callable[[Call], Any]:
    return lambda call: async_send(client, call)


def get_or_create(client: ApiClient, resource: Resource, obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The object named by ``obj``'s metadata (name, namespace) if it exists, else ``obj`` created:
    ``(object as stored, created)``. An existing object is returned as it is (not compared with ``obj``: use
    :func:`update_with_retry` or :func:`server_side_apply` to converge it).

    One GET when it exists (no write: cheap in a steady state, and only ``get`` is needed then); GET + POST when
    it does not; a 409 AlreadyExists on the POST (another writer created it in between) reads it again and
    returns it with ``created=False``. ``obj`` with only metadata.generateName is always created (POST).

    Raises :class:`ObjectError` for an object without a name, or a namespaced resource without a namespace
    (before any request); :class:`ObjectApiError` when the server refuses (403 names the need to grant)."""
    return drive(get_or_create_flow(resource, obj), _sender(client))


async def async_get_or_create(
    client: AsyncApiClient, resource: Resource, obj: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """:func:`get_or_create` for the asyncio client."""
    return await async_drive(get_or_create_flow(resource, obj), _async_sender(client))
