"""Rotated credentials against a real kube-apiserver: zero failed requests, watches survive."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import kubernetes.client
import kubernetes.watch
import kubernetes_asyncio.client
import pytest

import incluster_sdk
from incluster_sdk.testing import ClusterError, FakeServiceAccountMount, LocalCluster
from incluster_sdk.testing.pytest_plugin import InPod

pytestmark = pytest.mark.e2e
ROTATIONS = 20


@dataclass
class Tally:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, error: Exception | None) -> None:
        with self.lock:
            if error is None:
                self.ok += 1
            else:
                self.failures.append(f"{type(error).__name__}: {getattr(error, 'status', '')} {error}"[:200])


def rotate(cluster: LocalCluster, mount: FakeServiceAccountMount, namespace: str, i: int) -> None:
    """What kubelet does, then what makes it matter: the previous token stops working."""
    mount.rotate(token=cluster.mint_token(namespace, "app", bound_to_secret=f"tok-{i}"))
    cluster.invalidate(namespace, f"tok-{i - 1}")


def wait_rejected(cluster: LocalCluster, namespace: str, token: str) -> None:
    """Block until the server really rejects ``token`` (it caches good authentications ~10 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods?limit=1", token=token)
        except ClusterError as exc:
            if "HTTP 401" in str(exc):
                return
        time.sleep(0.5)
    raise AssertionError("old token still accepted after 30 s")


def test_twenty_rotations_under_thread_and_asyncio_load_zero_failures(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod
) -> None:
    mount = in_pod(["list:pods"], bound_to_secret="tok-0")
    cfg = incluster_sdk.load_config()
    stop = threading.Event()
    tally = Tally()

    def thread_load() -> None:
        api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
        while not stop.is_set():
            try:
                api.list_namespaced_pod(cluster_namespace, limit=1)
                tally.record(None)
            except Exception as exc:
                tally.record(exc)

    async def async_load() -> None:
        async with incluster_sdk.AsyncApiClient(cfg) as client:
            api = kubernetes_asyncio.client.CoreV1Api(client)

            async def one_task() -> None:
                while not stop.is_set():
                    try:
                        await api.list_namespaced_pod(cluster_namespace, limit=1)
                        tally.record(None)
                    except Exception as exc:
                        tally.record(exc)

            await asyncio.gather(*(one_task() for _ in range(4)))

    workers = [threading.Thread(target=thread_load) for _ in range(4)]
    workers.append(threading.Thread(target=lambda: asyncio.run(async_load())))
    for w in workers:
        w.start()
    try:
        for i in range(1, ROTATIONS + 1):
            if i % 5 == 0:  # torn writes mid-load: an empty token, then a missing one, each re-read at once
                mount.write_in_place("token", b"")
                cfg.credentials.reload("torn write")  # type: ignore[attr-defined]
                mount.remove("token")
                cfg.credentials.reload("missing file")  # type: ignore[attr-defined]
            rotate(local_cluster, mount, cluster_namespace, i)
            time.sleep(0.3)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert tally.failures == []
    assert tally.ok > ROTATIONS * 10
    print(f"\n{tally.ok} requests from 4 threads + 4 asyncio tasks over {ROTATIONS} rotations: 0 failed")
    # The client ends on the last token by its file event (the minute's pull is far away). The last swap
    # came 0.3 s before the load stopped; on a loaded CI machine the event can take longer than that.
    last = f"Bearer {(mount.path / 'token').read_text()}"
    deadline = time.monotonic() + 5
    while cfg.credentials.auth_header() != last and time.monotonic() < deadline:
        time.sleep(0.05)
    cfg.close()
    on_last = cfg.credentials.auth_header() == last  # compared apart: a failed assert must not print tokens
    assert on_last, "the client did not pick up the last rotated token within 5 s of its swap"


def test_401_path_when_file_events_are_missed(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod
) -> None:
    """No push (watcher stopped, pull a minute away): the invalidated token's 401 triggers re-read + retry."""
    mount = in_pod(["list:pods"], bound_to_secret="tok-0")
    cfg = incluster_sdk.load_config()
    cfg.close()
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))

    async def async_list() -> None:
        async with incluster_sdk.AsyncApiClient(cfg) as client:
            await kubernetes_asyncio.client.CoreV1Api(client).list_namespaced_pod(cluster_namespace)

    for i in (1, 2):
        old = (mount.path / "token").read_text()
        rotate(local_cluster, mount, cluster_namespace, i)
        wait_rejected(local_cluster, cluster_namespace, old)
        assert cfg.credentials.auth_header() == f"Bearer {old}"  # not noticed yet
        (api.list_namespaced_pod if i == 1 else lambda ns: asyncio.run(async_list()))(cluster_namespace)
        assert cfg.credentials.auth_header() == f"Bearer {(mount.path / 'token').read_text()}"


