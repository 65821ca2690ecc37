"""The informer's local cache: objects keyed ``namespace/name``, with indexers, safe across threads.

Writers are the informer alone; readers are any thread. Objects are handed out as read-only mappings
(top level): change one by sending an update to the API server, not by editing the cache.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

Obj = dict[str, Any]
Indexer = Callable[[Obj], Iterable[str]]


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def namespace_index(obj: Obj) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """A delete noticed only by a relist: ``obj`` is the last state we saw, not the final one."""

    key: str
    obj: Mapping[str, Any]


@dataclass(frozen=True)
class Diff:
    added: list[Mapping[str, Any]]
    updated: list[tuple[Mapping[str, Any], Mapping[str, Any]]]
    deleted: list[DeletedFinalStateUnknown]


def _rv(obj: Mapping[str, Any]) -> object:
    return (obj.get("metadata") or {}).get("resourceVersion")


class Store:
    def __init__(self, indexers: Mapping[str, Indexer] | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, Mapping[str, Any]] = {}
        self._indexers: dict[str, Indexer] = {"namespace": namespace_index, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
        self._update_indexed = False  # does an update have any index to maintain? (only user indexers do)
        self._note_indexers()

    def _note_indexers(self) -> None:
        self._update_indexed = any(indexer is not namespace_index for indexer in self._indexers.values())

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, key: str) -> Mapping[str, Any] | None:
        return self._items.get(key)

    def list(self) -> builtins.list[Mapping[str, Any]]:
        with self._lock:
            return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def by_index(self, index: str, value: str) -> builtins.list[Mapping[str, Any]]:
        with self._lock:
            if index not in self._indices:
                raise KeyError(f"no indexer named {index!r}; known: {', '.join(self._indices)}")
            return [self._items[k] for k in self._indices[index].get(value, ())]

    def index_values(self, index: str) -> builtins.list[str]:
        with self._lock:
            return [v for v, keys in self._indices[index].items() if keys]

    def add_indexer(self, name: str, indexer: Indexer) -> None:
        """Add an index, also over what is cached already (a consumer joining a shared informer late)."""
        with self._lock:
            if name in self._indexers:
                raise ValueError(f"an indexer named {name!r} exists already")
            self._indexers[name] = indexer
            self._indices[name] = {}
            self._note_indexers()
            for key, obj in self._items.items():
                for value in indexer(obj):  # type: ignore[arg-type]
                    self._indices[name].setdefault(value, set()).add(key)

    # -- writes (the informer's) -------------------------------------------------------------------------
    def _index(self, key: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        for name, indexer in self._indexers.items():
            if obj is not None and old is not None and indexer is namespace_index:
                continue  # same key, same namespace: the default index never changes on an update
            index = self._indices[name]
            old_values = indexer(old) if old is not None else ()  # type: ignore[arg-type]
            new_values = indexer(obj) if obj is not None else ()  # type: ignore[arg-type]
            if old_values == new_values:
                continue  # most updates leave every index value alone
            for value in old_values:
                index.get(value, set()).discard(key)
            for value in new_values:
                index.setdefault(value, set()).add(key)

    def upsert(self, obj: Obj) -> tuple[Mapping[str, Any] | None, Mapping[str, Any]]:
        """Store ``obj``; returns (old, new)."""
        key = object_key(obj)
        view: Mapping[str, Any] = MappingProxyType(obj)
        with self._lock:
            old = self._items.get(key)
            self._items[key] = view
            if old is None or self._update_indexed:
                self._index(key, view, old)
        return old, view

    def delete(self, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
        key = object_key(obj)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._index(key, None, old)
        return old

    def replace(self, objects: builtins.list[Obj]) -> Diff:
        """Swap in a complete set atomically and say what changed (adds, updates, deletes since last seen)."""
        fresh: dict[str, Mapping[str, Any]] = {object_key(o): MappingProxyType(o) for o in objects}
        with self._lock:
            previous = self._items
            added = [o for k, o in fresh.items() if k not in previous]
            updated = [(previous[k], o) for k, o in fresh.items() if k in previous and _rv(previous[k]) != _rv(o)]
            deleted = [DeletedFinalStateUnknown(k, o) for k, o in previous.items() if k not in fresh]
            self._items = dict(fresh)
            self._indices = {name: {} for name in self._indexers}
            for key, obj in self._items.items():
                self._index(key, obj, None)
        return Diff(added, updated, deleted)
