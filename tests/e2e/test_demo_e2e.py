"""The README's first command: the demo runs to completion by itself and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from incluster_sdk.testing import LocalCluster

pytestmark = pytest.mark.e2e
DEMO = Path(__file__).resolve().parents[2] / "examples" / "pod-counter" / "demo.py"


def test_demo_finishes_by_itself(local_cluster: LocalCluster) -> None:  # local_cluster: binaries present
    proc = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "There are 3 pods in namespace pod-counter" in out
    assert "There is 1 pod in namespace pod-counter" in out
    assert out.count("token reloaded") >= 2
    assert out.rstrip().endswith("the cluster is cleaned up")
