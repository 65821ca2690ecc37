"""Every credential the test kit hands out, so a test run can prove none of them ever reached a log line,
an exception message or a repr (see ``tests/conftest.py``)."""

from __future__ import annotations

import threading

#: Shorter strings (test placeholders like "t") would match by accident; real tokens are far longer.
MIN_RECOGNISABLE = 16

_issued: set[str] = set()
_lock = threading.Lock()


def remember(token: str) -> str:
    if len(token) >= MIN_RECOGNISABLE:
        with _lock:
            _issued.add(token)
    return token


def issued() -> frozenset[str]:
    with _lock:
        return frozenset(_issued)


def leaked_in(text: str) -> list[str]:
    """The remembered tokens found in ``text``, shortened so that the report does not leak them again."""
    return [f"{t[:6]}…({len(t)} chars)" for t in issued() if t in text]
