"""The sans-I/O wire decoder (wire.py) and what a driver sends (endpoints.py)."""

from __future__ import annotations

import orjson
import pytest

from incluster_sdk.watch import PODS
from incluster_sdk.watch.endpoints import (
    METADATA_LIST,
    METADATA_ONE,
    Endpoint,
    HTTPStatusError,
    ListRequest,
    VersionRequest,
    WatchRequest,
)
from incluster_sdk.watch.wire import END, NEED_DATA, WatchDecoder, WatchProtocolError


def test_decoder_handles_any_chunking() -> None:
    events = [{"type": "ADDED", "object": {"metadata": {"name": f"p{i}", "x": "é" * i}}} for i in range(5)]
    stream = b"".join(orjson.dumps(e) + b"\n" for e in events)
    for size in (1, 3, 7, 64, len(stream)):
        decoder = WatchDecoder()
        out = []
        for i in range(0, len(stream), size):
            decoder.receive_data(stream[i : i + size])
            out.extend(decoder.events())
        decoder.receive_data(b"")
        assert decoder.next_event() is END
        assert out == events


def test_decoder_rejects_garbage_and_truncation() -> None:
    for garbage, message in ((b"[1, 2]\n", "not an object"), (b"{not json\n", "not JSON")):
        decoder = WatchDecoder()
        decoder.receive_data(garbage)
        with pytest.raises(WatchProtocolError, match=message):
            decoder.next_event()
    decoder = WatchDecoder()
    decoder.receive_data(b'{"type": "ADDED", "obj')
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"")
    with pytest.raises(WatchProtocolError, match="mid-event"):
        decoder.next_event()


def test_chunked_decoder_ends_with_the_last_chunk() -> None:
    decoder = WatchDecoder(chunked=True)
    decoder.receive_data(b'd\r\n{"type":"X"}\n\r\n0\r')
    assert decoder.next_event() == {"type": "X"}
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"\n\r\n")
    assert decoder.next_event() is END
    closed = WatchDecoder(chunked=True)
    closed.receive_data(b"3\r\n")
    with pytest.raises(WatchProtocolError, match="closed in the middle"):
        closed.receive_data(b"")


def test_retry_after_forms() -> None:
    assert HTTPStatusError(429, "7").retry_after == 7.0
    assert HTTPStatusError(429, None).retry_after is None
    assert HTTPStatusError(503, "Wed, 21 Oct 2026 07:28:00 GMT").retry_after is None


def test_decoder_decodes_lazily_and_events_before_garbage_still_come() -> None:
    """Each event is decoded only when the caller asks for it (it stores one before the next exists)."""
    decoder = WatchDecoder()
    decoder.receive_data(b'{"type": "ADDED", "object": {}}\n{broken\n')
    events = decoder.events()
    assert next(events) == {"type": "ADDED", "object": {}}
    with pytest.raises(WatchProtocolError, match="not JSON"):
        next(events)


def test_endpoint_urls_headers_and_timeouts() -> None:
    plain = Endpoint(PODS, "ns", label_selector="app=web", field_selector="metadata.name=x")
    url = plain.url("https://h", ListRequest("0", "c1", 500))
    assert url.startswith("https://h/api/v1/namespaces/ns/pods?labelSelector=app%3Dweb&fieldSelector=")
    assert "limit=500&resourceVersion=0&continue=c1" in url
    watch = plain.url("https://h", WatchRequest("", 250, send_initial_events=True))
    assert "watch=1" in watch and "sendInitialEvents=true&resourceVersionMatch=NotOlderThan" in watch
    assert plain.url("https://h", VersionRequest()) == "https://h/version"
    assert plain.headers(ListRequest("0", None, 1)) == {"Accept": "application/json"}
    meta = Endpoint(PODS, metadata_only=True)
    assert meta.headers(ListRequest("0", None, 1)) == {"Accept": METADATA_LIST}
    assert meta.headers(WatchRequest("1", 250)) == {"Accept": METADATA_ONE}
    assert Endpoint.read_timeout(WatchRequest("1", 250)) == WatchRequest("1", 250).read_timeout
