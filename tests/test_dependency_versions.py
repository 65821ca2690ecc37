"""The clients on whichever ``kubernetes`` / ``kubernetes_asyncio`` release is installed: the token is sent, a 401
is refreshed and retried once, the retry policy and its opt-out hold, in every call form the SDK and the
libraries use. scripts/test-deps.sh runs this file (and its e2e twin) on the oldest and newest releases that
pyproject.toml admits; the normal suite runs it on whatever is installed.

Before 37, ``kubernetes``' generated code calls ``call_api(resource_path, method, path_params, ...)``: a client
that assumed 37's ``call_api(method, url, header_params, ...)`` put the token among the path parameters, and
every request went out anonymous. The tests name paths with path parameters (``read``) and watches (an unread
stream) for that reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.stream
import kubernetes_asyncio.client
import pytest

import incluster_sdk
from incluster_sdk.retry import RetryPolicy
from tests.support.fake_apiserver import FakeApiServer, Seen, pod_list

from .test_clients import pod_mount, unwatched_config
from .test_retry import flaky

FAST = RetryPolicy(deadline=5, initial=0.01, maximum=0.05)
POD = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "ns", "resourceVersion": "5"}}


@pytest.fixture
def apiserver_pod(tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pod (service-account mount and environment) whose API server is the fake one, answering as
    kube-apiserver would (:func:`like_apiserver`)."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    fake_apiserver.respond = like_apiserver


def versions() -> str:
    return f"kubernetes {kubernetes.__version__}, kubernetes_asyncio {kubernetes_asyncio.__version__}"


def like_apiserver(seen: Seen) -> tuple[int, Any]:
    """Enough of kube-apiserver's answers for list, read, create and watch of pods."""
    if "watch=true" in seen.path.lower():
        return 200, {"type": "ADDED", "object": POD}
    if seen.method == "POST":
        return 201, POD
    if seen.path.startswith("/api/v1/namespaces/ns/pods/"):
        return 200, POD
    return pod_list(seen)


def rejects_all(_: Seen) -> tuple[int, Any]:
    return 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"}


def only_token_b(seen: Seen) -> tuple[int, Any]:
    return like_apiserver(seen) if seen.headers.get("authorization") == "Bearer token-b" else rejects_all(seen)


def paths_and_tokens(server: FakeApiServer) -> list[tuple[str, str, str | None]]:
    return [(s.method, s.path.split("?")[0], s.headers.get("authorization")) for s in server.seen]


EXPECTED = [
    ("GET", "/api/v1/namespaces/ns/pods", "Bearer token-a"),
    ("GET", "/api/v1/namespaces/ns/pods/p", "Bearer token-a"),
    ("POST", "/api/v1/namespaces/ns/pods", "Bearer token-a"),
    ("GET", "/api/v1/namespaces/ns/pods", "Bearer token-a"),  # the watch
]


# -- sync ----------------------------------------------------------------------------------------------------
def test_sync_generated_calls_send_the_token(fake_apiserver: FakeApiServer, apiserver_pod: None) -> None:
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client())
    assert api.list_namespaced_pod("ns", limit=5).items == []
    assert api.read_namespaced_pod("p", "ns").metadata.name == "p"
    assert api.create_namespaced_pod("ns", {"metadata": {"name": "p"}}).metadata.name == "p"
    stream = api.list_namespaced_pod("ns", watch=True, _preload_content=False)  # as kubernetes.watch asks
    assert json.loads(stream.data)["type"] == "ADDED"
    assert paths_and_tokens(fake_apiserver) == EXPECTED, versions()
    assert fake_apiserver.seen[0].headers["user-agent"].startswith("incluster-sdk/")


def test_sync_call_api_method_url_form(fake_apiserver: FakeApiServer, apiserver_pod: None) -> None:
    """The form the SDK's informers, leader election, doctor and RBAC helpers use, on every release."""
    client = incluster_sdk.api_client()
    host = client.configuration.host
    response = client.call_api(
        "GET", f"{host}/api/v1/namespaces/ns/pods?limit=1", {"Accept": "application/json"}, _request_timeout=(5, 5)
    )
    assert response.status == 200 and response.headers["Content-Type"] == "application/json"
    assert json.loads(response.read())["kind"] == "PodList" and isinstance(response.data, bytes)
    stream = client.call_api(
        "GET", f"{host}/api/v1/namespaces/ns/pods?watch=true", {}, _request_timeout=(5, 5), _incluster_retry=False
    ).response  # urllib3's, unread: what the informer streams from
    assert json.loads(b"".join(stream.stream(1024)))["type"] == "ADDED"
    stream.release_conn()
    created = client.call_api(
        "POST", f"{host}/api/v1/namespaces/ns/pods", {"Content-Type": "application/json"}, {"metadata": {}}
    )
    assert created.status == 201 and json.loads(created.read())["kind"] == "Pod"
    assert [t for _, _, t in paths_and_tokens(fake_apiserver)] == ["Bearer token-a"] * 3, versions()


def test_sync_unread_responses_stay_readable(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_preload_content=False`` hands urllib3's response to the caller: reading it whole first (to retry a
    cut mid-body) must leave ``.read()`` and ``.stream()`` their body, not an empty one."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    api = kubernetes.client.CoreV1Api(incluster_sdk.ApiClient(incluster_sdk.load_config(), retry=FAST))
    whole = api.read_namespaced_pod_log("p", "ns", _preload_content=False).data
    assert json.loads(whole)["kind"] == "PodList"
    assert api.read_namespaced_pod_log("p", "ns", _preload_content=False).read() == whole, versions()
    assert b"".join(api.read_namespaced_pod_log("p", "ns", _preload_content=False).stream(7)) == whole


