"""The documented informer examples run "as if in a pod" against the real API server and see changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from incluster_sdk.testing import LocalCluster

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "informers"
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "x"}]}}


def read_until(proc: subprocess.Popen[str], text: str, lines: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if text in line:
            return
    raise AssertionError(f"{text!r} not printed; output so far: {lines}")


@pytest.mark.parametrize("script", ["watch_pods.py", "watch_pods_async.py"])
def test_informer_example_in_a_pod(
    script: str, local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    local_cluster.create({**POD, "metadata": {"name": "before", "namespace": cluster_namespace}})
    in_pod(["get,list,watch:pods"])
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    lines: list[str] = []
    try:
        read_until(proc, "synced: 1 pods", lines)
        initial = f"add {cluster_namespace}/before (initial list)"
        if not any(initial in line for line in lines):  # handlers print from their own thread
            read_until(proc, initial, lines)
        assert "config: in-cluster" in lines[0] and cluster_namespace in lines[0]
        local_cluster.create({**POD, "metadata": {"name": "after", "namespace": cluster_namespace}})
        read_until(proc, f"add {cluster_namespace}/after", lines)
        local_cluster.delete(f"/api/v1/namespaces/{cluster_namespace}/pods/after")
        read_until(proc, f"delete {cluster_namespace}/after", lines)
        proc.send_signal(signal.SIGTERM)
        read_until(proc, "stopped", lines)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
