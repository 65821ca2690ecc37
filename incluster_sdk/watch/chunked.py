"""HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), sans-I/O: bytes off the wire in, body bytes out.

kube-apiserver flushes every watch event as its own chunk. Python's ``http.client`` (under urllib3, under
``kubernetes``) hands a chunked body out one chunk per read, so a thread reading a watch through it wakes
once per event, however many events have already arrived (measured: exactly one event per read). The
threaded informer instead reads whatever has arrived and decodes the chunk framing here, so that one read
carries dozens of events at high rates. (h11 does this too, but it must own the connection from its first
byte; here urllib3 has already read the response head.)
"""

from __future__ import annotations

from .machine import WatchProtocolError

#: A chunk-size line longer than this is not HTTP: a size is at most 16 hex digits, and the extensions
#: servers send (none, from kube-apiserver) are short.
MAX_SIZE_LINE = 4096

_HEX_DIGITS = b"0123456789abcdefABCDEF"


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
