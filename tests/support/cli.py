"""Run ``incluster-sdk`` the way an app's pod would: a child process with this process's environment."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m incluster_sdk ARGS``; its exit code and output, which it never checks."""
    return subprocess.run(
        [sys.executable, "-m", "incluster_sdk", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=timeout,
    )


def doctor_cli(*args: str) -> tuple[int, str]:
    """``incluster-sdk doctor ARGS``: its exit code and its stdout and stderr together."""
    proc = run_cli("doctor", *args)
    return proc.returncode, proc.stdout + proc.stderr
