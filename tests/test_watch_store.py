from __future__ import annotations

from typing import Any

import pytest

from incluster_sdk.watch.store import DeletedFinalStateUnknown, Store


def pod(name: str, rv: str, ns: str = "ns", node: str = "n1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}, "spec": {"nodeName": node}}


def test_replace_diffs_adds_updates_and_tombstones() -> None:
    store = Store()
    store.replace([pod("a", "1"), pod("b", "1"), pod("c", "1")])
    diff = store.replace([pod("a", "1"), pod("b", "2"), pod("d", "1")])
    assert [o["metadata"]["name"] for o in diff.added] == ["d"]
    assert [(o["metadata"]["resourceVersion"], n["metadata"]["resourceVersion"]) for o, n in diff.updated] == [
        ("1", "2")
    ]
    assert diff.deleted == [DeletedFinalStateUnknown("ns/c", diff.deleted[0].obj)]
    assert sorted(store.keys()) == ["ns/a", "ns/b", "ns/d"]


def test_indexers_follow_updates_and_deletes() -> None:
    store = Store(indexers={"node": lambda o: [o["spec"]["nodeName"]]})
    store.upsert(pod("a", "1", node="n1"))
    store.upsert(pod("b", "1", ns="other", node="n1"))
    assert sorted(o["metadata"]["name"] for o in store.by_index("node", "n1")) == ["a", "b"]
    assert [o["metadata"]["name"] for o in store.by_index("namespace", "other")] == ["b"]
    store.upsert(pod("a", "2", node="n2"))
    assert [o["metadata"]["name"] for o in store.by_index("node", "n1")] == ["b"]
    store.delete(pod("b", "3", ns="other"))
    assert store.by_index("node", "n1") == [] and store.by_index("namespace", "other") == []
    with pytest.raises(KeyError, match="no indexer named 'zone'"):
        store.by_index("zone", "x")


def test_objects_are_read_only() -> None:
    store = Store()
    store.upsert(pod("a", "1"))
    obj = store.get("ns/a")
    assert obj is not None
    with pytest.raises(TypeError):
        obj["metadata"] = {}  # type: ignore[index]
