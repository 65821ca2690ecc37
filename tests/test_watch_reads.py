"""The threaded informer's transport: chunked framing decoded sans-I/O, and reads that take what has arrived."""

from __future__ import annotations

import asyncio
import gzip
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

import incluster_sdk
from incluster_sdk.testing.pki import CertificateAuthority
from incluster_sdk.watch import PODS, AsyncInformer
from incluster_sdk.watch.endpoints import READ_BYTES
from incluster_sdk.watch.informer import urllib3_reads
from incluster_sdk.watch.wire import MAX_SIZE_LINE, ChunkedDecoder, WatchDecoder, WatchProtocolError


def network_reads(response: Any) -> Iterator[bytes]:
    """The body of ``response``, one piece per network read, as the threaded informer reads it."""
    chunked, reads = urllib3_reads(response)
    framing = ChunkedDecoder() if chunked else None
    for data in reads:
        if framing is None:
            yield data
            continue
        if not data:
            raise WatchProtocolError("the connection closed in the middle of the response")
        if body := framing.feed(data):
            yield body
        if framing.done:
            return


def framed(pieces: list[bytes], trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n" + trailer + b"\r\n"


def decode_in_pieces(wire: bytes, cuts: list[int]) -> tuple[bytes, ChunkedDecoder]:
    decoder, out, start = ChunkedDecoder(), [], 0
    for cut in [*sorted(set(cuts)), len(wire)]:
        out.append(decoder.feed(wire[start:cut]))
        start = cut
    return b"".join(out), decoder


@given(
    st.lists(st.binary(max_size=300), max_size=20),
    st.lists(st.integers(min_value=0, max_value=8000), max_size=30),
)
def test_chunked_body_comes_out_whole_however_the_bytes_are_cut(pieces: list[bytes], cuts: list[int]) -> None:
    wire = framed(pieces)
    body, decoder = decode_in_pieces(wire, [c for c in cuts if c < len(wire)])
    assert body == b"".join(pieces)
    assert decoder.done


def test_chunk_extensions_upper_case_sizes_and_trailers() -> None:
    wire = b"5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nafter the body"
    body, decoder = decode_in_pieces(wire, [3, 17, 18, 40])
    assert body == b"hello0123456789"
    assert decoder.done
    assert decoder.feed(b"more") == b""  # nothing after the end is body


def test_not_done_until_the_last_chunk() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n") == b"abc"
    assert not decoder.done
    assert decoder.feed(b"0\r\n") == b""
    assert not decoder.done  # the empty line that ends the trailers is still to come
    decoder.feed(b"\r\n")
    assert decoder.done


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"zz\r\nabc\r\n", "bad chunk size"),
        (b"-3\r\nabc\r\n", "bad chunk size"),
        (b"0x3\r\nabc\r\n", "bad chunk size"),
        (b" \r\n", "bad chunk size"),
        (b"12345678901234567\r\n", "bad chunk size"),
        (b"3\r\nabcd\r\n", "longer than its size"),
        (b"3\r\nab", None),  # incomplete, not wrong: waits for more
        (b"f" * (MAX_SIZE_LINE + 1), "too long"),
    ],
)
def test_garbage_is_a_protocol_error_naming_what_is_wrong(wire: bytes, message: str | None) -> None:
    decoder = ChunkedDecoder()
    if message is None:
        decoder.feed(wire)
        return
    with pytest.raises(WatchProtocolError, match=message):
        decoder.feed(wire)


def test_data_longer_than_its_size_across_pieces() -> None:
    decoder = ChunkedDecoder()
    decoder.feed(b"3\r\nab")
    with pytest.raises(WatchProtocolError, match="longer than its size"):
        decoder.feed(b"cd\r\n")


# -- reads over a real socket ------------------------------------------------------------------------------
EVENTS = [
    b'{"type":"ADDED","object":{"metadata":{"name":"cm-%03d","resourceVersion":"%d"}}}\n' % (i, i) for i in range(400)
]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(params=["http", "https"])
def serve(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., tuple[str, urllib3.PoolManager]]]:
    """Start a server that answers each connection's first request with ``respond(conn, request_head)``;
    returns (url, pool) for a client."""
    servers: list[_Server] = []
    tls = request.param == "https"
    ca = CertificateAuthority.create()
    leaf = ca.issue("localhost", dns=("localhost",), ips=("127.0.0.1",))
    (tmp_path / "tls.crt").write_bytes(leaf.cert_pem)
    (tmp_path / "tls.key").write_bytes(leaf.key_pem)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")

    def start(respond: Callable[..., None]) -> tuple[str, urllib3.PoolManager]:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn = context.wrap_socket(self.request, server_side=True) if tls else self.request
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                respond(conn, head)
                conn.close()

        server = _Server(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        pool = urllib3.PoolManager(ca_certs=str(tmp_path / "ca.crt")) if tls else urllib3.PoolManager()
        return f"{request.param}://127.0.0.1:{server.server_address[1]}/watch", pool

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_one_read_takes_every_event_that_has_arrived(serve: Callable[..., tuple[str, urllib3.PoolManager]]) -> None:
    """kube-apiserver sends each event as its own chunk: 400 events already sent are not 400 reads."""
    all_sent = threading.Event()

    def respond(conn: socket.socket, head: bytes) -> None:
        conn.sendall(CHUNKED_HEAD)
        for event in EVENTS:
            conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))  # one write (one TLS record) per event
        all_sent.set()
        conn.sendall(b"0\r\n\r\n")

    url, pool = serve(respond)
    response = pool.request("GET", url, preload_content=False, timeout=urllib3.Timeout(connect=5, read=5))
    assert all_sent.wait(5)
    sock = response.connection.sock  # type: ignore[union-attr]
    reads = list(network_reads(response))
    assert b"".join(reads) == b"".join(EVENTS)
    assert len(reads) <= 3, [len(r) for r in reads]  # ~33 KB: one read, or a few if TLS records straggle
    assert sock.gettimeout() == 5  # the read timeout is back after each "what else is there" pass
    decoder, names = WatchDecoder(), []
    for r in reads:
        decoder.receive_data(r)
        names.extend(e["object"]["metadata"]["name"] for e in decoder.events())
    assert names == [f"cm-{i:03d}" for i in range(400)]


