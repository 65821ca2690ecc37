"""The threaded driver against a server that accepts a watch and then goes silent (the "hung watch")."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import incluster_sdk
from incluster_sdk.watch import PODS, Informer, endpoints, machine


def client_for(port: int, tmp_path: Path) -> incluster_sdk.ApiClient:
    (tmp_path / "kc").write_text(f"""
current-context: c
clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
""")
    return incluster_sdk.api_client(incluster_sdk.load_config(kubeconfig=tmp_path / "kc"))


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[str], threading.Event]]:
    paths: list[str] = []
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            paths.append(self.path)
            if "watch=1" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                release.wait(30)  # never sends an event, never closes: a dead connection
                return
            body = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], paths, release
    release.set()
    server.shutdown()
    server.server_close()


def test_silent_watch_is_detected_and_reestablished(
    silent_server: tuple[int, list[str], threading.Event],
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, paths, _ = silent_server
    monkeypatch.setattr(machine, "WATCH_TIMEOUT_MIN", 1)
    monkeypatch.setattr(machine, "WATCH_TIMEOUT_MAX", 2)
    monkeypatch.setattr(endpoints, "WATCH_INACTIVITY_GRACE", 0.5)
    client = client_for(port, tmp_path)
    informer = Informer(client, PODS, namespace="ns")
    informer.start()
    assert informer.wait_for_sync(5)
    deadline = time.monotonic() + 8
    while sum("watch=1" in p for p in paths) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    informer.stop()
    watches = [p for p in paths if "watch=1" in p]
    assert len(watches) >= 3, paths  # each silent watch timed out client-side and was re-established
    assert all("resourceVersion=7" in p and "allowWatchBookmarks=true" in p for p in watches)
    assert informer.watcher.relists == 0  # a dead connection is not a reason to relist


def test_stop_right_after_sync_is_prompt(
    silent_server: tuple[int, list[str], threading.Event], isolated_env: Path, tmp_path: Path
) -> None:
    """stop() racing the watch request that follows the list must not wait for the watch to time out."""
    port, _, _ = silent_server
    client = client_for(port, tmp_path)
    for _ in range(5):
        informer = Informer(client, PODS, namespace="ns").start()
        assert informer.wait_for_sync(5)
        started = time.monotonic()
        informer.stop()
        assert time.monotonic() - started < 2
        assert informer._thread is not None and not informer._thread.is_alive()


def test_http_errors_and_unexpected_errors_never_stop_the_informer(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.client.exceptions import ApiException

    from incluster_sdk.watch.backoff import Backoff

    client = client_for(1, tmp_path)  # never contacted: call_api is replaced below
    calls: list[str] = []
    answers = [ApiException(status=503), RuntimeError("bug"), ApiException(status=403)]

    def call_api(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        if answers:
            raise answers.pop(0)
        raise ApiException(status=500)

    monkeypatch.setattr(client, "call_api", call_api)
    informer = Informer(client, PODS, namespace="ns", preflight=False)  # every answer goes to the watch loop
    informer.watcher.backoff = Backoff(initial=0.01, maximum=0.02)
    informer.start()
    deadline = time.monotonic() + 5
    while len(calls) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert informer._thread is not None and informer._thread.is_alive()
    informer.stop()
    assert len(calls) >= 5
    # the 403 answers the version probe (it means "no streaming list"), every other answer is a failure
    assert informer.watcher.failures >= len(calls) - 2 >= 3
    assert informer.watcher.streaming is False
