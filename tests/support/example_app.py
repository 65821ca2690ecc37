"""An example's app (``examples/NAME/app.py``) as a child process for its end-to-end test: started inside
``pod_environment`` it runs "in the pod"; its output is read as it comes (``output.Lines``) and waited for."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from .output import Lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class ExampleApp:
    """``python examples/<example>/app.py *args``, stdout and stderr together in :attr:`output`.

    A test module subclasses it, naming its example and how long :meth:`expect` waits by default.
    """

    example: ClassVar[str]
    #: seconds :meth:`expect` waits unless told otherwise
    timeout: ClassVar[float] = 30

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / self.example / "app.py"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ.copy(),
        )
        assert self.proc.stdout is not None
        self.output = Lines(self.proc.stdout)

    @property
    def seen(self) -> list[str]:
        """The lines :meth:`expect` has consumed."""
        return self.output.seen

    def expect(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        """The match of the next line that matches ``pattern``, consuming the lines up to it; fails the test
        if none comes within ``timeout`` seconds (default: :attr:`timeout`)."""
        match = self.output.next(lambda line: re.search(pattern, line), self.timeout if timeout is None else timeout)
        if match is None:
            raise AssertionError(f"{pattern!r} never printed; output: {self.output.read[-30:]}")
        return match
