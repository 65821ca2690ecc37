"""The sans-I/O watch state machine: every robustness rule, no network."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from incluster_sdk.watch.backoff import BACKOFF_INITIAL, BACKOFF_MAX, Backoff
from incluster_sdk.watch.endpoints import (
    WATCH_INACTIVITY_GRACE,
    ListRequest,
    Sleep,
    VersionRequest,
    WatchRequest,
    server_version,
)
from incluster_sdk.watch.machine import (
    INITIAL_EVENTS_END,
    WATCH_TIMEOUT_MAX,
    WATCH_TIMEOUT_MIN,
    Applied,
    Deleted,
    ListDone,
    Listed,
    Listing,
    Streaming,
    Watching,
    WatchMachine,
)
from incluster_sdk.watch.options import InitialList
from incluster_sdk.watch.wire import WatchProtocolError


def pod(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


def page(items: list[dict[str, Any]], rv: str = "100", cont: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    return {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}


def feed(w: WatchMachine, body: dict[str, Any]) -> tuple[list[dict[str, Any]], ListDone | None]:
    """A LIST page as the drivers give it to the machine: each item, then the list's header."""
    kind = str(body.get("kind", "")).removesuffix("List")
    listed = [w.list_item(item, kind, body.get("apiVersion")).obj for item in body.get("items") or ()]
    return listed, w.list_page({k: v for k, v in body.items() if k != "items"})


def synced(w: WatchMachine, rv: str = "100") -> None:
    assert isinstance(w.next_request(), ListRequest)
    feed(w, page([pod("a", "1")], rv=rv))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_paged_list_then_watch_from_list_rv() -> None:
    w = WatchMachine(initial_list=InitialList.LIST, page_size=2)
    first = w.next_request()
    assert first == ListRequest("0", None, 2)  # first list: from the watch cache
    listed, done = feed(w, page([pod("a", "1"), pod("b", "2")], cont="c1"))
    assert done is None and [o["metadata"]["name"] for o in listed] == ["a", "b"]
    assert w.next_request() == ListRequest("0", "c1", 2)
    listed, done = feed(w, page([pod("c", "3")], rv="50"))
    assert done == ListDone("50")
    assert listed[0]["kind"] == "Pod" and listed[0]["apiVersion"] == "v1"  # made to look like watch objects
    request = w.next_request()
    assert isinstance(request, WatchRequest) and request.resource_version == "50"
    assert WATCH_TIMEOUT_MIN <= request.timeout_seconds < WATCH_TIMEOUT_MAX
    assert request.read_timeout == request.timeout_seconds + WATCH_INACTIVITY_GRACE


def test_events_and_bookmarks_advance_resource_version() -> None:
    w = WatchMachine(initial_list=InitialList.LIST)
    synced(w)
    assert w.watch_event({"type": "ADDED", "object": pod("b", "101")}) == Applied(pod("b", "101"))
    assert w.watch_event({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "150"}}}) is None
    assert w.resource_version == "150"
    assert w.watch_event({"type": "DELETED", "object": pod("b", "151")}) == Deleted(pod("b", "151"))
    w.watch_ended()  # server timeout: re-watch from where we are, no relist
    request = w.next_request()
    assert isinstance(request, WatchRequest) and request.resource_version == "151"


@pytest.mark.parametrize("form", ["http", "stream"])
def test_410_relists_consistently_never_same_rv(form: str) -> None:
    w = WatchMachine(initial_list=InitialList.LIST)
    synced(w, rv="100")
    w.watch_event({"type": "MODIFIED", "object": pod("a", "120")})
    if form == "http":
        w.failed(410)
    else:
        w.watch_event({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}})
    assert isinstance(w.state, Listing) and w.relists == 1
    assert w.next_request() == ListRequest("", None, 500)  # consistent read, no sleep, no old RV


def test_expired_continue_token_restarts_the_list() -> None:
    w = WatchMachine(initial_list=InitialList.LIST, page_size=1)
    w.next_request()
    feed(w, page([pod("a", "1")], cont="c1"))
    w.failed(410)  # the continue token expired
    assert w.next_request() == ListRequest("", None, 1)  # from the first page, consistently
    listed, done = feed(w, page([pod("a", "1"), pod("b", "2")]))
    assert done is not None and len(listed) == 2


def test_transient_errors_back_off_without_relist() -> None:
    w = WatchMachine(initial_list=InitialList.LIST, backoff=Backoff(clock=FakeClock()))
    synced(w)
    for status in (None, 500, 503):
        w.failed(status)
        sleep = w.next_request()
        assert isinstance(sleep, Sleep)
        assert isinstance(w.next_request(), WatchRequest)  # same step again, same RV
    assert w.relists == 0 and w.resource_version == "100"


def test_retry_after_is_honoured() -> None:
    w = WatchMachine(initial_list=InitialList.LIST)
    synced(w)
    w.failed(429, retry_after=7)
    sleep = w.next_request()
    assert isinstance(sleep, Sleep) and sleep.seconds >= 7 and sleep.reason == "HTTP 429"


def test_backoff_grows_with_full_jitter_caps_and_resets_after_healthy_period() -> None:
    clock = FakeClock()
    b = Backoff(clock=clock)
    delays = [b.next_delay() for _ in range(12)]
    assert all(0 <= d <= BACKOFF_MAX for d in delays)
    assert delays[0] <= BACKOFF_INITIAL
    assert max(delays[6:]) > BACKOFF_INITIAL * 4  # it grows (full jitter: random below the cap)
    assert b.attempt == 12
    b.succeeded()
    clock.now += 119
    b.next_delay()
    assert b.attempt == 13  # not healthy long enough
    b.succeeded()
    clock.now += 121
    assert b.next_delay() <= BACKOFF_INITIAL
    assert b.attempt == 1


