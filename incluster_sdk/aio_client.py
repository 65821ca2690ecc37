"""A ready-made ``kubernetes_asyncio`` API client built from a :class:`Config`: the same credential and
retry rules as :mod:`incluster_sdk.client`.

Its own module so that an app that never uses asyncio never imports ``kubernetes_asyncio`` and ``aiohttp``:
about 20,000 objects that every full garbage collection would otherwise walk (see docs/performance.md).

The hook is ``ApiClient.request(method, url, query_params, headers, post_params, body, _preload_content,
_request_timeout)``, which every request passes through with that signature in every ``kubernetes_asyncio``
release this package admits.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import aiohttp
import kubernetes_asyncio.client
from kubernetes_asyncio.client.exceptions import ApiException as AsyncApiException
from tenacity import AsyncRetrying

from .client import retry_after_401
from .config import Config
from .credentials import RequestCredential
from .request_policy import USER_AGENT, RequestRetry, fill_configuration, tls_failure, with_auth
from .retry import DEFAULT_RETRY, Failure, RetryPolicy
from .transport import AsyncCertificateFollower, is_socks, socks_connector

#: The request log of both clients (``incluster_sdk.client``): one logger to configure for retries and 401s.
log = logging.getLogger("incluster_sdk.client")


def _release(response: Any) -> None:
    response.release()


def _async_failure(exc: BaseException) -> Failure | None:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return None  # the certificate is wrong: asking again cannot fix it
    if isinstance(exc, aiohttp.ClientSSLError):
        return tls_failure(f"SSL {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return "read"
    return None


def _aiohttp_timeout(timeout: Any) -> Any:
    """A (connect, read) pair as the ``aiohttp.ClientTimeout`` kubernetes_asyncio >= 32 makes of it: releases
    before 32 hand the pair to aiohttp as a total, which fails at the first request (tuple > int)."""
    if isinstance(timeout, tuple) and len(timeout) == 2:
        return aiohttp.ClientTimeout(connect=timeout[0], sock_connect=timeout[0], sock_read=timeout[1])
    return timeout


class AsyncApiClient(kubernetes_asyncio.client.ApiClient):
    """``kubernetes_asyncio.client.ApiClient`` whose requests carry the config's live credentials, and whose reads
    survive blips: the rules of :class:`~incluster_sdk.client.ApiClient`.

    Use it wherever ``kubernetes_asyncio`` takes an API client (``kubernetes_asyncio.client.CoreV1Api(api)``,
    ``kubernetes_asyncio.watch.Watch``). Each request asks ``config.credentials`` for the header at send time (in
    a thread if the source may block: an exec plugin); a read that gets 401 makes the credential re-read (in a
    thread) and is sent once more if it changed; failed requests are repeated as
    :class:`~incluster_sdk.retry.RetryPolicy` says. A rotated CA is added to the client's TLS context. Close it
    (``async with AsyncApiClient(cfg) as api:``, or ``await api.close()``) to release its connections.

    :param config: the API server, TLS settings and credentials to use.
    :param retry: when reads (and writes that never reached the server) are sent again; default
        :data:`~incluster_sdk.retry.DEFAULT_RETRY` (jittered backoff from 0.2 s to 5 s, for up to 30 s in all);
        None: never. Settable later as :attr:`retry_policy`.
    :param kwargs: passed to ``kubernetes_asyncio.client.ApiClient``: ``header_name`` and ``header_value`` (one
        more header on every request), ``cookie``, ``pool_threads``.
    :raises RuntimeError: no event loop is running (aiohttp makes its session here: build the client inside a
        coroutine).
    """

    def __init__(self, config: Config, *, retry: RetryPolicy | None = DEFAULT_RETRY, **kwargs: Any) -> None:
        super().__init__(fill_configuration(kubernetes_asyncio.client.Configuration(), config), **kwargs)
        self.incluster_config = config
        """The :class:`~incluster_sdk.config.Config` this client was built from."""
        self.retry_policy = retry
        """When reads (and never-sent writes) are repeated; ``None``: never. Settable; applies to requests sent
        afterwards."""
        self.user_agent = USER_AGENT
        """The ``User-Agent`` of every request: ``incluster-sdk/`` and the package version (instead of the
        library's ``OpenAPI-Generator/...``)."""
        # aiohttp builds one SSLContext up front (unlike urllib3, which loads ca_certs per connection).
        session = self.rest_client.pool_manager
        context = getattr(session.connector, "_ssl", None)
        if config.tls.ca_bundle is not None and isinstance(context, ssl.SSLContext):
            config.tls.ca_bundle.track(context)
        if is_socks(config.proxy_url) and isinstance(context, ssl.SSLContext):
            # aiohttp speaks only HTTP proxies: the same session settings over aiohttp-socks' connector.
            limit = session.connector.limit if session.connector is not None else 100
            connector = socks_connector(config.proxy_url or "", context, limit)
            self.rest_client.pool_manager = aiohttp.ClientSession(
                connector=connector, trust_env=session.trust_env, read_bufsize=2**21
            )
            session.detach()  # the library's session had opened nothing yet
        certificate = config.tls.client_certificate
        self._follower = (
            AsyncCertificateFollower(self.rest_client.pool_manager.connector, context, certificate)
            if certificate is not None and isinstance(context, ssl.SSLContext)
            else None
        )

    async def _current_auth(self) -> RequestCredential:
        """The credential to send now; first, connections follow a client certificate the plugin may have renewed."""
        sent = await self._auth_header()
        if self._follower is not None:
            self._follower.sync()
        return sent

    async def _auth_header(self) -> RequestCredential:
        credentials = self.incluster_config.credentials
        if credentials.may_block:
            return await asyncio.to_thread(credentials.request_credential)
        return credentials.request_credential()

    async def _on_unauthorized(self, method: str, status: int | None, sent: RequestCredential) -> bool:
        if status != 401:  # the common case stays on the event loop
            return False
        # a refresh may read a file or run an exec plugin: off the event loop
        return await asyncio.to_thread(retry_after_401, self.incluster_config.credentials, method, status, sent)

    async def request(
        self,
        method: str,
        url: str,
        query_params: Any = None,
        headers: Any = None,
        post_params: Any = None,
        body: Any = None,
        _preload_content: bool = True,
        _request_timeout: Any = None,
        *,
        _incluster_retry: bool = True,
    ) -> Any:
        """Send one request with the live credentials, retried per :attr:`retry_policy`; the generated API calls
        this for every request.

        ``_preload_content`` (default True) and ``_request_timeout`` (seconds in all, a ``(connect, read)`` pair
        of seconds, or an ``aiohttp.ClientTimeout``; None: no timeout) are passed on as the library takes them;
        a pair works on ``kubernetes_asyncio`` releases before 32 too.

        :param method: the HTTP method, upper case: ``"GET"``, ``"POST"``...
        :param url: the whole URL: ``config.host`` and the path (the generated code passes the query apart).
        :param query_params: the query, as a dict or ``[(name, value), ...]``, URL-encoded and appended to ``url``;
            None: none.
        :param headers: the request's headers as a dict; an ``Authorization`` in it is replaced by the live one,
            and ``Content-Type`` defaults to ``application/json`` (the library's default); None: none.
        :param post_params: form fields as ``[(name, value), ...]``, for ``Content-Type``
            ``application/x-www-form-urlencoded`` or ``multipart/form-data``; None: none.
        :param body: the body: a JSON-serializable object for a JSON ``Content-Type``, or ``bytes``; None: none.
        :returns: with ``_preload_content=True``, the library's ``RESTResponse`` (``.status``, ``.data`` as
            bytes, ``.getheaders()``), body already read; with False, aiohttp's ``ClientResponse``, unread (read or
            ``release()`` it), whatever its status.
        :raises kubernetes_asyncio.client.exceptions.ApiException: with ``_preload_content=True``, a non-2xx
            answer (after retries).
        :raises aiohttp.ClientError: the connection failed (``ClientConnectorError``, also for a certificate that
            does not verify) or broke, and the retry policy gave up or does not apply.
        :raises asyncio.TimeoutError: ``_request_timeout`` passed, and the retry policy gave up or does not apply.
        :raises ~incluster_sdk.errors.CredentialError: an exec plugin could not get a credential.
        """
        kwargs = {
            "post_params": post_params,
            "body": body,
            "_preload_content": _preload_content,
            "_request_timeout": _aiohttp_timeout(_request_timeout),
        }
        policy = self.retry_policy if _incluster_retry else None
        if policy is None:
            return await self._request_with_auth(method, url, query_params, headers, **kwargs)
        retry = RequestRetry(policy, method, url, _async_failure, AsyncApiException, _release, log)
        return await AsyncRetrying(sleep=asyncio.sleep, **retry.tenacity())(
            self._request_with_auth, method, url, query_params, headers, **kwargs
        )

    async def _request_with_auth(
        self, method: str, url: str, query_params: Any = None, headers: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        sent = await self._current_auth()
        parent = super().request
        try:
            response = await parent(method, url, query_params, with_auth(headers, sent.header), *args, **kwargs)
        except AsyncApiException as exc:  # preloaded responses raise on non-2xx
            if not await self._on_unauthorized(method, exc.status, sent):
                raise
        else:
            if not await self._on_unauthorized(method, getattr(response, "status", None), sent):
                return response
            response.release()
        again = (await self._current_auth()).header
        return await parent(method, url, query_params, with_auth(headers, again), *args, **kwargs)


async def async_api_client(
    config: Config | None = None, *, retry: RetryPolicy | None = DEFAULT_RETRY
) -> AsyncApiClient:
    """Build an :class:`AsyncApiClient` (a ``kubernetes_asyncio.client.ApiClient``) with the live credentials of
    ``config``.

    :param config: the config to use; None: :func:`~incluster_sdk.config.load_config` with no arguments, run in
        a thread (it reads files).
    :param retry: when reads (and writes that never reached the server) are sent again; default
        :data:`~incluster_sdk.retry.DEFAULT_RETRY` (jittered backoff from 0.2 s to 5 s, for up to 30 s in all);
        None: never.
    :returns: the client; close it (``async with``, or ``await client.close()``) when done.
    :raises ~incluster_sdk.errors.ConfigError: ``config`` is None and :func:`~incluster_sdk.config.load_config`
        found no usable configuration (one of its subclasses, as it documents).
    """
    if config is None:
        from .config import load_config

        config = await asyncio.to_thread(load_config)
    return AsyncApiClient(config, retry=retry)
