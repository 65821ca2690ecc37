"""When a request through :func:`~incluster_sdk.api_client` may be sent again, and after how long.

The rule is safety first: a request is repeated only if repeating it cannot repeat an effect.

- Reads (GET, HEAD, OPTIONS) are retried after connection errors, read timeouts, 429 and 500/502/503/504.
- Writes are retried only when the server cannot have acted on them: the connection was never made
  (refused, connect timeout), or the answer was 429 (API Priority and Fairness rejects before processing).
- Backoff is full-jitter exponential (tenacity), honours ``Retry-After``, and ends at a deadline.

urllib3's own silent retries are turned off (the client's pool gets ``retries=0``), so this is the only
place requests are repeated, and every repeat is logged once at INFO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tenacity import RetryCallState, wait_random_exponential

#: Reads are retried for up to this long in all: enough to ride out an API server restart or a
#: control-plane node being replaced (seconds), short enough that a caller's own timeouts still matter.
RETRY_DEADLINE = 30.0
#: First retry soon: most blips (a reset connection, a restarting endpoint) are over at once.
RETRY_INITIAL = 0.2
#: Cap between tries: an outage is probed several times within the deadline.
RETRY_MAX = 5.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Statuses a read may be retried on: throttled, or the server (or a proxy in front of it) failed.
READ_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses a write may be retried on: only a rejection that happened before the request was processed.
WRITE_RETRY_STATUSES = frozenset({429})

Failure = Literal["connect", "read"]


@dataclass(frozen=True)
class RetryPolicy:
    """``RetryPolicy(deadline=0)`` (or ``api_client(cfg, retry=None)``) turns retries off."""

    deadline: float = RETRY_DEADLINE
    initial: float = RETRY_INITIAL
    maximum: float = RETRY_MAX

    def delay(
        self,
        method: str,
        attempt: int,
        elapsed: float,
        *,
        status: int | None = None,
        failure: Failure | None = None,
        retry_after: float | None = None,
    ) -> float | None:
        """Seconds to wait before try number ``attempt + 1``, or None to give up and report the outcome.

        ``status`` is the HTTP answer; ``failure`` says how the request failed without one: "connect" (it
        never reached the server) or "read" (it may have).
        """
        idempotent = method.upper() in IDEMPOTENT_METHODS
        if status is not None:
            retryable = status in (READ_RETRY_STATUSES if idempotent else WRITE_RETRY_STATUSES)
        else:
            retryable = failure == "connect" or (failure == "read" and idempotent)
        if not retryable:
            return None
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        wait = float(wait_random_exponential(multiplier=self.initial, max=self.maximum)(state))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait if elapsed + wait <= self.deadline else None


def parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP-date: our own backoff decides
        return None


#: The policy every client gets unless told otherwise.
DEFAULT_RETRY = RetryPolicy()
