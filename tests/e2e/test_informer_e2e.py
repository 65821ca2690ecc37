"""Informer against a real kube-apiserver: convergence under churn, apiserver restart, forced 410."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import incluster_sdk
from incluster_sdk.testing import ClusterError, LocalCluster
from incluster_sdk.watch import PODS, Informer
from incluster_sdk.watch.informer import urllib3_reads
from incluster_sdk.watch.machine import BackingOff, Watching
from incluster_sdk.watch.store import object_key
from incluster_sdk.watch.wire import WatchDecoder
from tests.support.history import HandlerHistory

pytestmark = pytest.mark.e2e
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "x"}]}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"key": "value"}}


def truth(cluster: LocalCluster, namespace: str) -> dict[str, str]:
    items = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods")["items"]
    return {f"{namespace}/{p['metadata']['name']}": p["metadata"]["resourceVersion"] for p in items}


def cache(informer: Any) -> dict[str, str]:
    return {object_key(o): str(o["metadata"]["resourceVersion"]) for o in informer.store.list()}


def converge(cluster: LocalCluster, namespace: str, informer: Informer, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cache(informer) == truth(cluster, namespace):
            return
        time.sleep(0.1)
    assert cache(informer) == truth(cluster, namespace)


def start_informer(cluster: LocalCluster, namespace: str, history: HandlerHistory) -> Informer:
    informer = Informer(incluster_sdk.api_client(cluster.admin_config()), PODS, namespace=namespace)
    informer.add_handler(**history.handlers())
    informer.start()
    assert informer.wait_for_sync(15)
    return informer


def test_cache_converges_under_churn(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    for i in range(20):
        local_cluster.create({**POD, "metadata": {"name": f"seed-{i}", "namespace": cluster_namespace}})
    history = HandlerHistory()
    informer = start_informer(local_cluster, cluster_namespace, history)
    rng = random.Random(7)
    ops = 0

    def churn(worker: int) -> None:
        nonlocal ops
        for i in range(60):
            name = f"w{worker}-{rng.randrange(15)}"
            path = f"/api/v1/namespaces/{cluster_namespace}/pods/{name}"
            action = rng.choice(["create", "label", "delete"])
            try:
                if action == "create":
                    local_cluster.create({**POD, "metadata": {"name": name, "namespace": cluster_namespace}})
                elif action == "label":
                    pod = local_cluster.request("GET", path)
                    pod["metadata"].setdefault("labels", {})["n"] = str(i)
                    local_cluster.request("PUT", path, pod)
                else:
                    local_cluster.request("DELETE", path)
                ops += 1
            except ClusterError:
                pass  # 404/409 races between workers are expected

    workers = [threading.Thread(target=churn, args=(w,)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    converge(local_cluster, cluster_namespace, informer)
    informer.stop()
    assert ops > 60
    assert history.impossible() == []


def test_recovers_from_apiserver_restart(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    local_cluster.create({**POD, "metadata": {"name": "before", "namespace": cluster_namespace}})
    history = HandlerHistory()
    informer = start_informer(local_cluster, cluster_namespace, history)
    local_cluster.stop_apiserver()
    time.sleep(2)
    local_cluster.start_apiserver()
    local_cluster.create({**POD, "metadata": {"name": "after", "namespace": cluster_namespace}})
    local_cluster.delete(f"/api/v1/namespaces/{cluster_namespace}/pods/before")
    converge(local_cluster, cluster_namespace, informer, timeout=40)
    informer.stop()
    assert informer.watcher.failures >= 1
    before = history.by_key["before"]  # final state not lost (a pod delete may show a MODIFIED first)
    assert (before[0], before[-1]) == ("add", "delete")
    assert history.by_key["after"] == ["add"]
    assert history.impossible() == []


def test_forced_410_relists_with_synthetic_events(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    for name in ("a", "b"):
        local_cluster.create({**POD, "metadata": {"name": name, "namespace": cluster_namespace}})
    history = HandlerHistory()
    informer = start_informer(local_cluster, cluster_namespace, history)
    deadline = time.monotonic() + 5  # handlers run on their own threads: let the initial adds arrive
    while (history.by_key["a"], history.by_key["b"]) != (["add"], ["add"]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Make the cache disagree with the server the way a missed window would: a ghost that was deleted
    # while we were away, and an object we never saw.
    ghost = {"metadata": {"name": "ghost", "namespace": cluster_namespace, "resourceVersion": "1"}}
    informer.store.upsert(ghost)
    history.by_key["ghost"].append("add")
    informer.store.delete({"metadata": {"name": "b", "namespace": cluster_namespace}})
    history.by_key["b"].append("delete")
    # A real 410: compact etcd, and restart the apiserver so its watch cache forgets too (on its own the
    # 1.20 watch cache still serves old RVs from memory). Meanwhile the informer is backing off; it comes
    # back asking for a resourceVersion from before the compaction.
    local_cluster.compact_etcd()
    local_cluster.stop_apiserver()
    state = informer.watcher.state  # backing off (or retrying) its watch: make it resume from before the compaction
    watching = state.then if isinstance(state, BackingOff) else state
    assert isinstance(watching, Watching)
    watching.resource_version = "1"
    local_cluster.start_apiserver()
    converge(local_cluster, cluster_namespace, informer, timeout=40)
    informer.stop()
    assert informer.watcher.relists >= 1
    assert [t.key for t in history.tombstones] == [f"{cluster_namespace}/ghost"]
    assert history.by_key["b"] == ["add", "delete", "add"]
    assert history.impossible() == []


async def test_async_informer_converges_and_calls_async_handlers(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    import asyncio

    from incluster_sdk.watch import AsyncInformer

    local_cluster.create({**POD, "metadata": {"name": "seed", "namespace": cluster_namespace}})
    history = HandlerHistory()
    seen_async: list[str] = []

    async def on_add_async(obj: Mapping[str, Any], initial: bool) -> None:
        await asyncio.sleep(0)
        seen_async.append(obj["metadata"]["name"])

    client = incluster_sdk.AsyncApiClient(local_cluster.admin_config())
    async with client, AsyncInformer(client, PODS, namespace=cluster_namespace) as informer:
        informer.add_handler(**history.handlers())
        informer.add_handler(on_add=on_add_async)
        assert await informer.wait_for_sync(15)

        def churn() -> None:
            for i in range(10):
                local_cluster.create({**POD, "metadata": {"name": f"a{i}", "namespace": cluster_namespace}})
            for i in range(0, 10, 2):
                local_cluster.delete(f"/api/v1/namespaces/{cluster_namespace}/pods/a{i}")

        await asyncio.to_thread(churn)
        deadline = asyncio.get_running_loop().time() + 15
        while cache(informer) != truth(local_cluster, cluster_namespace):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
    assert history.impossible() == []
    assert set(seen_async) == {"seed", *(f"a{i}" for i in range(10))}


def test_factory_shares_one_watch_and_resync_replays_without_relisting(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    from incluster_sdk.watch import InformerFactory

    local_cluster.create({**POD, "metadata": {"name": "x", "namespace": cluster_namespace}})
    factory = InformerFactory(incluster_sdk.api_client(local_cluster.admin_config()))
    first = factory.informer(PODS, namespace=cluster_namespace)
    second = factory.informer(PODS, namespace=cluster_namespace)
    other = factory.informer(PODS, namespace=cluster_namespace, label_selector="app=none")
    assert first is second and first is not other
    factory.start()
    factory.start()  # idempotent
    assert factory.wait_for_sync(15)
    # a consumer joining late adds its own index over what is cached already
    first.store.add_indexer("name", lambda o: [o["metadata"]["name"]])
    assert [o["metadata"]["name"] for o in first.store.by_index("name", "x")] == ["x"]
    assert len(other.store) == 0
    assert first.watcher.watch_starts == 1
    factory.stop()

    resyncing = Informer(
        incluster_sdk.api_client(local_cluster.admin_config()), PODS, namespace=cluster_namespace, resync_period=1.0
    )
    updates: list[str] = []
    resyncing.add_handler(on_update=lambda old, new: updates.append(new["metadata"]["name"]))
    with resyncing:
        assert resyncing.wait_for_sync(15)
        time.sleep(2.5)
    assert updates.count("x") >= 2
    assert resyncing.watcher.relists == 0
    with pytest.raises(ValueError, match=r"at least 1\.0s"):
        Informer(resyncing.client, PODS, resync_period=0.1)


def test_metadata_only_and_auto_initial_list_on_a_1_20_server(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    for i in range(3):
        local_cluster.create(
            {**POD, "metadata": {"name": f"m{i}", "namespace": cluster_namespace, "labels": {"app": "m"}}}
        )
    client = incluster_sdk.api_client(local_cluster.admin_config())
    history = HandlerHistory()
    with Informer(client, PODS, namespace=cluster_namespace, metadata_only=True) as informer:
        informer.add_handler(**history.handlers())
        assert informer.wait_for_sync(15)
        assert informer.watcher.streaming is False  # 1.20 predates streaming lists: auto chose paged LIST
        local_cluster.create({**POD, "metadata": {"name": "m3", "namespace": cluster_namespace}})
        local_cluster.delete(f"/api/v1/namespaces/{cluster_namespace}/pods/m0")
        converge(local_cluster, cluster_namespace, informer)
        objects = informer.store.list()
        assert {o["kind"] for o in objects} == {"PartialObjectMetadata"}
        assert all("spec" not in o and "status" not in o for o in objects)
        assert informer.store.get(f"{cluster_namespace}/m1")["metadata"]["labels"] == {"app": "m"}  # type: ignore[index]
    assert not history.impossible()


async def test_async_factory_shares_one_watch_and_resyncs(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    import asyncio

    from incluster_sdk.watch import AsyncInformerFactory

    local_cluster.create({**POD, "metadata": {"name": "y", "namespace": cluster_namespace}})
    updates: list[str] = []
    async with incluster_sdk.AsyncApiClient(local_cluster.admin_config()) as client:
        factory = AsyncInformerFactory(client, resync_period=1.0)
        first = factory.informer(PODS, namespace=cluster_namespace)
        assert factory.informer(PODS, namespace=cluster_namespace) is first
        first.add_handler(on_update=lambda old, new: updates.append(new["metadata"]["name"]))
        async with factory:
            assert await factory.wait_for_sync(15)
            await asyncio.sleep(2.5)
        assert first.watcher.watch_starts == 1 and first.watcher.relists == 0
    assert updates.count("y") >= 2


def test_threaded_watch_reads_take_every_event_that_has_arrived(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    """kube-apiserver flushes each watch event as its own HTTP chunk (and TLS record); urllib3 alone would
    hand them out one per read. A watch from before 300 creates gets them all at once: few reads."""
    client = incluster_sdk.api_client(local_cluster.admin_config())
    path = f"/api/v1/namespaces/{cluster_namespace}/configmaps"
    since = local_cluster.request("GET", path)["metadata"]["resourceVersion"]
    names = [f"cm-{i:03d}" for i in range(300)]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda n: local_cluster.create({**CONFIGMAP, "metadata": {"name": n, "namespace": cluster_namespace}}),
                names,
            )
        )
    url = f"{client.configuration.host}{path}?watch=1&resourceVersion={since}&timeoutSeconds=30"
    response = client.call_api("GET", url, {"Accept": "application/json"}, _request_timeout=(10, 40)).response
    try:
        time.sleep(1)  # the server sends all 300 at once; let them arrive
        chunked, raw = urllib3_reads(response)
        assert chunked  # the socket's bytes, not urllib3's one chunk per read
        decoder, created, reads = WatchDecoder(chunked=True), [], 0
        for data in raw:
            reads += 1
            decoder.receive_data(data)
            created += [e["object"]["metadata"]["name"] for e in decoder.events() if e["type"] == "ADDED"]
            if len(created) == len(names):
                break
    finally:
        response.close()
    assert sorted(created) == names
    assert reads <= 30, f"{reads} reads for 300 events"
