"""Every Python sample in the docs and the README runs: scripts "as if in a pod" against the real API
server, pytest samples through pytest with this package's plugin, enabled by the conftest.py the docs show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incluster_sdk.testing import LocalCluster
from tests.support.crds import widget_crd

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: A ```python fence, also indented (inside a sync/asyncio tab or an admonition): its lines lose that indent.
FENCE = re.compile(r"^(?P<indent>[ ]*)```python\n(?P<code>.*?)^(?P=indent)```$", re.M | re.S)


def samples() -> list[Any]:
    found = []
    for page in PAGES:
        for number, match in enumerate(FENCE.finditer(page.read_text()), 1):
            code = textwrap.dedent(match["code"])
            found.append(pytest.param(code, id=f"{page.name}#{number}"))
    return found


SAMPLES = samples()
#: docs/testing.md's conftest.py, which opts in to the plugin (installing the SDK registers none)
CONFTEST = next(s.values[0] for s in SAMPLES if s.values[0].startswith("# conftest.py\n"))
POD_RULES = ["get,list,watch:pods"]
LEASE_RULES = ["get,create,update:leases.coordination.k8s.io"]
#: docs/informers.md watches ConfigMaps, Namespaces and a custom resource (widgets.example.com)
KIND_RULES = ["get,list,watch:configmaps", "get,list,watch:widgets.example.com"]
CLUSTER_KIND_RULES = ["list,watch:namespaces"]


def test_the_docs_have_samples() -> None:
    assert len(SAMPLES) >= 12


def test_every_python_fence_is_a_sample() -> None:
    """A fence the pattern misses (an odd indent, a tab) would silently not be run."""
    fences = sum(page.read_text().count("```python") for page in PAGES)
    assert fences == len(SAMPLES)


@pytest.fixture(scope="module")
def widgets(local_cluster: LocalCluster) -> Iterator[None]:
    """The custom resource docs/informers.md watches (widgets.example.com), served."""
    local_cluster.apply(widget_crd("example.com", scope="Namespaced", versions={"v1": True}))
    deadline = time.monotonic() + 30
    while local_cluster.catalog(refresh=True).lookup("example.com", "widgets") is None:
        assert time.monotonic() < deadline, "widgets.example.com was never served"
        time.sleep(0.2)
    yield
    local_cluster.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")


@pytest.mark.parametrize("code", [s for s in SAMPLES if "def test_" not in s.values[0]])
def test_script_sample_runs_in_a_pod(
    code: str, local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any, tmp_path: Path, widgets: None
) -> None:
    in_pod(POD_RULES + LEASE_RULES + KIND_RULES, cluster_needs=POD_RULES + CLUSTER_KIND_RULES)
    script = tmp_path / "sample.py"
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=90, env=os.environ.copy(), cwd=tmp_path
    )
    assert proc.returncode == 0, f"{code}\n---\n{proc.stdout}\n{proc.stderr}"


def test_pytest_samples_pass(local_cluster: LocalCluster, tmp_path: Path) -> None:
    tests = [s.values[0] for s in SAMPLES if "def test_" in s.values[0]]
    assert tests
    for i, code in enumerate(tests):
        (tmp_path / f"test_sample_{i}.py").write_text(code)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    env = {**os.environ, "INCLUSTER_SDK_REQUIRE_CLUSTER": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(tests)} passed" in proc.stdout
