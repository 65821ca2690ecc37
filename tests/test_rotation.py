"""Token and CA reload from a kubelet-style mount: push, pull, polling fallback, last good kept."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import incluster_sdk
from incluster_sdk import filewatch
from incluster_sdk.credentials import TokenFile
from incluster_sdk.testing import FakeServiceAccountMount
from incluster_sdk.testing.pki import CertificateAuthority


def eventually(check: Callable[[], bool], timeout: float = 3.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s")


def token_file(cfg: incluster_sdk.Config) -> TokenFile:
    assert isinstance(cfg.credentials, TokenFile)
    return cfg.credentials


def test_push_reload_on_data_swap(fake_service_account: FakeServiceAccountMount) -> None:
    cfg = incluster_sdk.load_config()
    assert token_file(cfg).watch_mode == "inotify"
    fake_service_account.rotate(token="rotated-1")
    took = eventually(lambda: cfg.credentials.auth_header() == "Bearer rotated-1")
    assert took < 1.0
    cfg.close()
    assert token_file(cfg).watch_mode == "none"


def test_ca_rotation_reaches_the_private_bundle(fake_service_account: FakeServiceAccountMount) -> None:
    cfg = incluster_sdk.load_config()
    bundle = cfg.tls.ca_bundle
    assert bundle is not None
    assert cfg.tls.ca_file is not None
    new_ca = CertificateAuthority.create("rotated").cert_pem
    fake_service_account.rotate(ca=new_ca)
    eventually(lambda: cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == new_ca)
    # garbage is refused: the last good bundle stays
    fake_service_account.rotate(ca=b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    assert not bundle.reload("test")
    assert cfg.tls.ca_file.read_bytes() == new_ca
    cfg.close()


def test_torn_writes_keep_last_good_token(
    fake_service_account: FakeServiceAccountMount, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = incluster_sdk.load_config()
    creds = token_file(cfg)
    with caplog.at_level(logging.WARNING, logger="incluster_sdk"):
        fake_service_account.write_in_place("token", b"")  # empty mid-write
        assert not creds.reload("test")
        fake_service_account.remove("token")  # missing for a moment
        assert not creds.reload("test")
    assert creds.auth_header() == "Bearer fake-token-for-tests"
    assert caplog.text.count("keeping the last good token") == 2
    fake_service_account.rotate(token="back")
    eventually(lambda: creds.auth_header() == "Bearer back")
    cfg.close()


def test_pull_without_any_file_event(fake_service_account: FakeServiceAccountMount) -> None:
    cfg = incluster_sdk.load_config()
    cfg.close()  # no push at all
    creds = token_file(cfg)
    creds.reload_interval = 0.05
    fake_service_account.rotate(token="pulled")
    time.sleep(0.1)
    assert creds.auth_header() == "Bearer pulled"


def test_polling_fallback_when_inotify_is_unavailable(
    fake_service_account: FakeServiceAccountMount, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_inotify() -> None:
        raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(filewatch, "_shared_observer", no_inotify)
    monkeypatch.setattr(filewatch, "_fallback_logged", False)
    with caplog.at_level(logging.WARNING, logger="incluster_sdk"):
        cfg = incluster_sdk.load_config()
    assert token_file(cfg).watch_mode == "polling"
    assert "polling every 1s instead" in caplog.text
    fake_service_account.rotate(token="polled")
    eventually(lambda: cfg.credentials.auth_header() == "Bearer polled", timeout=4)
    cfg.close()


def test_many_configs_share_one_watch(fake_service_account: FakeServiceAccountMount) -> None:
    configs = [incluster_sdk.load_config() for _ in range(20)]
    assert len([d for d in filewatch._registry if d == fake_service_account.path.absolute()]) == 1
    fake_service_account.rotate(token="shared")
    for cfg in configs:
        eventually(lambda cfg=cfg: cfg.credentials.auth_header() == "Bearer shared")  # type: ignore[misc]
    for cfg in configs:
        cfg.close()
    assert fake_service_account.path.absolute() not in filewatch._registry


def test_kubeconfig_token_file_is_watched(isolated_env: Path, tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("first\n")
    (tmp_path / "config").write_text(f"""
current-context: c
clusters: [{{name: c, cluster: {{server: 'https://s:1'}}}}]
users: [{{name: u, user: {{tokenFile: {tmp_path / "tok"}}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
""")
    cfg = incluster_sdk.load_config(kubeconfig=tmp_path / "config")
    (tmp_path / "tok").write_text("second\n")  # rewritten in place, as people do
    eventually(lambda: cfg.credentials.auth_header() == "Bearer second")
    cfg.close()


def test_token_expiry_and_age_exposed(fake_service_account: FakeServiceAccountMount) -> None:
    import base64
    import json

    exp = int(time.time()) + 3600
    payload = base64.urlsafe_b64encode(
        json.dumps(
            {
                "sub": "system:serviceaccount:ns:app",
                "exp": exp,
                "kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "app"}},
            }
        ).encode()
    )
    fake_service_account.rotate(token=f"eyJhbGciOiJSUzI1NiJ9.{payload.decode().rstrip('=')}.sig")
    cfg = incluster_sdk.load_config()
    claims = token_file(cfg).claims()
    assert claims.expires_at is not None
    assert int(claims.expires_at.timestamp()) == exp
    remaining = claims.expires_in()
    assert remaining is not None
    assert 3590 < remaining.total_seconds() <= 3600
    assert claims.service_account == "app"
    assert token_file(cfg).age.total_seconds() < 5
    cfg.close()
