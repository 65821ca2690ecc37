"""Applying the watch machine's events to the store and turning them into handler calls.

Shared by the threaded and the asyncio informer: only how a handler call is delivered differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .machine import Applied, Deleted, Event, Restarted
from .store import Store

Transform = Callable[[dict[str, Any]], dict[str, Any]]
Dispatch = Callable[..., None]  # dispatch(kind, *args) with kind "add" | "update" | "delete"


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A transform that drops ``metadata.managedFields`` (often a third of an object's size)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


#: kubectl's copy of the whole last applied manifest: often as large as the object itself.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


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


class CacheApplier:
    def __init__(self, store: Store, transform: Transform | None, dispatch: Dispatch) -> None:
        self.store = store
        self.transform = transform
        self.dispatch = dispatch
        self.synced = False

    def apply(self, events: list[Event]) -> bool:
        """Apply ``events``; returns True when this call completed the first sync."""
        first_sync = False
        for event in events:
            if isinstance(event, Applied):  # the common case first
                previous, current = self.store.upsert(self.transform(event.obj) if self.transform else event.obj)
                if previous is None:
                    self.dispatch("add", current, False)
                else:
                    self.dispatch("update", previous, current)
            elif isinstance(event, Deleted):
                self.store.delete(event.obj)
                self.dispatch("delete", event.obj)
            elif isinstance(event, Restarted):
                objects = [self.transform(o) for o in event.objects] if self.transform else event.objects
                diff = self.store.replace(objects)
                for obj in diff.added:
                    self.dispatch("add", obj, not self.synced)
                for old, new in diff.updated:
                    self.dispatch("update", old, new)
                for tombstone in diff.deleted:
                    self.dispatch("delete", tombstone)
                first_sync = first_sync or not self.synced
                self.synced = True
        return first_sync
