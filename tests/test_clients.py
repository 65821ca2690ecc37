"""Both clients really send the Authorization header, pick up rotations, and retry a read once on 401."""

from __future__ import annotations

import logging
from pathlib import Path

import kubernetes.client
import kubernetes_asyncio.client
import pytest

import incluster_sdk
from incluster_sdk.testing import FakeServiceAccountMount
from tests.support.fake_apiserver import FakeApiServer, Seen, pod_list


def unwatched_config() -> incluster_sdk.Config:
    """A config whose watcher is stopped: it notices a rotation only by the 60 s pull or a 401."""
    config = incluster_sdk.load_config()
    config.close()
    return config


def pod_mount(
    tmp_path: Path, server: FakeApiServer, monkeypatch: pytest.MonkeyPatch, token: str = "token-a"
) -> FakeServiceAccountMount:
    mount = FakeServiceAccountMount(
        tmp_path / "sa",
        token=token,
        ca=server.ca.cert_pem,
        namespace="ns",
        host="127.0.0.1",
        port=server.port,
    )
    for key, value in mount.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return mount


def only_token_b(seen: Seen) -> tuple[int, object]:
    if seen.headers.get("authorization") != "Bearer token-b":
        return 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"}
    return pod_list(seen)


def test_sync_client_sends_bearer_token(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client())
    api.list_namespaced_pod("ns")
    assert fake_apiserver.seen[-1].headers["authorization"] == "Bearer token-a"
    assert fake_apiserver.seen[-1].headers["user-agent"].startswith("incluster-sdk/")


async def test_async_client_sends_bearer_token(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    async with await incluster_sdk.async_api_client() as client:
        await kubernetes_asyncio.client.CoreV1Api(client).list_namespaced_pod("ns")
    assert fake_apiserver.seen[-1].headers["authorization"] == "Bearer token-a"


def test_sync_401_rereads_token_and_retries_once(
    tmp_path: Path,
    fake_apiserver: FakeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mount = pod_mount(tmp_path, fake_apiserver, monkeypatch)
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(unwatched_config()))
    fake_apiserver.respond = only_token_b
    mount.rotate(token="token-b")  # the client has not noticed yet (next pull is a minute away)
    with caplog.at_level(logging.DEBUG):
        assert api.list_namespaced_pod("ns").items == []
    assert [s.headers["authorization"] for s in fake_apiserver.seen] == ["Bearer token-a", "Bearer token-b"]
    assert "token-a" not in caplog.text and "token-b" not in caplog.text


def test_sync_401_on_write_is_not_retried(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = pod_mount(tmp_path, fake_apiserver, monkeypatch)
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(unwatched_config()))
    fake_apiserver.respond = only_token_b
    mount.rotate(token="token-b")
    with pytest.raises(kubernetes.client.ApiException) as info:
        api.create_namespaced_config_map("ns", {"metadata": {"name": "x"}})
    assert info.value.status == 401
    assert len(fake_apiserver.seen) == 1


def test_401_with_unchanged_token_is_not_retried(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    fake_apiserver.respond = only_token_b
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client())
    with pytest.raises(kubernetes.client.ApiException) as info:
        api.list_namespaced_pod("ns")
    assert info.value.status == 401
    assert len(fake_apiserver.seen) == 1
    assert "token-a" not in str(info.value)


async def test_async_401_rereads_token_and_retries_once(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = pod_mount(tmp_path, fake_apiserver, monkeypatch)
    async with await incluster_sdk.async_api_client(unwatched_config()) as client:
        api = kubernetes_asyncio.client.CoreV1Api(client)
        fake_apiserver.respond = only_token_b
        mount.rotate(token="token-b")
        assert (await api.list_namespaced_pod("ns")).items == []
    assert [s.headers["authorization"] for s in fake_apiserver.seen] == ["Bearer token-a", "Bearer token-b"]


def test_token_not_in_library_configuration(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    client = incluster_sdk.api_client()
    assert "token-a" not in repr(vars(client.configuration))
    assert "token-a" not in client.configuration.to_debug_report()
