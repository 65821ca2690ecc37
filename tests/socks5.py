"""A minimal SOCKS5 proxy (RFC 1928: no authentication, CONNECT only) for tests of ``proxy-url: socks5://``.

Hand-written because it is ~60 lines and test-only: it records what each client asked for (so a test can
tell that the host *name* reached the proxy, i.e. the proxy resolved it, as with client-go's dialer).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@dataclass
class Socks5Proxy:
    port: int = 0
    #: (address type, host as the client sent it, port) per CONNECT: type "domain" means remote DNS.
    connects: list[tuple[str, str, int]] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> Socks5Proxy:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                client: socket.socket = self.request
                _ver, n = _read(client, 2)
                _read(client, n)
                client.sendall(b"\x05\x00")  # no authentication
                _ver, cmd, _rsv, atyp = _read(client, 4)
                if atyp == 1:
                    kind, host = "ipv4", socket.inet_ntop(socket.AF_INET, _read(client, 4))
                elif atyp == 4:
                    kind, host = "ipv6", socket.inet_ntop(socket.AF_INET6, _read(client, 16))
                else:
                    kind, host = "domain", _read(client, _read(client, 1)[0]).decode()
                (port,) = struct.unpack("!H", _read(client, 2))
                owner.connects.append((kind, host, port))
                if cmd != 1:
                    client.sendall(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
                    return
                try:
                    upstream = socket.create_connection((host, port), timeout=10)
                except OSError:
                    client.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
                    return
                upstream.settimeout(None)
                client.sendall(b"\x05\x00\x00\x01" + bytes(6))
                t = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                t.start()
                _pump(client, upstream)
                t.join(10)
                upstream.close()

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
