"""The informer's handler calls against client-go itself: generated list/watch sessions run through client-go
1.20's shared informer (``scripts/informer-oracle/main.go``, built by ``bash scripts/install-kube-binaries.sh``
from Debian's kubernetes 1.20.2 tree) and through our :class:`~incluster_sdk.watch.state.InformerState`; each
object's calls must be the same.

A session is what the server says on each connection: a LIST, then watch events, then the watch ends (closed:
watch again from the last resourceVersion; 410 Gone: list again). Events include what a real server does not
send but a client must survive (a delete of an object never seen, an ADDED for a known object), because the
reference decides what a handler gets then too.

Compared: per object key, the sequence of calls (add / update with old and new resourceVersion / delete, and
whether a delete is a ``DeletedFinalStateUnknown`` tombstone) and the objects they carry. Not compared: the
order of calls *between* keys, which client-go's DeltaFIFO makes depend on timing (it merges a key's queued
changes), and the ``initial`` flag of adds, which client-go 1.20 does not have.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incluster_sdk.resource import CONFIGMAPS
from incluster_sdk.watch.endpoints import ListRequest, Sleep, WatchRequest
from incluster_sdk.watch.handlers import ADD, DELETE, UPDATE, HandlerCall
from incluster_sdk.watch.options import InformerOptions, InitialList
from incluster_sdk.watch.state import InformerState
from incluster_sdk.watch.store import Store
from tests.support.go_oracle import GoOracle, oracle_fixture

oracle = oracle_fixture("informer-oracle", "INCLUSTER_SDK_INFORMER_ORACLE")

NAMES = "abcde"
MARKER = ("zz-marker", "marker")  # the oracle's quiescence marker (see its main.go); its calls are not compared


def configmap(namespace: str, name: str, rv: str, v: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "resourceVersion": rv}
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta, "data": {"v": v}}


# -- sessions ------------------------------------------------------------------------------------------------------


@st.composite
def sessions(draw: st.DrawFn) -> dict[str, Any]:
    """A script for the oracle (its main.go documents the shape), generated from a model of the server."""
    server: dict[str, tuple[str, str]] = {}  # name -> (resourceVersion, data)
    rv = 1

    def bump() -> str:
        nonlocal rv
        rv += 1
        return str(rv)

    def change_server_quietly() -> None:  # what happens while the client is not watching
        for name in draw(st.lists(st.sampled_from(NAMES), max_size=3)):
            if name in server and draw(st.booleans()):
                del server[name]
            else:
                server[name] = (bump(), draw(st.sampled_from("xyz")))

    segments: list[dict[str, Any]] = []
    count = draw(st.integers(1, 5))
    relist = True
    for i in range(count):
        segment: dict[str, Any] = {"list": None, "events": []}
        if relist:
            change_server_quietly()
            items = [{"name": n, "rv": r, "v": v} for n, (r, v) in sorted(server.items())]
            segment["list"] = {"rv": bump(), "items": items}
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(st.sampled_from(["write", "write", "write", "delete", "delete", "bookmark", "odd"]))
            name = draw(st.sampled_from(NAMES))
            if kind == "write":
                server[name] = (bump(), draw(st.sampled_from("xyz")))
                event = "MODIFIED" if any(e["name"] == name for e in segment["events"]) or name in server else "ADDED"
                event = "ADDED" if draw(st.booleans()) and event == "ADDED" else event
                segment["events"].append({"type": event, "name": name, "rv": server[name][0], "v": server[name][1]})
            elif kind == "delete" and name in server:
                _, v = server.pop(name)
                segment["events"].append({"type": "DELETED", "name": name, "rv": bump(), "v": v})
            elif kind == "bookmark":
                segment["events"].append({"type": "BOOKMARK", "name": "", "rv": str(rv), "v": ""})
            else:  # what a real server does not send: a delete of an unknown object, an ADDED for a known one
                event = draw(st.sampled_from(["DELETED", "ADDED", "MODIFIED"]))
                segment["events"].append({"type": event, "name": name, "rv": bump(), "v": "odd"})
                if event == "DELETED":
                    server.pop(name, None)
                else:
                    server[name] = (str(rv), "odd")
        end = "end" if i == count - 1 else draw(st.sampled_from(["close", "gone"]))
        segment["end"] = end
        relist = end == "gone"
        segments.append(segment)
    return {"segments": segments}


# -- our side: the same session through InformerState ----------------------------------------------------------------


def run_ours(script: dict[str, Any]) -> list[dict[str, Any]]:
    """The session through InformerState as the drivers run it; the handler calls in the oracle's shape."""
    s = InformerState(CONFIGMAPS, InformerOptions(initial_list=InitialList.LIST, transform=None), Store())
    s.has_handlers = True
    calls: list[HandlerCall] = []
    marker_rv = 0

    def request() -> ListRequest | WatchRequest:
        while isinstance(req := s.next_request(), Sleep):
            pass
        assert isinstance(req, (ListRequest, WatchRequest)), req
        return req

    for segment in script["segments"]:
        if segment["list"] is not None:
            assert isinstance(request(), ListRequest)
            header = {
                "kind": "ConfigMapList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": segment["list"]["rv"]},
            }
            items = [configmap("ns", o["name"], o["rv"], o["v"]) for o in segment["list"]["items"]]
            marker_rv += 1
            items.append(configmap(*MARKER, f"m{marker_rv}", ""))
            calls += s.list_read(items, header) + s.list_page(header)
        assert isinstance(request(), WatchRequest)
        events = []
        for e in segment["events"]:
            obj = configmap("ns", e["name"], e["rv"], e["v"])
            if e["type"] == "BOOKMARK":
                obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": e["rv"]}}
            events.append({"type": e["type"], "object": obj})
        marker_rv += 1
        events.append({"type": "MODIFIED", "object": configmap(*MARKER, f"m{marker_rv}", "")})
        calls += s.watch_read(events)
        if segment["end"] == "close":
            s.machine.watch_ended()
        elif segment["end"] == "gone":
            status = {"kind": "Status", "apiVersion": "v1", "code": 410, "reason": "Expired"}
            calls += s.watch_read([{"type": "ERROR", "object": status}])
    return [c for c in map(shape, calls) if c["key"] != "/".join(MARKER)]


