"""A tiny HTTPS server standing in for kube-apiserver in unit tests and benchmarks.

It records every request (method, path, headers, arrival time) and answers through a function you give it,
so a test can check what a client really sent, e.g. that the ``Authorization`` header is there.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from incluster_sdk.testing.pki import CertificateAuthority
from tests.support.http import reply_json


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float = 0.0  # time.monotonic() on arrival
    #: The client certificate's common name, when the server asks for client certificates.
    client_cn: str | None = None
    #: The client's (host, port): a new port is a new connection.
    peer: tuple[str, int] | None = None


Responder = Callable[[Seen], tuple[int, Any]]


def pod_list(_: Seen) -> tuple[int, Any]:
    return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}


@dataclass
class FakeApiServer:
    ca: CertificateAuthority
    port: int
    seen: list[Seen] = field(default_factory=list)
    respond: Responder = pod_list
    _server: ThreadingHTTPServer | None = None

    @classmethod
    def start(
        cls, workdir: Path, respond: Responder = pod_list, *, port: int = 0, client_ca: bytes | None = None
    ) -> FakeApiServer:
        """Serve on 127.0.0.1. With ``client_ca``, a client certificate signed by it is required and its common
        name recorded, and connections are kept alive (HTTP/1.1) so tests can tell new ones from reused."""
        ca = CertificateAuthority.create()
        leaf = ca.issue("fake-apiserver", dns=("localhost",), ips=("127.0.0.1", "::1"))
        (workdir / "srv.crt").write_bytes(leaf.cert_pem)
        (workdir / "srv.key").write_bytes(leaf.key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(workdir / "srv.crt", workdir / "srv.key")
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=client_ca.decode())
        owner: dict[str, FakeApiServer] = {}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if client_ca is not None else "HTTP/1.0"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server = owner["s"]
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
                peer_cert = self.connection.getpeercert() if client_ca is not None else None
                if peer_cert:
                    seen.client_cn = dict(x[0] for x in peer_cert["subject"]).get("commonName")
                seen.peer = self.client_address
                server.seen.append(seen)
                reply_json(self, *server.respond(seen))

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        server = cls(ca=ca, port=httpd.server_address[1], respond=respond, _server=httpd)
        owner["s"] = server
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return server

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
