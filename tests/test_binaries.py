from __future__ import annotations

from pathlib import Path

import pytest

from incluster_sdk.testing.binaries import BinariesNotFound, find_binaries


def test_missing_binaries_name_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INCLUSTER_SDK_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("INCLUSTER_SDK_ETCD", "/bin/true")
    with pytest.raises(BinariesNotFound) as info:
        find_binaries()
    assert "bash scripts/install-kube-binaries.sh" in str(info.value)
    assert "INCLUSTER_SDK_KUBE_APISERVER" in str(info.value)


def test_explicit_binary_must_be_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCLUSTER_SDK_ETCD", "/nonexistent/etcd")
    with pytest.raises(BinariesNotFound, match="INCLUSTER_SDK_ETCD=/nonexistent/etcd is not an executable"):
        find_binaries()
