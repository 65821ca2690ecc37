"""The controller object helpers and the Event recorder against the real local kube-apiserver: get-or-create, a
real 409 resolved by update_with_retry, server-side apply conflicts, finalizers, owner references, Events
de-duplicated into a count, and a recorder running "in a pod" with only create,patch on events."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import incluster_sdk
from incluster_sdk import controller
from incluster_sdk.controller.events import AsyncEventRecorder, EventRecorder
from incluster_sdk.resource import Resource
from incluster_sdk.testing import LocalCluster

pytestmark = pytest.mark.e2e
CONFIGMAPS = Resource("v1", "configmaps")
SECRETS = Resource("v1", "secrets")
NAMESPACES = Resource("v1", "namespaces", namespaced=False)


def configmap(name: str, namespace: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data or {},
    }


def test_get_or_create_creates_once_then_reads(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    obj, created = controller.get_or_create(client, CONFIGMAPS, configmap("web", cluster_namespace, {"a": "1"}))
    assert created and obj["data"] == {"a": "1"} and obj["metadata"]["uid"]
    again, created = controller.get_or_create(client, CONFIGMAPS, configmap("web", cluster_namespace, {"a": "2"}))
    assert not created and again["metadata"]["uid"] == obj["metadata"]["uid"] and again["data"] == {"a": "1"}


async def test_async_get_or_create_races_resolve_to_one_object(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    import asyncio

    async with await incluster_sdk.async_api_client(local_cluster.admin_config()) as client:
        results = await asyncio.gather(
            *(
                controller.async_get_or_create(client, CONFIGMAPS, configmap("race", cluster_namespace))
                for _ in range(8)
            )
        )
    assert sum(created for _, created in results) == 1  # the others read it (409 AlreadyExists or a later GET)
    assert len({obj["metadata"]["uid"] for obj, _ in results}) == 1


def test_update_with_retry_resolves_a_real_conflict(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    controller.get_or_create(client, CONFIGMAPS, configmap("counter", cluster_namespace, {"n": "0"}))
    other = incluster_sdk.api_client(local_cluster.admin_config())
    calls: list[str] = []

    def increment(obj: dict[str, Any]) -> dict[str, Any]:
        calls.append(obj["metadata"]["resourceVersion"])
        if len(calls) == 1:  # a second writer changes it between our read and our write: our PUT gets 409
            controller.update_with_retry(
                other, CONFIGMAPS, "counter", lambda o: {**o, "data": {"n": "10"}}, namespace=cluster_namespace
            )
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return obj

    stored = controller.update_with_retry(client, CONFIGMAPS, "counter", increment, namespace=cluster_namespace)
    assert stored["data"] == {"n": "11"}  # re-read and re-applied on top of the other write
    assert len(calls) == 2 and calls[0] != calls[1]


def test_update_with_retry_under_concurrent_writers_loses_no_increment(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    controller.get_or_create(client, CONFIGMAPS, configmap("shared", cluster_namespace, {"n": "0"}))
    errors: list[BaseException] = []

    def writer() -> None:
        own = incluster_sdk.api_client(local_cluster.admin_config())
        for _ in range(5):
            try:
                controller.update_with_retry(
                    own,
                    CONFIGMAPS,
                    "shared",
                    lambda o: {**o, "data": {"n": str(int(o["data"]["n"]) + 1)}},
                    namespace=cluster_namespace,
                    attempts=50,  # 4 writers hammering one object: more than client-go's 5 tries
                )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    final = controller.get_or_create(client, CONFIGMAPS, configmap("shared", cluster_namespace))[0]
    assert final["data"]["n"] == "20"


def test_update_with_retry_gives_up_with_conflict_error(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    other = incluster_sdk.api_client(local_cluster.admin_config())
    controller.get_or_create(client, CONFIGMAPS, configmap("hot", cluster_namespace, {"n": "0"}))
    tries = 0

    def always_raced(obj: dict[str, Any]) -> dict[str, Any]:
        nonlocal tries
        tries += 1
        controller.update_with_retry(
            other, CONFIGMAPS, "hot", lambda o: {**o, "data": {"n": str(tries)}}, namespace=cluster_namespace
        )
        return {**obj, "data": {"n": "mine"}}

    with pytest.raises(controller.ConflictError, match=r"configmaps \"hot\".*409 Conflict on each of 5 tries"):
        controller.update_with_retry(client, CONFIGMAPS, "hot", always_raced, namespace=cluster_namespace)
    assert tries == 5


def test_no_change_makes_no_write(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    obj, _ = controller.get_or_create(client, CONFIGMAPS, configmap("still", cluster_namespace, {"a": "1"}))
    same = controller.update_with_retry(client, CONFIGMAPS, "still", lambda o: None, namespace=cluster_namespace)
    assert same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    same = controller.update_with_retry(client, CONFIGMAPS, "still", lambda o: o, namespace=cluster_namespace)
    assert same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


async def test_server_side_apply_field_managers_and_force(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    applied = controller.server_side_apply(
        client, CONFIGMAPS, configmap("ssa", cluster_namespace, {"a": "1"}), field_manager="example.com/first"
    )
    assert applied["data"] == {"a": "1"}
    managers = {entry["manager"] for entry in applied["metadata"]["managedFields"]}
    assert managers == {"example.com/first"}
    # a second manager setting the same field: 409 with the fields and their owner, unless forced
    with pytest.raises(
        controller.ConflictError, match=r"apply configmaps \"ssa\".*HTTP 409.*example.com/first.*force=True"
    ):
        controller.server_side_apply(
            client, CONFIGMAPS, configmap("ssa", cluster_namespace, {"a": "2"}), field_manager="example.com/second"
        )
    async with await incluster_sdk.async_api_client(local_cluster.admin_config()) as aclient:
        forced = await controller.async_server_side_apply(
            aclient,
            CONFIGMAPS,
            configmap("ssa", cluster_namespace, {"a": "2"}),
            field_manager="example.com/second",
            force=True,
        )
    assert forced["data"] == {"a": "2"}
    owners = {entry["manager"] for entry in forced["metadata"]["managedFields"]}
    assert "example.com/second" in owners
    # the first manager dropping its field: fields it alone owned go, the taken-over one stays
    again = controller.server_side_apply(
        client, CONFIGMAPS, configmap("ssa", cluster_namespace, {"b": "x"}), field_manager="example.com/first"
    )
    assert again["data"] == {"a": "2", "b": "x"}


def test_finalizers_added_and_removed_idempotently(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    obj, _ = controller.get_or_create(client, CONFIGMAPS, configmap("fin", cluster_namespace))
    first = controller.add_finalizer(client, CONFIGMAPS, obj, "example.com/cleanup")
    assert first["metadata"]["finalizers"] == ["example.com/cleanup"]
    second = controller.add_finalizer(client, CONFIGMAPS, "fin", "example.com/cleanup", namespace=cluster_namespace)
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]  # no write
    controller.add_finalizer(client, CONFIGMAPS, obj, "example.com/other")
    # deleting: the object stays (finalizers), and no new finalizer may be added
    local_cluster.delete(f"/api/v1/namespaces/{cluster_namespace}/configmaps/fin")
    with pytest.raises(controller.ObjectApiError, match=r"update configmaps \"fin\".*422"):
        controller.add_finalizer(client, CONFIGMAPS, obj, "example.com/third")
    left = controller.remove_finalizer(client, CONFIGMAPS, obj, "example.com/cleanup")
    assert left is not None and left["metadata"]["finalizers"] == ["example.com/other"]
    last = controller.remove_finalizer(client, CONFIGMAPS, obj, "example.com/other")
    assert last is None or not last["metadata"].get("finalizers")
    # the last finalizer gone: the server deletes it, and removing again is a no-op
    assert controller.remove_finalizer(client, CONFIGMAPS, obj, "example.com/other") is None
    status = local_cluster.request("GET", f"/api/v1/namespaces/{cluster_namespace}/configmaps")
    assert [item["metadata"]["name"] for item in status["items"]] == []


def test_owner_reference_is_stored(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    owner, _ = controller.get_or_create(client, CONFIGMAPS, configmap("owner", cluster_namespace))
    child = configmap("child", cluster_namespace)
    controller.set_owner_reference(child, owner)
    stored, _ = controller.get_or_create(client, CONFIGMAPS, child)
    # no garbage collector runs locally (no controller manager): the stored reference is what is checked
    assert stored["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    namespace = local_cluster.request("GET", f"/api/v1/namespaces/{cluster_namespace}")
    cluster_child = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{cluster_namespace}-child"}}
    controller.set_owner_reference(cluster_child, namespace)  # a cluster-scoped owner of a cluster-scoped object
    try:
        stored, _ = controller.get_or_create(client, NAMESPACES, cluster_child)
        assert stored["metadata"]["ownerReferences"][0]["uid"] == namespace["metadata"]["uid"]
    finally:
        local_cluster.delete(f"/api/v1/namespaces/{cluster_namespace}-child")


def _events(local_cluster: LocalCluster, namespace: str) -> list[dict[str, Any]]:
    items = local_cluster.request("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
    return [item for item in items if item.get("source", {}).get("component", "").startswith("example.com/")]


def test_events_are_created_then_deduplicated_into_a_count(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    client = incluster_sdk.api_client(local_cluster.admin_config())
    obj, _ = controller.get_or_create(client, CONFIGMAPS, configmap("watched", cluster_namespace))
    with EventRecorder(client, "example.com/test-controller", host="pod-1") as recorder:
        for _ in range(5):
            recorder.event(obj, "Normal", "Repaired", "re-created the thing")
        recorder.event(obj, "Warning", "Failed", "could not do it")
        assert recorder.flush(timeout=20)
        assert (recorder.stats.created, recorder.stats.patched) == (2, 4)
    events = _events(local_cluster, cluster_namespace)
    by_reason = {event["reason"]: event for event in events}
    assert set(by_reason) == {"Repaired", "Failed"}
    repaired = by_reason["Repaired"]
    assert repaired["count"] == 5 and repaired["type"] == "Normal"
    assert repaired["involvedObject"]["uid"] == obj["metadata"]["uid"]
    assert repaired["involvedObject"]["kind"] == "ConfigMap"
    assert repaired["source"] == {"component": "example.com/test-controller", "host": "pod-1"}
    assert repaired["reportingComponent"] == "example.com/test-controller"
    assert repaired["firstTimestamp"] <= repaired["lastTimestamp"]
    assert by_reason["Failed"]["count"] == 1


async def test_async_recorder_in_a_pod_with_least_privilege(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    admin = incluster_sdk.api_client(local_cluster.admin_config())
    obj, _ = controller.get_or_create(admin, CONFIGMAPS, configmap("podside", cluster_namespace))
    in_pod(["create,patch:events"])  # all a recorder needs
    config = incluster_sdk.load_config()
    assert config.source.startswith("in-cluster")
    async with await incluster_sdk.async_api_client(config) as client:
        recorder = AsyncEventRecorder(client, "example.com/pod-recorder")
        for _ in range(3):
            recorder.event(obj, "Normal", "Synced", "all good")
        assert await recorder.flush(timeout=20)
        assert (recorder.stats.created, recorder.stats.patched, recorder.stats.refused) == (1, 2, 0)
        await recorder.aclose()
    (event,) = _events(local_cluster, cluster_namespace)
    assert event["count"] == 3 and event["reason"] == "Synced"


def test_recorder_without_permission_logs_the_fix_and_never_raises(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any, caplog: pytest.LogCaptureFixture
) -> None:
    admin = incluster_sdk.api_client(local_cluster.admin_config())
    obj, _ = controller.get_or_create(admin, CONFIGMAPS, configmap("denied", cluster_namespace))
    in_pod(["get:configmaps"])
    client = incluster_sdk.api_client(incluster_sdk.load_config())
    with EventRecorder(client, "example.com/denied") as recorder:
        recorder.event(obj, "Normal", "Tried", "no permission")  # must not raise
        assert recorder.flush(timeout=20)
        assert recorder.stats.refused == 1
    assert "create,patch:events" in caplog.text and "403" in caplog.text


async def test_async_update_with_retry(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    async with await incluster_sdk.async_api_client(local_cluster.admin_config()) as client:
        await controller.async_get_or_create(client, CONFIGMAPS, configmap("aupd", cluster_namespace, {"n": "1"}))
        stored = await controller.async_update_with_retry(
            client, CONFIGMAPS, "aupd", lambda o: {**o, "data": {"n": "2"}}, namespace=cluster_namespace
        )
    assert stored["data"] == {"n": "2"}
