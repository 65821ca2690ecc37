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

NAMESPACE_INDEX = "namespace"
"""The index every store has: by namespace (derived from the key; cluster-scoped objects have none)."""


def object_key(obj: Mapping[str, Any]) -> str:
    """The store key of an object, as client-go's ``MetaNamespaceKeyFunc`` makes it.

    :param obj: a Kubernetes object as a dict (``{"metadata": {"namespace": ..., "name": ...}, ...}``).
    :returns: ``namespace/name``, or the bare ``name`` for an object without a namespace (cluster-scoped);
        ``"None"`` if ``metadata.name`` is missing.
    """
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def namespace_index(obj: Obj) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """A delete noticed only by a relist, handed to ``on_delete`` instead of the object (client-go's
    ``DeletedFinalStateUnknown``): the watch missed the DELETED event, so the object's final state is unknown.

    Handlers get it when a relist (after a 410 or a dropped watch) no longer has an object the cache had.

    :param key: the object's store key: ``namespace/name``, or ``name`` for a cluster-scoped object.
    :param obj: the object's last state that the cache held, as a dict (the handler's own copy), not
        necessarily its state when it was deleted.
    """

    key: str
    obj: Mapping[str, Any]


@dataclass(frozen=True)
class Diff:
    added: list[Mapping[str, Any]]
    updated: list[tuple[Mapping[str, Any], Mapping[str, Any]]]
    deleted: list[DeletedFinalStateUnknown]


# -- how objects are kept ------------------------------------------------------------------------------------
class JsonCodec:
    """Objects as compact JSON (orjson): how a :class:`Store` keeps objects by default (``compress=False``)."""

    def encode(self, obj: Obj) -> bytes:
        """Encode one object for the store.

        :param obj: a Kubernetes object as a dict.
        :returns: its compact JSON, UTF-8.
        :raises TypeError: if ``obj`` holds something JSON cannot represent (orjson's ``JSONEncodeError``).
        """
        # orjson's output buffer is over-allocated (about twice the JSON, measured): an exact copy halves
        # what each cached object costs.
        return bytes(memoryview(orjson.dumps(obj)))

    decode = staticmethod(orjson.loads)
    """``decode(data) -> dict``: a stored object (what :meth:`encode` returned) as a fresh dict; changing it
    changes nothing in the store. ``orjson.loads`` itself (no wrapper: every read and handler call decodes);
    raises ``orjson.JSONDecodeError`` (a ValueError) if ``data`` is not JSON."""


WINDOW_BITS = -12
"""zlib ``wbits``: raw deflate with a 4 KiB window and a preset dictionary. The window holds one typical
object, so each object is compressed against the dictionary (one earlier object of the kind), not only against
itself. Measured on 2 KB pods: about 12 µs to compress and 4 µs to inflate one; 32 KiB windows cost 200 µs per
object to prime the dictionary, 2 KiB windows lose most of the gain."""
DICTIONARY_BYTES = 2**12
"""The preset dictionary's size in bytes (4 KiB, the window): the last 4 KiB of the first object's JSON."""
COMPRESSION_LEVEL = 1
"""zlib level 1: nearly the ratio of the default level 6 here, at a fraction of the time."""
MEMORY_LEVEL = 4
"""zlib ``memLevel`` (1-9, zlib's default 8): less memory per compressor, enough for one object."""


class CompressedCodec:
    """Objects as JSON deflated against a dictionary: the first object encoded (objects of one kind share most
    of their keys and many values). About a tenth of the JSON for similar objects; reads cost a few µs more.

    How a :class:`Store` keeps objects with ``compress=True``. One codec per store: its dictionary is primed by
    the first :meth:`encode`, and only the same codec can decode what it encoded. Thread-safe.
    """

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
        """Encode one object for the store (the first call primes the dictionary with this object's JSON).

        :param obj: a Kubernetes object as a dict.
        :returns: its JSON, raw-deflated against the dictionary.
        :raises TypeError: if ``obj`` holds something JSON cannot represent (orjson's ``JSONEncodeError``).
        """
        data = orjson.dumps(obj)
        if self._compress is None:
            with self._lock:
                if self._compress is None:
                    self._prime(data)
        compressor = self._compress.copy()  # the dictionary, already primed: no cost per object
        return bytes(compressor.compress(data) + compressor.flush())

    def decode(self, data: bytes) -> Obj:
        """Decode one stored object into a new dict.

        :param data: what this codec's :meth:`encode` returned (a codec that has encoded nothing has no
            dictionary and cannot decode).
        :returns: a fresh dict: changing it changes nothing in the store.
        :raises zlib.error: if ``data`` is not this codec's deflate output.
        """
        inflater = self._decompress.copy()
        value: Obj = orjson.loads(inflater.decompress(data) + inflater.flush())
        return value


