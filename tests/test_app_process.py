"""incluster_sdk.testing.app_process: an app as a child process for demos, waited for by what it prints (no
cluster needed: the apps here are small scripts; run_demo's cluster is a stand-in)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from incluster_sdk.errors import InclusterSDKError
from incluster_sdk.testing import cluster as cluster_module
from incluster_sdk.testing.app_process import AppFailed, AppProcess, run_demo

APP = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("stopped", flush=True), sys.exit(int(sys.argv[1]))))
print("INFO serving on port 8080", flush=True)
print("DEBUG noise", flush=True)
print("INFO ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(APP))
    return path


def test_expect_reads_echoes_and_stop_needs_exit_zero(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with AppProcess(app, "0", label="web", show=lambda line: line[5:] if line.startswith("INFO") else None) as proc:
        assert proc.expect(r"port (\d+)").group(1) == "8080"
        proc.expect(r"ready$")
        proc.stop(10)
    assert proc.proc.returncode == 0
    echoed = capsys.readouterr().out.splitlines()
    assert echoed == ["    web| serving on port 8080", "    web| ready"]


def test_stop_with_a_failing_exit_and_expect_after_exit_raise_app_failed(app: Path) -> None:
    with AppProcess(app, "3") as proc:
        proc.expect("ready")
        with pytest.raises(AppFailed, match="app exited with 3") as caught:
            proc.stop(10)
        assert isinstance(caught.value, InclusterSDKError)
        with pytest.raises(AppFailed, match="app never printed 'more'"):
            proc.expect("more", timeout=10)  # the app has exited: no need to wait the whole timeout


def test_exit_kills_a_running_app_and_echoes_what_was_not_read(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with AppProcess(app, "0") as proc:
        proc.expect("serving")
        deadline = time.monotonic() + 10
        while proc.lines.qsize() < 2 and time.monotonic() < deadline:  # the two lines after it, not read
            time.sleep(0.01)
    assert proc.proc.wait(10) != 0  # killed
    assert capsys.readouterr().out.splitlines() == [
        "    app| INFO serving on port 8080",
        "    app| DEBUG noise",
        "    app| INFO ready",
    ]


class FakeCluster:
    server = "https://127.0.0.1:6443"

    def __enter__(self) -> FakeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped = True


@pytest.mark.parametrize(("fails", "status", "last"), [(False, 0, "[demo] all good"), (True, 1, "[demo] FAILED: no")])
def test_run_demo_narrates_and_returns_the_exit_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fails: bool, status: int, last: str
) -> None:
    cluster = FakeCluster()
    monkeypatch.setattr(cluster_module.LocalCluster, "start", classmethod(lambda cls: cluster))
    ran: list[Any] = []

    def run(c: Any) -> None:
        ran.append(c)
        if fails:
            raise AppFailed("no")

    assert run_demo(run, done="all good") == status
    assert ran == [cluster] and cluster.stopped
    out = capsys.readouterr().out.splitlines()
    ready = f"[demo] API server ready at {cluster.server}"
    assert out == ["[demo] starting a local kube-apiserver + etcd ...", ready, last]
