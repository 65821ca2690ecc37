"""InformerState: lists applied item by item as they arrive, relists that diff against the cache, and handler
calls that replay to exactly the cache (each handler with its own objects)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incluster_sdk.resource import PODS
from incluster_sdk.watch.endpoints import ListRequest, WatchRequest
from incluster_sdk.watch.handlers import ADD, DELETE, UPDATE, HandlerCall
from incluster_sdk.watch.options import InformerOptions, InitialList
from incluster_sdk.watch.state import InformerState
from incluster_sdk.watch.store import Store


def pod(name: str, rv: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": rv}
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": {"v": rv}}


def state(initial_list: InitialList = InitialList.LIST) -> InformerState:
    options = InformerOptions(initial_list=initial_list, transform=None)
    informer_state = InformerState(PODS, options, Store())
    informer_state.has_handlers = True
    return informer_state


def list_all(
    s: InformerState, pods: list[dict[str, Any]], rv: str, *, fail_after: int | None = None
) -> list[HandlerCall]:
    """One LIST (a single page) through the state, as the drivers do it; ``fail_after``: the connection drops
    after that many items (and the state is told)."""
    request = s.next_request()
    assert isinstance(request, ListRequest) and request.continue_token is None
    header = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}
    items = [orjson.loads(orjson.dumps(p)) for p in pods]
    if fail_after is not None:
        calls = s.list_read(items[:fail_after], header)
        s.failed(OSError("connection reset"), (OSError,))
        s.next_request()  # the backoff's sleep
        return calls
    return s.list_read(items, header) + s.list_page(header)


def names(calls: list[HandlerCall]) -> list[tuple[str, str]]:
    out = []
    for tag, obj, data, extra in calls:
        decoded = obj if obj is not None else orjson.loads(data)
        out.append((tag, decoded["metadata"]["name"] + ("?" if tag == DELETE and extra else "")))
    return out


def test_the_first_list_adds_as_initial_and_syncs_at_its_end() -> None:
    s = state()
    calls = list_all(s, [pod("a", "1"), pod("b", "2")], "10")
    assert names(calls) == [(ADD, "a"), (ADD, "b")]
    assert all(call[3] is True for call in calls)  # initial=True
    assert s.synced and sorted(s.store.keys()) == ["ns/a", "ns/b"]


def test_a_relist_diffs_against_the_cache() -> None:
    s = state()
    list_all(s, [pod("a", "1"), pod("b", "2"), pod("c", "3")], "10")
    s.next_request()  # the watch
    s.failed(OSError("x"), (OSError,))
    s.machine.failed(410)  # a relist
    calls = list_all(s, [pod("a", "1"), pod("b", "5"), pod("d", "6")], "20")
    # a unchanged is an update too, as client-go's relist makes it (tests/test_informer_oracle.py)
    assert names(calls) == [(UPDATE, "a"), (UPDATE, "b"), (ADD, "d"), (DELETE, "c?")]
    assert [c[3] for c in calls if c[0] == ADD] == [False]  # not part of the initial list
    old = orjson.loads(next(c[3] for c in calls if c[0] == UPDATE and c[3] != c[2]))
    assert old["metadata"]["resourceVersion"] == "2"


def test_a_list_cut_short_counts_for_nothing_but_its_objects() -> None:
    """Objects stored by an attempt that failed halfway are kept until a complete list decides: the retry's
    end removes those it lacks (no stale object survives a failed attempt)."""
    s = state()
    calls = list_all(s, [pod("a", "1"), pod("b", "2")], "10", fail_after=1)
    assert names(calls) == [(ADD, "a")] and not s.synced
    calls = list_all(s, [pod("b", "2")], "11")
    assert names(calls) == [(ADD, "b"), (DELETE, "a?")] and s.synced
    assert s.store.keys() == ["ns/b"]


def test_a_streaming_list_is_applied_as_it_arrives() -> None:
    s = state(InitialList.STREAM)
    request = s.next_request()
    assert isinstance(request, WatchRequest) and request.send_initial_events
    end = {"resourceVersion": "9", "annotations": {"k8s.io/initial-events-end": "true"}}
    events = [
        {"type": "ADDED", "object": pod("a", "5")},
        {"type": "ADDED", "object": pod("b", "6")},
        {"type": "DELETED", "object": pod("a", "7")},
        {"type": "BOOKMARK", "object": {"metadata": end}},
        {"type": "ADDED", "object": pod("c", "10")},
    ]
    calls = s.watch_read(events)
    assert names(calls) == [(ADD, "a"), (ADD, "b"), (DELETE, "a"), (ADD, "c")]
    assert [c[3] for c in calls if c[0] == ADD] == [True, True, False]
    assert s.synced and sorted(s.store.keys()) == ["ns/b", "ns/c"]


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("list"), st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 4), max_size=6)),
        st.tuples(st.just("fail"), st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 4), max_size=6)),
        st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), st.sampled_from("abcdef"), st.integers(1, 4)),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_handler_calls_replay_to_exactly_the_cache(ops: list[Any]) -> None:
    """Whatever mix of lists, failed lists and watch events: a handler that applies its calls to a dict holds
    what the store holds, and the store holds the last complete list plus the events since."""
    s = state()
    replica: dict[str, Any] = {}
    truth: dict[str, Any] = {}
    rv = 0

    def apply(calls: list[HandlerCall]) -> None:
        for tag, obj, data, extra in calls:
            new = obj if obj is not None else orjson.loads(data)
            key = f"ns/{new['metadata']['name']}"
            if tag == DELETE:
                replica.pop(key)
            else:
                assert (tag == ADD) == (key not in replica)
                if tag == UPDATE:
                    assert replica[key] == orjson.loads(extra)  # old is what the handler had
                replica[key] = new

    watching = False
    for op in ops:
        rv += 1
        if op[0] in ("list", "fail"):
            if watching:
                s.machine.failed(410)
            pods = [pod(name, f"{gen}") for name, gen in sorted(op[1].items())]
            if op[0] == "list":
                apply(list_all(s, pods, str(rv)))
                truth = {f"ns/{p['metadata']['name']}": p for p in pods}
                s.next_request()  # the watch request
                watching = True
            else:
                apply(list_all(s, pods, str(rv), fail_after=len(pods) // 2))
                watching = False
        elif watching:
            obj = pod(op[1], str(op[2]))
            key = f"ns/{op[1]}"
            if op[0] == "DELETED" and key not in truth:
                continue  # the server sends no delete for what does not exist
            apply(s.watch_read([{"type": op[0], "object": obj}]))
            if op[0] == "DELETED":
                truth.pop(key)
            else:
                truth[key] = obj
    keys = s.store.keys()
    assert {k: s.store.get(k) for k in keys} == replica
    if watching:
        assert replica == truth


def test_a_handler_that_joins_during_the_first_list_gets_what_is_cached_so_far() -> None:
    """The snapshot a late handler gets is the whole cache even before the first list is over; the rest of
    the list then reaches it as calls: together, every listed object once, all as initial adds."""
    s = state()
    s.has_handlers = False  # no handler yet: the first read's calls are not collected
    request = s.next_request()
    assert isinstance(request, ListRequest)
    header = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "10"}}
    assert s.list_read([pod("a", "1"), pod("b", "2")], header) == []
    joined = s.snapshot()  # a handler joins here (the driver does this under its lock)
    s.has_handlers = True
    rest = s.list_read([pod("c", "3")], header) + s.list_page(header)
    assert sorted(names(joined + rest)) == [(ADD, "a"), (ADD, "b"), (ADD, "c")]
    assert all(call[3] is True for call in joined + rest) and s.synced


def test_a_delete_of_an_object_never_seen_calls_nothing() -> None:
    """client-go's DeltaFIFO.Delete drops it: "presumably, this was deleted when a relist happened"."""
    s = state()
    list_all(s, [pod("a", "1")], "10")
    s.next_request()  # the watch
    deleted = {"type": "DELETED", "object": pod("b", "11")}
    assert names(s.watch_read([deleted, {"type": "DELETED", "object": pod("a", "12")}])) == [(DELETE, "a")]


