"""A TCP proxy on loopback that breaks connections the way networks do, for reliability tests.

    proxy = FaultProxy.start("127.0.0.1", cluster.api_port)     # point the client at proxy.port
    proxy.reset(5)               # RST five live connections (mid-stream for watches)
    proxy.stall(3.0)             # every connection stops moving bytes for 3 s (a black hole), then resumes
    proxy.trickle(2.0, 512)      # 512 bytes/s for 2 s
    proxy.refuse(1.5)            # new connections are reset at once for 1.5 s
    proxy.counts                 # what was injected

TLS passes through untouched: the client still verifies the API server's certificate (issued for
127.0.0.1). One thread per direction per connection: simple, and plenty for tests.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

_CHUNK = 65536


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket
    opened: float = field(default_factory=time.monotonic)
    closed: bool = False
    directions_done: int = 0  # each pump thread counts itself out; at 2 the link is finished

    def abort(self) -> None:
        """Close both sides with RST (SO_LINGER 0), as a dropped NAT entry or a crashed peer would."""
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.close()


class FaultProxy:
    def __init__(self, listener: socket.socket, target: tuple[str, int]) -> None:
        self._listener = listener
        self.target = target
        self.port: int = listener.getsockname()[1]
        self.counts: Counter[str] = Counter()
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._stall_until = 0.0
        self._trickle_until = 0.0
        self._trickle_rate = 0
        self._refuse_until = 0.0
        self._stopped = False
        self._rng = random.Random(0)  # noqa: S311 - which connection to reset, not crypto
        threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True).start()

    @classmethod
    def start(cls, host: str, port: int) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        return cls(listener, (host, port))

    # -- faults ----------------------------------------------------------------------------------------------
    def reset(self, count: int = 1, *, older_than: float = 0.0) -> int:
        """RST up to ``count`` live connections (random ones, open longer than ``older_than`` s)."""
        now = time.monotonic()
        with self._lock:
            live = [link for link in self._links if not link.closed and now - link.opened >= older_than]
        victims = self._rng.sample(live, min(count, len(live)))
        for link in victims:
            link.abort()
        self.counts["reset"] += len(victims)
        return len(victims)

    def stall(self, seconds: float) -> None:
        """No bytes move in either direction for ``seconds``, on every connection (nothing is lost)."""
        self._stall_until = time.monotonic() + seconds
        self.counts["stall"] += 1

    def trickle(self, seconds: float, bytes_per_second: int) -> None:
        self._trickle_rate = bytes_per_second
        self._trickle_until = time.monotonic() + seconds
        self.counts["trickle"] += 1

    def refuse(self, seconds: float) -> None:
        """New connections are reset at once for ``seconds`` (what a restarting server looks like)."""
        self._refuse_until = time.monotonic() + seconds
        self.counts["refuse"] += 1

    @property
    def live_connections(self) -> int:
        with self._lock:
            return sum(not link.closed for link in self._links)

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.abort()

    # -- plumbing --------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                self.counts["refused"] += 1
                _Link(client, socket.socket()).abort()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self.counts["upstream_down"] += 1
                _Link(client, socket.socket()).abort()
                continue
            link = _Link(client, upstream)
            with self._lock:
                self._links.add(link)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(link, src, dst), name="faultproxy-pump", daemon=True).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not link.closed:
                data = src.recv(_CHUNK)
                if not data:
                    break
                self._obey_faults(link)
                if time.monotonic() < self._trickle_until and self._trickle_rate > 0:
                    for i in range(0, len(data), max(1, self._trickle_rate // 10)):
                        dst.sendall(data[i : i + max(1, self._trickle_rate // 10)])
                        time.sleep(0.1)
                else:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)  # pass the half-close on (a normal end of stream)
            with self._lock:
                link.directions_done += 1
                finished = link.directions_done == 2
                if finished:
                    self._links.discard(link)
            if finished and not link.closed:
                link.closed = True
                for sock in (link.client, link.upstream):
                    with contextlib.suppress(OSError):
                        sock.close()

    def _obey_faults(self, link: _Link) -> None:
        while not link.closed and (wait := self._stall_until - time.monotonic()) > 0:
            time.sleep(min(wait, 0.05))
