"""What the clients repeat, and what they never repeat."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes_asyncio.client
import pytest

import incluster_sdk
from incluster_sdk.retry import RetryPolicy
from tests.support.fake_apiserver import FakeApiServer, Seen, pod_list

from .test_clients import pod_mount

FAST = RetryPolicy(deadline=5, initial=0.01, maximum=0.05)


@pytest.mark.parametrize(
    ("method", "status", "failure", "retried"),
    [
        ("GET", 503, None, True),
        ("GET", 429, None, True),
        ("GET", 500, None, True),
        ("GET", 404, None, False),
        ("GET", 410, None, False),
        ("GET", 401, None, False),  # handled by the credential refresh, not here
        ("GET", None, "read", True),
        ("GET", None, "connect", True),
        ("POST", 503, None, False),  # may have been processed
        ("POST", 429, None, True),  # rejected before processing
        ("POST", None, "read", False),
        ("POST", None, "connect", True),  # never sent
        ("DELETE", 500, None, False),
        ("PATCH", None, "connect", True),
    ],
)
def test_policy_never_repeats_an_effect(method: str, status: int | None, failure: Any, retried: bool) -> None:
    assert (RetryPolicy().delay(method, 1, 0.0, status=status, failure=failure) is not None) == retried


def test_policy_backs_off_honours_retry_after_and_stops_at_the_deadline() -> None:
    policy = RetryPolicy(deadline=30, initial=0.2, maximum=5)
    delays = [policy.delay("GET", n, 0.0, status=503) for n in range(1, 12)]
    assert all(d is not None and 0 <= d <= 5 for d in delays)
    assert policy.delay("GET", 1, 0.0, status=429, retry_after=7) == 7
    assert policy.delay("GET", 1, 29.0, status=429, retry_after=7) is None  # past the deadline
    assert RetryPolicy(deadline=0).delay("GET", 1, 0.0, status=503) is None


def flaky(failures: int, status: int = 503) -> Any:
    calls = {"n": 0}

    def respond(seen: Seen) -> tuple[int, Any]:
        calls["n"] += 1
        if calls["n"] <= failures:
            return status, {"kind": "Status", "code": status}
        return pod_list(seen)

    return respond, calls


def test_sync_reads_ride_out_5xx_and_writes_do_not_repeat(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    fake_apiserver.respond, calls = flaky(2)
    client = incluster_sdk.ApiClient(incluster_sdk.load_config(), retry=FAST)
    kubernetes.client.CoreV1Api(client).list_namespaced_pod("ns")
    assert calls["n"] == 3
    fake_apiserver.respond, calls = flaky(1)
    with pytest.raises(kubernetes.client.ApiException) as caught:
        kubernetes.client.CoreV1Api(client).create_namespaced_pod("ns", {"metadata": {"name": "x"}})
    assert caught.value.status == 503 and calls["n"] == 1
    fake_apiserver.respond, calls = flaky(5)
    no_retry = incluster_sdk.ApiClient(incluster_sdk.load_config(), retry=None)
    with pytest.raises(kubernetes.client.ApiException):
        kubernetes.client.CoreV1Api(no_retry).list_namespaced_pod("ns")
    assert calls["n"] == 1


async def test_async_reads_ride_out_5xx(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    fake_apiserver.respond, calls = flaky(2, status=429)
    async with incluster_sdk.AsyncApiClient(incluster_sdk.load_config(), retry=FAST) as client:
        await kubernetes_asyncio.client.CoreV1Api(client).list_namespaced_pod("ns")
    assert calls["n"] == 3


def test_a_read_waits_for_a_server_that_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    """Connection refused for a while (a restarting API server), then a server on that port: the read succeeds."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    later: dict[str, FakeApiServer] = {}

    def start_late() -> None:
        time.sleep(0.8)
        later["server"] = FakeApiServer.start(tmp_path, port=port)

    (tmp_path / "kc").write_text(
        f"""
current-context: c
clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
"""
    )
    thread = threading.Thread(target=start_late)
    thread.start()
    client = incluster_sdk.ApiClient(incluster_sdk.load_config(kubeconfig=tmp_path / "kc"), retry=FAST)
    started = time.monotonic()
    kubernetes.client.CoreV1Api(client).list_namespaced_pod("ns")
    assert time.monotonic() - started >= 0.7
    thread.join()
    later["server"].stop()
