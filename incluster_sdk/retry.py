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

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from tenacity import AttemptManager, Retrying, retry_always, stop_never, wait_random_exponential
from tenacity.wait import wait_base

RETRY_DEADLINE = 30.0
"""Seconds from the first try after which no try is started: 30 s, our choice: enough to ride out an API server
restart or a control-plane node being replaced, short enough that a caller's own timeouts still matter."""
RETRY_INITIAL = 0.2
"""The upper bound of the first pause, in seconds: 0.2 s, our choice: most blips (a reset connection, a
restarting endpoint) are over at once."""
RETRY_MAX = 5.0
"""The cap on one pause, in seconds: 5 s, our choice: an outage is probed several times within the deadline."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""The methods treated as reads: repeating them cannot repeat an effect."""
READ_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses a read may be retried on: throttled, or the server (or a proxy in front of it) failed."""
WRITE_RETRY_STATUSES = frozenset({429})
"""HTTP statuses a write may be retried on: only a rejection that happened before the request was processed
(API Priority and Fairness rejects with 429 before processing)."""

Failure = Literal["connect", "read"]
"""How a request failed without an answer: ``"connect"`` (it never reached the server) or ``"read"`` (it may
have)."""


@dataclass(frozen=True)
class RetryPolicy:
    """When a request through :func:`~incluster_sdk.client.api_client` or
    :func:`~incluster_sdk.aio_client.async_api_client` is sent again, and after how long (see the module docstring).

    Pauses are full-jitter exponential: the pause after try ``n`` is drawn uniformly from 0 to
    ``min(initial * 2 ** (n - 1), maximum)`` seconds, at least the server's ``Retry-After``. No try starts past
    ``deadline``. ``RetryPolicy(deadline=0)`` (or ``api_client(cfg, retry=None)``) turns retries off.

    :param deadline: seconds from the first try after which no further try is started (one under way is not cut
        short); default :data:`RETRY_DEADLINE`, 30 s.
    :param initial: the upper bound of the first pause, in seconds, doubled for each further one; default
        :data:`RETRY_INITIAL`, 0.2 s.
    :param maximum: the cap on one pause's upper bound, in seconds; default :data:`RETRY_MAX`, 5 s.
    """

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
        """Decide whether to send a request again and after what pause: :meth:`retryable`, then the timing.

        Each call draws a new random pause.

        :param method: the request's HTTP method (any case).
        :param attempt: the number of the try that just ended, from 1 (0 gives a pause of 0 s).
        :param elapsed: seconds since the first try started.
        :param status: the HTTP status of the answer; None if there was none (then ``failure`` decides).
        :param failure: how the request failed without an answer: ``"connect"`` (it never reached the server) or
            ``"read"`` (it may have); None: not a failure that may be retried.
        :param retry_after: the server's ``Retry-After``, in seconds; the pause is at least this long. None: none.
        :returns: the pause in seconds before try ``attempt + 1``; None to give up and report the outcome (not
            retryable, or the pause would end past the deadline).
        """
        if not self.retryable(method, status=status, failure=failure):
            return None
        waits = Waits(self.wait_strategy())
        wait = 0.0
        for _ in range(attempt):
            wait = waits.next()
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait if elapsed + wait <= self.deadline else None

    def retryable(self, method: str, *, status: int | None = None, failure: Failure | None = None) -> bool:
        """Whether a request that ended so may be sent again: the decision, without the timing.

        A status, when given, decides alone: reads on :data:`READ_RETRY_STATUSES`, writes on
        :data:`WRITE_RETRY_STATUSES`. Without one, a ``"connect"`` failure is retryable for every method, a
        ``"read"`` failure for reads only.

        :param method: the request's HTTP method (any case); :data:`IDEMPOTENT_METHODS` are reads.
        :param status: the HTTP status of the answer; None if there was none.
        :param failure: how the request failed without an answer (``"connect"`` or ``"read"``); None: neither.
        :returns: True if the request may be sent again.
        """
        idempotent = method.upper() in IDEMPOTENT_METHODS
        if status is not None:
            return status in (READ_RETRY_STATUSES if idempotent else WRITE_RETRY_STATUSES)
        return failure == "connect" or (failure == "read" and idempotent)

    def wait_strategy(self) -> wait_base:
        """The pause before each repeat, for a tenacity loop: full jitter from ``initial``, capped at ``maximum``.

        :returns: ``tenacity.wait_random_exponential(multiplier=initial, max=maximum)``, a callable that takes
            tenacity's ``RetryCallState`` and returns the pause in seconds.
        """
        return wait_random_exponential(multiplier=self.initial, max=self.maximum)


class _Failed(Exception):
    """How :class:`Waits` tells its loop that an attempt failed (tenacity retries on any exception)."""


class Waits:
    """A tenacity wait strategy for a loop that does not sleep itself (a sans-I/O state machine hands the
    delay to its driver): a :class:`~tenacity.Retrying` loop whose ``sleep`` hook records each wait instead
    of sleeping. :meth:`next` marks the current attempt failed and steps the loop; tenacity's own attempt
    count and wait strategy decide the delay. :meth:`restart` starts counting from the first attempt again.

    tenacity keeps a loop's statistics per thread, so the loop begins in the thread that first steps it (an
    informer is built on one thread and runs on another); should another thread step it later, the loop is
    begun there again and brought to the same attempt."""

    def __init__(self, wait: wait_base) -> None:
        self._waits: list[float] = []
        self._retrying = Retrying(wait=wait, retry=retry_always, stop=stop_never, sleep=self._waits.append)
        self._attempts: Iterator[AttemptManager] | None = None
        self._current: AttemptManager | None = None
        self._thread: int | None = None
        self._failures = 0

    def restart(self) -> None:
        """Count from the first attempt again (after a success)."""
        self._attempts = self._current = None
        self._failures = 0

    @property
    def failures(self) -> int:
        """Failed attempts since the (re)start."""
        return self._failures

    def next(self) -> float:
        """The wait after one more failed attempt."""
        if self._current is None or self._thread != threading.get_ident():
            self._begin(self._failures)
        assert self._current is not None and self._attempts is not None
        with self._current:
            raise _Failed
        self._current = next(self._attempts)  # tenacity waits (into self._waits), then starts the next attempt
        self._failures = self._current.retry_state.attempt_number - 1
        return self._waits.pop()

    def _begin(self, failures: int) -> None:
        self._thread = threading.get_ident()
        self._attempts = iter(self._retrying)
        self._current = next(self._attempts)
        for _ in range(failures):  # back to where another thread left it
            with self._current:
                raise _Failed
            self._current = next(self._attempts)
        self._waits.clear()


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header given in seconds.

    :param value: the header's value; None or empty: none.
    :returns: the seconds (negative ones as 0); None without a value, or for an HTTP-date (our own backoff
        decides then).
    """
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP-date: our own backoff decides
        return None


DEFAULT_RETRY = RetryPolicy()
"""The policy every client gets unless told otherwise: 30 s deadline, pauses from 0.2 s up to 5 s."""
