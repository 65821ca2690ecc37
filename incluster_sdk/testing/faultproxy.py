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
#: Pumps wake this often even when no bytes move, so an aborted or stopped link never keeps its thread.
_POLL = 0.25


def _rst(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dropped NAT entry or a crashed peer would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket
    opened: float = field(default_factory=time.monotonic)
    closed: bool = False
    aborted: bool = False
    directions_done: int = 0  # each pump thread counts itself out; at 2 the link is finished

    def abort(self) -> None:
        """Reset both sides. A socket that another thread is blocked in recv() or send() on is not released
        by close() (so no RST would go out): shutdown() wakes the pumps, and they close with RST."""
        if self.closed:
            return
        self.closed = self.aborted = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FaultProxy:
    """A TCP proxy from a loopback port to a target, with faults injected on demand (standard library only).

    Create it with :meth:`start`, point the client at :attr:`port` (e.g.
    ``cluster.pod_environment(ns, sa, api_port=proxy.port)``), inject faults, and :meth:`stop` it at the end
    (it is not a context manager). Bytes pass through unchanged, TLS included, so the client still verifies
    the server's certificate. :meth:`reset` acts at once; :meth:`stall`, :meth:`trickle` and :meth:`refuse`
    last for the seconds given from the call, and a new call replaces the window of an earlier one.
    :attr:`counts` tallies what was injected.

    :param listener: a bound, listening TCP socket; the proxy accepts on it from now on (on its own thread).
    :param target: ``(host, port)`` to connect each accepted connection to.
    """

    def __init__(self, listener: socket.socket, target: tuple[str, int]) -> None:
        self._listener = listener
        self.target = target
        self.port: int = listener.getsockname()[1]
        """The loopback port the proxy listens on: point the client here."""
        self.counts: Counter[str] = Counter()
        """What was injected, by name: ``"reset"`` (connections reset by :meth:`reset`), ``"stall"``,
        ``"trickle"``, ``"refuse"`` (calls of those methods), ``"refused"`` (connections reset during a
        :meth:`refuse` window), ``"upstream_down"`` (connections reset because the target refused them)."""
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._stall_until = 0.0
        self._trickle_until = 0.0
        self._trickle_rate = 0
        self._refuse_until = 0.0
        self._stopped = False
        self._rng = random.Random(0)  # noqa: S311 - which connection to reset, not crypto
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True).start()

    @classmethod
    def start(cls, host: str, port: int) -> FaultProxy:
        """Listen on a free port of 127.0.0.1 and proxy every connection to ``host:port``.

        :param host: the target's host, e.g. ``"127.0.0.1"``.
        :param port: the target's port, e.g. ``cluster.api_port``.
        :returns: the running proxy; its :attr:`port` is where to connect.
        """
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        return cls(listener, (host, port))

    # -- faults ----------------------------------------------------------------------------------------------
    def reset(self, count: int = 1, *, older_than: float = 0.0) -> int:
        """Reset (TCP RST) up to ``count`` live connections, at once, in both directions.

        A watch is cut mid-stream, as when a NAT entry is dropped or a peer crashes. The victims are drawn at
        random among the live connections.

        :param count: how many connections to reset at most; default 1.
        :param older_than: only connections open for at least this many seconds; default 0.0 s (any).
        :returns: how many connections were reset (fewer than ``count`` if fewer were live).
        """
        now = time.monotonic()
        with self._lock:
            live = [link for link in self._links if not link.closed and now - link.opened >= older_than]
        victims = self._rng.sample(live, min(count, len(live)))
        for link in victims:
            link.abort()
        self.counts["reset"] += len(victims)
        return len(victims)

    def stall(self, seconds: float) -> None:
        """Hold every byte in both directions, on every connection, for ``seconds`` (a black hole), then let
        them through: nothing is lost.

        New connections are still accepted; their bytes are held too.

        :param seconds: how long, in seconds from now.
        """
        self._stall_until = time.monotonic() + seconds
        self.counts["stall"] += 1

    def trickle(self, seconds: float, bytes_per_second: int) -> None:
        """Slow every connection to ``bytes_per_second`` in each direction for ``seconds``.

        Bytes go out in pieces of a tenth of the rate (at least 1 byte), one every 0.1 s. A chunk read during
        the window (up to 64 KiB) is trickled to its end, even past the window.

        :param seconds: how long, in seconds from now.
        :param bytes_per_second: the rate per connection and direction, in bytes per second; 0 or less: no
            slowing.
        """
        self._trickle_rate = bytes_per_second
        self._trickle_until = time.monotonic() + seconds
        self.counts["trickle"] += 1

    def refuse(self, seconds: float) -> None:
        """Reset every new connection at once (accepted, then RST) for ``seconds``: what a restarting server
        looks like. Live connections are not touched.

        :param seconds: how long, in seconds from now.
        """
        self._refuse_until = time.monotonic() + seconds
        self.counts["refuse"] += 1

    @property
    def live_connections(self) -> int:
        """How many proxied connections are open now."""
        with self._lock:
            return sum(not link.closed for link in self._links)

    def stop(self) -> None:
        """Stop listening and reset every live connection; waits up to 5 s per proxy thread for it to end."""
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept() (close would not)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.abort()
        for thread in list(self._threads):
            thread.join(5)

    # -- plumbing --------------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                self.counts["refused"] += 1
                _rst(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self.counts["upstream_down"] += 1
                _rst(client)
                continue
            for sock in (client, upstream):
                sock.settimeout(_POLL)
            link = _Link(client, upstream)
            with self._lock:
                self._links.add(link)
            for src, dst in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(link, src, dst), name="faultproxy-pump", daemon=True)
                thread.start()
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not link.closed and not self._stopped:
                try:
                    data = src.recv(_CHUNK)
                except TimeoutError:
                    continue  # wake up now and then to notice an abort or stop(), whatever the kernel did
                if not data:
                    break
                self._obey_faults(link)
                if time.monotonic() < self._trickle_until and self._trickle_rate > 0:
                    step = max(1, self._trickle_rate // 10)
                    for i in range(0, len(data), step):
                        self._send(link, dst, data[i : i + step])
                        time.sleep(0.1)
                else:
                    self._send(link, dst, data)
        except OSError:
            pass
        finally:
            if not link.aborted:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)  # pass the half-close on (a normal end of stream)
            with self._lock:
                link.directions_done += 1
                finished = link.directions_done == 2
                if finished:
                    self._links.discard(link)
            if link.aborted:
                _rst(src)  # the other pump resets its own side
                _rst(dst)
            elif finished:
                link.closed = True
                for sock in (link.client, link.upstream):
                    with contextlib.suppress(OSError):
                        sock.close()

    def _send(self, link: _Link, dst: socket.socket, data: bytes) -> None:
        """sendall() that waits for a slow reader as long as it takes, but not past an abort or stop()."""
        view = memoryview(data)
        while view and not link.closed and not self._stopped:
            try:
                view = view[dst.send(view) :]
            except TimeoutError:
                continue

    def _obey_faults(self, link: _Link) -> None:
        while not link.closed and (wait := self._stall_until - time.monotonic()) > 0:
            time.sleep(min(wait, 0.05))