def test_reads_do_not_wait_for_a_full_buffer(serve: Callable[..., tuple[str, urllib3.PoolManager]]) -> None:
    """An event alone on the wire is returned at once, not held until 64 KiB or the read timeout."""
    go_on = threading.Event()

    def respond(conn: socket.socket, head: bytes) -> None:
        conn.sendall(CHUNKED_HEAD + b"%x\r\n%s\r\n" % (len(EVENTS[0]), EVENTS[0]))
        go_on.wait(10)
        conn.sendall(b"0\r\n\r\n")

    url, pool = serve(respond)
    response = pool.request("GET", url, preload_content=False, timeout=urllib3.Timeout(connect=5, read=20))
    reads = network_reads(response)
    assert next(reads) == EVENTS[0]  # would hang for 20 s if a read waited for more
    go_on.set()
    assert list(reads) == []


_BODY = b"".join(EVENTS)
_PACKED = gzip.compress(_BODY)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY), id="not-chunked"),
        pytest.param(
            b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
            % (len(_PACKED), _PACKED),
            id="gzip",  # a proxy that compresses: our reader strips only chunk framing
        ),
    ],
)
def test_bodies_our_reader_does_not_handle_go_to_urllib3(
    serve: Callable[..., tuple[str, urllib3.PoolManager]], answer: bytes
) -> None:
    url, pool = serve(lambda conn, head: conn.sendall(b"HTTP/1.1 200 OK\r\n" + answer))
    response = pool.request("GET", url, preload_content=False)
    assert b"".join(network_reads(response)) == _BODY


def test_a_connection_closed_mid_stream_is_a_protocol_error(
    serve: Callable[..., tuple[str, urllib3.PoolManager]],
) -> None:
    def respond(conn: socket.socket, head: bytes) -> None:
        conn.sendall(CHUNKED_HEAD + b"%x\r\n%s\r\n" % (len(EVENTS[0]), EVENTS[0]))  # no last chunk

    url, pool = serve(respond)
    response = pool.request("GET", url, preload_content=False)
    reads = network_reads(response)
    assert next(reads) == EVENTS[0]
    with pytest.raises(WatchProtocolError, match="closed in the middle"):
        next(reads)


# -- the asyncio informer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("serve", ["http"], indirect=True)  # the transport is aiohttp's: one scheme is enough
async def test_async_informer_hands_a_large_arrival_to_handlers_in_pieces(serve: Any, tmp_path: Path) -> None:
    """aiohttp hands a busy stream out in pieces of 256 KiB or more; the informer applies at most
    READ_BYTES at a time and lets the handler run before the next piece (docs/performance.md)."""
    padding = "x" * 1000
    events = [
        b'{"type":"ADDED","object":{"metadata":{"name":"p-%03d","namespace":"ns","resourceVersion":"%d"},'
        b'"pad":"%s"}}\n' % (i, i + 2, padding.encode())
        for i in range(400)
    ]
    sent = b"".join(events)
    release = threading.Event()

    def respond(conn: socket.socket, head: bytes) -> None:
        if b"watch=" not in head.split(b"\r\n", 1)[0]:
            body = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            return
        conn.sendall(CHUNKED_HEAD + b"%x\r\n%s\r\n" % (len(sent), sent))  # one 400 KB piece
        release.wait(10)

    url, _ = serve(respond)
    (tmp_path / "kc").write_text(
        f"current-context: c\nclusters: [{{name: c, cluster: {{server: '{url.rsplit('/', 1)[0]}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    client = await incluster_sdk.async_api_client(incluster_sdk.load_config(kubeconfig=tmp_path / "kc"))
    try:
        informer = AsyncInformer(client, PODS, namespace="ns", initial_list="list", preflight=False)
        names: list[str] = []
        all_seen = asyncio.Event()

        def on_add(obj: Any, initial: bool) -> None:
            names.append(obj["metadata"]["name"])
            if len(names) == len(events):
                all_seen.set()

        informer.add_handler(on_add=on_add)
        handled_and_stored_before_each_read: list[tuple[int, int]] = []
        read = informer._read

        def counting_read(decoder: Any) -> bool:
            handled_and_stored_before_each_read.append((len(names), len(informer.store)))
            return read(decoder)

        informer._read = counting_read  # type: ignore[method-assign]
        async with informer:
            await asyncio.wait_for(all_seen.wait(), 10)
        release.set()
    finally:
        await client.close()
    assert names == [f"p-{i:03d}" for i in range(400)]
    progress = handled_and_stored_before_each_read
    assert len(progress) >= len(sent) // READ_BYTES, progress
    # before each piece is applied, the handler has run every event stored so far: replaced objects go fresh
    assert all(handled == stored for handled, stored in progress), progress
