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
    """An object or argument the helpers cannot use; raised before any request.

    For example: no name, a namespaced resource without a namespace, an invalid finalizer or field manager, an
    owner reference Kubernetes would refuse, an invalid event. The message names the object and the fix. Also a
    ``ValueError``; constructed as ``ObjectError(message)``.
    """


class AlreadyOwnedError(ObjectError):
    """The object already has a different controller owner; an object has at most one (controller-runtime's
    ``AlreadyOwnedError``).

    Raised by :func:`~incluster_sdk.controller.owners.set_owner_reference` with ``controller=True``; an
    :class:`ObjectError`.

    :param message: what happened and the fix, naming the object and its current controller.
    :param owner: the existing controller reference, an ownerReferences entry as a dict
        (``{"apiVersion": ..., "kind": ..., "name": ..., "uid": ..., "controller": True, ...}``); kept as
        :attr:`owner`.
    """

    def __init__(self, message: str, owner: dict[str, Any]) -> None:
        super().__init__(message)
        self.owner = owner
        """The object's existing controller reference (an ownerReferences entry, a dict)."""


class ObjectApiError(ApiError):
    """The API server refused a request on an object; the message names the request, the object, the server's
    reason and message, and what to do (e.g. the RBAC need to grant for a 403).

    An :class:`~incluster_sdk.errors.ApiError`; :class:`NotFoundError` and :class:`ConflictError` are the two
    cases a caller usually handles apart.

    :param message: the error text, ``"<verb> <object>: HTTP <status> <reason>: <server message>; <fix>"``.
    :param status: the HTTP status of the answer (e.g. 403, 422); kept as ``status``.
    :param reason: the answer's ``Status.reason`` (e.g. ``Forbidden``, ``Invalid``, ``AlreadyExists``,
        ``Conflict``); "" (default) when the answer was not a ``Status``. Kept as :attr:`reason`.
    """

    def __init__(self, message: str, status: int, reason: str = "") -> None:
        super().__init__(message, status)
        self.reason = reason
        """The answer's ``Status.reason`` (e.g. ``Forbidden``, ``Invalid``), or "" when it had none."""


class NotFoundError(ObjectApiError):
    """404: the object (or its namespace) does not exist.

    :param message: the error text, naming the request and the object.
    :param status: the HTTP status, 404.
    :param reason: the answer's ``Status.reason``, usually ``NotFound``; "" (default) when it had none.
    """


class ConflictError(ObjectApiError):
    """409 Conflict: another writer changed the object between our read and our write, or (server-side apply)
    another field manager owns fields the apply sets.

    :func:`~incluster_sdk.controller.objects.update_with_retry` and the finalizer helpers raise it when every try
    conflicted; :func:`~incluster_sdk.controller.objects.server_side_apply` on a field conflict without
    ``force``.

    :param message: the error text, naming the object (for an apply, the fields and their managers).
    :param status: the HTTP status, 409.
    :param reason: the answer's ``Status.reason``, ``Conflict``; "" (default) when it had none.
    """


def status_of(data: bytes) -> tuple[str, str]:
    """Read the reason and message of a ``Status`` answer from the API server.

    :param data: an answer's body, bytes (JSON; kube-apiserver sends a ``Status`` object with an error status).
    :returns: ``(reason, message)``: the body's ``reason`` and ``message`` fields as str, each "" when absent;
        ``("", "")`` when the body is not a JSON object.
    """
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
    """Build the error for a refused ``verb`` on ``ref``: the server's reason and message, and what to do about it.

    :param verb: the operation as the message names it (``get``, ``create``, ``update``, ``apply``...); also the
        verb a 403's fix asks to grant, unless ``rbac_verb`` is given.
    :param ref: the object the request was about (its resource, name and namespace).
    :param status: the HTTP status of the answer.
    :param data: the answer's body, bytes (a JSON ``Status``, or anything).
    :param fix: what to do, appended to the message; "" (default) gives the SDK's advice for the status (401:
        check the credentials; 403: the need to grant; 404, 409, 422, 429 and 5xx: what they mean), or none.
    :param rbac_verb: the verb a 403's fix asks to grant when it is not ``verb`` (an apply needs ``patch``);
        None (default): ``verb``.
    :returns: the error, not raised: a :class:`NotFoundError` for 404, a :class:`ConflictError` for 409 with
        reason ``Conflict``, else an :class:`ObjectApiError`; its message is
        ``"<verb> <object>: HTTP <status> <reason>: <server message>; <fix>"``.
    """
    reason, message = status_of(data)
    fix = fix or _fix(status, rbac_verb or verb, ref.need_resource)
    text = f"{verb} {ref}: HTTP {status}{f' {reason}' if reason else ''}{f': {message}' if message else ''}"
    text += f"; {fix}" if fix else ""
    cls = (
        NotFoundError if status == 404 else ConflictError if status == 409 and reason == "Conflict" else ObjectApiError
    )
    return cls(text, status, reason)
