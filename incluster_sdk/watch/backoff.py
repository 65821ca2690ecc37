"""Jittered exponential backoff (tenacity's full-jitter strategy), reset after a healthy period.

The watch machine is sans-I/O: it does not sleep, it hands a :class:`~.endpoints.Sleep` to its driver, so the
delays come from :class:`~incluster_sdk.retry.Waits` (a tenacity loop that records its waits)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import wait_random_exponential

from ..retry import Waits

#: client-go's watch backoff: start near 0.8 s so a blip costs under a second, cap at 30 s so an outage is
#: retried twice a minute; full jitter keeps a fleet of clients from reconnecting in lockstep.
BACKOFF_INITIAL = 0.8
BACKOFF_MAX = 30.0
#: After this long without a failure the next failure starts from the initial delay again (client-go: 2 min).
BACKOFF_RESET_AFTER = 120.0


class Backoff:
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
        if self._healthy_since is None:
            self._healthy_since = self._clock()

    def next_delay(self) -> float:
        now = self._clock()
        if self._healthy_since is not None and now - self._healthy_since >= self._reset_after:
            self._waits.restart()
        self._healthy_since = None
        return self._waits.next()
