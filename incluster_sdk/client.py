"""A ready-made ``kubernetes`` API client built from a :class:`Config` (the asyncio one is in
:mod:`incluster_sdk.aio_client`), and the rules both follow.

The token is never copied into the library's ``Configuration`` (whose repr and debug report would show
it). Instead each request asks the shared credential source for the current header at send time, and a
401 on a read triggers one immediate re-read and retry, so a request racing a token rotation succeeds.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from typing import Any

import kubernetes.client
import urllib3
from kubernetes.client.exceptions import ApiException as SyncApiException

from . import __version__
from .config import Config
from .credentials import Credentials
from .retry import DEFAULT_RETRY, IDEMPOTENT_METHODS, Failure, RetryPolicy, parse_retry_after

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


def _sync_failure(exc: BaseException) -> Failure | None:
    """How a urllib3 request failed: "connect" (never reached the server), "read" (may have), or None."""
    reason = getattr(exc, "reason", exc) if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(reason, urllib3.exceptions.SSLError):
        return _tls_failure(f"SSL {reason}")
    if isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
        return "connect"
    if isinstance(reason, (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, OSError)):
        return "read"
    return None


def _delay_after_status_error(
    policy: RetryPolicy | None, method: str, attempt: int, elapsed: float, exc: Any
) -> float | None:
    """For the ApiException older clients raise on a non-2xx answer (it carries the status and headers)."""
    if policy is None:
        return None
    if not exc.status:  # status 0: the sync client's wrapper around a TLS failure
        return policy.delay(method, attempt, elapsed, failure=_tls_failure(str(exc.reason)))
    retry_after = parse_retry_after(dict(exc.headers or {}).get("Retry-After"))
    return policy.delay(method, attempt, elapsed, status=exc.status, retry_after=retry_after)


#: TLS errors that asking again cannot fix: the certificate is wrong, not the connection.
_TLS_PERMANENT = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "hostname", "WRONG_VERSION_NUMBER")


def _tls_failure(text: str) -> Failure | None:
    """A handshake cut short (EOF, reset: a restarting server behind a proxy) never sent the request."""
    if "SSL" not in text or any(marker in text for marker in _TLS_PERMANENT):
        return None
    return "connect"


#: Query parameters that make a response a stream the caller reads as it comes (never read it whole here).
_STREAMING_PARAMS = ("watch=", "follow=")


def _reads_whole_body(method: str, url: str) -> bool:
    """A read whose body the caller will read in full anyway (everything but watches and log follows)."""
    query = urllib.parse.urlsplit(url).query.lower()
    return method.upper() in IDEMPOTENT_METHODS and not any(
        p + v in query for p in _STREAMING_PARAMS for v in ("true", "1")
    )


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path or url


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
    """``kubernetes.client.ApiClient`` whose requests carry the config's live credentials, and whose reads
    survive blips (see :mod:`incluster_sdk.retry`; ``retry=None`` turns that off)."""

    def __init__(self, config: Config, *, retry: RetryPolicy | None = DEFAULT_RETRY, **kwargs: Any) -> None:
        conf = _fill_configuration(kubernetes.client.Configuration(), config)
        conf.retries = False  # urllib3 would retry silently on its own: our policy is the only one
        super().__init__(conf, **kwargs)
        self.incluster_config = config
        self.retry_policy = retry
        self.user_agent = USER_AGENT

    def call_api(
        self,
        method: str,
        url: str,
        header_params: dict[str, Any] | None = None,
        *args: Any,
        _incluster_retry: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One request, retried per :attr:`retry_policy` (``_incluster_retry=False``: informers retry
        with their own state machine)."""
        policy = self.retry_policy if _incluster_retry else None
        started, attempt = time.monotonic(), 0
        while True:
            attempt += 1
            elapsed = time.monotonic() - started
            try:
                response = self._call_with_auth(method, url, header_params, *args, **kwargs)
            except SyncApiException as exc:  # kubernetes < 35 raises non-2xx answers
                delay = _delay_after_status_error(policy, method, attempt, elapsed, exc)
                if delay is None:
                    raise
                why = f"HTTP {exc.status}"
            except Exception as exc:
                failure = _sync_failure(exc)
                delay = policy.delay(method, attempt, elapsed, failure=failure) if policy and failure else None
                if delay is None:
                    raise
                why = f"{type(exc).__name__}"
            else:
                status = response.status
                if policy is None:
                    return response
                if 200 <= status <= 299:
                    if not _reads_whole_body(method, url):
                        return response
                    try:
                        response.read()  # the body too: a connection cut mid-body is retried like any other
                    except Exception as exc:
                        failure = _sync_failure(exc)
                        delay = policy.delay(method, attempt, elapsed, failure=failure) if failure else None
                        if delay is None:
                            raise
                        log.info("%s %s: %s; retry %d in %.2fs", method, _path(url), type(exc).__name__, attempt, delay)
                        time.sleep(delay)
                        continue
                    return response
                retry_after = parse_retry_after((response.headers or {}).get("Retry-After"))
                delay = policy.delay(method, attempt, elapsed, status=status, retry_after=retry_after)
                if delay is None:
                    return response
                response.read()  # drain so the connection returns to the pool
                why = f"HTTP {status}"
            log.info("%s %s: %s; retry %d in %.2fs", method, _path(url), why, attempt, delay)
            time.sleep(delay)

    def _call_with_auth(
        self, method: str, url: str, header_params: dict[str, Any] | None, *args: Any, **kwargs: Any
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


def api_client(config: Config | None = None, *, retry: RetryPolicy | None = DEFAULT_RETRY) -> ApiClient:
    """A ``kubernetes.client.ApiClient`` for ``config`` (default: :func:`load_config`).

    ``retry``: when reads (and never-sent writes) are repeated; ``None`` turns retries off."""
    if config is None:
        from .config import load_config

        config = load_config()
    return ApiClient(config, retry=retry)
