"""Transforms that shrink what the informer's cache keeps: each runs on an object before it is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Transform = Callable[[dict[str, Any]], dict[str, Any]]

#: kubectl's copy of the whole last applied manifest: often as large as the object itself.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A transform that drops ``metadata.managedFields`` (often a third of an object's size)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def compact(obj: dict[str, Any]) -> dict[str, Any]:
    """A transform that drops what an app never reads: ``managedFields`` and kubectl's
    last-applied-configuration annotation. For the lightest cache, use ``metadata_only=True``."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and annotations.pop(LAST_APPLIED, None) is not None and not annotations:
            del meta["annotations"]
    return obj
