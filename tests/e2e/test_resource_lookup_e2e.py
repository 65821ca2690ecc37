"""Any kind by name against the real server: the constants are served, resource_for finds a custom resource
created after the catalog was read, and an informer watches it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

import incluster_sdk
import incluster_sdk.discovery as discovery
import incluster_sdk.resource as resource_module
from incluster_sdk import rest
from incluster_sdk.discovery import async_resource_for, resource_for
from incluster_sdk.resource import SINCE_1_21, Resource
from incluster_sdk.testing import LocalCluster
from incluster_sdk.watch import Informer
from tests.support.crds import widget_crd

pytestmark = pytest.mark.e2e
CONSTANTS = [v for v in vars(resource_module).values() if isinstance(v, Resource)]


def test_every_standard_kind_constant_lists(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    with closing(local_cluster.admin_config()) as cfg:
        client = incluster_sdk.api_client(cfg)
        for constant in CONSTANTS:
            if constant in SINCE_1_21:  # 1.20 serves their v1beta1: discovery finds what is served
                found = resource_for(client, f"{constant.plural}.{constant.group}")
                assert found == Resource(f"{constant.group}/v1beta1", constant.plural, constant.namespaced)
                continue
            status, _ = rest.request(client, "GET", constant.path(cluster_namespace) + "?limit=1")
            assert status == 200, constant


@pytest.fixture
def widgets(local_cluster: LocalCluster, cluster_namespace: str) -> Iterator[str]:
    """A namespaced custom resource with two served versions; yields its group."""
    group = f"{cluster_namespace[:20].strip('-')}.lookup.example.com"
    crd = widget_crd(group, scope="Namespaced", versions={"v1alpha1": False, "v1": True})
    local_cluster.apply(crd)
    try:
        deadline = time.monotonic() + 15
        while local_cluster.catalog(refresh=True).lookup(group, "widgets") is None:  # served once established
            assert time.monotonic() < deadline, "the CRD's API was never served"
            time.sleep(0.2)
        yield group
    finally:
        local_cluster.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")


def widget(group: str, namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": name, "namespace": namespace}}


def test_a_custom_resource_created_after_discovery_is_found_and_watched(
    local_cluster: LocalCluster, cluster_namespace: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    with closing(local_cluster.admin_config()) as cfg:
        client = incluster_sdk.api_client(cfg)
        assert resource_for(client, "ConfigMap") == Resource("v1", "configmaps")  # the catalog is read now
        group = request.getfixturevalue("widgets")  # then the CRD is created
        monkeypatch.setattr(discovery, "REFRESH_AFTER_MISS", 0.0)  # else a miss refreshes 10 s after the read
        expected = Resource(f"{group}/v1", "widgets")
        assert resource_for(client, "Widget") == expected  # a miss: read again, found
        assert resource_for(client, f"wdg.{group}") == expected
        assert resource_for(client, f"widgets.v1alpha1.{group}") == Resource(f"{group}/v1alpha1", "widgets")

        local_cluster.apply(widget(group, cluster_namespace, "first"))
        informer = Informer(client, expected, namespace=cluster_namespace)
        seen: list[str] = []
        informer.add_handler(on_add=lambda obj, initial: seen.append(obj["metadata"]["name"]))
        with informer:
            assert informer.wait_for_sync(timeout=30)
            local_cluster.apply(widget(group, cluster_namespace, "second"))
            deadline = time.monotonic() + 15
            while "second" not in seen and time.monotonic() < deadline:
                time.sleep(0.05)
        assert seen == ["first", "second"]
        assert informer.store.get(f"{cluster_namespace}/first") is not None


async def test_async_resource_for_agrees(local_cluster: LocalCluster, widgets: str) -> None:
    with closing(local_cluster.admin_config()) as cfg:
        async with incluster_sdk.AsyncApiClient(cfg) as client:
            assert await async_resource_for(client, "Widget") == Resource(f"{widgets}/v1", "widgets")
            assert await async_resource_for(client, "Namespace") == Resource("v1", "namespaces", namespaced=False)