def test_a_failing_transform_or_indexer_skips_that_object_only(caplog: pytest.LogCaptureFixture) -> None:
    """The app's code raising for one object must not cost the other objects of the read their calls (they
    were stored, and the watch goes on after them), nor leave the store half-indexed."""

    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        if obj["metadata"]["name"] == "bad":
            raise ValueError("no spec")
        return obj

    def by_v(obj: dict[str, Any]) -> list[str]:
        if obj["metadata"]["name"] == "worse":
            raise KeyError("v")
        return [obj["spec"]["v"]]

    options = InformerOptions(initial_list=InitialList.LIST, transform=transform, indexers={"v": by_v})
    s = InformerState(PODS, options, Store(indexers=options.indexers))
    s.has_handlers = True
    calls = list_all(s, [pod("a", "1"), pod("bad", "2"), pod("worse", "3"), pod("b", "4")], "10")
    assert names(calls) == [(ADD, "a"), (ADD, "b")]
    s.next_request()  # the watch
    events = [{"type": "MODIFIED", "object": pod(n, rv)} for n, rv in [("a", "11"), ("bad", "12"), ("b", "13")]]
    assert names(s.watch_read(events)) == [(UPDATE, "a"), (UPDATE, "b")]
    assert sorted(s.store.keys()) == ["ns/a", "ns/b"]
    assert sorted(s.store.index_values("v")) == ["11", "13"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("ns/bad is not cached" in m and "ValueError: no spec" in m for m in errors), errors
    assert any("ns/worse is not cached" in m and "KeyError" in m for m in errors), errors
