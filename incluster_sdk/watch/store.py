"""The informer's local cache: objects keyed ``namespace/name``, kept encoded, with indexers; every read decodes
a private copy.

Objects are stored as their JSON bytes (or compressed bytes, ``compress=True``), not as dicts. Three reasons,
each measured (docs/performance.md):

- Memory: a decoded pod takes about five times its JSON in dicts, lists and strings; its bytes take its JSON.
- CPython's cyclic garbage collector walks every dict and list alive at each full collection: a cache of dicts
  stalls every thread for a time that grows with the cache (over a second at 100,000 pods). Bytes are not
  containers; the collector never sees the cache.
- Read-only for real: every read (:meth:`Store.get`, :meth:`Store.list`, :meth:`Store.by_index`) returns a
  fresh dict, so no caller and no handler can change what the cache or another handler sees.

Decoding costs about a microsecond per 100 bytes of JSON on each read. Writers are the informer alone; readers
are any thread.
"""

from __future__ import annotations

import builtins
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

Obj = dict[str, Any]
Indexer = Callable[[Obj], Iterable[str]]

#: The default index: by namespace (derived from the key; cluster-scoped objects have none).
NAMESPACE_INDEX = "namespace"


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object (client-go's MetaNamespaceKeyFunc)."""
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


# -- how objects are kept ------------------------------------------------------------------------------------
class JsonCodec:
    """Objects as compact JSON (orjson)."""

    def encode(self, obj: Obj) -> bytes:
        # orjson's output buffer is over-allocated (about twice the JSON, measured): an exact copy halves
        # what each cached object costs.
        return bytes(memoryview(orjson.dumps(obj)))

    decode = staticmethod(orjson.loads)


#: Raw deflate with a 4 KiB window and a preset dictionary: the window holds one typical object, so each
#: object is compressed against the dictionary (one earlier object of the kind), not only against itself.
#: Measured on 2 KB pods: about 12 µs to compress and 4 µs to inflate one; 32 KiB windows cost 200 µs per
#: object to prime the dictionary, 2 KiB windows lose most of the gain.
WINDOW_BITS = -12
DICTIONARY_BYTES = 2**12
#: zlib level 1: nearly the ratio of the default level 6 here, at a fraction of the time.
COMPRESSION_LEVEL = 1
MEMORY_LEVEL = 4


class CompressedCodec:
    """Objects as JSON deflated against a dictionary: the first object encoded (objects of one kind share most
    of their keys and many values). About a tenth of the JSON for similar objects; reads cost a few µs more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compress: Any = None
        self._decompress: Any = None

    def _prime(self, sample: bytes) -> None:
        dictionary = sample[-DICTIONARY_BYTES:]
        self._compress = zlib.compressobj(
            COMPRESSION_LEVEL, zlib.DEFLATED, WINDOW_BITS, MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY, dictionary
        )
        self._decompress = zlib.decompressobj(WINDOW_BITS, zdict=dictionary)

    def encode(self, obj: Obj) -> bytes:
        data = orjson.dumps(obj)
        if self._compress is None:
            with self._lock:
                if self._compress is None:
                    self._prime(data)
        compressor = self._compress.copy()  # the dictionary, already primed: no cost per object
        return bytes(compressor.compress(data) + compressor.flush())

    def decode(self, data: bytes) -> Obj:
        inflater = self._decompress.copy()
        value: Obj = orjson.loads(inflater.decompress(data) + inflater.flush())
        return value


Codec = JsonCodec | CompressedCodec


class Store:
    """Objects by key (``namespace/name``; ``name`` for cluster-scoped ones), and indexes over them.

    Reads return fresh dicts (see the module docstring); ``namespace`` is always an index. ``compress``:
    keep objects deflated (:class:`CompressedCodec`) instead of as plain JSON.
    """

    def __init__(self, indexers: Mapping[str, Indexer] | None = None, *, compress: bool = False) -> None:
        self.codec: Codec = CompressedCodec() if compress else JsonCodec()
        self._lock = threading.RLock()
        self._items: dict[str, bytes] = {}
        # User indexers (the namespace index comes from the key), each with every key's values, so that an
        # update or delete need not decode the object it replaces. Every structure here holds only strings
        # (an index's keys are a dict with None values, not a set; one value is kept as itself, not in a
        # tuple): CPython's collector does not track such dicts, so it never walks the cache (measured: a set
        # per index value and a tuple per key made a full collection 20 ms longer at 100,000 objects).
        self._indexers: dict[str, Indexer] = {}
        self._values: dict[str, dict[str, str | tuple[str, ...]]] = {}
        self._indices: dict[str, dict[str, dict[str, None]]] = {NAMESPACE_INDEX: {}}
        for name, indexer in (indexers or {}).items():
            if name != NAMESPACE_INDEX or indexer is not namespace_index:
                self._add_indexer(name, indexer)

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, key: str) -> Obj | None:
        """A copy of the object at ``key`` (``namespace/name``, or ``name``), or None."""
        data = self._items.get(key)
        return None if data is None else self.codec.decode(data)

    def list(self) -> builtins.list[Obj]:
        """A copy of every object (decoding all of them: prefer :meth:`by_index` or :meth:`get`)."""
        with self._lock:
            encoded = builtins.list(self._items.values())
        decode = self.codec.decode
        return [decode(data) for data in encoded]

    def keys(self) -> builtins.list[str]:
        """Every key (``namespace/name``, or ``name`` for cluster-scoped objects)."""
        with self._lock:
            return builtins.list(self._items)

    def encoded(self) -> builtins.list[bytes]:
        """Every object as stored (decode with :attr:`codec`): the informer's resyncs and late handlers."""
        with self._lock:
            return builtins.list(self._items.values())

    def __len__(self) -> int:
        """How many objects are cached."""
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        """Copies of the objects whose ``index`` values include ``value``. Raises KeyError for an unknown index."""
        with self._lock:
            if index not in self._indices:
                raise KeyError(f"no indexer named {index!r}; known: {', '.join(self._indices)}")
            items = self._items
            encoded = [items[k] for k in self._indices[index].get(value, ())]
        decode = self.codec.decode
        return [decode(data) for data in encoded]

    def index_values(self, index: str) -> builtins.list[str]:
        """The values of ``index`` that some cached object has (every namespace with an object, for
        ``"namespace"``). Raises KeyError for an unknown index."""
        with self._lock:
            return [v for v, keys in self._indices[index].items() if keys]

    def add_indexer(self, name: str, indexer: Indexer) -> None:
        """Add an index, also over what is cached already (a consumer joining a shared informer late).
        Raises ValueError if an index of that name exists."""
        with self._lock:
            if name in self._indices:
                raise ValueError(f"an indexer named {name!r} exists already")
            self._add_indexer(name, indexer)
            decode = self.codec.decode
            for key, data in self._items.items():
                self._index_values(name, key, tuple(indexer(decode(data))))

    def _add_indexer(self, name: str, indexer: Indexer) -> None:
        self._indexers[name] = indexer
        self._values[name] = {}
        self._indices[name] = {}

    # -- writes (the informer's) -------------------------------------------------------------------------
    def put(self, key: str, obj: Obj, data: bytes) -> bytes | None:
        """Store ``data`` (``obj`` encoded by :attr:`codec`) at ``key``; ``obj`` feeds the indexers. Returns
        what was there (encoded), or None."""
        with self._lock:
            old = self._items.get(key)
            self._items[key] = data
            if old is None:
                namespace, slash, _ = key.partition("/")
                if slash:
                    self._indices[NAMESPACE_INDEX].setdefault(namespace, {})[key] = None
            for name, indexer in self._indexers.items():
                self._index_values(name, key, tuple(indexer(obj)))
        return old

    def remove(self, key: str) -> bytes | None:
        """Drop the object at ``key``; returns it (encoded), or None if there was none."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                namespace, slash, _ = key.partition("/")
                if slash:
                    self._indices[NAMESPACE_INDEX].get(namespace, {}).pop(key, None)
                for name in self._indexers:
                    self._index_values(name, key, ())
        return old

    def _index_values(self, name: str, key: str, values: tuple[str, ...]) -> None:
        known = self._values[name]
        packed = known.get(key, ())
        old = (packed,) if type(packed) is str else packed
        if old == values:
            return  # most updates leave every index value alone
        index = self._indices[name]
        for value in old:
            index.get(value, {}).pop(key, None)
        for value in values:
            index.setdefault(value, {})[key] = None
        if values:
            known[key] = values[0] if len(values) == 1 and type(values[0]) is str else values
        else:
            known.pop(key, None)

    # -- convenience writes over dicts (tests, fakes) ------------------------------------------------------
    def upsert(self, obj: Obj) -> tuple[Obj | None, Obj]:
        """Store ``obj``; returns copies of (old, new)."""
        data = self.codec.encode(obj)
        old = self.put(object_key(obj), obj, data)
        return (None if old is None else self.codec.decode(old)), self.codec.decode(data)

    def delete(self, obj: Mapping[str, Any]) -> Obj | None:
        """Drop the object with ``obj``'s key; returns a copy of what was there."""
        old = self.remove(object_key(obj))
        return None if old is None else self.codec.decode(old)

    def replace(self, objects: builtins.list[Obj]) -> Diff:
        """Make the cache exactly ``objects`` and say what changed (adds, updates, deletes since last seen)."""
        decode = self.codec.decode
        added: builtins.list[Mapping[str, Any]] = []
        updated: builtins.list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
        seen = set()
        for obj in objects:
            key, data = object_key(obj), self.codec.encode(obj)
            seen.add(key)
            old = self.put(key, obj, data)
            if old is None:
                added.append(decode(data))
            elif old != data:
                updated.append((decode(old), decode(data)))
        deleted = []
        for key in [k for k in self.keys() if k not in seen]:
            old = self.remove(key)
            if old is not None:
                deleted.append(DeletedFinalStateUnknown(key, decode(old)))
        return Diff(added, updated, deleted)
