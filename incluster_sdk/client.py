"""Ready-made ``kubernetes`` and ``kubernetes_asyncio`` API clients built from a :class:`Config`.

The token is never copied into the library's ``Configuration`` (whose repr and debug report would show
it). Instead each request asks the shared credential source for the current header at send time, and a
401 on a read triggers one immediate re-read and retry, so a request racing a token rotation succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import kubernetes.client
import kubernetes_asyncio.client
from kubernetes.client.exceptions import ApiException as SyncApiException
from kubernetes_asyncio.client.exceptions import ApiException as AsyncApiException

from . import __version__
from .config import Config
from .credentials import Credentials

log = logging.getLogger(__name__)

USER_AGENT = f"incluster-sdk/{__version__}"
# A 401 is decided by the authentication filter before a request is processed, so repeating it cannot
# repeat an effect; still, we retry only reads (incl. LIST and WATCH), as client-go's callers expect: a write
# should be repeated by the caller's own logic, which knows whether it is idempotent.
RETRY_ON_401_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _with_auth(headers: dict[str, Any] | None, value: str | None) -> dict[str, Any]:
    out = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
    if value:
        out["Authorization"] = value
    return out


def retry_after_401(credentials: Credentials, method: str, status: int | None, sent: str | None) -> bool:
    """The one rule both clients follow: after a 401 on a read, refresh; retry once if that changed it."""
    if status != 401 or method.upper() not in RETRY_ON_401_METHODS:
        return False
    retry = credentials.on_unauthorized(sent)
    log.info("HTTP 401 on %s; credentials %s", method, "refreshed, retrying once" if retry else "unchanged")
    return retry


def _fill_configuration(conf: Any, config: Config) -> Any:
    conf.host = config.host
    tls = config.tls
    conf.verify_ssl = not tls.insecure_skip_verify
    if tls.ca_file is not None:
        conf.ssl_ca_cert = str(tls.ca_file)
    if tls.client_cert_file is not None:
        conf.cert_file = str(tls.client_cert_file)
        conf.key_file = str(tls.client_key_file)
    if tls.server_name:
        conf.tls_server_name = tls.server_name
    if config.proxy_url:
        conf.proxy = config.proxy_url
    return conf


class ApiClient(kubernetes.client.ApiClient):
    """``kubernetes.client.ApiClient`` whose requests carry the config's live credentials."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        super().__init__(_fill_configuration(kubernetes.client.Configuration(), config), **kwargs)
        self.incluster_config = config
        self.user_agent = USER_AGENT

    def call_api(
        self, method: str, url: str, header_params: dict[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        credentials: Credentials = self.incluster_config.credentials
        sent = credentials.auth_header()
        try:
            response = super().call_api(method, url, _with_auth(header_params, sent), *args, **kwargs)
        except SyncApiException as exc:  # kubernetes < 35 raises in the REST layer
            if not self._should_retry(method, exc.status, sent):
                raise
        else:
            if not self._should_retry(method, response.status, sent):
                return response
            response.read()  # type: ignore[no-untyped-call]  # drain so the connection returns to the pool
        return super().call_api(method, url, _with_auth(header_params, credentials.auth_header()), *args, **kwargs)

    def _should_retry(self, method: str, status: int | None, sent: str | None) -> bool:
        return retry_after_401(self.incluster_config.credentials, method, status, sent)


class AsyncApiClient(kubernetes_asyncio.client.ApiClient):
    """``kubernetes_asyncio.client.ApiClient`` whose requests carry the config's live credentials."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        super().__init__(_fill_configuration(kubernetes_asyncio.client.Configuration(), config), **kwargs)
        self.incluster_config = config
        self.user_agent = USER_AGENT
        # aiohttp builds one SSLContext up front (unlike urllib3, which loads ca_certs per connection).
        context = getattr(getattr(self.rest_client.pool_manager, "connector", None), "_ssl", None)
        if config.tls.ca_bundle is not None and isinstance(context, ssl.SSLContext):
            config.tls.ca_bundle.track(context)

    async def _auth_header(self) -> str | None:
        credentials = self.incluster_config.credentials
        if credentials.may_block:
            return await asyncio.to_thread(credentials.auth_header)
        return credentials.auth_header()

    async def _on_unauthorized(self, method: str, status: int | None, sent: str | None) -> bool:
        if status != 401:  # the common case stays on the event loop
            return False
        # a refresh may read a file or run an exec plugin: off the event loop
        return await asyncio.to_thread(retry_after_401, self.incluster_config.credentials, method, status, sent)

    async def request(
        self, method: str, url: str, query_params: Any = None, headers: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        sent = await self._auth_header()
        parent = super().request
        try:
            response = await parent(method, url, query_params, _with_auth(headers, sent), *args, **kwargs)
        except AsyncApiException as exc:  # preloaded responses raise on non-2xx
            if not await self._on_unauthorized(method, exc.status, sent):
                raise
        else:
            if not await self._on_unauthorized(method, getattr(response, "status", None), sent):
                return response
            response.release()
        return await parent(method, url, query_params, _with_auth(headers, await self._auth_header()), *args, **kwargs)


def api_client(config: Config | None = None) -> ApiClient:
    """A ``kubernetes.client.ApiClient`` for ``config`` (default: :func:`load_config`)."""
    if config is None:
        from .config import load_config

        config = load_config()
    return ApiClient(config)


async def async_api_client(config: Config | None = None) -> AsyncApiClient:
    """A ``kubernetes_asyncio.client.ApiClient`` for ``config``; close it (``async with``) when done."""
    if config is None:
        from .config import load_config

        config = await asyncio.to_thread(load_config)
    return AsyncApiClient(config)
