"""Serves a recorded watch stream over HTTPS the way kube-apiserver sends it (run by watch_events.py).

    python benchmarks/replay_server.py STREAM_FILE REPLAYS WORKDIR

Writes ``WORKDIR/kubeconfig`` (server address, CA, a token nobody checks) once it listens, then serves:

- a watch from resourceVersion "1" (``?watch=...&resourceVersion=1``): the recorded events REPLAYS times, each
  event its own HTTP chunk and its own TLS write, as kube-apiserver flushes every event; then the end of the
  stream;
- any later watch (a client re-watching after the stream ended): nothing until the client goes away;
- anything else: an empty PodList at resourceVersion "1".

It runs in its own process, so that the client under test has a core to itself.
"""

from __future__ import annotations

import os
import socketserver
import ssl
import sys
import tempfile
import threading
from pathlib import Path

from incluster_sdk.testing.pki import CertificateAuthority

STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
EMPTY_LIST = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}'


def framed_events(stream: bytes, replays: int) -> list[bytes]:
    """Each event line as one HTTP/1.1 chunk."""
    lines = [line + b"\n" for line in stream.split(b"\n") if line.strip()]
    return [b"%x\r\n%s\r\n" % (len(line), line) for line in lines] * replays


def serve(stream_file: Path, replays: int, workdir: Path) -> None:
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if len(cpus) > 1:
        os.sched_setaffinity(0, {max(cpus)})  # the client under test runs on the lowest one
    chunks = framed_events(stream_file.read_bytes(), replays)
    ca = CertificateAuthority.create()
    leaf = ca.issue("replay-server", dns=("localhost",), ips=("127.0.0.1",))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tls.crt").write_bytes(leaf.cert_pem)
        Path(tmp, "tls.key").write_bytes(leaf.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(Path(tmp, "tls.crt"), Path(tmp, "tls.key"))

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            with context.wrap_socket(self.request, server_side=True) as tls:
                reader = tls.makefile("rb")
                while request_line := reader.readline():
                    while reader.readline() not in (b"\r\n", b"\n", b""):
                        pass  # headers: nothing in them changes the answer
                    target = request_line.split(b" ")[1]
                    if b"watch=" not in target.lower():
                        tls.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(EMPTY_LIST), EMPTY_LIST)
                        )
                        continue
                    tls.sendall(STREAM_HEAD)
                    if b"resourceVersion=1&" not in target + b"&":
                        reader.read()  # a re-watch: hold it open until the client leaves
                        return
                    for chunk in chunks:
                        tls.sendall(chunk)
                    tls.sendall(b"0\r\n\r\n")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # clients hang up mid-stream when they have counted enough

    with Server(("127.0.0.1", 0), Handler) as server:
        port = server.server_address[1]
        (workdir / "ca.crt").write_bytes(ca.cert_pem)
        kubeconfig = (
            f"current-context: replay\n"
            f"clusters: [{{name: replay, cluster: {{server: 'https://127.0.0.1:{port}', "
            f"certificate-authority: {workdir / 'ca.crt'}}}}}]\n"
            "users: [{name: u, user: {token: not-checked}}]\n"
            "contexts: [{name: replay, context: {cluster: replay, user: u, namespace: bench}}]\n"
        )
        (workdir / "kubeconfig.tmp").write_text(kubeconfig)
        (workdir / "kubeconfig.tmp").rename(workdir / "kubeconfig")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
