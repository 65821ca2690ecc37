"""Building the core/v1 Event about an object that client-go's recorder would send (no I/O): its
involvedObject reference, its name, its timestamps and type.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from .object_errors import ObjectError

__all__ = [
    "EVENT_TYPES",
    "NORMAL",
    "WARNING",
    "event_name",
    "make_event",
    "object_reference",
    "rfc3339",
    "wall_clock",
]

NORMAL = "Normal"
"""Event type ``"Normal"``: something expected happened (client-go's ``v1.EventTypeNormal``), e.g. an object
repaired or created. One of the two types the API defines (client-go ``util.ValidateEventType``)."""
WARNING = "Warning"
"""Event type ``"Warning"``: something may need a human's attention (client-go's ``v1.EventTypeWarning``), e.g. a
reconcile that failed. One of the two types the API defines (client-go ``util.ValidateEventType``)."""
EVENT_TYPES = frozenset({NORMAL, WARNING})
"""The event types a recorder accepts: ``{NORMAL, WARNING}``."""
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# -- times ----------------------------------------------------------------------------------------------------
def wall_clock() -> dt.datetime:
    """Return the time now, in UTC: the recorders' default clock, and what Events' timestamps are written in.

    :returns: a timezone-aware datetime in UTC.
    """
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(when: dt.datetime) -> str:
    """Format ``when`` in ``metav1.Time``'s wire form: RFC 3339 in UTC, whole seconds.

    :param when: a datetime; a naive one is taken as local time.
    :returns: e.g. ``"2024-05-01T12:00:00Z"`` (fractions of a second dropped).
    """
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix_nano(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000) * 1000


# -- building an Event (no I/O) -------------------------------------------------------------------------------
def object_reference(obj: Mapping[str, Any], field_path: str | None = None) -> dict[str, Any]:
    """Build the ``involvedObject`` of an Event about ``obj`` (client-go ``GetReference``).

    :param obj: an object as the API server sends it (apiVersion, kind, metadata), or already an
        ObjectReference as a dict (kind, apiVersion, name, namespace, uid, resourceVersion, fieldPath).
    :param field_path: the part of the object the event is about, e.g. ``"spec.containers{web}"``; None
        (default) keeps the reference's own fieldPath, if any.
    :returns: an ObjectReference as a dict, with only the keys that have a value.
    :raises ~incluster_sdk.controller.object_errors.ObjectError: when ``obj`` is not a mapping, or kind,
        apiVersion or name is missing (list items lack kind and apiVersion: set them).
    """
    if not isinstance(obj, Mapping):
        raise ObjectError(f"event: the object is a {type(obj).__name__}; pass the object (a dict) the event is about")
    if "metadata" in obj:
        metadata = obj.get("metadata") or {}
        ref = {
            "kind": obj.get("kind"),
            "apiVersion": obj.get("apiVersion"),
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        }
    else:
        keys = ("kind", "apiVersion", "name", "namespace", "uid", "resourceVersion", "fieldPath")
        ref = {key: obj.get(key) for key in keys}
    if field_path:
        ref["fieldPath"] = field_path
    missing = [key for key in ("kind", "apiVersion", "name") if not ref.get(key)]
    if missing:
        raise ObjectError(
            f"event about {ref.get('kind') or 'an object'} {ref.get('name')!r}: it has no {', '.join(missing)};"
            " pass the object as the API server or an informer gives it (list items lack kind/apiVersion: set them)"
        )
    return {key: value for key, value in ref.items() if value}


def event_name(ref_name: str, now: dt.datetime) -> str:
    """Make a new Event's name, as client-go's ``GenerateEventName``.

    :param ref_name: the name of the object the event is about.
    :param now: the event's time.
    :returns: ``<ref_name>.<unix time in nanoseconds, hex>``, or a random UUID when that is not a valid object
        name (a long or odd referenced name: issues.k8s.io/127594).
    """
    name = f"{ref_name}.{_unix_nano(now):x}"
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        name = str(uuid.uuid4())
    return name


def make_event(
    obj: Mapping[str, Any],
    event_type: str,
    reason: str,
    message: str,
    *,
    component: str,
    host: str | None = None,
    now: dt.datetime,
    field_path: str | None = None,
) -> dict[str, Any]:
    """Build the core/v1 Event client-go's recorder would send (``makeEvent``).

    In the object's namespace (``default`` for a cluster-scoped object), count 1, first and last timestamp
    ``now``, source and reporting component.

    :param obj: the object the event is about (see :func:`object_reference`).
    :param event_type: :data:`NORMAL` or :data:`WARNING`.
    :param reason: a short UpperCamelCase reason, e.g. ``"Repaired"``; non-empty.
    :param message: the text for humans, a str.
    :param component: source.component and reportingComponent: the reporting controller's name.
    :param host: source.host and reportingInstance (e.g. the pod name); None (default): no host, and an empty
        reportingInstance.
    :param now: the event's time (its name, firstTimestamp and lastTimestamp).
    :param field_path: the part of the object the event is about; None (default): none.
    :returns: the Event, a dict (``{"apiVersion": "v1", "kind": "Event", "metadata": {...}, "involvedObject":
        {...}, ...}``).
    :raises ~incluster_sdk.controller.object_errors.ObjectError: for a type other than ``Normal`` or ``Warning``,
        an empty or non-str reason, a non-str message, or an unusable object.
    """
    if event_type not in EVENT_TYPES:
        raise ObjectError(f"event type {event_type!r}: must be {NORMAL!r} or {WARNING!r} (client-go ValidateEventType)")
    if not isinstance(reason, str) or not reason:
        raise ObjectError(f"event reason {reason!r}: give a short UpperCamelCase reason, e.g. 'Repaired'")
    if not isinstance(message, str):
        raise ObjectError(f"event message {message!r}: a str, not {type(message).__name__}")
    ref = object_reference(obj, field_path)
    stamp = rfc3339(now)
    source = {"component": component, **({"host": host} if host else {})}
    event: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(ref["name"], now), "namespace": ref.get("namespace") or "default"},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": event_type,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }
    return event
