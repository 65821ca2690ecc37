"""Reading a streaming urllib3 response the way a socket delivers it: everything that has arrived, per read.

The threaded informer's transport. urllib3 (through ``http.client``) returns a chunked body one HTTP chunk
per read, and kube-apiserver sends one chunk per watch event: the informer would then hand each event to
its handler threads on its own, and pay two thread wake-ups per event (docs/performance.md). Here one
read takes what the connection already holds (up to ``max_bytes``), and :class:`~.chunked.ChunkedDecoder`
strips the framing.

This reaches under urllib3 to the response's buffered socket file: ``HTTPResponse._fp`` (the
``http.client`` response) and its ``fp``. Where those are not what is expected (another urllib3, a
compressed body, a body that is not chunked), it falls back to urllib3's own ``stream()``.
"""

from __future__ import annotations

import io
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from .chunked import ChunkedDecoder
from .core import READ_BYTES
from .machine import WatchProtocolError

#: ``read1`` on a non-blocking socket with nothing to read: None (plain sockets), these (TLS).
_NOTHING_YET = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def network_reads(response: Any, max_bytes: int = READ_BYTES) -> Iterator[bytes]:
    """The body of ``response`` (urllib3, ``preload_content=False``), one piece per network read."""
    wire = _buffered_socket_file(response)
    if wire is None:
        yield from response.stream(max_bytes, decode_content=True)
        return
    file, sock = wire
    decoder = ChunkedDecoder()
    while not decoder.done:
        data = file.read1(max_bytes)  # waits for the first bytes (up to the socket's read timeout)
        if not data:
            raise WatchProtocolError("the connection closed in the middle of the response")
        if len(data) < max_bytes:
            data += _ready(file, sock, max_bytes - len(data))
        body = decoder.feed(data)
        if body:
            yield body


def _ready(file: io.BufferedReader, sock: socket.socket, max_bytes: int) -> bytes:
    """What can be read right now without waiting (at most ``max_bytes``)."""
    pieces: list[bytes] = []
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        while max_bytes > 0:
            try:
                piece = file.read1(max_bytes)
            except _NOTHING_YET:
                break
            if not piece:  # nothing yet on a plain socket, or the end (the next waiting read sees it)
                break
            pieces.append(piece)
            max_bytes -= len(piece)
    finally:
        sock.settimeout(timeout)
    return b"".join(pieces)


def _buffered_socket_file(response: Any) -> tuple[io.BufferedReader, socket.socket] | None:
    """The socket file under a chunked, uncompressed urllib3 response, and its socket; None if not that."""
    headers = getattr(response, "headers", None) or {}
    if headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    http_response = getattr(response, "_fp", None)
    if not getattr(http_response, "chunked", False) or getattr(http_response, "chunk_left", None) is not None:
        return None  # not chunked, or http.client has already started reading the body
    file = getattr(http_response, "fp", None)
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if not isinstance(file, io.BufferedReader) or not isinstance(sock, socket.socket):
        return None
    return file, sock
