"""Jittered exponential backoff (tenacity's full-jitter strategy), reset after a healthy period.

The watch machine is sans-I/O: it does not sleep, it hands a :class:`~.endpoints.Sleep` to its driver, so the
delays come from :class:`~incluster_sdk.retry.Waits` (a tenacity loop that records its waits)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import wait_random_exponential

from ..retry import Waits

BACKOFF_INITIAL = 0.8
"""Seconds: the first failure's delay bound, client-go's reflector's 800 ms, so that a blip costs under a
second."""
BACKOFF_MAX = 30.0
"""Seconds: the cap on the delay bound, client-go's reflector's 30 s, so that an outage is retried about twice
a minute."""
BACKOFF_RESET_AFTER = 120.0
"""Seconds: after this long without a failure, the next failure starts from :data:`BACKOFF_INITIAL` again
(client-go's reflector: 2 min)."""


class Backoff:
    """The delays of the watch machine's retries: exponential, with full jitter, reset after a healthy period.

    The n-th failure in a row waits a random time in [0, min(``maximum``, ``initial`` * 2**(n-1))] seconds
    (tenacity's ``wait_random_exponential``). client-go's reflector uses the same initial delay, cap and reset
    period but a different jitter (each delay in [d, 2d)); full jitter spreads a fleet of clients that failed
    together more widely.

    :param initial: seconds: the first failure's delay bound, doubled at each failure in a row; default
        :data:`BACKOFF_INITIAL`, 0.8 s.
    :param maximum: seconds: the cap on the delay bound; default :data:`BACKOFF_MAX`, 30 s.
    :param reset_after: seconds of success (from the first :meth:`succeeded` after a failure) after which the
        next failure starts from ``initial`` again; default :data:`BACKOFF_RESET_AFTER`, 120 s.
    :param clock: called as ``clock()`` for the current time in seconds; default :func:`time.monotonic`.
    """

    def __init__(
        self,
        *,
        initial: float = BACKOFF_INITIAL,
        maximum: float = BACKOFF_MAX,
        reset_after: float = BACKOFF_RESET_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._waits = Waits(wait_random_exponential(multiplier=initial, max=maximum))
        self._reset_after = reset_after
        self._clock = clock
        self._healthy_since: float | None = None

    @property
    def attempt(self) -> int:
        """Failures since the last reset."""
        return self._waits.failures

    def succeeded(self) -> None:
        """Note a success: the first since a failure starts the healthy period that resets the backoff."""
        if self._healthy_since is None:
            self._healthy_since = self._clock()

    def next_delay(self) -> float:
        """Note a failure and draw its delay.

        :returns: seconds to wait before retrying; from the initial bound again if the healthy period since
            the last failure lasted ``reset_after`` seconds.
        """
        now = self._clock()
        if self._healthy_since is not None and now - self._healthy_since >= self._reset_after:
            self._waits.restart()
        self._healthy_since = None
        return self._waits.next()
