"""A token never appears in a repr, str, log line or exception message."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

import incluster_sdk
from incluster_sdk._secret import Secret
from incluster_sdk.testing import FakeServiceAccountMount

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdG9rZW4tdmFsdWUifQ.c2lnbmF0dXJlLXNlY3JldA"


def test_config_repr_and_logs_never_show_token(
    fake_service_account: FakeServiceAccountMount, caplog: pytest.LogCaptureFixture
) -> None:
    fake_service_account.rotate(token=TOKEN)
    with caplog.at_level(logging.DEBUG, logger="incluster_sdk"):
        cfg = incluster_sdk.load_config()
        cfg.credentials.reload("test")  # type: ignore[attr-defined]
        fake_service_account.write_in_place("token", b"")
        cfg.credentials.reload("test")  # type: ignore[attr-defined]
    for text in (repr(cfg), str(cfg), repr(cfg.credentials), cfg.credentials.describe(), caplog.text):
        assert TOKEN not in text
        assert "c2lnbmF0dXJlLXNlY3JldA" not in text
    assert "keeping the last good token" in caplog.text
    assert cfg.credentials.auth_header() == f"Bearer {TOKEN}"  # last good kept


def test_kubeconfig_token_not_in_errors_or_repr(isolated_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(f"""
current-context: dev
clusters: [{{name: c, cluster: {{server: 'https://s:1'}}}}]
users: [{{name: u, user: {{token: {TOKEN}}}}}]
contexts: [{{name: dev, context: {{cluster: c, user: u}}}}, {{name: broken, context: {{cluster: nope, user: u}}}}]
""")
    cfg = incluster_sdk.load_config(kubeconfig=path)
    assert TOKEN not in repr(cfg)
    with pytest.raises(incluster_sdk.KubeconfigError) as info:
        incluster_sdk.load_config(kubeconfig=path, context="broken")
    assert TOKEN not in str(info.value)


def test_secret_holder() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret) and "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_claims_decoded_for_diagnostics(fake_service_account: FakeServiceAccountMount) -> None:
    fake_service_account.rotate(token=TOKEN)
    claims = incluster_sdk.load_config().credentials.claims()
    assert claims is not None and claims.subject == "secret-token-value"
    assert claims.expires_at is None and not claims.is_bound


def test_the_run_wide_leak_check_sees_log_records_and_recognises_issued_tokens() -> None:
    import logging

    from tests.support.secrets_seen import leaked_in, remember

    from .conftest import EVERY_RECORD

    token = remember("canary-" + "x" * 40)
    logging.getLogger("incluster_sdk.selftest").debug("a harmless record")
    assert EVERY_RECORD.texts[-1].endswith("a harmless record")
    assert leaked_in(f"Authorization: Bearer {token}") == ["canary…(47 chars)"]
    assert leaked_in("nothing here") == []
