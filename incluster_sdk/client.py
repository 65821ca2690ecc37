"""A ready-made ``kubernetes`` API client built from a :class:`Config` (the asyncio one is in
:mod:`incluster_sdk.aio_client`), and the rules both follow.

The token is never copied into the library's ``Configuration`` (whose repr and debug report would show
it). Instead each request asks the shared credential source for the current header at send time, and a
401 on a read triggers one immediate re-read and retry, so a request racing a token rotation succeeds.

All of that happens in the library's REST client, ``RESTClientObject.request(method, url, ..., headers=...)``:
the one call every request passes through, in the same shape, in every ``kubernetes`` release this package
admits. Above it the releases differ: from 37 on, the generated code calls
``ApiClient.call_api(method, url, header_params, body, post_params, _request_timeout)`` and gets the unread
response; before 37 it calls ``call_api(resource_path, method, path_params, query_params, header_params, ...)``
and the REST client raises non-2xx answers as ``ApiException``. :meth:`ApiClient.call_api` takes both forms, so
the SDK's own callers use the first one on every release.
"""

from __future__ import annotations

import inspect
import io
import logging
import time
import urllib.parse
from typing import Any, cast

import kubernetes.client
import kubernetes.client.rest
import urllib3
from kubernetes.client.exceptions import ApiException as SyncApiException
from tenacity import Retrying

from .config import Config
from .credentials import Credentials, RequestCredential
from .request_policy import USER_AGENT, RequestRetry, fill_configuration, tls_failure, with_auth
from .retry import DEFAULT_RETRY, IDEMPOTENT_METHODS, Failure, RetryPolicy
from .tls import TLSConfig
from .transport import SyncCertificateFollower, is_socks, urllib3_proxy_url

log = logging.getLogger(__name__)

RETRY_ON_401_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""The methods sent once more after a 401 with a refreshed credential: reads (incl. LIST and WATCH).