def test_long_running_watch_survives_rotation_and_invalidation(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod
) -> None:
    mount = in_pod(["list,watch:pods"], bound_to_secret="tok-0")
    cfg = incluster_sdk.load_config()
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    seen: list[str] = []
    errors: list[Exception] = []
    stop = threading.Event()
    reconnects = 0

    # the starting point is taken before any pod exists, so every pod must arrive as a watch event
    start_rv = api.list_namespaced_pod(cluster_namespace).metadata.resource_version

    def watch_loop() -> None:
        nonlocal reconnects
        rv = start_rv
        while not stop.is_set():
            try:
                # short server-side timeout, so the watch reconnects several times during the test
                for event in kubernetes.watch.Watch().stream(
                    api.list_namespaced_pod, cluster_namespace, resource_version=rv, timeout_seconds=2
                ):
                    rv = event["object"].metadata.resource_version
                    if event["type"] == "ADDED":
                        seen.append(event["object"].metadata.name)
                reconnects += 1
            except Exception as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=watch_loop)
    thread.start()
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "x"}]}}
    for i in range(1, 4):
        local_cluster.create({**pod, "metadata": {"name": f"p{i}", "namespace": cluster_namespace}})
        rotate(local_cluster, mount, cluster_namespace, i)
        time.sleep(2.5)  # long enough for at least one reconnect on the new token
    deadline = time.monotonic() + 10
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(10)
    cfg.close()
    assert errors == []
    assert seen == ["p1", "p2", "p3"]
    assert reconnects >= 3


async def test_ca_reload_reaches_new_connections_sync_and_async(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: InPod
) -> None:
    """Start with a CA that does not match the server (TLS fails), rotate the right one in: no restart needed."""
    from incluster_sdk.testing.pki import CertificateAuthority

    mount = in_pod(["list:pods"])
    right_ca = (mount.path / "ca.crt").read_bytes()
    mount.rotate(ca=CertificateAuthority.create("wrong").cert_pem)
    cfg = incluster_sdk.load_config()
    sync_api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    async with incluster_sdk.AsyncApiClient(cfg) as client:
        async_api = kubernetes_asyncio.client.CoreV1Api(client)
        with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            sync_api.list_namespaced_pod(cluster_namespace, _request_timeout=5)
        with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSL"):
            await async_api.list_namespaced_pod(cluster_namespace, _request_timeout=5)
        mount.rotate(ca=right_ca)
        deadline = time.monotonic() + 3
        while cfg.tls.ca_file is not None and cfg.tls.ca_file.read_bytes() != right_ca:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        sync_api.list_namespaced_pod(cluster_namespace)
        await async_api.list_namespaced_pod(cluster_namespace)
        # garbage now: refused, last good kept, requests keep working
        mount.rotate(ca=b"not a certificate")
        await asyncio.sleep(0.3)
        sync_api.list_namespaced_pod(cluster_namespace)
        await async_api.list_namespaced_pod(cluster_namespace)
    cfg.close()
