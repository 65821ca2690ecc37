"""Each input of ../shared/cases/kubeconfig-conformance.md is a test here (the case number is in the name),
with a hypothesis family beside it for the kind of fault it is an instance of. Expected: client-go's answer."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import sys
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import incluster_sdk
from incluster_sdk import CredentialError, KubeconfigError
from incluster_sdk.credentials import RequestCredential
from incluster_sdk.exec_plugin import clean_install_hint
from incluster_sdk.kubeconfig_schema import decode_data
from incluster_sdk.testing.fake_mount import PLACEHOLDER_CA_PEM
from incluster_sdk.testing.pki import CertificateAuthority

CA = CertificateAuthority.create()
CLIENT = CA.issue("alice", client=True)
OTHER = CA.issue("bob", client=True)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, *, cluster: dict[str, Any], user: dict[str, Any] | None = None, **context: Any) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", **context}}],
        "current-context": "ctx",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def load(path: Path) -> incluster_sdk.Config:
    return incluster_sdk.load_config(kubeconfig=path)


def plugin_script(path: Path, body: str) -> Path:
    """An executable exec plugin: a Python script (run by this interpreter) that prints ``body``'s result."""
    path.write_text(f"#!{sys.executable}\nimport json, os, sys, pathlib\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def token_plugin(path: Path, token: str, *, marker: Path | None = None, api: str = "v1beta1") -> Path:
    touch = f"pathlib.Path({str(marker)!r}).write_text('ran')\n" if marker else ""
    return plugin_script(
        path,
        touch + f"print(json.dumps({{'apiVersion': 'client.authentication.k8s.io/{api}', "
        f"'kind': 'ExecCredential', 'status': {{'token': {token!r}}}}}))\n",
    )


def exec_block(command: str | Path, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(command), **extra}


# -- 1: strict field types ----------------------------------------------------------------------------------
def test_case01_string_false_is_not_a_boolean(isolated_env: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "config", cluster={"server": "https://h:6443", "insecure-skip-tls-verify": "false"})
    with pytest.raises(KubeconfigError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and "cluster 'c'" in message
    assert "'insecure-skip-tls-verify' must be a boolean" in message


BOOL_FIELDS = [("cluster", "insecure-skip-tls-verify"), ("exec", "provideClusterInfo")]
STRING_FIELDS = [
    ("cluster", "server"),
    ("cluster", "tls-server-name"),
    ("cluster", "certificate-authority"),
    ("cluster", "proxy-url"),
    ("user", "token"),
    ("user", "tokenFile"),
    ("user", "username"),
    ("user", "client-certificate"),
    ("exec", "command"),
    ("exec", "apiVersion"),
    ("context", "namespace"),
]
#: Plain scalars go-yaml v2 reads as booleans: PyYAML writes "N" or "y" unquoted (YAML 1.1 says they are
#: strings), so kubectl, and our loader, read them back as booleans: not a non-boolean at all.
GO_YAML_BOOL_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false"})
not_bool = st.one_of(
    st.text(max_size=8).filter(lambda t: t.lower() not in GO_YAML_BOOL_WORDS),
    st.integers(),
    st.lists(st.booleans(), max_size=2),
)
not_string = st.one_of(
    st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(st.text(max_size=3), max_size=2)
)


def _with_field(where: str, key: str, value: Any) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": "https://h:6443"}
    user: dict[str, Any] = {"exec": exec_block("plugin")}
    context: dict[str, Any] = {}
    target = {"cluster": cluster, "user": user, "exec": user["exec"], "context": context}[where]
    target[key] = value
    return {"cluster": cluster, "user": user, **context}


@pytest.mark.parametrize(
    ("kind", "fields", "values"),
    [("boolean", BOOL_FIELDS, not_bool), ("string", STRING_FIELDS, not_string)],
    ids=["non-boolean in a boolean field", "non-string in a string field"],
)
@FAST
@given(data=st.data())
def test_case01_kind_any_value_of_another_type_in_a_typed_field(
    tmp_path: Path, kind: str, fields: list[tuple[str, str]], values: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    field = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(values, label="value")
    path = write(tmp_path / "config", **_with_field(*field, value))
    with pytest.raises(KubeconfigError, match=f"'{field[1]}' must be a {kind}"):
        load(path)


# -- 2: paths absolute against the defining file's absolute directory --------------------------------------
def test_case02_relative_kubeconfig_relative_exec_command_never_searches_path(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "project"
    decoy_dir = tmp_path / "decoy"
    decoy_dir.mkdir()
    token_plugin(decoy_dir / "plugin.sh", "from-the-decoy-on-PATH")
    write(here / "config", cluster={"server": "https://h:6443"}, user={"exec": exec_block("./plugin.sh")})
    token_plugin(here / "plugin.sh", "from-beside-the-kubeconfig")
    monkeypatch.setenv("PATH", f"{decoy_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(here)
    monkeypatch.setenv("KUBECONFIG", "config")
    cfg = incluster_sdk.load_config()
    assert cfg.credentials.auth_header() == "Bearer from-beside-the-kubeconfig"
    monkeypatch.chdir(tmp_path)  # resolved at load: a later chdir changes nothing
    assert not cfg.credentials.unauthorized(RequestCredential())  # ran again, same absolute path: same token
    assert cfg.credentials.auth_header() == "Bearer from-beside-the-kubeconfig"


@FAST
@given(sub=st.lists(st.sampled_from(["a", "b", "..", "."]), max_size=3), name=st.sampled_from(["ca.crt", "x/ca.crt"]))
def test_case02_kind_every_relative_path_joins_the_absolute_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sub: list[str], name: str
) -> None:
    root = tmp_path / "r"
    kc_dir = root / "k"
    ca_ref = os.path.join(*sub, name) if sub else name
    ca_path = Path(os.path.normpath(kc_dir / ca_ref))
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca_path.write_bytes(PLACEHOLDER_CA_PEM)
    write(kc_dir / "config", cluster={"server": "https://h:6443", "certificate-authority": ca_ref})
    monkeypatch.chdir(root)
    cfg = incluster_sdk.load_config(kubeconfig="k/config")
    assert cfg.tls.ca_file == ca_path and cfg.tls.ca_file.is_absolute()


@pytest.mark.parametrize("entry", ["config/", "config/x", "config/."])
@pytest.mark.parametrize("how", ["KUBECONFIG", "kubeconfig="])
def test_case02_kind_a_path_through_a_file_is_an_error_not_the_file(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, how: str
) -> None:
    """client-go skips only a file that does not exist; ``config/`` or ``config/x`` below a *file* gives ENOTDIR,
    and its loader fails. ``Path`` would quietly drop the trailing ``/`` and load ``config``."""
    write(tmp_path / "config", cluster={"server": "https://h:6443"})
    monkeypatch.chdir(tmp_path)
    if how == "KUBECONFIG":
        monkeypatch.setenv("KUBECONFIG", entry)
    with pytest.raises(KubeconfigError, match=r"Not a directory"):
        incluster_sdk.load_config(kubeconfig=entry if how == "kubeconfig=" else None)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(["missing/", "config"]))  # ENOENT: skipped, as client-go
    assert incluster_sdk.load_config().kubeconfig_files == (Path("config"),)


# -- 3: spec.cluster.config from the cluster's exec extension ----------------------------------------------
def dump_info_plugin(path: Path, dump: Path) -> Path:
    return plugin_script(
        path,
        f"pathlib.Path({str(dump)!r}).write_text(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',"
        " 'status': {'token': 't'}}))\n",
    )


def test_case03_exec_cluster_config_comes_from_the_extension(isolated_env: Path, tmp_path: Path) -> None:
    dump = tmp_path / "info.json"
    plugin = dump_info_plugin(tmp_path / "plugin", dump)
    path = write(
        tmp_path / "config",
        cluster={
            "server": "https://h:6443",
            "certificate-authority-data": b64(PLACEHOLDER_CA_PEM),
            "extensions": [
                {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "a1"}},
                {"name": "other", "extension": {"ignored": True}},
            ],
        },
        user={"exec": exec_block(plugin, provideClusterInfo=True)},
    )
    load(path).credentials.auth_header()
    info = json.loads(dump.read_text())
    assert info["spec"]["cluster"] == {
        "server": "https://h:6443",
        "certificate-authority-data": b64(PLACEHOLDER_CA_PEM),
        "config": {"audience": "a1"},
    }
    assert info["spec"]["interactive"] is False


# -- 5: exec config and output validation ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({}, "exec needs 'command'"),
        ({"command": "p"}, "exec needs 'apiVersion'"),
        ({"command": "p", "apiVersion": "client.authentication.k8s.io/v1"}, "needs 'interactiveMode'"),
        (
            {"command": "p", "apiVersion": "client.authentication.k8s.io/v1beta1", "interactiveMode": "Sometimes"},
            "interactiveMode 'Sometimes' is invalid",
        ),
        ({"command": "p", "apiVersion": "client.authentication.k8s.io/v1alpha1"}, "is not supported"),
        (
            {"command": "p", "apiVersion": "client.authentication.k8s.io/v1beta1", "env": [{"value": "x"}]},
            "env[0] has no 'name'",
        ),
    ],
)
def test_case05_incomplete_exec_blocks_are_errors_not_anonymous(
    isolated_env: Path, tmp_path: Path, block: dict[str, Any], fragment: str
) -> None:
    path = write(tmp_path / "config", cluster={"server": "https://h:6443"}, user={"exec": block})
    with pytest.raises(KubeconfigError, match=re.escape(fragment)):
        load(path)


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ({"kind": "ExecCredential", "status": {"token": "t"}}, "apiVersion None"),
        ({"apiVersion": "client.authentication.k8s.io/v1beta1", "status": {"token": "t"}}, "kind None"),
        ({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": "t"}}, "v1'"),
        ({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"}, "no 'status'"),
        (
            {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": 1}},
            "status.token must be a string",
        ),
    ],
)
def test_case05_plugin_output_needs_api_version_and_kind(
    isolated_env: Path, tmp_path: Path, output: dict[str, Any], fragment: str
) -> None:
    plugin = plugin_script(tmp_path / "plugin", f"print(json.dumps({output!r}))\n")
    path = write(tmp_path / "config", cluster={"server": "https://h:6443"}, user={"exec": exec_block(plugin)})
    cfg = load(path)
    with pytest.raises(CredentialError, match=fragment):
        cfg.credentials.auth_header()


# -- 6: static credentials take precedence over exec --------------------------------------------------------
@pytest.mark.parametrize(
    ("static", "header"),
    [({"token": "static-token"}, "Bearer static-token"), ({"username": "u", "password": "p"}, "Basic dTpw")],
)
def test_case06_static_credentials_beat_exec_and_the_plugin_never_runs(
    isolated_env: Path, tmp_path: Path, static: dict[str, Any], header: str
) -> None:
    marker = tmp_path / "ran"
    plugin = token_plugin(tmp_path / "plugin", "from-plugin", marker=marker)
    path = write(tmp_path / "config", cluster={"server": "https://h:6443"}, user={**static, "exec": exec_block(plugin)})
    cfg = load(path)
    assert cfg.credentials.auth_header() == header
    assert not cfg.credentials.unauthorized(cfg.credentials.request_credential())
    assert not marker.exists()


def test_case06_static_client_certificate_beats_exec_too(isolated_env: Path, tmp_path: Path) -> None:
    """Current client-go (exec.UpdateTransportConfig): with a static certificate the plugin is never run."""
    marker = tmp_path / "ran"
    plugin = token_plugin(tmp_path / "plugin", "from-plugin", marker=marker)
    user = {
        "client-certificate-data": b64(CLIENT.cert_pem),
        "client-key-data": b64(CLIENT.key_pem),
        "exec": exec_block(plugin),
    }
    cfg = load(write(tmp_path / "config", cluster={"server": "https://h:6443"}, user=user))
    assert cfg.tls.client_cert_file is not None and cfg.tls.client_cert_file.read_bytes() == CLIENT.cert_pem
    assert cfg.tls.client_certificate is None
    assert cfg.credentials.auth_header() is None
    assert not marker.exists()


# -- 7: client certificate and key parsed and matched at load ----------------------------------------------
@pytest.mark.parametrize(
    ("cert", "key", "fragment"),
    [
        (CLIENT.cert_pem, b"bad key data", "do not parse"),
        (CLIENT.cert_pem, OTHER.key_pem, "the key does not match the certificate"),
        (b"not a certificate", CLIENT.key_pem, "do not parse"),
    ],
    ids=["bad key", "other key", "bad cert"],
)
def test_case07_client_pair_is_checked_at_load(
    isolated_env: Path, tmp_path: Path, cert: bytes, key: bytes, fragment: str
) -> None:
    user = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    path = write(tmp_path / "config", cluster={"server": "https://h:6443"}, user=user)
    with pytest.raises(KubeconfigError, match=fragment) as info:
        load(path)
    assert "user 'u'" in str(info.value)


# -- 8: CA bundles hold certificates only ------------------------------------------------------------------
@pytest.mark.parametrize(
    "bundle",
    [PLACEHOLDER_CA_PEM + b"junk\n", b"junk\n" + PLACEHOLDER_CA_PEM, PLACEHOLDER_CA_PEM + CLIENT.key_pem],
    ids=["junk after", "junk before", "a key inside"],
)
def test_case08_ca_bundle_with_anything_but_certificates_is_refused(
    isolated_env: Path, tmp_path: Path, bundle: bytes
) -> None:
    path = write(tmp_path / "config", cluster={"server": "https://h:6443", "certificate-authority-data": b64(bundle)})
    with pytest.raises(KubeconfigError, match="certificate-authority-data"):
        load(path)


def test_case08_a_bundle_of_several_certificates_is_fine(isolated_env: Path, tmp_path: Path) -> None:
    bundle = PLACEHOLDER_CA_PEM + b"\n" + CA.cert_pem
    path = write(tmp_path / "config", cluster={"server": "https://h:6443", "certificate-authority-data": b64(bundle)})
    assert load(path).tls.ca_file is not None


# -- 9: CA plus insecure ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ca_key", ["certificate-authority-data", "certificate-authority"])
def test_case09_ca_together_with_insecure_is_refused(isolated_env: Path, tmp_path: Path, ca_key: str) -> None:
    (tmp_path / "ca.crt").write_bytes(PLACEHOLDER_CA_PEM)
    ca = b64(PLACEHOLDER_CA_PEM) if ca_key.endswith("data") else "ca.crt"
    path = write(
        tmp_path / "config", cluster={"server": "https://h:6443", ca_key: ca, "insecure-skip-tls-verify": True}
    )
    with pytest.raises(KubeconfigError, match="insecure-skip-tls-verify"):
        load(path)


# -- 10: server URLs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "server",
    ["example.test:8080/foo/bar", "example.test:8080", "h", "ftp://h", "https://", "https://h:port", "[::1]:6443"],
)
def test_case10_servers_without_a_usable_scheme_are_refused(isolated_env: Path, tmp_path: Path, server: str) -> None:
    path = write(tmp_path / "config", cluster={"server": server}, user={"token": "t"})
    with pytest.raises(KubeconfigError, match="server"):
        load(path)


@pytest.mark.parametrize(
    ("server", "host"),
    [
        ("https://h:6443/", "https://h:6443"),
        ("https://[::1]:6443", "https://[::1]:6443"),
        ("https://h/k8s/clusters/c-1/", "https://h/k8s/clusters/c-1"),
    ],
)
def test_case10_https_servers(isolated_env: Path, tmp_path: Path, server: str, host: str) -> None:
    cfg = load(write(tmp_path / "config", cluster={"server": server}, user={"token": "t"}))
    assert cfg.host == host
    assert cfg.credentials.auth_header() == "Bearer t"


def test_case10_plain_http_sends_no_credentials_as_client_go(isolated_env: Path, tmp_path: Path) -> None:
    cluster = {"server": "http://h:8080", "certificate-authority-data": b64(PLACEHOLDER_CA_PEM)}
    cfg = load(write(tmp_path / "config", cluster=cluster, user={"token": "t"}))
    assert cfg.host == "http://h:8080"
    assert cfg.credentials.auth_header() is None
    assert cfg.tls == incluster_sdk.TLSConfig()


# -- 11: duplicate names within one file -------------------------------------------------------------------
@pytest.mark.parametrize(
    "server",
    ["https://h:6443\n", "https://h\t:6443", "https://h:6443/\x7f", "https://%68:6443", "https://h%2Fx",
     "https://h:6443/p%zz", "https://h:6443/#%zz"],
)  # fmt: skip
def test_case10_kind_what_gos_url_parser_refuses_is_refused(isolated_env: Path, tmp_path: Path, server: str) -> None:
    """Checked against the client-go oracle: a control character anywhere (Python's urlsplit drops line breaks
    and tabs silently), a bad %-escape, an escaped ASCII byte in the host."""
    with pytest.raises(KubeconfigError, match=r"control character|invalid %-escape"):
        load(write(tmp_path / "config", cluster={"server": server}))
    with pytest.raises(KubeconfigError, match=r"control character|invalid %-escape"):
        load(write(tmp_path / "p", cluster={"server": "https://h:6443", "proxy-url": server.replace("https", "http")}))


@pytest.mark.parametrize(
    "server", ["https://h%C3%A9:6443", "https://[fe80::1%25eth0]:6443", "https://h:6443/?q=%zz", "https://h:6443/p%41"]
)
def test_case10_kind_what_gos_url_parser_takes_loads(isolated_env: Path, tmp_path: Path, server: str) -> None:
    load(write(tmp_path / "config", cluster={"server": server}))


@pytest.mark.parametrize("section", ["clusters", "users", "contexts"])
def test_case11_duplicate_names_in_one_file(isolated_env: Path, tmp_path: Path, section: str) -> None:
    path = write(tmp_path / "config", cluster={"server": "https://h:6443"})
    doc = yaml.safe_load(path.read_text())
    doc[section].append(dict(doc[section][0]))
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError, match="defined twice"):
        load(path)


def test_case11_across_files_the_first_wins(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = write(tmp_path / "a", cluster={"server": "https://first:1"})
    b = write(tmp_path / "b", cluster={"server": "https://second:2", "tls-server-name": "x"})
    monkeypatch.setenv("KUBECONFIG", f"{a}{os.pathsep}{b}")
    cfg = incluster_sdk.load_config()
    assert (cfg.host, cfg.tls.server_name) == ("https://first:1", None)


# -- 12: proxy-url -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("proxy", "fragment"),
    [("ftp://p:21", "unsupported scheme 'ftp'"), ("http://", "has no host"), ("p:3128", "unsupported scheme")],
)
def test_case12_bad_proxy_urls(isolated_env: Path, tmp_path: Path, proxy: str, fragment: str) -> None:
    path = write(tmp_path / "config", cluster={"server": "https://h:6443", "proxy-url": proxy})
    with pytest.raises(KubeconfigError, match=fragment):
        load(path)


def test_case12_socks5_loads_when_its_libraries_are_installed(isolated_env: Path, tmp_path: Path) -> None:
    cfg = load(write(tmp_path / "config", cluster={"server": "https://h:6443", "proxy-url": "socks5://127.0.0.1:1080"}))
    assert cfg.proxy_url == "socks5://127.0.0.1:1080"


def test_case12_socks5_without_its_libraries_says_what_to_install(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "socks" else real(name, *a))
    path = write(tmp_path / "config", cluster={"server": "https://h:6443", "proxy-url": "socks5://127.0.0.1:1080"})
    with pytest.raises(KubeconfigError, match=r"pip install 'incluster-sdk\[socks\]'"):
        load(path)


# -- 13: control characters in installHint -----------------------------------------------------------------
def test_case13_install_hint_cannot_send_terminal_escapes(isolated_env: Path, tmp_path: Path) -> None:
    block = exec_block(tmp_path / "missing-plugin", installHint="install it\u001b[31m now")
    cfg = load(write(tmp_path / "config", cluster={"server": "https://h:6443"}, user={"exec": block}))
    with pytest.raises(CredentialError) as info:
        cfg.credentials.auth_header()
    assert "\x1b" not in str(info.value)
    assert "install itU+001B[31m now" in str(info.value)


@FAST
@given(hint=st.text(max_size=40))
def test_case13_kind_no_control_character_survives(hint: str) -> None:
    cleaned = clean_install_hint(hint)
    assert all(unicodedata.category(ch)[0] != "C" or ch in "\t\n\v\f\r" for ch in cleaned)
    if all(unicodedata.category(ch)[0] in "LMNPSZ" for ch in hint):
        assert cleaned == hint


ESCAPE = "\x1b]0;pwned\x07\x1b[31m"
CONTROL = st.text(st.characters(max_codepoint=0x9F, categories=["Cc"], exclude_characters="\t\n\v\f\r"), min_size=1)


def _no_control(text: str) -> bool:
    return all(unicodedata.category(ch)[0] != "C" or ch in "\t\n\v\f\r" for ch in text)


def test_case13_kind_no_kubeconfig_text_reaches_a_message_or_log_raw(
    isolated_env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Other instances of the kind (a breaker run): context names in the "known contexts" list, paths in "does
    not exist", the file name, ``config.source`` and the INFO line: all printable."""
    caplog.set_level("INFO", logger="incluster_sdk")
    bad = tmp_path / f"dir{ESCAPE}"
    path = write(bad / f"config{ESCAPE}", cluster={"server": "https://h:6443"}, user={"tokenFile": f"tok{ESCAPE}"})
    with pytest.raises(KubeconfigError) as missing_file:
        load(path)
    with pytest.raises(KubeconfigError) as missing_context:
        incluster_sdk.load_config(kubeconfig=path, context=f"nope{ESCAPE}")
    doc = yaml.safe_load(path.read_text())
    doc["contexts"][0]["name"] = doc["current-context"] = f"ctx{ESCAPE}"
    doc["contexts"][0]["context"]["namespace"] = "ns"
    doc["users"][0]["user"] = {"token": "t"}
    path.write_text(yaml.safe_dump(doc))
    cfg = load(path)
    shown = [str(missing_file.value), str(missing_context.value), cfg.source, *(r.getMessage() for r in caplog.records)]
    assert all(_no_control(text) for text in shown), shown
    assert "U+001B" in str(missing_file.value) and "U+001B" in cfg.source


@FAST
@given(before=st.text(max_size=10), control=CONTROL, after=st.text(max_size=10))
def test_case13_kind_every_sdk_error_message_is_printable(before: str, control: str, after: str) -> None:
    """Whatever text an error is built from, printing it cannot drive a terminal (InclusterSDKError.__str__)."""
    for error in (KubeconfigError, CredentialError, incluster_sdk.ConfigError, incluster_sdk.InclusterSDKError):
        message = str(error(before + control + after))
        assert _no_control(message) and "U+" in message


# -- 14: the kubeconfig context's namespace beats POD_NAMESPACE ---------------------------------------------
def test_case14_kubeconfig_namespace_beats_pod_namespace(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "config", cluster={"server": "https://h:6443"}, namespace="team-a")
    monkeypatch.setenv("POD_NAMESPACE", "team-b")
    monkeypatch.setenv("KUBECONFIG", str(path))
    cfg = incluster_sdk.load_config()
    assert (cfg.namespace, cfg.namespace_source) == ("team-a", "kubeconfig context 'ctx'")
    no_ns = write(tmp_path / "other", cluster={"server": "https://h:6443"})
    assert incluster_sdk.load_config(kubeconfig=no_ns).namespace == "default"  # POD_NAMESPACE is in-cluster only


# -- 15: strict base64 -------------------------------------------------------------------------------------
def test_case15_invalid_base64_is_an_error(isolated_env: Path, tmp_path: Path) -> None:
    user = {"client-certificate-data": "aGVsbG8K!!!", "client-key-data": b64(CLIENT.key_pem)}
    with pytest.raises(KubeconfigError, match="'client-certificate-data' is not valid base64"):
        load(write(tmp_path / "config", cluster={"server": "https://h:6443"}, user=user))


@FAST
@given(data=st.binary(min_size=1, max_size=30), junk=st.sampled_from("!*#$% -_."), at=st.integers(0, 40))
def test_case15_kind_any_stray_character_is_refused_and_line_breaks_are_not(
    tmp_path: Path, data: bytes, junk: str, at: int
) -> None:
    text = b64(data)
    at = min(at, len(text))
    assert decode_data(text[:at] + "\n" + text[at:], where="w", field="k") == data
    with pytest.raises(KubeconfigError, match="not valid base64"):
        decode_data(text[:at] + junk + text[at:], where="w", field="k")


@FAST
@given(data=st.binary(max_size=30), extra=st.integers(1, 3))
def test_case15_kind_padding_after_a_complete_group_is_refused(data: bytes, extra: int) -> None:
    """Go's base64 (client-go's []byte fields) refuses '=' beyond the last group's padding; Python accepts it."""
    text = b64(data)
    assert decode_data(text, where="w", field="k") == data
    with pytest.raises(KubeconfigError, match="not valid base64"):
        decode_data(text + "=" * extra, where="w", field="k")


# -- 6: basic auth needs a username; tokenFile is not an authentication method in client-go's validation ------
def test_case06_kind_a_password_alone_sends_nothing_and_does_not_stop_exec(
    isolated_env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """client-go: HasBasicAuth needs a username, so a password alone is no credential and the plugin runs."""
    marker = tmp_path / "ran"
    plugin = token_plugin(tmp_path / "plugin", "from-plugin", marker=marker)
    alone = load(write(tmp_path / "a", cluster={"server": "https://h:6443"}, user={"password": "p"}))
    assert alone.credentials.auth_header() is None
    assert any("password without a username is ignored" in r.getMessage() for r in caplog.records)
    with_exec = load(
        write(tmp_path / "b", cluster={"server": "https://h:6443"}, user={"password": "p", "exec": exec_block(plugin)})
    )
    assert with_exec.credentials.auth_header() == "Bearer from-plugin" and marker.exists()


def test_case06_kind_a_token_file_with_a_password_uses_the_file(isolated_env: Path, tmp_path: Path) -> None:
    """client-go's validateAuthInfo does not count tokenFile as a method: no "more than one" error; the file's
    token is sent (basic auth has no username)."""
    (tmp_path / "tok").write_text("file-token\n")
    cfg = load(write(tmp_path / "c", cluster={"server": "https://h:6443"}, user={"tokenFile": "tok", "password": "p"}))
    assert cfg.credentials.auth_header() == "Bearer file-token"
    with pytest.raises(KubeconfigError, match="more than one authentication method"):
        load(write(tmp_path / "d", cluster={"server": "https://h:6443"}, user={"token": "t", "password": "p"}))