A 401 is decided by the authentication filter before a request is processed, so repeating it cannot repeat an
effect; still, only reads are retried, as client-go's callers expect: a write should be repeated by the caller's
own logic, which knows whether it is idempotent."""


def retry_after_401(credentials: Credentials, method: str, status: int | None, sent: RequestCredential) -> bool:
    """Apply the one 401 rule both clients follow, and say whether to send the request once more.

    After a 401 on a read, the credential is reset if it is not newer than the one ``sent``
    (client-go's ``ResetTokenOlderThan``); the request is retried once if the credential now differs.

    :param credentials: the config's credential source.
    :param method: the request's HTTP method (any case).
    :param status: the answer's HTTP status; None if there was none.
    :param sent: what the request carried.
    :returns: True to send the request once more (with the now current credential).
    :raises ~incluster_sdk.errors.CredentialError: an exec plugin could not get a new credential.
    """
    if status != 401 or method.upper() not in RETRY_ON_401_METHODS:
        return False
    retry = credentials.unauthorized(sent)
    log.info("HTTP 401 on %s; credentials %s", method, "refreshed, retrying once" if retry else "unchanged")
    return retry


def _sync_failure(exc: BaseException) -> Failure | None:
    """How a urllib3 request failed: "connect" (never reached the server), "read" (may have), or None."""
    reason = getattr(exc, "reason", exc) if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(reason, urllib3.exceptions.SSLError):
        return tls_failure(f"SSL {reason}")
    if isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
        return "connect"
    if isinstance(reason, (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, OSError)):
        return "read"
    return None


#: Query parameters that make a response a stream the caller reads as it comes (never read it whole here).
_STREAMING_PARAMS = ("watch=", "follow=")


def _reads_whole_body(method: str, url: str, query_params: Any = None) -> bool:
    """A read whose body the caller will read in full anyway (everything but watches and log follows).

    ``query_params``: kubernetes < 37 hands the REST client the query apart from the URL."""
    query = urllib.parse.urlsplit(url).query.lower()
    if query_params:
        query += "&" + urllib.parse.urlencode(query_params).lower()
    return method.upper() in IDEMPOTENT_METHODS and not any(
        p + v in query for p in _STREAMING_PARAMS for v in ("true", "1")
    )


def _read_whole(response: Any) -> Any:
    """``response`` with its whole body read now (a connection cut here is retried like any other), and still
    readable from the start by whoever gets it: from 37 on the library reads ``RESTResponse.response``, and
    hands it as it is to callers of ``_preload_content=False``, as releases before 37 hand urllib3's response."""
    if isinstance(response, urllib3.HTTPResponse):  # kubernetes < 37, _preload_content=False
        return _in_memory(response)
    if isinstance(getattr(response, "response", None), urllib3.HTTPResponse):  # kubernetes >= 37's RESTResponse
        response.response = _in_memory(response.response)
    return response  # else kubernetes < 37's RESTResponse: read before it was made


def _in_memory(raw: urllib3.HTTPResponse) -> urllib3.HTTPResponse:
    """urllib3's response read to the end, as the same response again with the body from memory: ``.data``,
    ``.read()`` and ``.stream()`` give what they would have (reading ``.data`` alone would leave them empty)."""
    body = raw.read(decode_content=False)
    raw.release_conn()
    return urllib3.HTTPResponse(
        body=io.BytesIO(body),
        headers=raw.headers,
        status=raw.status,
        version=raw.version,
        reason=raw.reason,
        preload_content=False,
        decode_content=raw.decode_content,
        request_url=raw.url,
    )


def _drain(response: Any) -> None:
    """Read and drop the rest of a response we will not hand on, so its connection returns to the pool."""
    raw = response if isinstance(response, urllib3.HTTPResponse) else getattr(response, "response", None)
    if isinstance(raw, urllib3.HTTPResponse):
        raw.drain_conn()


#: The first argument of ``call_api`` in the (method, url, ...) form; in the older form it is a path.
_HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
#: The REST client of kubernetes < 37 takes ``_preload_content`` (False: urllib3's response, unread) and raises
#: non-2xx answers; from 37 on it always returns an unread ``RESTResponse`` and leaves the status to the caller.
_REST_REQUEST = inspect.signature(kubernetes.client.rest.RESTClientObject.request)
_REST_TAKES_PRELOAD = "_preload_content" in _REST_REQUEST.parameters
_RAW: dict[str, Any] = {"_preload_content": False} if _REST_TAKES_PRELOAD else {}


class _Response:
    """What ``call_api(method, url, ...)`` returns on kubernetes < 37: the ``RESTResponse`` of 37 and later
    around urllib3's unread response (``.response``, for streaming), so its callers need not know the release."""

    def __init__(self, response: urllib3.HTTPResponse) -> None:
        self.response = response
        self.status: int = response.status
        self.reason = response.reason
        self.data: bytes | None = None

    def read(self) -> bytes:
        if self.data is None:
            self.data = self.response.data
        return self.data

    @property
    def headers(self) -> Any:
        return self.response.headers

    def getheaders(self) -> Any:
        return self.response.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.response.headers.get(name, default)


class _RESTClient(kubernetes.client.rest.RESTClientObject):
    """The library's REST client (its pool, TLS and proxy set-up untouched) whose :meth:`request` sends the live
    credentials, refreshes them after a 401 and applies the retry policy. Every request goes through it, in every
    release: generated API calls of either generation, watches, the dynamic client and the SDK's own calls."""

    def __init__(
        self,
        configuration: Any,
        credentials: Credentials,
        retry: RetryPolicy | None,
        *,
        tls: TLSConfig,
        proxy: str | None,
    ) -> None:
        super().__init__(configuration)
        self.credentials = credentials
        self.retry_policy = retry
        if is_socks(proxy):
            # Built here for every release (kubernetes < 37 has no SOCKS support and would refuse the URL).
            from urllib3.contrib.socks import SOCKSProxyManager

            pool_kw = dict(self.pool_manager.connection_pool_kw)
            self.pool_manager = SOCKSProxyManager(urllib3_proxy_url(proxy) or "", **pool_kw)
        certificate = tls.client_certificate
        self._follower = SyncCertificateFollower(self.pool_manager, certificate) if certificate else None

    def _auth_header(self) -> RequestCredential:
        """The credential to send now; first, connections follow a client certificate the plugin may have renewed."""
        sent = self.credentials.request_credential()
        if self._follower is not None:
            self._follower.sync()
        return sent

    def request(self, method: str, url: str, *args: Any, _incluster_retry: bool = True, **kwargs: Any) -> Any:
        """One request, retried per :attr:`retry_policy` (``_incluster_retry=False``: the caller retries)."""
        if args:  # the library passes all but (method, url) by name; should anyone not, name them as it would
            bound = _REST_REQUEST.bind(self, method, url, *args, **kwargs)
            kwargs = {k: v for k, v in bound.arguments.items() if k not in ("self", "method", "url")}
        headers = kwargs.pop("headers", None)
        policy = self.retry_policy if _incluster_retry else None
        if policy is None:
            return self._send_with_auth(method, url, headers, kwargs)
        whole = _reads_whole_body(method, url, kwargs.get("query_params"))

        def attempt() -> Any:
            response = self._send_with_auth(method, url, headers, kwargs)
            if whole and 200 <= response.status <= 299:
                return _read_whole(response)  # a connection cut mid-body is retried like any other
            return response

        retry = RequestRetry(policy, method, url, _sync_failure, SyncApiException, _drain, log)
        return Retrying(sleep=time.sleep, **retry.tenacity())(attempt)

    def _send_with_auth(self, method: str, url: str, headers: dict[str, Any] | None, kwargs: dict[str, Any]) -> Any:
        send: Any = super().request
        sent = self._auth_header()
        try:
            response = send(method, url, headers=with_auth(headers, sent.header), **kwargs)
        except SyncApiException as exc:  # kubernetes < 37 raises non-2xx answers in the REST layer
            if not retry_after_401(self.credentials, method, exc.status, sent):
                raise
        else:
            if not retry_after_401(self.credentials, method, response.status, sent):
                return response
            _drain(response)
        return send(method, url, headers=with_auth(headers, self._auth_header().header), **kwargs)


class ApiClient(kubernetes.client.ApiClient):
    """``kubernetes.client.ApiClient`` whose requests carry the config's live credentials, and whose reads
    survive blips.

    Use it wherever the ``kubernetes`` package takes an API client: ``kubernetes.client.CoreV1Api(api)``,
    ``kubernetes.dynamic.DynamicClient(api)``, ``kubernetes.watch.Watch``, ``kubernetes.stream``. Each request
    asks ``config.credentials`` for the header at send time, so rotated tokens need nothing from you. A read
    (GET, HEAD, OPTIONS) that gets 401 makes the credential re-read unless it was re-read since, and is sent once
    more if it changed. Failed requests are repeated as :class:`~incluster_sdk.retry.RetryPolicy` says;
    urllib3's own silent retries are off. Close it (``with ApiClient(cfg) as api:``, or ``api.close()``) to
    release its connections; closing it leaves ``config`` open.

    :param config: the API server, TLS settings and credentials to use.
    :param retry: when reads (and writes that never reached the server) are sent again; default
        :data:`~incluster_sdk.retry.DEFAULT_RETRY` (jittered backoff from 0.2 s to 5 s, for up to 30 s in all);
        None: never. Settable later as :attr:`retry_policy`.
    :param kwargs: passed to ``kubernetes.client.ApiClient``: ``header_name`` and ``header_value`` (one more
        header on every request), ``cookie``, ``pool_threads`` (threads for ``async_req=True`` calls; the
        library's default 1).
    """

    def __init__(self, config: Config, *, retry: RetryPolicy | None = DEFAULT_RETRY, **kwargs: Any) -> None:
        conf = fill_configuration(kubernetes.client.Configuration(), config)
        conf.retries = False  # urllib3 would retry silently on its own: our policy is the only one
        super().__init__(conf, **kwargs)
        self.incluster_config = config
        """The :class:`~incluster_sdk.config.Config` this client was built from."""
        # Every request, of every release, passes through the REST client: that is where credentials and retries
        # apply. (The one the library made has opened nothing yet.)
        self.rest_client = _RESTClient(conf, config.credentials, retry, tls=config.tls, proxy=config.proxy_url)
        """The library's REST client (a ``kubernetes.client.rest.RESTClientObject``, with its connection pool,
        TLS and proxy set-up) whose ``request`` adds the live credentials, the 401 rule and the retry policy:
        every request of this client passes through it."""
        self.user_agent = USER_AGENT
        """The ``User-Agent`` of every request: ``incluster-sdk/`` and the package version (instead of the
        library's ``OpenAPI-Generator/...``)."""

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """When reads (and never-sent writes) are repeated; ``None``: never. Settable; applies to requests sent
        afterwards."""
        return self._rest.retry_policy

    @retry_policy.setter
    def retry_policy(self, value: RetryPolicy | None) -> None:
        self._rest.retry_policy = value

    @property
    def _rest(self) -> _RESTClient:
        return cast(_RESTClient, self.rest_client)

    def update_params_for_auth(self, headers: Any, *args: Any, **kwargs: Any) -> None:
        """Put the current ``Authorization`` value in ``headers``; the generated code calls this for each request.

        The REST client puts in the credential current at send time anyway; this is for what bypasses it:
        ``kubernetes.stream`` (exec, attach, port-forward) opens its websocket with these headers.

        :param headers: the request's headers, a dict changed in place (key ``authorization``, the spelling the
            websocket client looks for; nothing is added when the source sends no header).
        :param args: the library's other arguments (queries, auth settings, resource path, method, body),
            passed on to ``kubernetes.client.ApiClient.update_params_for_auth``.
        :param kwargs: the same, by name (e.g. ``request_auth``).
        :raises ~incluster_sdk.errors.CredentialError: an exec plugin could not get a credential.
        """
        super().update_params_for_auth(headers, *args, **kwargs)
        value = self.incluster_config.credentials.auth_header()
        if value and headers is not None:
            headers["authorization"] = value  # the websocket client looks for this spelling

    def call_api(self, *args: Any, _incluster_retry: bool = True, **kwargs: Any) -> Any:
        """Send one request; takes both forms the library's generated code uses (see the module docstring).

        ``call_api(method, url, header_params=None, body=None, post_params=None, _request_timeout=None)`` works on
        every ``kubernetes`` release: ``method`` is ``"GET"``, ``"POST"``...; ``url`` the whole URL
        (``config.host``, the path and the query); ``header_params`` a dict of headers (an ``Authorization`` in
        it is replaced by the live one); ``body`` a JSON-serializable object, sent as JSON unless
        ``Content-Type`` says otherwise; ``post_params`` form fields as ``[(name, value), ...]``;
        ``_request_timeout`` seconds for the whole request, or a ``(connect, read)`` pair in seconds (None: no
        timeout). It is retried per :attr:`retry_policy`, and a 401 on a read handled as the class says.

        ``call_api(resource_path, method, path_params, query_params, header_params, ...)``, the generated code of
        kubernetes < 37, is passed on to the library as it is (credentials and retries still apply below it).

        :param args: the arguments of either form, by position.
        :param kwargs: the same, by name.
        :returns: in the first form, the response, with ``.status`` (int), ``.headers`` and
            ``.getheader(name)``, ``.read()`` (the body as bytes; ``.data`` after it) and urllib3's response as
            ``.response`` to stream: from kubernetes 37 on the library's ``RESTResponse``, before 37 an object
            with the same attributes. From 37 on, a non-2xx answer is returned, not raised. In the older form,
            what the library's ``call_api`` returns (the deserialized object, or a tuple).
        :raises kubernetes.client.exceptions.ApiException: before kubernetes 37, a non-2xx answer (after retries);
            on every release, status 0 when TLS fails (e.g. the server's certificate does not verify).
        :raises urllib3.exceptions.HTTPError: the connection failed or timed out (``NewConnectionError``,
            ``ProtocolError``, ``ReadTimeoutError``...) and the retry policy gave up or does not apply.
        :raises ~incluster_sdk.errors.CredentialError: an exec plugin could not get a credential.
        """
        first = args[0] if args else kwargs.get("method")
        if isinstance(first, str) and first.upper() in _HTTP_METHODS:
            return self._request(*args, _incluster_retry=_incluster_retry, **kwargs)
        return super().call_api(*args, **kwargs)

    def _request(
        self,
        method: str,
        url: str,
        header_params: dict[str, Any] | None = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
        *,
        _incluster_retry: bool = True,
    ) -> Any:
        response = self._rest.request(
            method,
            url,
            headers=header_params,
            body=body,
            post_params=post_params,
            _request_timeout=_request_timeout,
            _incluster_retry=_incluster_retry,
            **_RAW,
        )
        return _Response(response) if _REST_TAKES_PRELOAD else response


def api_client(config: Config | None = None, *, retry: RetryPolicy | None = DEFAULT_RETRY) -> ApiClient:
    """Build an :class:`ApiClient` (a ``kubernetes.client.ApiClient``) with the live credentials of ``config``.

    :param config: the config to use; None: :func:`~incluster_sdk.config.load_config` with no arguments.
    :param retry: when reads (and writes that never reached the server) are sent again; default
        :data:`~incluster_sdk.retry.DEFAULT_RETRY` (jittered backoff from 0.2 s to 5 s, for up to 30 s in all);
        None: never.
    :returns: the client; close it (``with``, or ``.close()``) when done to release its connections.
    :raises ~incluster_sdk.errors.ConfigError: ``config`` is None and :func:`~incluster_sdk.config.load_config`
        found no usable configuration (one of its subclasses, as it documents).
    """
    if config is None:
        from .config import load_config

        config = load_config()
    return ApiClient(config, retry=retry)
