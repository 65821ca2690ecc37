"""The lines a child process prints, read by a daemon thread as they come, waited for with a timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")


class Lines:
    """Every line ``stream`` has printed so far (``read``), trailing white space stripped; ``next`` consumes
    them in order, ``first`` looks at all of them."""

    def __init__(self, stream: IO[str]) -> None:
        self.read: list[str] = []
        self.consumed = 0
        self._more = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._more:
                self.read.append(line.rstrip())
                self._more.notify_all()

    @property
    def seen(self) -> list[str]:
        """The lines ``next`` has consumed."""
        return self.read[: self.consumed]

    def next(self, accept: Callable[[str], T | None], timeout: float) -> T | None:
        """``accept``'s first answer other than None for the lines not consumed yet, consuming up to the line
        it accepts; None when ``timeout`` seconds pass first."""
        found, self.consumed = self._search(accept, self.consumed, timeout)
        return found

    def first(self, accept: Callable[[str], T | None], timeout: float) -> T | None:
        """``accept``'s first answer other than None for every line read, waiting up to ``timeout`` seconds."""
        return self._search(accept, 0, timeout)[0]

    def _search(self, accept: Callable[[str], T | None], start: int, timeout: float) -> tuple[T | None, int]:
        deadline = time.monotonic() + timeout
        index = start
        with self._more:
            while True:
                while index < len(self.read):
                    found = accept(self.read[index])
                    index += 1
                    if found is not None:
                        return found, index
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, index
                self._more.wait(remaining)
