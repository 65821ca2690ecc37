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
"""An observer: called as ``observer(token)`` with each token; what it returns is ignored."""

_observers: list[TokenObserver] = []
_lock = threading.Lock()


def observe_tokens(observer: TokenObserver) -> Callable[[], None]:
    """Call ``observer(token)`` with every token the kit hands out from now on, until stopped.

    The tokens: the local cluster's admin token (when :meth:`LocalCluster.start
    <incluster_sdk.testing.cluster.LocalCluster.start>` makes it), every minted one, and every token written
    into a :class:`~incluster_sdk.testing.fake_mount.FakeServiceAccountMount` (at creation and on rotation).
    Observers are called in the order registered, on the thread that hands the token out; an exception an
    observer raises reaches the code that asked for the token.

    :param observer: called as ``observer(token: str)``, e.g. ``seen.add``; its return value is ignored.
    :returns: a function, ``stop() -> None``, that unregisters the observer; calling it again is harmless.
    """
    with _lock:
        _observers.append(observer)

    def stop() -> None:
        with _lock:
            if observer in _observers:
                _observers.remove(observer)

    return stop


def handed_out(token: str) -> str:
    """Pass one token the kit gives a test (a mount's, a minted one) to every observer registered now.

    :param token: the token.
    :returns: ``token`` itself, so that ``return handed_out(token)`` works.
    """
    with _lock:
        observers = list(_observers)
    for observer in observers:
        observer(token)
    return token
