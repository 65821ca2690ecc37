"""What `incluster-sdk rbac` prints is what kubectl will read, and it fails fast and clearly on bad input."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from incluster_sdk.cli import main
from incluster_sdk.rbac import NeedError, manifests, parse_needs, to_yaml

#: Scalars go-yaml v2 (kubectl's reader) takes as something other than the string: the breaker's instances
#: (y, n, 1e3, 0o17) and the rest of the kind.
GO_YAML_NON_STRINGS = [
    "y",
    "Y",
    "n",
    "N",
    "yes",
    "on",
    "off",
    "true",
    "null",
    "~",
    "1e3",
    "1e-3",
    "0o17",
    "0x1",
    "017",
    "1_0",
    ".5",
    "+1",
    ".inf",
    "",
]


@pytest.mark.parametrize("value", GO_YAML_NON_STRINGS)
def test_values_kubectl_would_misread_are_quoted(value: str) -> None:
    text = to_yaml([{"metadata": {"name": value}, "resourceNames": [value]}])
    assert f"name: '{value}'" in text and f"- '{value}'" in text
    assert yaml.safe_load(text) == {"metadata": {"name": value}, "resourceNames": [value]}


@settings(max_examples=300)
@given(st.text(min_size=0, max_size=20))
def test_every_string_round_trips(value: str) -> None:
    doc = {"metadata": {"name": value}, "subjects": [{"name": value}]}
    assert yaml.safe_load(to_yaml([doc])) == doc


def test_plain_names_stay_plain() -> None:
    text = to_yaml(manifests(parse_needs(["list:pods"]), namespace="shop", service_account="pod-counter"))
    assert (
        "name: pod-counter" in text and "namespace: shop" in text and "apiVersion: rbac.authorization.k8s.io/v1" in text
    )


@pytest.mark.parametrize(
    ("namespace", "service_account", "message"),
    [
        ("Shop", "app", "not a valid namespace name"),
        ("a.b", "app", "not a valid namespace name"),
        ("shop", "App", "ServiceAccount name 'App' is not valid"),
        ("shop", "a_b", "ServiceAccount name 'a_b' is not valid"),
    ],
)
def test_invalid_namespace_and_service_account_names_are_refused(
    namespace: str, service_account: str, message: str
) -> None:
    with pytest.raises(NeedError, match=message):
        manifests(parse_needs(["list:pods"]), namespace=namespace, service_account=service_account)
    assert main(["rbac", "-n", namespace, "--sa", service_account, "list:pods"]) == 2


def test_role_names_must_be_path_segments() -> None:
    for bad in ("a/b", "..", "a%b"):
        with pytest.raises(NeedError, match="not a valid Kubernetes object name"):
            manifests(parse_needs(["list:pods"]), namespace="shop", service_account="app", name=bad)


def _kubeconfig(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path


def test_rbac_discover_with_the_server_down_fails_at_once_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "incluster_sdk",
            "rbac",
            "-n",
            "a",
            "--sa",
            "b",
            "--discover",
            "--kubeconfig",
            str(_kubeconfig(tmp_path, port)),
            "list:pods",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Connection refused" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert elapsed < 20, f"no retries: it took {elapsed:.1f}s"  # generous: the point is the 30 s retry is gone


def test_the_command_prints_the_sdks_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The package logs through a NullHandler only; the command is the app, so it shows the SDK's warnings."""
    config = tmp_path / "config"
    config.write_text(
        yaml.safe_dump(
            {
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    assert main(["whoami", "--kubeconfig", str(config)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("incluster-sdk whoami: WARNING: ") and "plain http" in line for line in err), err
    # and the handler is gone again once main() returns (tests and apps call it in-process)
    assert all(isinstance(h, logging.NullHandler) for h in logging.getLogger("incluster_sdk").handlers)
