"""The built-in table of standard kinds is what kube-apiserver's discovery says, and discovery drivers agree."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest

import incluster_sdk
from incluster_sdk.discovery import async_discover, builtin_catalog, discover
from incluster_sdk.testing import LocalCluster
from tests.support.crds import widget_crd

pytestmark = pytest.mark.e2e
TABLE = Path(incluster_sdk.__file__).parent / "builtin_resources.json"


def test_the_builtin_table_is_the_servers_discovery(local_cluster: LocalCluster) -> None:
    with closing(local_cluster.admin_config()) as cfg:
        live = discover(incluster_sdk.api_client(cfg))
    table = builtin_catalog()
    assert [r.to_json() for r in table.resources] == [r.to_json() for r in live.resources], (
        "the built-in table is stale: run python scripts/gen-builtin-resources.py"
    )
    assert table.groups == live.groups
    assert {g: table.served_versions(g) for g in table.groups} == {g: live.served_versions(g) for g in live.groups}
    assert not live.failed  # a partial discovery would make a partial table
    assert json.loads(TABLE.read_text())["source"].startswith("kube-apiserver v1.20")


def test_the_harness_and_the_sdk_read_the_same_catalog(local_cluster: LocalCluster) -> None:
    with closing(local_cluster.admin_config()) as cfg:
        sdk = discover(incluster_sdk.api_client(cfg))
    assert local_cluster.catalog().resources == sdk.resources


async def test_async_discovery_agrees(local_cluster: LocalCluster) -> None:
    with closing(local_cluster.admin_config()) as cfg:
        sync = discover(incluster_sdk.api_client(cfg))
        async with incluster_sdk.AsyncApiClient(cfg) as client:
            assert (await async_discover(client)).resources == sync.resources


def test_a_custom_resource_is_found_after_it_is_created(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    """A CRD created after the first discovery: resolution refreshes on a miss (can_i, grant)."""
    group = f"{cluster_namespace[:20].strip('-')}.example.com"
    crd = widget_crd(group, scope="Cluster", versions={"v1": True}, status=True)
    local_cluster.catalog()  # read before the CRD exists
    local_cluster.apply(crd)
    try:
        for _ in range(50):  # the CRD's API is served a moment after it is established
            catalog = local_cluster.catalog(refresh=True)
            if catalog.lookup(group, "widgets") is not None:
                break
            __import__("time").sleep(0.2)
        widget = catalog.resolve(f"wdg.{group}")
        assert (widget.name, widget.kind, widget.namespaced) == ("widgets", "Widget", False)
        assert widget.subresources == {"status": ("get", "patch", "update")}
        local_cluster.create_service_account(cluster_namespace, "crd-reader")
        docs = local_cluster.grant(cluster_namespace, "crd-reader", [f"list,watch:widget.{group}"])
        assert [d["kind"] for d in docs] == ["ClusterRole", "ClusterRoleBinding"]  # cluster-scoped: not a Role
    finally:
        local_cluster.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")
