"""The object helpers' errors: a bad argument, or a refused request named with its object and the fix.

Every error is an :class:`~incluster_sdk.errors.InclusterSDKError`; messages carry names, paths and the
server's own text, never a credential.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import ApiError, InclusterSDKError

if TYPE_CHECKING:
    from .calls import ObjectRef

__all__ = [
    "AlreadyOwnedError",
    "ConflictError",
    "NotFoundError",
    "ObjectApiError",
    "ObjectError",
    "api_error",
    "status_of",
]


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


def status_of(data: bytes) -> tuple[str, str]:
    """(reason, message) of a ``Status`` answer; empty strings when the body is not one."""
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        body = orjson.loads(data)
        if isinstance(body, dict):
            return str(body.get("reason") or ""), str(body.get("message") or "")
    return "", ""


def _fix(status: int, verb: str, need_resource: str) -> str:
    if status == 401:
        return "the API server did not accept the credentials; check them with `incluster-sdk whoami`"
    if status == 403:
        return (
            f"this identity may not {verb} {need_resource}; grant it the need"
            f" '{verb}:{need_resource}' (incluster-sdk rbac ... {verb}:{need_resource})"
        )
    if status == 404:
        return "it does not exist (or its namespace does not)"
    if status == 422:
        return "the server refused the object as invalid; fix the fields named above"
    if status == 409:
        return "another writer changed or created it; read it again and retry"
    if status == 429 or status >= 500:
        return "the API server is overloaded or failing; try again later (a reconcile requeue does)"
    return ""


def api_error(
    verb: str, ref: ObjectRef, status: int, data: bytes, *, fix: str = "", rbac_verb: str | None = None
) -> ObjectApiError:
    """The error for a refused ``verb`` on ``ref``: the server's reason and message, and what to do about it
    (``rbac_verb``: the verb a 403 asks to grant, when it is not ``verb``)."""
    reason, message = status_of(data)
    fix = fix or _fix(status, rbac_verb or verb, ref.need_resource)
    text = f"{verb} {ref}: HTTP {status}{f' {reason}' if reason else ''}{f': {message}' if message else ''}"
    text += f"; {fix}" if fix else ""
    cls = (
        NotFoundError if status == 404 else ConflictError if status == 409 and reason == "Conflict" else ObjectApiError
    )
    return cls(text, status, reason)