def test_sync_stream_websocket_sends_the_token(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubernetes.stream (exec, attach, port-forward) bypasses the REST client: its websocket handshake too."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client())
    # The fake server does not speak websocket: the handshake fails (kubernetes 36.0.x then trips over the
    # exception's empty body: AttributeError). What it was sent is the point.
    with pytest.raises((kubernetes.client.ApiException, AttributeError)):
        kubernetes.stream.stream(api.connect_get_namespaced_pod_exec, "p", "ns", command=["true"], stdout=True)
    handshake = ("GET", "/api/v1/namespaces/ns/pods/p/exec", "Bearer token-a")
    assert paths_and_tokens(fake_apiserver) == [handshake], versions()


def status_of(call: Any) -> int:
    """kubernetes < 37 raises a non-2xx answer of call_api(method, url, ...); 37 and later return it."""
    try:
        return int(call().status)
    except kubernetes.client.ApiException as exc:
        return int(exc.status)


def test_sync_retry_policy_and_its_opt_out(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    client = incluster_sdk.ApiClient(incluster_sdk.load_config(), retry=FAST)
    url = f"{client.configuration.host}/api/v1/namespaces/ns/pods"
    fake_apiserver.respond, calls = flaky(2)
    assert kubernetes.client.CoreV1Api(client).list_namespaced_pod("ns").items == []
    assert calls["n"] == 3
    fake_apiserver.respond, calls = flaky(2)
    assert status_of(lambda: client.call_api("GET", url, {}, _incluster_retry=False)) == 503
    assert calls["n"] == 1  # the informers' and the elector's opt-out: they retry with their own state
    assert status_of(lambda: client.call_api("GET", url, {})) == 200
    assert calls["n"] == 3
    fake_apiserver.respond, calls = flaky(2)
    client.retry_policy = None
    assert status_of(lambda: client.call_api("GET", url, {})) == 503
    assert calls["n"] == 1


def test_sync_401_refreshes_and_retries_once(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = pod_mount(tmp_path, fake_apiserver, monkeypatch)
    config = unwatched_config()
    client = incluster_sdk.api_client(config)
    fake_apiserver.respond = only_token_b
    mount.rotate(token="token-b")  # not noticed yet: the watcher is stopped, the pull a minute away
    assert kubernetes.client.CoreV1Api(client).read_namespaced_pod_status("p", "ns") is not None
    assert [t for _, _, t in paths_and_tokens(fake_apiserver)] == ["Bearer token-a", "Bearer token-b"], versions()
    fake_apiserver.respond = rejects_all
    mount.rotate(token="token-c")  # rejected as well: one retry, then the 401 is the caller's
    fake_apiserver.seen.clear()
    url = f"{client.configuration.host}/api/v1/namespaces/ns/pods"
    assert status_of(lambda: client.call_api("GET", url, {}, _incluster_retry=False)) == 401
    assert [t for _, _, t in paths_and_tokens(fake_apiserver)] == ["Bearer token-b", "Bearer token-c"]


# -- asyncio -------------------------------------------------------------------------------------------------
async def test_async_generated_calls_send_the_token(fake_apiserver: FakeApiServer, apiserver_pod: None) -> None:
    async with await incluster_sdk.async_api_client() as client:
        api = kubernetes_asyncio.client.CoreV1Api(client)
        assert (await api.list_namespaced_pod("ns", limit=5)).items == []
        assert (await api.read_namespaced_pod("p", "ns")).metadata.name == "p"
        assert (await api.create_namespaced_pod("ns", {"metadata": {"name": "p"}})).metadata.name == "p"
        stream = await api.list_namespaced_pod("ns", watch=True, _preload_content=False)  # as Watch asks
        assert json.loads(await stream.read())["type"] == "ADDED"
        stream.release()
    assert paths_and_tokens(fake_apiserver) == EXPECTED, versions()


async def test_async_request_as_the_sdk_calls_it(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A (connect, read) timeout pair, unread responses, the retry opt-out: as the AsyncInformer asks."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    async with incluster_sdk.AsyncApiClient(incluster_sdk.load_config(), retry=FAST) as client:
        url = f"{client.configuration.host}/api/v1/namespaces/ns/pods"
        fake_apiserver.respond, calls = flaky(2)
        response = await client.request(
            "GET", url, headers={}, _preload_content=False, _request_timeout=(5, 5), _incluster_retry=False
        )
        assert response.status == 503 and calls["n"] == 1
        response.release()
        response = await client.request("GET", url, headers={}, _preload_content=False, _request_timeout=(5, 5))
        assert response.status == 200 and calls["n"] == 3
        assert json.loads(await response.read())["kind"] == "PodList"
        response.release()
    assert {s.headers.get("authorization") for s in fake_apiserver.seen} == {"Bearer token-a"}, versions()


async def test_async_401_refreshes_and_retries_once(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = pod_mount(tmp_path, fake_apiserver, monkeypatch)
    async with await incluster_sdk.async_api_client(unwatched_config()) as client:
        fake_apiserver.respond = only_token_b
        mount.rotate(token="token-b")
        assert await kubernetes_asyncio.client.CoreV1Api(client).read_namespaced_pod_status("p", "ns") is not None
        assert [t for _, _, t in paths_and_tokens(fake_apiserver)] == ["Bearer token-a", "Bearer token-b"]
        fake_apiserver.respond = rejects_all
        mount.rotate(token="token-c")
        fake_apiserver.seen.clear()
        url = f"{client.configuration.host}/api/v1/namespaces/ns/pods"
        response = await client.request("GET", url, headers={}, _preload_content=False, _incluster_retry=False)
        assert response.status == 401
        response.release()
    assert [t for _, _, t in paths_and_tokens(fake_apiserver)] == ["Bearer token-b", "Bearer token-c"], versions()
