"""Kubeconfig features end to end against the real kube-apiserver: exec client certificates that rotate,
a relative exec command in a relatively named kubeconfig, and SOCKS5 proxies (sync and asyncio)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes_asyncio.client
import pytest
import yaml

import incluster_sdk
from incluster_sdk.credentials import RequestCredential
from incluster_sdk.testing import LocalCluster
from tests.socks5 import Socks5Proxy

pytestmark = pytest.mark.e2e


def admin_doc(cluster: LocalCluster, user: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cluster's admin kubeconfig; with ``user``, its one user (called admin) authenticates that way."""
    doc: dict[str, Any] = yaml.safe_load(cluster.admin_kubeconfig.read_text())
    if user is not None:
        doc["users"] = [{"name": "admin", "user": user}]
    return doc


def cert_plugin(workdir: Path) -> Path:
    """An exec plugin printing the certificate the test put in ``workdir`` (and its expiry)."""
    script = workdir / "cert-plugin"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(f"""\
        import json, pathlib
        d = pathlib.Path({str(workdir)!r})
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
            "status": {{"clientCertificateData": (d / "cert").read_text(), "clientKeyData": (d / "key").read_text(),
                        "expirationTimestamp": (d / "expiry").read_text()}}}}))
    """)
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def issue(cluster: LocalCluster, workdir: Path, user: str, *, expires_in: float) -> None:
    pair = cluster.ca.issue(user, client=True)
    (workdir / "cert").write_bytes(pair.cert_pem)
    (workdir / "key").write_bytes(pair.key_pem)
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=expires_in)
    (workdir / "expiry").write_text(expiry.strftime("%Y-%m-%dT%H:%M:%SZ"))


def exec_kubeconfig(cluster: LocalCluster, workdir: Path) -> Path:
    exec_config = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(cert_plugin(workdir))}
    doc = admin_doc(cluster, user={"exec": exec_config})
    path = workdir / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


def identity_in_403(exc: Exception) -> str:
    body = json.loads(getattr(exc, "body", None) or "{}")
    return str(body.get("message", ""))


def test_exec_client_certificate_rotates_sync(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """The API server authenticates each new certificate: the identity in its 403 follows the rotation."""
    issue(local_cluster, tmp_path, "exec-user-1", expires_in=3600)
    cfg = incluster_sdk.load_config(kubeconfig=exec_kubeconfig(local_cluster, tmp_path))
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    with pytest.raises(kubernetes.client.ApiException) as first:
        api.list_namespace()
    assert first.value.status == 403 and 'User "exec-user-1"' in identity_in_403(first.value)

    issue(local_cluster, tmp_path, "exec-user-2", expires_in=3600)
    assert cfg.credentials.unauthorized(RequestCredential())  # the plugin runs again (as after a 401)
    with pytest.raises(kubernetes.client.ApiException) as second:
        api.list_namespace()
    assert 'User "exec-user-2"' in identity_in_403(second.value)


async def test_exec_client_certificate_rotates_asyncio(local_cluster: LocalCluster, tmp_path: Path) -> None:
    issue(local_cluster, tmp_path, "exec-user-3", expires_in=5)  # inside the refresh margin: re-run each use
    cfg = incluster_sdk.load_config(kubeconfig=exec_kubeconfig(local_cluster, tmp_path))
    async with await incluster_sdk.async_api_client(cfg) as client:
        api = kubernetes_asyncio.client.CoreV1Api(client)
        with pytest.raises(kubernetes_asyncio.client.ApiException) as first:
            await api.list_namespace()
        assert 'User "exec-user-3"' in identity_in_403(first.value)
        issue(local_cluster, tmp_path, "exec-user-4", expires_in=3600)
        with pytest.raises(kubernetes_asyncio.client.ApiException) as second:
            await api.list_namespace()
        assert 'User "exec-user-4"' in identity_in_403(second.value)


def test_relative_kubeconfig_runs_the_plugin_beside_it(
    local_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 2: KUBECONFIG=config (relative) with command ./plugin.sh runs the plugin beside the file."""
    token = local_cluster.admin_config().credentials.auth_header()
    assert token is not None
    here = tmp_path / "project"
    here.mkdir()
    (here / "admin-token").write_text(token.removeprefix("Bearer "))
    plugin = here / "plugin.sh"
    plugin.write_text(
        f"#!{sys.executable}\nimport json, pathlib\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        f" 'status': {{'token': pathlib.Path({str(here / 'admin-token')!r}).read_text()}}}}))\n"
    )
    plugin.chmod(0o700)
    exec_config = {"apiVersion": "client.authentication.k8s.io/v1", "command": "./plugin.sh"}
    exec_config["interactiveMode"] = "Never"
    doc = admin_doc(local_cluster, user={"exec": exec_config})
    (here / "config").write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(here)
    monkeypatch.setenv("KUBECONFIG", "config")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cfg = incluster_sdk.load_config()
    monkeypatch.chdir(tmp_path)  # the command was made absolute at load
    names = [
        ns.metadata.name for ns in kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg)).list_namespace().items
    ]
    assert "default" in names or "kube-system" in names or names


@pytest.fixture
def socks_proxy() -> Any:
    proxy = Socks5Proxy().start()
    yield proxy
    proxy.stop()


def socks_kubeconfig(cluster: LocalCluster, proxy: Socks5Proxy, path: Path) -> Path:
    doc = admin_doc(cluster)
    cluster_entry = doc["clusters"][0]["cluster"]
    cluster_entry["server"] = cluster.server.replace("127.0.0.1", "localhost")  # a name the proxy must resolve
    cluster_entry["proxy-url"] = proxy.url
    path.write_text(yaml.safe_dump(doc))
    return path


def test_socks5_proxy_sync(local_cluster: LocalCluster, socks_proxy: Socks5Proxy, tmp_path: Path) -> None:
    cfg = incluster_sdk.load_config(kubeconfig=socks_kubeconfig(local_cluster, socks_proxy, tmp_path / "config"))
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    api.list_namespace()
    assert socks_proxy.connects and socks_proxy.connects[0] == ("domain", "localhost", local_cluster.api_port)


async def test_socks5_proxy_asyncio(local_cluster: LocalCluster, socks_proxy: Socks5Proxy, tmp_path: Path) -> None:
    cfg = incluster_sdk.load_config(kubeconfig=socks_kubeconfig(local_cluster, socks_proxy, tmp_path / "config"))
    async with await incluster_sdk.async_api_client(cfg) as client:
        await kubernetes_asyncio.client.CoreV1Api(client).list_namespace()
    assert socks_proxy.connects and socks_proxy.connects[0] == ("domain", "localhost", local_cluster.api_port)


def test_inline_ca_and_certificate_data_against_the_real_server(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """Strict base64 and the client pair check accept what real tools write (base64 -w76 wrapped too)."""
    pair = local_cluster.ca.issue("inline-user", client=True, organization="system:masters")
    inline = {
        "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
        "client-key-data": base64.b64encode(pair.key_pem).decode(),
    }
    doc = admin_doc(local_cluster, user=inline)
    ca = base64.encodebytes(local_cluster.ca_file.read_bytes()).decode()  # wrapped at 76 columns
    doc["clusters"][0]["cluster"] = {"server": local_cluster.server, "certificate-authority-data": ca}
    (tmp_path / "config").write_text(yaml.safe_dump(doc))
    cfg = incluster_sdk.load_config(kubeconfig=tmp_path / "config")
    assert kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg)).list_namespace().items is not None
