"""How a client's connections follow the config: a rotating client certificate, and SOCKS5 proxies.

client-go's ``transport`` package keeps these in the round-tripper and dialer; the Python clients keep them
in a ``urllib3`` pool manager (sync) or an ``aiohttp`` connector (asyncio), so this module adapts both.

- **Client certificates from an exec plugin** rotate (:class:`~incluster_sdk.tls.ClientCertificate`). Before
  each request a client calls its follower's ``sync()``: when the certificate's generation changed, new
  connections present the new pair and idle ones are closed, as client-go closes connections on rotation
  (kube-apiserver checks the client certificate on every request, so an old connection would keep
  authenticating as the old, possibly expired, certificate).
- **SOCKS5** ``proxy-url``: client-go's dialer hands the host name to the proxy (remote DNS), so
  ``socks5://`` is used as ``socks5h://`` by urllib3 and with ``rdns`` by aiohttp-socks.
"""

from __future__ import annotations

import logging
import ssl
import threading
import urllib.parse
from typing import Any

from .tls import ClientCertificate

log = logging.getLogger(__name__)


def urllib3_proxy_url(proxy_url: str | None) -> str | None:
    """The proxy URL as the sync client (urllib3 + PySocks) should use it: remote DNS for SOCKS5."""
    if proxy_url and urllib.parse.urlsplit(proxy_url).scheme == "socks5":
        return "socks5h" + proxy_url[len("socks5") :]
    return proxy_url


def is_socks(proxy_url: str | None) -> bool:
    return bool(proxy_url) and urllib.parse.urlsplit(proxy_url or "").scheme == "socks5"


class SyncCertificateFollower:
    """Keeps a ``urllib3`` pool manager presenting the current client certificate."""

    def __init__(self, pool_manager: Any, certificate: ClientCertificate) -> None:
        self._pool_manager = pool_manager
        self._certificate = certificate
        self._seen = 0
        self._lock = threading.Lock()

    def sync(self) -> None:
        """Call before a request, after the credentials ran their plugin. Cheap when nothing changed."""
        if self._certificate.generation == self._seen:
            return
        with self._lock:
            generation, path = self._certificate.generation, self._certificate.path
            if generation == self._seen or path is None:
                return
            # urllib3 loads cert_file per new connection; key_file None: the key is in the same file.
            self._pool_manager.connection_pool_kw["cert_file"] = str(path)
            self._pool_manager.connection_pool_kw["key_file"] = None
            # Drops every pool: idle connections close now, busy ones when they are returned.
            self._pool_manager.clear()
            self._seen = generation
        log.info("client certificate generation %d: new connections present it", generation)


class AsyncCertificateFollower:
    """Keeps an ``aiohttp`` connector presenting the current client certificate."""

    def __init__(self, connector: Any, context: ssl.SSLContext, certificate: ClientCertificate) -> None:
        self._connector = connector
        self._context = context
        self._certificate = certificate
        self._seen = 0

    def sync(self) -> None:
        """Call before a request (on the event loop), after the credentials ran their plugin."""
        generation, path = self._certificate.generation, self._certificate.path
        if generation == self._seen or path is None:
            return
        self._context.load_cert_chain(path)  # every new handshake on this connector presents the new pair
        self._close_idle()
        self._seen = generation
        log.info("client certificate generation %d: new connections present it", generation)

    def _close_idle(self) -> None:
        # aiohttp has no public "close idle connections" call short of closing the whole session (which would
        # also fail the requests in flight); its pool is ``_conns``: {key: deque[(protocol, t)]}. The rotation
        # test (tests/test_exec_client_certificates.py) fails if this stops closing them.
        conns = getattr(self._connector, "_conns", None)
        if not isinstance(conns, dict):
            log.warning("aiohttp connector has no idle-connection pool to clear; old connections stay open")
            return
        for idle in list(conns.values()):
            for item in list(idle):
                protocol = item[0] if isinstance(item, tuple) else item
                protocol.close()
        conns.clear()


def socks_connector(proxy_url: str, context: ssl.SSLContext, limit: int) -> Any:
    """An aiohttp connector that reaches the server through a SOCKS5 proxy (host names resolved by the proxy).

    Raises:
        ModuleNotFoundError: ``aiohttp-socks`` is not installed (load_config checks this first and says what
            to install).
    """
    from aiohttp_socks import ProxyConnector

    return ProxyConnector.from_url(proxy_url, rdns=True, ssl=context, limit=limit)