Codec = JsonCodec | CompressedCodec


class Store:
    """An informer's cache: objects by key, and indexes over them (``informer.store``).

    Keys are ``namespace/name``, or the bare ``name`` for cluster-scoped objects (:func:`object_key`). Objects
    are Kubernetes objects as dicts, as the API server sends them (after the informer's ``transform``). Every
    read returns fresh copies, decoded from the stored bytes: changing one changes neither the cache nor what
    anyone else reads (change objects through the API server). Reads are safe from any thread; the informer is
    the only writer of its store (the write methods are for it, and for tests and fakes).

    :param indexers: extra indexes, name → function called as ``fn(obj) -> Iterable[str]`` on each object
        stored, returning its values in that index (e.g. ``{"node": lambda pod: [pod["spec"].get("nodeName")
        or ""]}``); default None: only the ``namespace`` index, which every store has. An indexer must not
        raise.
    :param compress: keep objects deflated (:class:`CompressedCodec`, about a tenth of their JSON for objects
        of one kind; each read a few µs slower) instead of as plain JSON (:class:`JsonCodec`). Default False.
    """

    def __init__(self, indexers: Mapping[str, Indexer] | None = None, *, compress: bool = False) -> None:
        self.codec: Codec = CompressedCodec() if compress else JsonCodec()
        """How objects are kept: :class:`JsonCodec`, or :class:`CompressedCodec` with ``compress=True``;
        ``codec.decode(data)`` turns what :meth:`encoded` returns into a dict."""
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
        """Read one object.

        :param key: ``namespace/name``, or the bare ``name`` for a cluster-scoped object.
        :returns: a fresh copy of the object (a dict) at ``key``, or None if none is cached; changing it does not
            change the cache.
        """
        data = self._items.get(key)
        return None if data is None else self.codec.decode(data)

    def list(self) -> builtins.list[Obj]:
        """Read every object (decoding all of them: in a hot loop, prefer :meth:`by_index` or :meth:`get`).

        :returns: fresh copies of all cached objects (dicts), in the order they were first cached; changing
            them does not change the cache.
        """
        with self._lock:
            encoded = builtins.list(self._items.values())
        decode = self.codec.decode
        return [decode(data) for data in encoded]

    def keys(self) -> builtins.list[str]:
        """List the keys of the cached objects (nothing is decoded).

        :returns: every key, ``namespace/name`` or the bare ``name`` for cluster-scoped objects, in the order the
            objects were first cached; a new list.
        """
        with self._lock:
            return builtins.list(self._items)

    def encoded(self) -> builtins.list[bytes]:
        """Read every object as stored, undecoded (the informer's resyncs and late handlers use it).

        :returns: one ``bytes`` per cached object, in :attr:`codec`'s format (``codec.decode(data)`` gives the
            dict); a new list.
        """
        with self._lock:
            return builtins.list(self._items.values())

    def __len__(self) -> int:
        """How many objects are cached."""
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        """True if an object is cached at ``key`` (``namespace/name``, or ``name``): ``"ns/web-0" in store``."""
        return key in self._items

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        """Read the objects whose values in an index include ``value``.

        :param index: the index's name: ``"namespace"``, or one given in ``indexers`` or :meth:`add_indexer`.
        :param value: the value to look up (for ``"namespace"``, a namespace name).
        :returns: fresh copies of the matching objects (dicts), an empty list if none; changing them does not
            change the cache.
        :raises KeyError: if no index is named ``index``.
        """
        with self._lock:
            if index not in self._indices:
                raise KeyError(f"no indexer named {index!r}; known: {', '.join(self._indices)}")
            items = self._items
            encoded = [items[k] for k in self._indices[index].get(value, ())]
        decode = self.codec.decode
        return [decode(data) for data in encoded]

    def index_values(self, index: str) -> builtins.list[str]:
        """List the values an index has: those that some cached object has.

        :param index: the index's name: ``"namespace"``, or one given in ``indexers`` or :meth:`add_indexer`.
        :returns: each value at least one cached object has in ``index`` (for ``"namespace"``, every namespace
            with a cached object); a new list.
        :raises KeyError: if no index is named ``index``.
        """
        with self._lock:
            return [v for v, keys in self._indices[index].items() if keys]

    def add_indexer(self, name: str, indexer: Indexer) -> None:
        """Add an index, built over what is cached already too (a consumer joining a shared informer late).

        :param name: the index's name, for :meth:`by_index` and :meth:`index_values`.
        :param indexer: called as ``fn(obj) -> Iterable[str]`` on each object (a dict), returning its values in
            the index. It must not raise: an exception here propagates and leaves the index half built; in the
            informer, it is logged and the watch restarts.
        :raises ValueError: if an index named ``name`` exists (``"namespace"`` always does).
        """
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
        """Store one object already encoded: the informer's write (apps do not write an informer's store).

        :param key: ``namespace/name``, or the bare ``name`` for a cluster-scoped object (:func:`object_key`).
        :param obj: the object as a dict: given to the indexers, not kept.
        :param data: ``obj`` encoded by this store's :attr:`codec`: what is kept.
        :returns: what was stored at ``key`` before (encoded, in :attr:`codec`'s format), or None.
        :raises Exception: what an indexer raises; the store is then unchanged.
        """
        with self._lock:
            # every index value first: an indexer that raises leaves the store as it was
            values = [(name, tuple(indexer(obj))) for name, indexer in self._indexers.items()]
            old = self._items.get(key)
            self._items[key] = data
            if old is None:
                namespace, slash, _ = key.partition("/")
                if slash:
                    self._indices[NAMESPACE_INDEX].setdefault(namespace, {})[key] = None
            for name, indexed in values:
                self._index_values(name, key, indexed)
        return old

    def remove(self, key: str) -> bytes | None:
        """Drop one object: the informer's write (apps do not write an informer's store).

        :param key: ``namespace/name``, or the bare ``name`` for a cluster-scoped object.
        :returns: what was stored at ``key`` (encoded, in :attr:`codec`'s format), or None if nothing was.
        """
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
        """Store an object at its key (:func:`object_key`), for tests and fakes.

        :param obj: a Kubernetes object as a dict, with ``metadata.name`` (and ``metadata.namespace`` if
            namespaced); the store keeps its encoding, not ``obj``.
        :returns: ``(old, new)``: fresh copies of what was stored at the key before (None if nothing) and of
            what is stored now.
        """
        data = self.codec.encode(obj)
        old = self.put(object_key(obj), obj, data)
        return (None if old is None else self.codec.decode(old)), self.codec.decode(data)

    def delete(self, obj: Mapping[str, Any]) -> Obj | None:
        """Drop the object with ``obj``'s key (:func:`object_key`), for tests and fakes.

        :param obj: an object as a dict; only ``metadata.namespace`` and ``metadata.name`` are read.
        :returns: a fresh copy of what was stored at that key, or None if nothing was.
        """
        old = self.remove(object_key(obj))
        return None if old is None else self.codec.decode(old)

    def replace(self, objects: builtins.list[Obj]) -> Diff:
        """Make the cache exactly ``objects`` and say what changed since last seen, for tests and fakes.

        :param objects: Kubernetes objects as dicts: the whole collection.
        :returns: a ``Diff`` with three lists of fresh copies: ``added`` (objects new to the cache),
            ``updated`` (``(old, new)`` pairs whose stored encoding changed) and ``deleted``
            (:class:`DeletedFinalStateUnknown` for each key no longer in ``objects``).
        """
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
