"""The object helpers' flows, without I/O: get-or-create, one update try, server-side apply, the conflict loop's
rules and the finalizer edits; :mod:`.objects` drives them with the sync or the asyncio client.

Each flow yields a :class:`~.calls.Call` and receives ``(HTTP status, body bytes)``; what it returns is what
the helper returns, and what it raises is the helper's error (:mod:`.object_errors`).
"""

from __future__ import annotations

import copy
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from typing import Any

import orjson
from tenacity import RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_fixed, wait_random

from ..resource import Resource
from .calls import Answer, Call, ObjectRef, decoded, metadata_of, object_ref, ref_of
from .object_errors import ConflictError, ObjectApiError, ObjectError, api_error, status_of
from .validation import validate_field_manager, validate_finalizer_name

__all__ = [
    "APPLY_PATCH",
    "CONFLICT_RETRY_STEPS",
    "DEFAULT_CONFLICT_BACKOFF",
    "Flow",
    "Mutate",
    "apply_flow",
    "conflict_retry",
    "finalizer_edit",
    "get_or_create_flow",
    "update_attempt_flow",
    "update_retry",
]

APPLY_PATCH = "application/apply-patch+yaml; charset=utf-8"
"""Server-side apply's media type (JSON is valid YAML, so the body is JSON). The charset parameter is not
decoration: kube-apiserver strips everything after ";" (handlers/patch.go), while the kubernetes client
libraries only pass a pre-serialised body through unchanged when the type is not exactly
``application/apply-patch+yaml`` (kubernetes 30 and kubernetes_asyncio JSON-encode the bytes again, or refuse
them)."""

CONFLICT_RETRY_STEPS = 5
"""Tries in all (each a GET and a PUT) before an update gives up on 409 Conflict: 5, client-go's
``util/retry.DefaultRetry`` (util/retry/util.go) ``wait.Backoff{Steps: 5, Duration: 10ms, Factor: 1.0, Jitter:
0.1}``, "the recommended retry for a conflict where multiple clients are making changes to the same resource"."""
DEFAULT_CONFLICT_BACKOFF: wait_base = wait_fixed(0.010) + wait_random(0, 0.010 * 0.1)
"""The wait between two update tries, a tenacity wait: 10 ms plus a random 0-1 ms, client-go's
``retry.DefaultRetry`` (``wait.Jitter(10ms, 0.1)`` is 10 ms plus up to 10 %; ``Factor`` 1.0 means no growth).
Conflicts between cooperating writers resolve in one re-read; the jitter keeps two writers that collided from
re-colliding in lock step."""

Mutate = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""The type of an update's ``mutate``: called as ``mutate(obj)`` with the object as read (a private deep copy,
a dict); returns the object to write, or None for "no change"."""
Flow = Generator[Call, Answer, Any]
"""A flow of one helper: yields :class:`~.calls.Call` s, receives ``(HTTP status, body bytes)`` for each, and
returns what the helper returns."""


# -- the flows (no I/O) ---------------------------------------------------------------------------------------
def get_or_create_flow(
    resource: Resource, obj: Mapping[str, Any]
) -> Generator[Call, Answer, tuple[dict[str, Any], bool]]:
    """GET the object; if absent POST ``obj``; a 409 AlreadyExists (someone created it in between) reads it."""
    metadata = metadata_of(obj, resource.plural)
    if not metadata.get("name") and metadata.get("generateName"):
        # no name to read: the server makes one up, so every call creates
        ref = object_ref(resource, metadata["generateName"], metadata.get("namespace"), what="create")
        status, data = yield Call("POST", ref.collection, dict(obj))
        if status not in (200, 201, 202):
            raise api_error("create", ref, status, data)
        return decoded("create", ref, status, data), True
    ref = ref_of(resource, obj)
    status, data = yield Call("GET", ref.path)
    if status == 200:
        return decoded("get", ref, status, data), False
    if status != 404:
        raise api_error("get", ref, status, data)
    status, data = yield Call("POST", ref.collection, dict(obj))
    if status in (200, 201, 202):
        return decoded("create", ref, status, data), True
    if status == 409 and status_of(data)[0] == "AlreadyExists":
        status, data = yield Call("GET", ref.path)
        if status == 200:
            return decoded("get", ref, status, data), False
        raise api_error("get", ref, status, data)
    raise api_error("create", ref, status, data)


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
    current = decoded("get", ref, status, data)
    desired = mutate(copy.deepcopy(current))
    if desired is None or desired == current:
        return current
    if not isinstance(desired, dict):
        raise ObjectError(
            f"update {ref}: mutate returned a {type(desired).__name__}; return the object (a dict) or None"
        )
    metadata = dict(metadata_of(desired, f"update {ref}"))
    if metadata.get("name", ref.name) != ref.name or (
        ref.namespace and metadata.get("namespace", ref.namespace) != ref.namespace
    ):
        raise ObjectError(f"update {ref}: mutate changed the name or namespace; an update cannot move an object")
    # the version we read, whatever mutate did with it: a 409 then means someone wrote in between
    metadata["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
    desired = {**desired, "metadata": metadata}
    status, data = yield Call("PUT", ref.path, desired)
    if status == 200:
        return decoded("update", ref, status, data)
    raise api_error("update", ref, status, data)


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
        return decoded("apply", ref, status, data)
    fix = ""
    if status == 409:
        fix = (
            "another field manager owns fields this apply sets (listed above); drop them from the object, or pass"
            " force=True to take them over (controllers that own the object usually do)"
        )
    raise api_error("apply", ref, status, data, fix=fix, rbac_verb="patch")


# -- the conflict loop, for both drivers - ----------------------------------------------------------------------
def conflict_retry(ref: ObjectRef, attempts: int, backoff: wait_base) -> dict[str, Any]:
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


def update_retry(
    resource: Resource, name: str, namespace: str | None, mutate: Mutate, attempts: int, backoff: wait_base
) -> tuple[dict[str, Any], Callable[[], Flow]]:
    """For both update drivers: tenacity's arguments, and a fresh :func:`update_attempt_flow` for each try."""
    retry = conflict_retry(object_ref(resource, name, namespace), attempts, backoff)
    return retry, lambda: update_attempt_flow(resource, name, namespace, mutate)


# -- finalizers -----------------------------------------------------------------------------------------------
def _with_finalizer(finalizer: str, present: bool) -> Mutate:
    def mutate(obj: dict[str, Any]) -> dict[str, Any] | None:
        metadata = obj.setdefault("metadata", {})
        finalizers = list(metadata.get("finalizers") or [])
        if (finalizer in finalizers) == present:
            return None  # already so: no write
        metadata["finalizers"] = [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
        return obj

    return mutate


def finalizer_edit(
    resource: Resource, obj_or_name: Any, finalizer: str, namespace: str | None, present: bool
) -> tuple[str, dict[str, Any]]:
    """The finalizer helpers' common part, before any request: the finalizer checked, the object's name, and
    :func:`update_with_retry`'s keywords (namespace and the ``mutate`` that adds or removes it)."""
    validate_finalizer_name(finalizer)
    if isinstance(obj_or_name, str):
        name, ns = obj_or_name, namespace
    else:
        metadata = metadata_of(obj_or_name, resource.plural)
        ref = object_ref(resource, metadata.get("name"), metadata.get("namespace") or namespace)
        name, ns = ref.name, ref.namespace
    return name, {"mutate": _with_finalizer(finalizer, present), "namespace": ns}
