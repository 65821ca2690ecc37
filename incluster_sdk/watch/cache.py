"""Transforms that shrink what the informer's cache keeps: each runs on an object before it is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Transform = Callable[[dict[str, Any]], dict[str, Any]]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""kubectl's copy of the whole last applied manifest: often as large as the object itself."""


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop ``metadata.managedFields`` (often a third of an object's size): the informers' default ``transform``.

    :param obj: a Kubernetes object as a dict, as the API server sends it (``{"metadata": {...}, ...}``); changed
        in place.
    :returns: ``obj`` itself, without ``metadata.managedFields`` (unchanged if it has none or no ``metadata``).
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def compact(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what an app never reads: ``metadata.managedFields`` and kubectl's last-applied-configuration
    annotation (``transform=compact``). For the lightest cache, use ``metadata_only=True``.

    :param obj: a Kubernetes object as a dict, as the API server sends it (``{"metadata": {...}, ...}``); changed
        in place.
    :returns: ``obj`` itself, without ``metadata.managedFields`` and the
        ``kubectl.kubernetes.io/last-applied-configuration`` annotation (and without ``metadata.annotations``
        if that was its only annotation).
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and annotations.pop(LAST_APPLIED, None) is not None and not annotations:
            del meta["annotations"]
    return obj
