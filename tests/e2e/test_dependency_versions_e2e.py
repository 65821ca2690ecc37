"""The clients on whichever ``kubernetes`` / ``kubernetes_asyncio`` release is installed, "in a pod" against
the real local kube-apiserver: authenticated requests (an anonymous one gets 403), 401 -> re-read -> one
retry, and an informer sync, sync and asyncio. scripts/test-deps.sh runs this file on the oldest and newest
releases pyproject.toml admits; the normal suite runs it on whatever is installed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kubernetes.client
import kubernetes_asyncio.client
import pytest

import incluster_sdk
from incluster_sdk.testing import FakeServiceAccountMount, LocalCluster
from incluster_sdk.testing.pytest_plugin import InPod
from incluster_sdk.watch import PODS, AsyncInformer, Informer

pytestmark = pytest.mark.e2e
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "x"}]}}
RETRIED = "HTTP 401 on GET; credentials refreshed, retrying once"


def versions() -> str:
    return f"kubernetes {kubernetes.__version__}, kubernetes_asyncio {kubernetes_asyncio.__version__}"


def names(informer: Any) -> set[str]:
    return {o["metadata"]["name"] for o in informer.store.list()}


def config_holding_a_rejected_token(mount: FakeServiceAccountMount) -> incluster_sdk.Config:
    """A config that holds a token the server rejects (401), while the mount already has a good one again.

    Its file watcher is stopped and the pull is a minute away: only the 401 path can bring the good token in.
    (A token the server never accepted is rejected at once; one it accepted is cached as good for ~10 s.)"""
    good = (mount.path / "token").read_text()
    mount.rotate(token="not-a-token-the-apiserver-knows")
    config = incluster_sdk.load_config()
    config.close()
    mount.rotate(token=good)
    return config


def holds_mounted_token(config: incluster_sdk.Config, mount: FakeServiceAccountMount) -> bool:
    return config.credentials.auth_header() == f"Bearer {(mount.path / 'token').read_text()}"


# -- sync ----------------------------------------------------------------------------------------------------
def test_sync_requests_are_authenticated(cluster_namespace: str, in_pod: InPod) -> None:
    in_pod(["list,get:pods"])
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client())
    assert api.list_namespaced_pod(cluster_namespace).items == [], versions()
    with pytest.raises(kubernetes.client.ApiException) as missing:  # anonymous would be 403
        api.read_namespaced_pod("absent", cluster_namespace)
    assert missing.value.status == 404, versions()
    with pytest.raises(kubernetes.client.ApiException) as denied:  # authenticated, not authorized
        api.list_namespaced_config_map(cluster_namespace)
    assert denied.value.status == 403 and "system:serviceaccount:" in str(denied.value.body), versions()


def test_sync_401_rereads_the_token_and_retries_once(
    cluster_namespace: str, in_pod: InPod, caplog: pytest.LogCaptureFixture
) -> None:
    mount = in_pod(["list:pods"])
    config = config_holding_a_rejected_token(mount)
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(config))
    with caplog.at_level(logging.INFO, logger="incluster_sdk.client"):
        assert api.list_namespaced_pod(cluster_namespace).items == [], versions()
    assert caplog.text.count(RETRIED) == 1
    assert holds_mounted_token(config, mount)


def test_sync_informer_syncs_and_follows(local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod) -> None:
    local_cluster.create({**POD, "metadata": {"name": "before", "namespace": cluster_namespace}})
    in_pod(["list,watch:pods"])
    informer = Informer(incluster_sdk.api_client(), PODS, namespace=cluster_namespace).start()
    try:
        assert informer.wait_for_sync(15), versions()
        assert names(informer) == {"before"}
        local_cluster.create({**POD, "metadata": {"name": "after", "namespace": cluster_namespace}})
        deadline = time.monotonic() + 15
        while names(informer) != {"before", "after"} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert names(informer) == {"before", "after"}, versions()
    finally:
        informer.stop()


# -- asyncio -------------------------------------------------------------------------------------------------
async def test_async_requests_are_authenticated(cluster_namespace: str, in_pod: InPod) -> None:
    in_pod(["list,get:pods"])
    async with await incluster_sdk.async_api_client() as client:
        api = kubernetes_asyncio.client.CoreV1Api(client)
        assert (await api.list_namespaced_pod(cluster_namespace)).items == [], versions()
        with pytest.raises(kubernetes_asyncio.client.ApiException) as missing:
            await api.read_namespaced_pod("absent", cluster_namespace)
        assert missing.value.status == 404, versions()


async def test_async_401_rereads_the_token_and_retries_once(
    cluster_namespace: str, in_pod: InPod, caplog: pytest.LogCaptureFixture
) -> None:
    mount = in_pod(["list:pods"])
    config = await asyncio.to_thread(config_holding_a_rejected_token, mount)
    async with await incluster_sdk.async_api_client(config) as client:
        with caplog.at_level(logging.INFO, logger="incluster_sdk.client"):
            items = (await kubernetes_asyncio.client.CoreV1Api(client).list_namespaced_pod(cluster_namespace)).items
    assert items == [], versions()
    assert caplog.text.count(RETRIED) == 1
    assert holds_mounted_token(config, mount)


async def test_async_informer_syncs_and_follows(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod
) -> None:
    local_cluster.create({**POD, "metadata": {"name": "before", "namespace": cluster_namespace}})
    in_pod(["list,watch:pods"])
    async with (
        await incluster_sdk.async_api_client() as client,
        AsyncInformer(client, PODS, namespace=cluster_namespace) as informer,
    ):
        arrived = asyncio.Event()
        informer.add_handler(on_add=lambda obj, initial: obj["metadata"]["name"] == "after" and arrived.set())
        assert await informer.wait_for_sync(15), versions()
        assert names(informer) == {"before"}
        await asyncio.to_thread(
            local_cluster.create, {**POD, "metadata": {"name": "after", "namespace": cluster_namespace}}
        )
        await asyncio.wait_for(arrived.wait(), 15)
        assert names(informer) == {"before", "after"}, versions()
