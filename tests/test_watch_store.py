from __future__ import annotations

from typing import Any

import orjson
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


@pytest.mark.parametrize("compress", [False, True])
def test_no_read_can_change_the_cache(compress: bool) -> None:
    """Every read is a private copy, however deep the change (the issue's example: labels set on a nested
    dict of an object from get() used to change the cache for every reader)."""
    store = Store({"node": lambda o: [o["spec"]["nodeName"]]}, compress=compress)
    store.upsert(pod("a", "1"))
    for obj in [store.get("ns/a"), *store.list(), *store.by_index("node", "n1"), *store.by_index("namespace", "ns")]:
        assert obj is not None
        obj["metadata"].setdefault("labels", {})["x"] = "y"
        obj["spec"]["nodeName"] = "elsewhere"
    assert store.get("ns/a") == pod("a", "1")
    assert [o["metadata"]["name"] for o in store.by_index("node", "n1")] == ["a"]


@pytest.mark.parametrize("compress", [False, True])
def test_both_codecs_keep_objects_exactly(compress: bool) -> None:
    store = Store(compress=compress)
    objects = [pod(f"p{i}", str(i), node=f"n{i % 3}") for i in range(50)] + [{"metadata": {"name": "é\u2028"}}]
    for obj in objects:
        store.upsert(obj)
    assert sorted(store.list(), key=str) == sorted(objects, key=str)
    if compress:  # similar objects compress well against the first one
        assert sum(map(len, store.encoded())) < sum(len(orjson.dumps(o)) for o in objects) / 2


def test_user_indexers_follow_updates_and_the_namespace_index_follows_adds_and_deletes() -> None:
    """Updates skip the default namespace index (a key's namespace never changes) but not user indexers."""
    from incluster_sdk.watch.store import Store

    def pod(name: str, tier: str, rv: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "ns", "labels": {"tier": tier}, "resourceVersion": rv}}

    store = Store({"tier": lambda o: [o["metadata"]["labels"]["tier"]]})
    store.upsert(pod("a", "web", "1"))
    store.upsert(pod("b", "web", "2"))
    store.upsert(pod("a", "db", "3"))  # an update that moves "a" to another index value
    assert [o["metadata"]["name"] for o in store.by_index("tier", "db")] == ["a"]
    assert [o["metadata"]["name"] for o in store.by_index("tier", "web")] == ["b"]
    assert sorted(o["metadata"]["name"] for o in store.by_index("namespace", "ns")) == ["a", "b"]
    store.delete(pod("a", "db", "4"))
    assert store.by_index("tier", "db") == []
    assert [o["metadata"]["name"] for o in store.by_index("namespace", "ns")] == ["b"]
    store.add_indexer("rv", lambda o: [o["metadata"]["resourceVersion"]])  # joins late, then follows updates
    store.upsert(pod("b", "web", "5"))
    assert store.by_index("rv", "2") == [] and len(store.by_index("rv", "5")) == 1


def test_an_indexer_added_later_to_a_plain_store_follows_updates() -> None:
    from incluster_sdk.watch.store import Store

    store = Store()
    store.upsert({"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "1"}})
    store.add_indexer("rv", lambda o: [o["metadata"]["resourceVersion"]])
    store.upsert({"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "2"}})
    assert store.by_index("rv", "1") == [] and len(store.by_index("rv", "2")) == 1
