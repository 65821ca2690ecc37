"""Observers of every token the test kit hands out, so that a test suite can check none reaches its logs.

    stop = observe_tokens(issued.add)     # called with each token: the admin token, minted and mounted ones
    ...
    stop()

The kit keeps no token itself: it passes each one to the observers registered at that moment (none by
default) and forgets it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

TokenObserver = Callable[[str], object]

_observers: list[TokenObserver] = []
_lock = threading.Lock()


def observe_tokens(observer: TokenObserver) -> Callable[[], None]:
    """Call ``observer(token)`` with every token the kit hands out from now on; returns the function that
    stops it (calling that twice is harmless)."""
    with _lock:
        _observers.append(observer)

    def stop() -> None:
        with _lock:
            if observer in _observers:
                _observers.remove(observer)

    return stop


def handed_out(token: str) -> str:
    """The kit calls this with each token it gives a test (a mount's, a minted one); returns the token."""
    with _lock:
        observers = list(_observers)
    for observer in observers:
        observer(token)
    return token
