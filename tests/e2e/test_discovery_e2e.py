"""End to end against a real kube-apiserver: in-cluster discovery, RBAC enforcement, kubeconfig fallback."""

from __future__ import annotations

from pathlib import Path

import kubernetes.client
import kubernetes_asyncio.client
import pytest

import incluster_sdk
from incluster_sdk.testing import LocalCluster
from incluster_sdk.testing.pytest_plugin import InPod

pytestmark = pytest.mark.e2e

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "spec": {"containers": [{"name": "c", "image": "registry.invalid/none:1"}]},
}


def make_pod(cluster: LocalCluster, namespace: str, name: str) -> None:
    cluster.create({**POD, "metadata": {"name": name, "namespace": namespace}})


def test_in_cluster_discovery_lists_pods_and_rbac_is_enforced(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod
) -> None:
    make_pod(local_cluster, cluster_namespace, "one")
    make_pod(local_cluster, cluster_namespace, "two")
    in_pod(["get,list,watch:pods"], service_account="example-sa")

    cfg = incluster_sdk.load_config()
    assert cfg.kind == "in-cluster"
    assert cfg.namespace == cluster_namespace
    claims = cfg.credentials.claims()
    assert claims is not None and claims.subject == f"system:serviceaccount:{cluster_namespace}:example-sa"
    assert claims.is_bound

    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    names = sorted(p.metadata.name for p in api.list_namespaced_pod(cfg.namespace).items)
    assert names == ["one", "two"]
    assert api.read_namespaced_pod("one", cfg.namespace).metadata.name == "one"
    # The Role grants pods in this namespace only: cluster-wide and other resources are forbidden.
    for call in (
        api.list_pod_for_all_namespaces,
        lambda: api.list_namespaced_secret(cfg.namespace),
        lambda: api.list_namespaced_pod("default"),
    ):
        with pytest.raises(kubernetes.client.ApiException) as info:
            call()
        assert info.value.status == 403


async def test_in_cluster_async_client(local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod) -> None:
    make_pod(local_cluster, cluster_namespace, "async-one")
    in_pod(["list:pods"])
    async with await incluster_sdk.async_api_client() as client:
        api = kubernetes_asyncio.client.CoreV1Api(client)
        pods = await api.list_namespaced_pod(cluster_namespace)
        assert [p.metadata.name for p in pods.items] == ["async-one"]
        with pytest.raises(kubernetes_asyncio.client.ApiException) as info:
            await api.list_pod_for_all_namespaces()
        assert info.value.status == 403


def test_cluster_wide_grant_allows_cluster_list(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod
) -> None:
    in_pod(cluster_needs=["list:pods"])
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client())
    api.list_pod_for_all_namespaces()


def test_kubeconfig_fallback_against_real_server(
    local_cluster: LocalCluster, cluster_namespace: str, isolated_env: Path, tmp_path: Path
) -> None:
    local_cluster.create_service_account(cluster_namespace, "dev")
    local_cluster.grant(cluster_namespace, "dev", ["list,create:pods"])
    token = local_cluster.mint_token(cluster_namespace, "dev")
    kube_dir = isolated_env / ".kube"
    kube_dir.mkdir()
    local_cluster.write_kubeconfig(kube_dir / "config", token=token, namespace=cluster_namespace)
    cfg = incluster_sdk.load_config()
    assert cfg.kind == "kubeconfig"
    assert cfg.reason == "not in a pod and ~/.kube/config exists"
    assert cfg.namespace == cluster_namespace
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    api.create_namespaced_pod(cfg.namespace, {**POD, "metadata": {"name": "via-kubeconfig"}})
    assert [p.metadata.name for p in api.list_namespaced_pod(cfg.namespace).items] == ["via-kubeconfig"]


def test_kubeconfig_token_file_against_real_server(
    local_cluster: LocalCluster, cluster_namespace: str, isolated_env: Path, tmp_path: Path
) -> None:
    local_cluster.create_service_account(cluster_namespace, "dev")
    local_cluster.grant(cluster_namespace, "dev", ["list:pods"])
    (tmp_path / "tok").write_text(local_cluster.mint_token(cluster_namespace, "dev") + "\n")
    path = local_cluster.write_kubeconfig(tmp_path / "kc", token_file=tmp_path / "tok")
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(incluster_sdk.load_config(kubeconfig=path)))
    api.list_namespaced_pod(cluster_namespace)


def test_bound_token_invalidation_gives_401(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    local_cluster.create_service_account(cluster_namespace, "app")
    local_cluster.grant(cluster_namespace, "app", ["list:pods"])
    token = local_cluster.mint_token(cluster_namespace, "app", bound_to_secret="app-token-a")
    path = f"/api/v1/namespaces/{cluster_namespace}/pods"
    local_cluster.invalidate(cluster_namespace, "app-token-a")
    from incluster_sdk.testing import ClusterError

    with pytest.raises(ClusterError, match="HTTP 401"):
        local_cluster.request("GET", path, token=token)


def test_apiserver_restart_keeps_data(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    make_pod(local_cluster, cluster_namespace, "survivor")
    local_cluster.stop_apiserver()
    assert not local_cluster.healthy()
    local_cluster.start_apiserver()
    pods = local_cluster.request("GET", f"/api/v1/namespaces/{cluster_namespace}/pods")
    assert [p["metadata"]["name"] for p in pods["items"]] == ["survivor"]
