from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from incluster_sdk.testing.fake_apiserver import FakeApiServer


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No pod env, no KUBECONFIG, HOME in a temp dir (so ~/.kube/config is absent). Returns HOME."""
    for var in (
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "KUBECONFIG",
        "POD_NAMESPACE",
        "INCLUSTER_SDK_SERVICE_ACCOUNT_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def fake_apiserver(tmp_path: Path) -> Iterator[FakeApiServer]:
    server = FakeApiServer.start(tmp_path)
    yield server
    server.stop()
