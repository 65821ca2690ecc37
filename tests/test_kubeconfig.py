"""Kubeconfig loading follows kubectl's rules, and precedence against in-cluster is deliberate."""

from __future__ import annotations

import base64
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import incluster_sdk
from incluster_sdk import ConfigError, CredentialError, InClusterConfigError, KubeconfigError, NoConfigError
from incluster_sdk.testing import FakeServiceAccountMount
from incluster_sdk.testing.fake_mount import PLACEHOLDER_CA_PEM
from incluster_sdk.testing.pki import CertificateAuthority

CLIENT = CertificateAuthority.create().issue("alice", client=True)


def kubeconfig(
    path: Path,
    *,
    clusters: dict[str, Any] | None = None,
    users: dict[str, Any] | None = None,
    contexts: dict[str, Any] | None = None,
    current: str | None = None,
) -> Path:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    doc["clusters"] = [{"name": n, "cluster": c} for n, c in (clusters or {}).items()]
    doc["users"] = [{"name": n, "user": u} for n, u in (users or {}).items()]
    doc["contexts"] = [{"name": n, "context": c} for n, c in (contexts or {}).items()]
    if current is not None:
        doc["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def exec_kubeconfig(path: Path, plugin: Path, *args: str, **exec_fields: Any) -> Path:
    """A kubeconfig whose one user runs ``python plugin ARGS`` (an exec plugin) for the server https://s:1."""
    exec_config = {"command": sys.executable, "args": [str(plugin), *args], **exec_fields}
    return kubeconfig(
        path,
        clusters={"c": {"server": "https://s:1"}},
        users={"u": {"exec": exec_config}},
        contexts={"c": {"cluster": "c", "user": "u"}},
        current="c",
    )


def simple(
    path: Path,
    name: str = "dev",
    token: str = "t0k3n",
    server: str = "https://dev.example:6443",
    namespace: str | None = None,
    current: str | None = "",
) -> Path:
    ctx: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        ctx["namespace"] = namespace
    return kubeconfig(
        path,
        clusters={name: {"server": server}},
        users={name: {"token": token}},
        contexts={name: ctx},
        current=name if current == "" else current,
    )


# -- precedence --------------------------------------------------------------------------------------


def test_default_kubeconfig_when_not_in_pod(isolated_env: Path) -> None:
    simple(isolated_env / ".kube" / "config", namespace="team-a")
    cfg = incluster_sdk.load_config()
    assert cfg.kind == "kubeconfig"
    assert cfg.source == "kubeconfig ~/.kube/config context dev"
    assert cfg.reason == "not in a pod and ~/.kube/config exists"
    assert (cfg.namespace, cfg.namespace_source) == ("team-a", "kubeconfig context 'dev'")
    assert cfg.host == "https://dev.example:6443"


def test_in_pod_beats_stray_default_kubeconfig(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simple(isolated_env / ".kube" / "config")
    mount = FakeServiceAccountMount(tmp_path / "sa", token="pod-token")
    for k, v in mount.env.items():
        monkeypatch.setenv(k, v)
    assert incluster_sdk.load_config().kind == "in-cluster"
    # A broken mount in a pod is an error, never a silent fall-through to the stray kubeconfig.
    mount.remove("token")
    with pytest.raises(InClusterConfigError, match="token file"):
        incluster_sdk.load_config()


def test_kubeconfig_env_beats_in_pod(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = FakeServiceAccountMount(tmp_path / "sa", token="pod-token")
    for k, v in mount.env.items():
        monkeypatch.setenv(k, v)
    path = simple(tmp_path / "kc")
    monkeypatch.setenv("KUBECONFIG", str(path))
    cfg = incluster_sdk.load_config()
    assert cfg.kind == "kubeconfig"
    assert cfg.reason == f"KUBECONFIG is set ({path})"


def test_explicit_choices(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = FakeServiceAccountMount(tmp_path / "sa", token="pod-token")
    for k, v in mount.env.items():
        monkeypatch.setenv(k, v)
    explicit = simple(tmp_path / "explicit", name="x")
    monkeypatch.setenv("KUBECONFIG", str(simple(tmp_path / "env", name="e")))
    assert incluster_sdk.load_config(kubeconfig=explicit).context == "x"
    assert incluster_sdk.load_config(in_cluster=True).kind == "in-cluster"
    monkeypatch.delenv("KUBECONFIG")
    simple(isolated_env / ".kube" / "config")
    assert incluster_sdk.load_config(in_cluster=False).kind == "kubeconfig"
    with pytest.raises(ConfigError, match="cannot be combined"):
        incluster_sdk.load_config(in_cluster=True, context="dev")


def test_nothing_found(isolated_env: Path) -> None:
    with pytest.raises(NoConfigError) as info:
        incluster_sdk.load_config()
    assert "KUBERNETES_SERVICE_HOST" in str(info.value)
    assert "KUBECONFIG" in str(info.value)
    assert ".kube/config" in str(info.value)


# -- merging like kubectl ----------------------------------------------------------------------------


def test_multi_path_merge_first_wins(isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = kubeconfig(
        tmp_path / "a" / "config",
        clusters={"shared": {"server": "https://first:1"}},
        users={"shared": {"token": "first-token"}},
        contexts={"shared": {"cluster": "shared", "user": "shared"}},
    )  # no current-context
    second = kubeconfig(
        tmp_path / "b" / "config",
        clusters={"shared": {"server": "https://second:2"}, "only2": {"server": "https://only2:3"}},
        users={"shared": {"token": "second-token"}, "u2": {"tokenFile": "tok"}},
        contexts={
            "shared": {"cluster": "only2", "user": "u2"},
            "c2": {"cluster": "only2", "user": "u2", "namespace": "ns2"},
        },
        current="shared",
    )
    third = simple(tmp_path / "c" / "config", name="c3", current="c3")
    (tmp_path / "b" / "tok").write_text("relative-file-token\n")
    missing = tmp_path / "missing" / "config"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(missing), str(first), "", str(second), str(third)]))
    cfg = incluster_sdk.load_config()
    # current-context: the first *non-empty* one (second file's); context 'shared' from the first file.
    assert cfg.context == "shared"
    assert cfg.host == "https://first:1"
    assert cfg.credentials.auth_header() == "Bearer first-token"
    assert cfg.kubeconfig_files == (first, second, third)
    # a relative tokenFile resolves against the directory of the file that defines the user
    c2 = incluster_sdk.load_config(context="c2")
    assert c2.credentials.auth_header() == "Bearer relative-file-token"
    assert (c2.namespace, c2.host) == ("ns2", "https://only2:3")


def test_relative_ca_and_client_cert(isolated_env: Path, tmp_path: Path) -> None:
    d = tmp_path / "kc"
    d.mkdir()
    (d / "ca.crt").write_bytes(PLACEHOLDER_CA_PEM)
    (d / "client.crt").write_bytes(CLIENT.cert_pem)
    (d / "client.key").write_bytes(CLIENT.key_pem)
    path = kubeconfig(
        d / "config",
        clusters={
            "c": {
                "server": "https://s:1",
                "certificate-authority": "ca.crt",
                "tls-server-name": "api.internal",
            }
        },
        users={"u": {"client-certificate": "client.crt", "client-key": "client.key"}},
        contexts={"c": {"cluster": "c", "user": "u"}},
        current="c",
    )
    cfg = incluster_sdk.load_config(kubeconfig=path)
    assert cfg.tls.ca_file == d / "ca.crt"
    assert (cfg.tls.client_cert_file, cfg.tls.client_key_file) == (d / "client.crt", d / "client.key")
    assert cfg.tls.server_name == "api.internal"
    assert cfg.credentials.auth_header() is None


def test_inline_data_written_privately(isolated_env: Path, tmp_path: Path) -> None:
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": "https://s:1", "certificate-authority-data": b64(PLACEHOLDER_CA_PEM)}},
        users={"u": {"client-certificate-data": b64(CLIENT.cert_pem), "client-key-data": b64(CLIENT.key_pem)}},
        contexts={"c": {"cluster": "c", "user": "u"}},
        current="c",
    )
    cfg = incluster_sdk.load_config(kubeconfig=path)
    assert cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() == PLACEHOLDER_CA_PEM
    assert cfg.tls.client_key_file is not None and cfg.tls.client_key_file.read_bytes() == CLIENT.key_pem
    assert stat.S_IMODE(cfg.tls.client_key_file.stat().st_mode) == 0o600


def test_exec_plugin(isolated_env: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "bin" / "plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(
        textwrap.dedent("""\
        import json, os, sys
        info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
        server = info["spec"].get("cluster", {}).get("server", "none")
        print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                          "status": {"token": os.environ["PLUGIN_TOKEN"] + "@" + server,
                                     "expirationTimestamp": "2999-01-01T00:00:00Z"}}))
    """)
    )
    path = exec_kubeconfig(
        tmp_path / "config",
        plugin,
        apiVersion="client.authentication.k8s.io/v1",
        env=[{"name": "PLUGIN_TOKEN", "value": "from-plugin"}],
        provideClusterInfo=True,
        interactiveMode="Never",
    )
    cfg = incluster_sdk.load_config(kubeconfig=path)
    assert cfg.credentials.auth_header() == "Bearer from-plugin@https://s:1"
    assert "from-plugin" not in repr(cfg)


# -- bad kubeconfig input ----------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


BAD = [
    (
        "invalid yaml",
        "clusters: [\n  - name: a\n  bad: : :\n",
        KubeconfigError,
        ["is not valid YAML at line"],
    ),
    ("not a mapping", "- just\n- a list\n", KubeconfigError, ["must be a mapping, not a list"]),
    ("no current context", "clusters: []\n", KubeconfigError, ["has no current-context", "use-context"]),
    (
        "unknown context",
        "current-context: nope\ncontexts: [{name: dev, context: {cluster: c, user: u}}]\n",
        KubeconfigError,
        ["context 'nope' is not in kubeconfig", "known contexts: dev"],
    ),
    (
        "missing cluster",
        "current-context: dev\ncontexts: [{name: dev, context: {cluster: c, user: u}}]\n",
        KubeconfigError,
        ["names cluster 'c', which is not in kubeconfig"],
    ),
    (
        "missing user",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {server: 'https://s:1'}}]
        contexts: [{name: dev, context: {cluster: c, user: u}}]
        """,
        KubeconfigError,
        ["names user 'u', which is not in kubeconfig"],
    ),
    (
        "no server",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {}}]
        contexts: [{name: dev, context: {cluster: c}}]
        """,
        KubeconfigError,
        ["cluster 'c' has no 'server'"],
    ),
    (
        "bad ca data",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {server: 'https://s:1', certificate-authority-data: aGVsbG8=}}]
        contexts: [{name: dev, context: {cluster: c}}]
        """,
        KubeconfigError,
        ["certificate-authority-data is not a PEM certificate"],
    ),
    (
        "missing ca file",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {server: 'https://s:1', certificate-authority: nope.crt}}]
        contexts: [{name: dev, context: {cluster: c}}]
        """,
        KubeconfigError,
        ["certificate-authority", "nope.crt does not exist"],
    ),
    (
        "auth provider",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {server: 'https://s:1'}}]
        users: [{name: u, user: {auth-provider: {name: oidc}}}]
        contexts: [{name: dev, context: {cluster: c, user: u}}]
        """,
        KubeconfigError,
        ["auth-provider 'oidc'", "exec credential plugin"],
    ),
    (
        "two auth methods",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {server: 'https://s:1'}}]
        users: [{name: u, user: {token: abc, username: bob}}]
        contexts: [{name: dev, context: {cluster: c, user: u}}]
        """,
        KubeconfigError,
        ["more than one authentication method"],
    ),
    (
        "token file missing",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {server: 'https://s:1'}}]
        users: [{name: u, user: {tokenFile: gone}}]
        contexts: [{name: dev, context: {cluster: c, user: u}}]
        """,
        KubeconfigError,
        ["tokenFile", "gone does not exist"],
    ),
]


@pytest.mark.parametrize(("text", "error", "fragments"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_kubeconfig(
    isolated_env: Path, tmp_path: Path, text: str, error: type[Exception], fragments: list[str]
) -> None:
    path = _write(tmp_path / "config", text)
    with pytest.raises(error) as info:
        incluster_sdk.load_config(kubeconfig=path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert str(path) in message or "no-such-plugin-x" in message
    assert info.value.__cause__ is None


def test_exec_plugin_missing_is_reported_at_first_use_with_the_install_hint(isolated_env: Path, tmp_path: Path) -> None:
    """As client-go: loading never runs the plugin; the first request does, and says how to install it."""
    path = _write(
        tmp_path / "config",
        """\
        current-context: dev
        clusters: [{name: c, cluster: {server: 'https://s:1'}}]
        users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: no-such-plugin-x,
                 interactiveMode: Never, installHint: "brew install no-such-plugin-x"}}}]
        contexts: [{name: dev, context: {cluster: c, user: u}}]
        """,
    )
    cfg = incluster_sdk.load_config(kubeconfig=path)
    with pytest.raises(CredentialError, match=r"'no-such-plugin-x' was not found\. brew install no-such-plugin-x"):
        cfg.credentials.auth_header()


def test_kubeconfig_env_with_only_missing_files(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nope/a:/nope/b")
    with pytest.raises(KubeconfigError, match="no kubeconfig file exists among /nope/a, /nope/b"):
        incluster_sdk.load_config()


def test_unknown_context_argument(isolated_env: Path) -> None:
    simple(isolated_env / ".kube" / "config")
    with pytest.raises(KubeconfigError, match="context 'prod' is not in kubeconfig"):
        incluster_sdk.load_config(context="prod")


def test_exec_plugin_refreshes_before_expiry_and_on_401(isolated_env: Path, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        textwrap.dedent(f"""\
        import datetime, json, pathlib, sys
        c = pathlib.Path({str(counter)!r}); n = int(c.read_text()) + 1 if c.exists() else 1; c.write_text(str(n))
        ttl = int(sys.argv[1])
        exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl)
        stamp = exp.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                          "status": {{"token": f"tok-{{n}}", "expirationTimestamp": stamp}}}}))
    """)
    )

    def config_with_ttl(ttl: int) -> incluster_sdk.Config:
        counter.unlink(missing_ok=True)
        path = exec_kubeconfig(tmp_path / "config", plugin, str(ttl), apiVersion="client.authentication.k8s.io/v1beta1")
        return incluster_sdk.load_config(kubeconfig=path)

    long_lived = config_with_ttl(3600)
    assert long_lived.credentials.auth_header() == "Bearer tok-1"
    assert long_lived.credentials.auth_header() == "Bearer tok-1"  # cached, not re-run
    sent = long_lived.credentials.request_credential()
    assert sent.header == "Bearer tok-1"
    assert long_lived.credentials.unauthorized(sent)  # 401: run again, new token
    assert long_lived.credentials.auth_header() == "Bearer tok-2"

    about_to_expire = config_with_ttl(10)  # inside the 30 s margin: re-run before each use
    assert about_to_expire.credentials.auth_header() == "Bearer tok-1"  # loading ran nothing (client-go)
    assert about_to_expire.credentials.auth_header() == "Bearer tok-2"
