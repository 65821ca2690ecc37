"""The watch response on the wire, sans-I/O: bytes in, decoded event dicts out (the shape of h11).

    decoder = WatchDecoder(chunked=True)      # raw socket bytes; chunked=False for an already de-chunked body
    decoder.receive_data(data)                # b"" when the connection closed
    while isinstance(event := decoder.next_event(), dict):
        ...                                   # then NEED_DATA (read more) or END (the response is over)

kube-apiserver sends a watch as HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), one chunk per event, and
each event is one line of JSON. Python's ``http.client`` hands a chunked body out one chunk per read, so a
thread reading through it would wake once per event however many have arrived; the threaded informer reads
what the connection holds and this module strips the framing. (h11 does this too, but it must own the
connection from its first byte; there urllib3 has already read the response head.)

Anything that is not a stream of JSON objects raises :class:`WatchProtocolError`, and nothing else escapes:
the informer then reconnects. This module imports nothing from the rest of the watch package.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, Final

import orjson

from ..errors import InclusterSDKError

#: A chunk-size line longer than this is not HTTP: a size is at most 16 hex digits, and the extensions
#: servers send (none, from kube-apiserver) are short.
MAX_SIZE_LINE = 4096
#: The largest watch event accepted. etcd's default request limit is 1.5 MiB per object, and an event can
#: carry it twice (MODIFIED with an old object on some servers): 16 MiB leaves room, and stops a stream that
#: never sends a newline from eating the process's memory.
MAX_EVENT_BYTES = 16 * 2**20

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_OPEN_BRACE = ord("{")


class WatchProtocolError(InclusterSDKError):
    """The server sent something that is not a list or watch response; the driver treats it as a failure."""


class Signal(enum.Enum):
    NEED_DATA = "need data"  # every complete event has been returned: receive more bytes
    END = "end"  # the response is over (its last chunk, or the connection closed cleanly between events)


NEED_DATA: Final = Signal.NEED_DATA
END: Final = Signal.END


class ChunkedDecoder:
    """Feed the raw bytes of a chunked body in any pieces; get back its data. ``done`` after the last chunk."""

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # data bytes still to come in the current chunk
        self._crlf_due = False  # a chunk's data ended; its CRLF is next
        self._trailers = False  # the last chunk came; trailer lines until an empty one
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        buffer = self._buffer + data if self._buffer else data
        view, size, pos = memoryview(buffer), len(buffer), 0
        body: list[memoryview] = []  # slices of view: the data is copied once, by the join
        while pos < size:
            if self._left:  # a chunk that began in an earlier piece
                end = min(size, pos + self._left)
                body.append(view[pos:end])
                self._left -= end - pos
                self._crlf_due = not self._left
                pos = end
                continue
            line_end = buffer.find(b"\r\n", pos)
            if line_end == -1:
                if size - pos > MAX_SIZE_LINE:
                    raise WatchProtocolError("chunked response: a chunk-size line is too long")
                break
            line = buffer[pos:line_end]
            pos = line_end + 2
            if self._crlf_due:
                if line:
                    raise WatchProtocolError("chunked response: a chunk's data is longer than its size")
                self._crlf_due = False
            elif self._trailers:
                if not line:
                    self.done = True
                    break
            elif (length := _chunk_size(line)) and pos + length + 2 <= size:
                # The whole chunk is here (the usual case: a watch event is one chunk, sent in one write).
                end = pos + length
                if buffer[end : end + 2] != b"\r\n":
                    raise WatchProtocolError("chunked response: a chunk's data is longer than its size")
                body.append(view[pos:end])
                pos = end + 2
            else:
                self._left = length
                self._trailers = not length
        self._buffer = buffer[pos:]
        return b"".join(body)


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip(b" \t") if b";" in line else line
    if not digits or len(digits) > 16 or digits.strip(_HEX_DIGITS):
        raise WatchProtocolError(f"chunked response: bad chunk size {line[:40]!r}")
    return int(digits, 16)


class WatchDecoder:
    """Bytes of a watch response in (any cut), events out, one JSON object per line.

    Events are decoded one at a time, as the caller asks for them, not a whole read first: decoding dozens of
    pods before storing any triggers CPython's young-generation collector several times per read and promotes
    every pod to the old generation, whose full collections then dominate (measured: about 3,200 vs 250 young
    collections for 50,000 events, docs/performance.md). Lines are parsed in place (no copy per line).
    """

    def __init__(self, *, chunked: bool = False, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._framing = ChunkedDecoder() if chunked else None
        self._max = max_event_bytes
        self._buffer = b""  # received body bytes; lines before _pos are consumed, lines after _stop incomplete
        self._view = memoryview(self._buffer)
        self._pos = 0
        self._stop = 0  # where the last complete line ends (its newline)
        self._closed = False

    def receive_data(self, data: bytes) -> None:
        """Bytes as they came off the connection; ``b""`` means the connection closed."""
        if not data:
            if self._framing is not None and not self._framing.done:
                raise WatchProtocolError("the connection closed in the middle of the response")
            self._closed = True
            return
        if self._framing is not None:
            data = self._framing.feed(data)
        rest = self._buffer[self._pos :]
        buffer = rest + data if rest else data
        stop = buffer.rfind(b"\n")
        if len(buffer) - stop - 1 > self._max:
            raise WatchProtocolError(f"watch event larger than {self._max} bytes (no newline)")
        self._buffer, self._view, self._pos, self._stop = buffer, memoryview(buffer), 0, max(stop, 0)

    def next_event(self) -> dict[str, Any] | Signal:
        """The next complete event; else :data:`NEED_DATA`, or :data:`END` once the response is over."""
        for event in self.events():
            return event
        if self._closed or (self._framing is not None and self._framing.done):
            if self._buffer[self._pos :].strip():
                raise WatchProtocolError("watch stream ended mid-event")
            return END
        return NEED_DATA

    def events(self) -> Iterator[dict[str, Any]]:
        """The events complete so far, one at a time, until :meth:`next_event` would say NEED_DATA or END
        (the loop the drivers run: one generator per read, not one method call per event). Good until the
        next :meth:`receive_data`."""
        buffer, view, stop = self._buffer, self._view, self._stop
        pos = self._pos
        while pos < stop:
            end = buffer.find(b"\n", pos, stop)
            if end == -1:
                end = stop
            if end > pos and (buffer[pos] == _OPEN_BRACE or not buffer[pos:end].isspace()):
                self._pos = end + 1
                try:
                    event = orjson.loads(view[pos:end])
                except orjson.JSONDecodeError as exc:
                    raise WatchProtocolError(f"watch event is not JSON: {exc}") from None
                if type(event) is not dict:
                    raise WatchProtocolError("watch event is not an object")
                yield event
            pos = end + 1
        self._pos = max(pos, self._pos)
