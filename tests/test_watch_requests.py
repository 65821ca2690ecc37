from __future__ import annotations

import orjson
import pytest

from incluster_sdk.watch.machine import WatchProtocolError
from incluster_sdk.watch.requests import HTTPStatusError, WatchStreamDecoder


def test_decoder_handles_any_chunking() -> None:
    events = [{"type": "ADDED", "object": {"metadata": {"name": f"p{i}", "x": "é" * i}}} for i in range(5)]
    stream = b"".join(orjson.dumps(e) + b"\n" for e in events)
    for size in (1, 3, 7, 64, len(stream)):
        decoder = WatchStreamDecoder()
        out = []
        for i in range(0, len(stream), size):
            out.extend(decoder.feed(stream[i : i + size]))
        decoder.end()
        assert out == events


def test_decoder_rejects_garbage_and_truncation() -> None:
    with pytest.raises(WatchProtocolError):
        list(WatchStreamDecoder().feed(b"[1, 2]\n"))
    with pytest.raises(WatchProtocolError, match="not JSON"):
        list(WatchStreamDecoder().feed(b"{not json\n"))
    decoder = WatchStreamDecoder()
    assert list(decoder.feed(b'{"type": "ADDED", "obj')) == []
    with pytest.raises(WatchProtocolError, match="mid-event"):
        decoder.end()


def test_retry_after_forms() -> None:
    assert HTTPStatusError(429, "7").retry_after == 7.0
    assert HTTPStatusError(429, None).retry_after is None
    assert HTTPStatusError(503, "Wed, 21 Oct 2026 07:28:00 GMT").retry_after is None


def test_decoder_decodes_lazily_and_events_before_garbage_still_come() -> None:
    """Each event is decoded only when the caller asks for it (it stores one before the next exists)."""
    events = WatchStreamDecoder().feed(b'{"type": "ADDED", "object": {}}\n{broken\n')
    assert next(events) == {"type": "ADDED", "object": {}}
    with pytest.raises(WatchProtocolError, match="not JSON"):
        next(events)
