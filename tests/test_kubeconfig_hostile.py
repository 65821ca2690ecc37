"""Hostile and odd kubeconfig input (found by a breaker run): every failure is a ConfigError naming the place,
nothing hangs, and no secret reaches a message or a repr."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import incluster_sdk
from incluster_sdk import ConfigError, CredentialError, KubeconfigError

SECRET = "S3CRETmarker"


def config(tmp_path: Path, *, cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> Path:
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": "https://h:6443", **(cluster or {})}}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    "text",
    [
        "current-context: " + "9" * 5000,  # more digits than Python converts
        "current-context: !!int abc",
        "current-context: !!float abc",
        "current-context: !!bool maybe",
        "current-context: !!timestamp nope",
        "clusters: " + "[" * 3000 + "]" * 3000,
    ],
    ids=["huge int", "bad int tag", "bad float tag", "bad bool tag", "bad timestamp tag", "deep nesting"],
)
def test_unreadable_yaml_values_are_kubeconfig_errors(isolated_env: Path, tmp_path: Path, text: str) -> None:
    (tmp_path / "config").write_text(text)
    with pytest.raises(KubeconfigError, match=r"kubeconfig .*config"):
        incluster_sdk.load_config(kubeconfig=tmp_path / "config")


@pytest.mark.parametrize(
    "server",
    [
        "https://[::1",
        "https://[notip]:6443",
        "https://exa\uff03mple.com",
        "https://a b:6443",
        "https://a<b>:6443",
        f"https://admin:{SECRET}@h:abc",
        f"ftp://admin:{SECRET}@h",
        f" https://admin:{SECRET}@h",
        f":u:{SECRET}@",
        f"https://admin:{SECRET}@h:6443",
    ],
)
def test_bad_servers_are_errors_that_never_show_user_info(isolated_env: Path, tmp_path: Path, server: str) -> None:
    with pytest.raises(KubeconfigError, match="server") as info:
        incluster_sdk.load_config(kubeconfig=config(tmp_path, cluster={"server": server}))
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "proxy",
    [f"http://p:{SECRET}@proxy:99999", f"ftp://p:{SECRET}@proxy", "http://a b:3128", "http://[::1"],
)
def test_bad_proxies_are_errors_that_never_show_user_info(isolated_env: Path, tmp_path: Path, proxy: str) -> None:
    with pytest.raises(KubeconfigError, match="proxy-url") as info:
        incluster_sdk.load_config(kubeconfig=config(tmp_path, cluster={"proxy-url": proxy}))
    assert SECRET not in str(info.value)


def test_a_proxy_password_is_not_in_the_config_repr(isolated_env: Path, tmp_path: Path) -> None:
    cfg = incluster_sdk.load_config(kubeconfig=config(tmp_path, cluster={"proxy-url": f"http://p:{SECRET}@proxy:3128"}))
    assert cfg.proxy_url == f"http://p:{SECRET}@proxy:3128"
    assert SECRET not in repr(cfg)


@pytest.mark.parametrize(
    "token",
    [f"{SECRET}\r\nX-Evil: 1", f"{SECRET}\nline2", f"{SECRET}\u20ac", f"{SECRET}\ud800"],
    ids=["crlf", "two lines", "non-latin", "surrogate"],
)
def test_tokens_that_cannot_be_a_header_are_refused_without_showing_them(
    isolated_env: Path, tmp_path: Path, token: str
) -> None:
    with pytest.raises(ConfigError, match="cannot be sent in an HTTP header") as info:
        incluster_sdk.load_config(kubeconfig=config(tmp_path, user={"token": token}))
    assert SECRET not in str(info.value)
    (tmp_path / "tok").write_text(token, errors="surrogatepass")
    with pytest.raises(ConfigError, match=r"cannot be sent in an HTTP header|is not UTF-8") as info:
        incluster_sdk.load_config(kubeconfig=config(tmp_path, user={"tokenFile": "tok"}))
    assert SECRET not in str(info.value)


def test_a_surrogate_in_basic_auth_is_an_error(isolated_env: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="username or password") as info:
        incluster_sdk.load_config(kubeconfig=config(tmp_path, user={"username": "u\ud800", "password": SECRET}))
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "claims",
    [{"exp": 1e300}, {"aud": 5}, {"iat": -1e20}, {"exp": "soon"}],
)
def test_odd_jwt_claims_never_break_loading(isolated_env: Path, tmp_path: Path, claims: dict[str, Any]) -> None:
    import base64

    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    cfg = incluster_sdk.load_config(kubeconfig=config(tmp_path, user={"token": f"a.{payload}.x"}))
    assert cfg.credentials.claims() is not None


def test_special_files_are_refused_without_blocking(isolated_env: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(KubeconfigError, match="is not a regular file"):
        incluster_sdk.load_config(kubeconfig=fifo)
    with pytest.raises(KubeconfigError, match="is not a regular file"):
        incluster_sdk.load_config(kubeconfig=config(tmp_path, cluster={"certificate-authority": "/dev/zero"}))
    with pytest.raises(KubeconfigError, match="not a valid file name"):
        incluster_sdk.load_config(kubeconfig=config(tmp_path, user={"tokenFile": "a\0b"}))


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({"env": [{"name": "A=B", "value": "x"}]}, "'=' in its name"),
        ({"env": [{"name": "A", "value": "x\0y"}]}, "NUL"),
        ({"args": ["a\0b"]}, "NUL"),
    ],
)
def test_exec_blocks_the_os_cannot_run_are_load_errors(
    isolated_env: Path, tmp_path: Path, block: dict[str, Any], fragment: str
) -> None:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "p", **block}}
    with pytest.raises(KubeconfigError, match=fragment):
        incluster_sdk.load_config(kubeconfig=config(tmp_path, user=user))


def test_exec_extension_yaml_only_values_become_json_as_in_client_go(isolated_env: Path, tmp_path: Path) -> None:
    """sigs.k8s.io/yaml turns !!binary into its text (the oracle agrees:
    tests/conformance/test_kubeconfig_goyaml.py); it used to be refused here."""
    exec_block = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "p", "provideClusterInfo": True}
    path = config(tmp_path, user={"exec": exec_block})
    text = path.read_text().replace(
        "server: https://h:6443",
        "server: https://h:6443\n    extensions: [{name: client.authentication.k8s.io/exec, extension: !!binary aGk=}]",
    )
    path.write_text(text)
    cfg = incluster_sdk.load_config(kubeconfig=path)
    assert cfg.credentials.spec.cluster_info["config"] == "hi"  # type: ignore[attr-defined]


def plugin(tmp_path: Path, body: str) -> str:
    script = tmp_path / "plugin"
    script.write_text(body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_plugin_that_cannot_start_is_a_credential_error(isolated_env: Path, tmp_path: Path) -> None:
    command = plugin(tmp_path, "echo no shebang\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command}}
    cfg = incluster_sdk.load_config(kubeconfig=config(tmp_path, user=user))
    with pytest.raises(CredentialError, match="could not be started"):
        cfg.credentials.auth_header()


def test_plugin_stderr_cannot_send_terminal_escapes(isolated_env: Path, tmp_path: Path) -> None:
    command = plugin(tmp_path, f"#!{sys.executable}\nimport sys\nsys.stderr.write('bad \\x1b[31m red')\nsys.exit(3)\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command}}
    cfg = incluster_sdk.load_config(kubeconfig=config(tmp_path, user=user))
    with pytest.raises(CredentialError) as info:
        cfg.credentials.auth_header()
    assert "\x1b" not in str(info.value) and "U+001B" in str(info.value)


def test_an_expiry_at_the_start_of_time_keeps_working(isolated_env: Path, tmp_path: Path) -> None:
    out = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "t", "expirationTimestamp": "0001-01-01T00:00:00Z"},
    }
    command = plugin(tmp_path, f"#!{sys.executable}\nprint({json.dumps(json.dumps(out))})\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command}}
    cfg = incluster_sdk.load_config(kubeconfig=config(tmp_path, user=user))
    assert cfg.credentials.auth_header() == "Bearer t"
    assert cfg.credentials.auth_header() == "Bearer t"  # expired: run again, no arithmetic overflow
    assert dt.datetime.now(dt.timezone.utc).year > 1


def test_exec_env_values_are_not_in_reprs(isolated_env: Path, tmp_path: Path) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "p",
            "env": [{"name": "API_KEY", "value": SECRET}],
        }
    }
    cfg = incluster_sdk.load_config(kubeconfig=config(tmp_path, user=user))
    assert SECRET not in repr(cfg) and SECRET not in repr(getattr(cfg.credentials, "spec", None))