def shape(call: HandlerCall) -> dict[str, Any]:
    tag, obj, data, extra = call
    new = obj if obj is not None else orjson.loads(data)
    meta = new["metadata"]
    out: dict[str, Any] = {"key": f"{meta['namespace']}/{meta['name']}", "rv": meta["resourceVersion"]}
    out["v"] = new["data"]["v"]
    if tag == ADD:
        out["op"] = "add"
    elif tag == UPDATE:
        out["op"] = "update"
        out["old_rv"] = orjson.loads(extra)["metadata"]["resourceVersion"]
    else:
        assert tag == DELETE
        out["op"] = "delete"
        if isinstance(extra, str):  # the key: a DeletedFinalStateUnknown
            out["tombstone"] = True
    return out


def per_key(calls: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    keyed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        keyed[call["key"]].append(call)
    return dict(keyed)


# -- the comparison ------------------------------------------------------------------------------------------------


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(sessions(), min_size=16, max_size=16))
def test_handler_calls_agree_with_client_go(oracle: GoOracle, scripts: list[dict[str, Any]]) -> None:
    """16 sessions per request: the oracle runs them concurrently (a relist waits out client-go's backoff of
    about a second, so one at a time would take minutes)."""
    theirs = oracle.ask({"scripts": scripts})["results"]
    for script, expected in zip(scripts, theirs, strict=True):
        assert per_key(run_ours(script)) == per_key(expected), script


def test_a_relist_updates_every_object_it_still_has(oracle: GoOracle) -> None:
    """The named case: client-go calls OnUpdate(old, new) for an object a relist still has, even unchanged
    (same resourceVersion), and deletes what it lacks as a tombstone; a DELETED for an object never seen calls
    nothing."""
    script = {
        "segments": [
            {
                "list": {"rv": "10", "items": [{"name": "a", "rv": "3", "v": "x"}, {"name": "b", "rv": "4", "v": "y"}]},
                "events": [{"type": "DELETED", "name": "zz", "rv": "11", "v": ""}],
                "end": "gone",
            },
            {"list": {"rv": "20", "items": [{"name": "a", "rv": "3", "v": "x"}]}, "events": [], "end": "end"},
        ]
    }
    (expected,) = oracle.ask({"scripts": [script]})["results"]
    ours = run_ours(script)
    assert per_key(ours) == per_key(expected)
    assert per_key(ours) == {
        "ns/a": [
            {"op": "add", "key": "ns/a", "rv": "3", "v": "x"},
            {"op": "update", "key": "ns/a", "rv": "3", "old_rv": "3", "v": "x"},
        ],
        "ns/b": [
            {"op": "add", "key": "ns/b", "rv": "4", "v": "y"},
            {"op": "delete", "key": "ns/b", "rv": "4", "v": "y", "tombstone": True},
        ],
    }
