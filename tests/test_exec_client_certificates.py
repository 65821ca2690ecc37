"""Case 4 of shared/cases/kubeconfig-conformance.md: client certificates from an exec plugin rotate.

After the plugin runs again (its credential expired, or the server answered 401), **new** connections present
the new certificate and old idle ones are closed, in the sync and the asyncio client (client-go caches exec TLS
credentials until expiry and closes connections on rotation). The fake server requires a client certificate
and records each request's certificate name and connection.
"""

from __future__ import annotations

import datetime as dt
import stat
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import kubernetes.client
import pytest
import yaml

import incluster_sdk
from incluster_sdk.credentials import RequestCredential
from incluster_sdk.testing.pki import CertificateAuthority
from tests.support.fake_apiserver import FakeApiServer, Seen

CLIENT_CA = CertificateAuthority.create("client-ca")


class Plugin:
    """An exec plugin that prints whichever certificate the test chose, with the expiry the test chose."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.script = workdir / "plugin"
        self.script.write_text(
            f"#!{sys.executable}\n"
            + textwrap.dedent(f"""\
            import base64, json, pathlib
            d = pathlib.Path({str(workdir)!r})
            runs = d / "runs"; runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else "1")
            print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                "status": {{"clientCertificateData": (d / "cert").read_text(),
                            "clientKeyData": (d / "key").read_text(),
                            "expirationTimestamp": (d / "expiry").read_text()}}}}))
        """)
        )
        self.script.chmod(self.script.stat().st_mode | stat.S_IXUSR)

    def issue(self, name: str, *, expires_in: float) -> None:
        pair = CLIENT_CA.issue(name, client=True)
        (self.dir / "cert").write_bytes(pair.cert_pem)
        (self.dir / "key").write_bytes(pair.key_pem)
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=expires_in)
        (self.dir / "expiry").write_text(expiry.strftime("%Y-%m-%dT%H:%M:%SZ"))

    @property
    def runs(self) -> int:
        return int((self.dir / "runs").read_text()) if (self.dir / "runs").exists() else 0


def namespace_list(seen: Seen) -> tuple[int, object]:
    if seen.client_cn in REFUSED:
        return 401, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 401}
    return 200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []}


REFUSED: set[str] = set()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeApiServer]:
    REFUSED.clear()
    srv = FakeApiServer.start(tmp_path, namespace_list, client_ca=CLIENT_CA.cert_pem)
    yield srv
    srv.stop()


@pytest.fixture
def setup(isolated_env: Path, tmp_path: Path, server: FakeApiServer) -> tuple[incluster_sdk.Config, Plugin]:
    plugin = Plugin(tmp_path)
    import base64

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": f"https://127.0.0.1:{server.port}",
                    "certificate-authority-data": base64.b64encode(server.ca.cert_pem).decode(),
                },
            }
        ],
        "users": [
            {
                "name": "u",
                "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin.script)}},
            }
        ],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    (tmp_path / "config").write_text(yaml.safe_dump(doc))
    return incluster_sdk.load_config(kubeconfig=tmp_path / "config"), plugin


def names_and_connections(server: FakeApiServer) -> list[tuple[str | None, tuple[str, int] | None]]:
    return [(s.client_cn, s.peer) for s in server.seen]


def test_sync_rotation_on_401_and_on_expiry(setup: tuple[incluster_sdk.Config, Plugin], server: FakeApiServer) -> None:
    cfg, plugin = setup
    plugin.issue("alice-1", expires_in=3600)
    assert plugin.runs == 0  # loading runs nothing
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    api.list_namespace()
    api.list_namespace()
    seen = names_and_connections(server)
    assert [n for n, _ in seen] == ["alice-1", "alice-1"] and seen[0][1] == seen[1][1]  # one kept-alive connection

    # The server stops accepting alice-1: the 401 re-runs the plugin; the retry opens a new connection.
    plugin.issue("alice-2", expires_in=3600)
    REFUSED.add("alice-1")
    api.list_namespace()
    seen = names_and_connections(server)
    assert [n for n, _ in seen[2:]] == ["alice-1", "alice-2"]
    assert seen[3][1] != seen[1][1]
    assert plugin.runs == 2

    # Expiry: a credential inside the refresh margin is replaced before the next request, without a 401.
    plugin.issue("alice-3", expires_in=5)
    assert cfg.credentials.unauthorized(RequestCredential())  # a 401: picks up alice-3 (expiring soon)
    plugin.issue("alice-4", expires_in=3600)
    api.list_namespace()
    assert server.seen[-1].client_cn == "alice-4"
    assert server.seen[-1].peer != seen[3][1]


async def test_asyncio_rotation_on_401_and_on_expiry(
    setup: tuple[incluster_sdk.Config, Plugin], server: FakeApiServer
) -> None:
    import kubernetes_asyncio.client

    cfg, plugin = setup
    plugin.issue("bob-1", expires_in=3600)
    async with await incluster_sdk.async_api_client(cfg) as client:
        api = kubernetes_asyncio.client.CoreV1Api(client)
        await api.list_namespace()
        await api.list_namespace()
        seen = names_and_connections(server)
        assert [n for n, _ in seen] == ["bob-1", "bob-1"] and seen[0][1] == seen[1][1]

        plugin.issue("bob-2", expires_in=3600)
        REFUSED.add("bob-1")
        await api.list_namespace()
        seen = names_and_connections(server)
        assert [n for n, _ in seen[2:]] == ["bob-1", "bob-2"]
        assert seen[3][1] != seen[1][1]

        plugin.issue("bob-3", expires_in=5)
        assert cfg.credentials.unauthorized(RequestCredential())
        plugin.issue("bob-4", expires_in=3600)
        await api.list_namespace()
        assert server.seen[-1].client_cn == "bob-4"
        assert server.seen[-1].peer != seen[3][1]
