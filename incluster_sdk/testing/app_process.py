"""Your app as a child process "in a pod" of a :class:`~incluster_sdk.testing.cluster.LocalCluster`, for demos.

    def run(cluster: LocalCluster) -> None:
        cluster.apply(...)                                    # the app's namespace, ServiceAccount and RBAC
        with cluster.pod_environment("demo", "app"):          # the mount and env vars the child inherits
            with AppProcess("app.py", "--port", "0") as app:  # killed at the end if it still runs
                port = int(app.expect(r"serving on port (\\d+)").group(1))
                ...                                           # change the cluster, expect what the app prints
                app.stop()                                    # SIGTERM; it must print "stopped" and exit 0

    sys.exit(run_demo(run, done="done: the app did what it should"))

:func:`run_demo` starts the local API server, runs ``run`` against it, stops the server and returns the exit
status: 0, or 1 when the app did not do what ``run`` expected (:class:`AppFailed`).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from .errors import ClusterError

if TYPE_CHECKING:
    from .cluster import LocalCluster

__all__ = ["AppFailed", "AppProcess", "run_demo", "say"]


class AppFailed(ClusterError):
    """The app did not print what was expected in time, did not happen as expected, or exited with an error."""


def say(text: str) -> None:
    """Print one line of the demo's own narration, ``[demo] text``, at once (flushed).

    :param text: the line.
    """
    print(f"[demo] {text}", flush=True)


def _every_line(line: str) -> str:
    return line


class AppProcess:
    """``python script *args`` as a child process, in this process's environment (so started inside
    :meth:`LocalCluster.pod_environment <incluster_sdk.testing.cluster.LocalCluster.pod_environment>`, it runs
    "in the pod"), its stdout and stderr read line by line as they come.

    Each line :meth:`expect` reads is echoed as ``    label| shown``, where ``shown`` is what ``show`` makes of
    the line (default: the line itself); a line ``show`` maps to None is not echoed. As a context manager,
    it kills the app at the end if it still runs (:meth:`kill`).

    :param script: the Python script to run, with this interpreter (``sys.executable``).
    :param args: its command-line arguments.
    :param label: the name in echoed lines and error messages; default ``"app"``.
    :param show: called as ``show(line) -> str | None`` for each line read: what to echo, or None to echo
        nothing; default: the line itself.
    """

    def __init__(
        self,
        script: str | os.PathLike[str],
        *args: str,
        label: str = "app",
        show: Callable[[str], str | None] = _every_line,
    ) -> None:
        self.label = label
        self._show = show
        self.proc = subprocess.Popen(
            [sys.executable, os.fspath(script), *args],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        """The running app (:class:`subprocess.Popen`, text mode; stdout and stderr merged into :attr:`lines`)."""
        self.lines: queue.Queue[str] = queue.Queue()
        """The lines printed and not read by :meth:`expect` yet, trailing white space stripped."""
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.lines.put(line.rstrip())

    def _echo(self, line: str) -> None:
        shown = self._show(line)
        if shown is not None:
            print(f"    {self.label}| {shown}", flush=True)

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Read (and echo) lines until one matches ``pattern``; lines before it are consumed.

        :param pattern: a regular expression, searched in each line (:func:`re.search`).
        :param timeout: seconds to wait for the line; default 30 s (our choice: an app's start-up on a loaded
            machine).
        :returns: the match, e.g. ``app.expect(r"port (\\d+)").group(1)``.
        :raises AppFailed: if no line matched within ``timeout`` seconds, or the app exited first.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self._echo(line)
            if match := re.search(pattern, line):
                return match
        raise AppFailed(f"{self.label} never printed {pattern!r}")

    def stop(self, timeout: float = 15.0, *, stopped: str = r"stopped$") -> None:
        """Stop the app as Kubernetes does (SIGTERM): it must print a line matching ``stopped``, then exit 0.

        :param timeout: seconds to wait for the exit once the ``stopped`` line is read (the line itself may take
            up to :meth:`expect`'s default 30 s); default 15 s (our choice, below Kubernetes' default 30 s
            ``terminationGracePeriodSeconds``).
        :param stopped: a regular expression the app's last words must match; default: a line ending in
            ``stopped``.
        :raises AppFailed: if no line matches ``stopped`` (within 30 s, or before the app exits), or the app
            exits with a status other than 0.
        :raises subprocess.TimeoutExpired: if the app has not exited ``timeout`` seconds after that line.
        """
        self.proc.send_signal(signal.SIGTERM)
        self.expect(stopped)
        if self.proc.wait(timeout) != 0:
            raise AppFailed(f"{self.label} exited with {self.proc.returncode}")

    def kill(self) -> None:
        """Kill the app (SIGKILL) if it still runs, then echo the lines it printed that :meth:`expect` did not
        read (those already received)."""
        if self.proc.poll() is None:
            self.proc.kill()
        while True:
            try:
                self._echo(self.lines.get_nowait())
            except queue.Empty:
                return

    def __enter__(self) -> AppProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def run_demo(run: Callable[[LocalCluster], None], *, done: str) -> int:
    """Start a :class:`~incluster_sdk.testing.cluster.LocalCluster`, call ``run(cluster)``, stop the cluster.

    Narrates with :func:`say`: the start, the server's address, then ``done``; returns 0. If ``run`` raises
    :class:`AppFailed`, prints ``FAILED:`` and the reason instead and returns 1 (an exit status for
    ``sys.exit``). The cluster is stopped and cleaned up either way.

    :param run: called as ``run(cluster) -> None`` with the running
        :class:`~incluster_sdk.testing.cluster.LocalCluster`; it raises :class:`AppFailed` when the app
        misbehaves.
    :param done: the line to narrate when ``run`` returned.
    :returns: the exit status: 0, or 1 if ``run`` raised :class:`AppFailed`.
    :raises ~incluster_sdk.testing.binaries.BinariesNotFound: if etcd or kube-apiserver is not installed.
    :raises ~incluster_sdk.testing.errors.ClusterError: if the cluster does not start (other than
        :class:`AppFailed`, which is reported as 1); any other exception from ``run`` passes through too.
    """
    from .cluster import LocalCluster

    say("starting a local kube-apiserver + etcd ...")
    try:
        with LocalCluster.start() as cluster:
            say(f"API server ready at {cluster.server}")
            run(cluster)
    except AppFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    say(done)
    return 0
