"""The fake mount is laid out and rotated exactly the way kubelet's AtomicWriter does it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from incluster_sdk.testing import FakeServiceAccountMount


def test_layout_matches_kubelet(tmp_path: Path) -> None:
    mount = FakeServiceAccountMount(tmp_path, token="t1", namespace="ns")
    data = os.readlink(tmp_path / "..data")
    assert re.fullmatch(r"\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\w+", data)
    for name in ("token", "ca.crt", "namespace"):
        assert os.readlink(tmp_path / name) == f"..data/{name}"
        assert (tmp_path / data / name).is_file() and not (tmp_path / data / name).is_symlink()
    assert (tmp_path / "token").read_text() == "t1"
    assert mount.env["INCLUSTER_SDK_SERVICE_ACCOUNT_DIR"] == str(tmp_path)


def test_rotate_swaps_data_link_and_removes_old_dir(tmp_path: Path) -> None:
    mount = FakeServiceAccountMount(tmp_path, token="t1")
    old = os.readlink(tmp_path / "..data")
    token_inode = os.lstat(tmp_path / "token").st_ino
    mount.rotate(token="t2")
    new = os.readlink(tmp_path / "..data")
    assert new != old and not (tmp_path / old).exists()
    assert (tmp_path / "token").read_text() == "t2"
    assert os.lstat(tmp_path / "token").st_ino == token_inode  # the user-visible link is never touched
    assert not (tmp_path / "..data_tmp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["..data", new, "ca.crt", "namespace", "token"])


def test_activated_restores_environment(tmp_path: Path) -> None:
    mount = FakeServiceAccountMount(tmp_path, token="t1", port=7443)
    before = dict(os.environ)
    with mount.activated():
        assert os.environ["KUBERNETES_SERVICE_PORT"] == "7443"
    assert dict(os.environ) == before
    assert "t1" not in repr(mount)
