"""Every way an in-cluster setup can be broken gives a clear error naming the variable or file and the fix."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import incluster_sdk
from incluster_sdk import InClusterConfigError, NotInClusterError
from incluster_sdk.testing import FakeServiceAccountMount

Breaker = Callable[[FakeServiceAccountMount, pytest.MonkeyPatch], None]


def _unreadable(m: FakeServiceAccountMount, mp: pytest.MonkeyPatch) -> None:
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "token":
            raise PermissionError(13, "Permission denied")
        return real(self)

    mp.setattr(Path, "read_bytes", read_bytes)  # as root, chmod 000 would not stop us reading


def _token_dir(m: FakeServiceAccountMount, mp: pytest.MonkeyPatch) -> None:
    (m.path / "token").unlink()
    (m.path / "token").mkdir()


def unset(*names: str) -> Breaker:
    def breaker(m: FakeServiceAccountMount, mp: pytest.MonkeyPatch) -> None:
        for name in names:
            mp.delenv(name)

    return breaker


def setenv(name: str, value: str) -> Breaker:
    return lambda m, mp: mp.setenv(name, value)


def remove(file: str) -> Breaker:
    return lambda m, mp: m.remove(file)


def write(file: str, data: bytes) -> Breaker:
    return lambda m, mp: m.write_in_place(file, data)


HOST, PORT, CONFIG = "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", InClusterConfigError
GARBAGE_PEM = b"-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"
CASES: list[tuple[str, Breaker, type[Exception], list[str]]] = [
    ("port missing", unset(PORT), CONFIG, ["KUBERNETES_SERVICE_PORT is unset", "Set KUBERNETES_SERVICE_PORT"]),
    ("host missing", unset(HOST), CONFIG, ["KUBERNETES_SERVICE_HOST is unset", "Set KUBERNETES_SERVICE_HOST"]),
    ("host empty", setenv(HOST, " "), CONFIG, ["KUBERNETES_SERVICE_HOST is empty"]),
    ("port empty", setenv(PORT, ""), CONFIG, ["KUBERNETES_SERVICE_PORT is empty"]),
    ("port not a number", setenv(PORT, "https"), CONFIG, ["KUBERNETES_SERVICE_PORT='https' is not a TCP port"]),
    ("port out of range", setenv(PORT, "70000"), CONFIG, ["not a TCP port"]),
    (
        "host with a path",
        setenv(HOST, "https://x/y"),
        CONFIG,
        ["KUBERNETES_SERVICE_HOST='https://x/y' is not a host name"],
    ),
    ("both unset", unset(HOST, PORT), NotInClusterError, ["not running in a pod"]),
    (
        "sa dir missing",
        setenv("INCLUSTER_SDK_SERVICE_ACCOUNT_DIR", "/nonexistent/sa"),
        CONFIG,
        ["service-account directory /nonexistent/sa does not exist", "serviceAccountName"],
    ),
    (
        "token missing",
        lambda m, mp: (m.path / "token").unlink(),
        CONFIG,
        ["token file", "does not exist", "serviceAccountName"],
    ),
    ("token empty", write("token", b"  \n"), CONFIG, ["token file", "is empty"]),
    ("token unreadable", _unreadable, CONFIG, ["token file", "is not readable"]),
    ("token is a directory", _token_dir, CONFIG, ["token file", "is a directory"]),
    ("token dangling symlink", remove("token"), CONFIG, ["token file", "dangling symlink", "..data/token"]),
    ("ca missing", remove("ca.crt"), CONFIG, ["cluster CA file", "ca.crt"]),
    ("ca empty", write("ca.crt", b""), CONFIG, ["ca.crt", "is empty"]),
    ("ca not pem", write("ca.crt", b"hello"), CONFIG, ["ca.crt", "is not a PEM certificate", "kube-root-ca.crt"]),
    ("ca garbage pem", write("ca.crt", GARBAGE_PEM), CONFIG, ["ca.crt", "does not parse"]),
]


@pytest.mark.parametrize(("breaker", "error", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_in_cluster_setup_gives_clear_error(
    fake_service_account: FakeServiceAccountMount,
    monkeypatch: pytest.MonkeyPatch,
    breaker: Breaker,
    error: type[Exception],
    fragments: list[str],
) -> None:
    breaker(fake_service_account, monkeypatch)
    with pytest.raises(error) as info:
        incluster_sdk.load_in_cluster_config()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    # No raw traceback from deep inside a dependency: our error, no chained cause shown.
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None
    assert "fake-token-for-tests" not in message


def test_valid_mount_loads(fake_service_account: FakeServiceAccountMount) -> None:
    cfg = incluster_sdk.load_config()
    assert cfg.kind == "in-cluster"
    assert cfg.host == "https://127.0.0.1:6443"
    assert cfg.namespace == "test-ns"
    assert cfg.namespace_source == f"namespace file {fake_service_account.path / 'namespace'}"
    assert cfg.source == f"in-cluster ({fake_service_account.path})"
    assert cfg.reason == "KUBERNETES_SERVICE_HOST is set (running in a pod)"
    assert cfg.credentials.auth_header() == "Bearer fake-token-for-tests"
    assert cfg.tls.ca_bundle is not None
    assert cfg.tls.ca_bundle.source == fake_service_account.path / "ca.crt"
    assert cfg.tls.ca_file is not None
    assert cfg.tls.ca_file.read_bytes() == (fake_service_account.path / "ca.crt").read_bytes()


def test_token_whitespace_trimmed(fake_service_account: FakeServiceAccountMount) -> None:
    fake_service_account.rotate(token="\n  abc.def.ghi \n")
    assert incluster_sdk.load_config().credentials.auth_header() == "Bearer abc.def.ghi"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("10.0.0.1", "https://10.0.0.1:443"),
        ("fd00::1", "https://[fd00::1]:443"),
        ("[fd00::1]", "https://[fd00::1]:443"),
        ("kubernetes.default.svc", "https://kubernetes.default.svc:443"),
    ],
)
def test_host_forms(
    fake_service_account: FakeServiceAccountMount, monkeypatch: pytest.MonkeyPatch, host: str, url: str
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert incluster_sdk.load_config().host == url


def test_env_read_at_call_time_not_import(
    fake_service_account: FakeServiceAccountMount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "7443")
    assert incluster_sdk.load_config().host.endswith(":7443")


def test_namespace_file_missing_falls_back_with_reason(fake_service_account: FakeServiceAccountMount) -> None:
    fake_service_account.remove("namespace")
    cfg = incluster_sdk.load_config()
    assert cfg.namespace == "default"
    assert cfg.namespace_source.startswith("default (namespace file unusable:")
    assert "dangling symlink" in cfg.namespace_source


def test_pod_namespace_env_wins(fake_service_account: FakeServiceAccountMount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "from-downward-api")
    cfg = incluster_sdk.load_config()
    assert (cfg.namespace, cfg.namespace_source) == ("from-downward-api", "POD_NAMESPACE")
    assert incluster_sdk.load_config(namespace="explicit").namespace == "explicit"


def test_service_account_dir_argument(
    tmp_path: Path, fake_service_account: FakeServiceAccountMount, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = FakeServiceAccountMount(tmp_path / "other", token="other-token", namespace="other-ns")
    monkeypatch.delenv("INCLUSTER_SDK_SERVICE_ACCOUNT_DIR")
    cfg = incluster_sdk.load_config(service_account_dir=other.path)
    assert cfg.namespace == "other-ns"
    assert os.fspath(cfg.service_account_dir) == os.fspath(other.path)
