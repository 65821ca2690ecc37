"""A string holder that never shows its value in a repr, str, log line or traceback."""

from __future__ import annotations

import hashlib
from typing import Any, Final


class Secret:
    """Holds a credential; ``repr``/``str`` show only a short fingerprint, never the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value: Final = value

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible id so logs can say *which* token without showing it."""
        return hashlib.sha256(self._value.encode("utf-8", "surrogatepass")).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"<redacted sha256:{self.fingerprint}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[Any, ...]:  # pickling would write the value to disk or a socket
        raise TypeError("incluster_sdk.Secret cannot be pickled")