def test_garbage_is_a_protocol_error() -> None:
    w = WatchMachine(initial_list=InitialList.LIST)
    with pytest.raises(WatchProtocolError):
        w.list_page({"kind": "Status", "metadata": "no"})
    for item in (1, {"metadata": {"name": 3}}, {"metadata": {"namespace": ["a"]}}):
        with pytest.raises(WatchProtocolError):
            w.list_item(item, "Pod", "v1")
    synced(w)
    with pytest.raises(WatchProtocolError):
        w.watch_event({"type": "WHAT", "object": pod("a", "2")})
    with pytest.raises(WatchProtocolError):
        w.watch_event({"type": "ADDED"})


# -- streaming list (sendInitialEvents) ----------------------------------------------------------------------
def end_bookmark(rv: str) -> dict[str, Any]:
    meta = {"resourceVersion": rv, "annotations": {INITIAL_EVENTS_END: "true"}}
    return {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": meta}}


def streaming() -> WatchMachine:
    w = WatchMachine()
    assert isinstance(w.next_request(), VersionRequest)  # auto: ask the server's version first
    w.server_version((1, 32))
    return w


def test_streaming_list_builds_the_initial_state_then_watches_on_the_same_connection() -> None:
    w = streaming()
    request = w.next_request()
    assert isinstance(request, WatchRequest) and request.send_initial_events and request.resource_version == ""
    assert isinstance(w.state, Streaming)
    assert w.watch_event({"type": "ADDED", "object": pod("a", "5")}) == Listed(pod("a", "5"))  # part of the list
    assert w.watch_event({"type": "ADDED", "object": pod("b", "6")}) == Listed(pod("b", "6"))
    assert w.watch_event({"type": "DELETED", "object": pod("b", "7")}) == Deleted(pod("b", "7"))
    assert w.watch_event({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}}) is None
    assert w.watch_event(end_bookmark("9")) == ListDone("9")
    assert isinstance(w.state, Watching)
    assert w.watch_event({"type": "MODIFIED", "object": pod("a", "10")}) == Applied(pod("a", "10"))
    w.watch_ended()  # the live part times out normally: a plain re-watch from the last RV
    again = w.next_request()
    assert isinstance(again, WatchRequest) and not again.send_initial_events and again.resource_version == "10"


def test_streaming_list_410_restarts_the_stream_and_transient_error_discards_partial_state() -> None:
    w = streaming()
    w.next_request()
    w.watch_event({"type": "ADDED", "object": pod("a", "5")})
    w.failed(None)  # connection dropped mid-initial-events
    assert isinstance(w.next_request(), Sleep)
    request = w.next_request()
    assert isinstance(request, WatchRequest) and request.send_initial_events
    assert w.watch_event({"type": "ADDED", "object": pod("b", "6")}) == Listed(pod("b", "6"))
    assert w.watch_event(end_bookmark("8")) == ListDone("8")  # the cache drops "a" (tests/test_informer_state.py)
    w.watch_event({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}})
    assert w.relists == 1
    relist = w.next_request()
    assert isinstance(relist, WatchRequest) and relist.send_initial_events and relist.resource_version == ""


@pytest.mark.parametrize("status", [400, 422])
def test_streaming_list_refused_falls_back_to_paged_list_for_good(status: int) -> None:
    w = streaming()
    w.next_request()
    w.failed(status)  # 1.27+ with the WatchList feature gate off answers 422
    assert w.next_request() == ListRequest("0", None, 500)  # no backoff: nothing is wrong
    feed(w, page([pod("a", "1")]))
    w.watch_event({"type": "ERROR", "object": {"kind": "Status", "code": 410}})
    assert w.next_request() == ListRequest("", None, 500)  # a relist stays a LIST


def test_a_stream_that_ends_without_the_end_bookmark_means_the_server_ignored_it() -> None:
    w = WatchMachine(initial_list=InitialList.STREAM)  # forced, against a server that drops the parameter
    request = w.next_request()
    assert isinstance(request, WatchRequest) and request.send_initial_events
    w.watch_event({"type": "ADDED", "object": pod("a", "5")})
    w.watch_ended()
    assert w.next_request() == ListRequest("0", None, 500)
    assert w.streaming is False


@pytest.mark.parametrize(
    ("version", "streams"),
    [
        ({"major": "1", "minor": "20"}, False),
        ({"major": "1", "minor": "26"}, False),
        ({"major": "1", "minor": "27+"}, True),  # EKS/GKE style
        ({"major": "1", "minor": "34"}, True),
        ({"major": "2", "minor": "0"}, True),
        ({"major": "", "minor": ""}, False),
        ("nonsense", False),
        (None, False),
    ],
)
def test_auto_streams_only_from_servers_that_know_the_parameter(version: Any, streams: bool) -> None:
    w = WatchMachine()
    assert isinstance(w.next_request(), VersionRequest)
    w.server_version(server_version(orjson.dumps(version) if version is not None else None))
    request = w.next_request()
    assert isinstance(request, WatchRequest if streams else ListRequest)


def test_a_failed_version_probe_is_retried_after_backoff() -> None:
    w = WatchMachine()
    w.next_request()
    w.failed(None)  # connection refused: we do not know yet
    assert isinstance(w.next_request(), Sleep)
    assert isinstance(w.next_request(), VersionRequest)
