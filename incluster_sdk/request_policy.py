"""What :mod:`incluster_sdk.client` and :mod:`incluster_sdk.aio_client` share: how a request is set up (user
agent, auth header, library ``Configuration``), and when and how often it is sent again. The decisions are
here once; each client keeps only its thin loop (a tenacity ``Retrying`` or ``AsyncRetrying`` over one send)
and what is its own (how its HTTP library reports a failure, how it releases a response).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState

from ._version import __version__
from .retry import Failure, RetryPolicy, parse_retry_after
from .transport import is_socks

if TYPE_CHECKING:
    from .config import Config

USER_AGENT = f"incluster-sdk/{__version__}"

#: TLS errors that asking again cannot fix: the certificate is wrong, not the connection.
_TLS_PERMANENT = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "hostname", "WRONG_VERSION_NUMBER")


def with_auth(headers: dict[str, Any] | None, value: str | None) -> dict[str, Any]:
    """``headers`` with ``value`` as the only Authorization header (none if ``value`` is empty)."""
    out = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
    if value:
        out["Authorization"] = value
    return out


def tls_failure(text: str) -> Failure | None:
    """A handshake cut short (EOF, reset: a restarting server behind a proxy) never sent the request."""
    if "SSL" not in text or any(marker in text for marker in _TLS_PERMANENT):
        return None
    return "connect"


def url_path(url: str) -> str:
    return urllib.parse.urlsplit(url).path or url


def fill_configuration(conf: Any, config: Config) -> Any:
    """A ``kubernetes`` or ``kubernetes_asyncio`` ``Configuration`` filled from ``config`` (no credentials)."""
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
    if config.proxy_url and not is_socks(config.proxy_url):  # SOCKS: incluster_sdk.transport, per client
        conf.proxy = config.proxy_url
    return conf


@dataclass(frozen=True)
class Verdict:
    """An attempt that may be repeated: why (for the log), and the server's ``Retry-After`` if it sent one."""

    why: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RequestRetry:
    """One request's retry decisions, as tenacity's ``retry``, ``wait``, ``stop``, ``before_sleep`` and
    ``retry_error_callback``: ``Retrying(**retry.tenacity())`` (or ``AsyncRetrying``) runs the loop.

    ``failure_of``: how this client's HTTP library failed ("connect", "read" or None: do not retry);
    ``api_exception``: the library's ``ApiException`` (a non-2xx answer, or status 0 around a TLS failure);
    ``release``: give a response we will not hand on back to the pool before sleeping."""

    policy: RetryPolicy
    method: str
    url: str
    failure_of: Callable[[BaseException], Failure | None]
    api_exception: type[BaseException]
    release: Callable[[Any], None]
    log: logging.Logger

    def verdict(self, state: RetryCallState) -> Verdict | None:
        """Why the attempt that just ended may be repeated, or None if it is final."""
        outcome, method, policy = state.outcome, self.method, self.policy
        if outcome is None:
            return None
        if outcome.failed:
            exc = outcome.exception()
            if isinstance(exc, self.api_exception):  # a non-2xx answer raised, or the sync client's TLS wrapper
                status: int = getattr(exc, "status", 0) or 0
                if not status:
                    failure = tls_failure(str(getattr(exc, "reason", "")))
                    return Verdict("HTTP 0") if failure and policy.retryable(method, failure=failure) else None
                headers = dict(getattr(exc, "headers", None) or {})
                retry_after = parse_retry_after(headers.get("Retry-After"))
                return Verdict(f"HTTP {status}", retry_after) if policy.retryable(method, status=status) else None
            failure = self.failure_of(exc) if exc is not None else None
            retryable = failure is not None and policy.retryable(method, failure=failure)
            return Verdict(type(exc).__name__) if retryable else None
        response = outcome.result()
        status = getattr(response, "status", 200)
        if 200 <= status <= 299 or not policy.retryable(method, status=status):
            return None
        return Verdict(f"HTTP {status}", parse_retry_after((response.headers or {}).get("Retry-After")))

    def tenacity(self) -> dict[str, Any]:
        """Keyword arguments for ``Retrying`` / ``AsyncRetrying`` (one set per request: it keeps each attempt's
        verdict and pause, decided once in ``retry``, so ``wait`` and ``stop`` agree in any tenacity release)."""
        jitter = self.policy.wait_strategy()
        decided: dict[int, tuple[Verdict, float]] = {}

        def retry(state: RetryCallState) -> bool:
            verdict = self.verdict(state)
            if verdict is None:
                return False
            pause = float(jitter(state))
            if verdict.retry_after is not None:
                pause = max(pause, verdict.retry_after)
            decided[state.attempt_number] = verdict, pause
            return True

        def wait(state: RetryCallState) -> float:
            return decided[state.attempt_number][1] if state.attempt_number in decided else 0.0

        def stop(state: RetryCallState) -> bool:  # the deadline: no repeat that would start after it
            return (state.seconds_since_start or 0.0) + wait(state) > self.policy.deadline

        def before_sleep(state: RetryCallState) -> None:
            if state.outcome is not None and not state.outcome.failed:
                self.release(state.outcome.result())
            verdict, pause = decided[state.attempt_number]
            self.log.info(
                "%s %s: %s; retry %d in %.2fs",
                self.method,
                url_path(self.url),
                verdict.why,
                state.attempt_number,
                pause,
            )

        def give_up(state: RetryCallState) -> Any:  # past the deadline: the last answer, or its error
            return state.outcome.result() if state.outcome is not None else None

        return {
            "retry": retry,
            "wait": wait,
            "stop": stop,
            "before_sleep": before_sleep,
            "retry_error_callback": give_up,
        }
