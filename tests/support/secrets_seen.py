"""The tokens this test run handed out, so the run can prove none of them reached a log line, an exception
message or a failure report.

``tests/conftest.py`` subscribes :func:`remember` to :func:`incluster_sdk.testing.observe_tokens` for the
whole session, so every token the test kit hands out (the local cluster's admin token, every minted token,
every token written to a fake mount) lands here; a test that makes up a token of its own calls
:func:`remember` itself.
"""

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
