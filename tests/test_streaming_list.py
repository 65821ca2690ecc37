"""Both drivers against a scripted server: streaming list where offered, paged LIST where refused, and the
metadata-only Accept header. (The local real API server is 1.20, older than streaming lists.)"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

import incluster_sdk
from incluster_sdk.watch import PODS, AsyncInformer, Informer
from incluster_sdk.watch.machine import INITIAL_EVENTS_END
from tests.support.http import reply_json, serve_in_thread, write_chunk

from .test_informer_driver import client_for
from .waiting import wait_until


def pod(name: str, rv: str) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


class ScriptedServer:
    """``version`` is what /version says; ``streaming`` is how a sendInitialEvents watch is answered:
    "serve" (KEP-3157), "refuse" (422, feature gate off) or "ignore" (a pre-1.27 server: a plain watch)."""

    def __init__(self, version: str, streaming: str) -> None:
        self.version, self.streaming = version, streaming
        self.requests: list[tuple[str, str]] = []  # (path, Accept)
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _json(self, status: int, body: Any) -> None:
                reply_json(self, status, body)

            def _stream(self, events: list[dict[str, Any]], hold: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")  # as kube-apiserver sends a watch
                self.end_headers()
                for event in events:
                    write_chunk(self, json.dumps(event).encode() + b"\n")
                if hold:
                    owner.release.wait(10)
                write_chunk(self, b"")

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Accept", "")))
                if self.path == "/version":
                    self._json(200, {"major": "1", "minor": owner.version})
                elif "sendInitialEvents=true" in self.path and owner.streaming == "refuse":
                    self._json(422, {"kind": "Status", "code": 422, "reason": "Invalid"})
                elif "sendInitialEvents=true" in self.path and owner.streaming == "serve":
                    end = {"metadata": {"resourceVersion": "7", "annotations": {INITIAL_EVENTS_END: "true"}}}
                    events = [
                        {"type": "ADDED", "object": pod("a", "5")},
                        {"type": "ADDED", "object": pod("b", "6")},
                        {"type": "BOOKMARK", "object": {"kind": "Pod", **end}},
                        {"type": "MODIFIED", "object": pod("a", "8")},
                    ]
                    self._stream(events, hold=True)
                elif "watch=1" in self.path:
                    # "ignore": a plain watch; with RV "" an old server sends every object as ADDED, then ends
                    initial = [{"type": "ADDED", "object": pod("a", "5")}] if "resourceVersion=&" in self.path else []
                    self._stream(initial, hold="resourceVersion=&" not in self.path)
                else:
                    items = [{"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "5"}}]
                    meta = {"resourceVersion": "7"}
                    self._json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = serve_in_thread(Handler)
        self.port = self.httpd.server_address[1]

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[ScriptedServer] = []

    def make(version: str, streaming: str) -> ScriptedServer:
        servers.append(ScriptedServer(version, streaming))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_sync_informer_uses_a_streaming_list_where_the_server_has_it(
    scripted: Any, isolated_env: Path, tmp_path: Path
) -> None:
    server = scripted("32", "serve")
    with Informer(client_for(server.port, tmp_path), PODS, namespace="ns") as informer:
        assert informer.wait_for_sync(5)
        wait_until(lambda: (informer.store.get("ns/a") or {}).get("metadata", {}).get("resourceVersion") == "8")
        assert sorted(informer.store.keys()) == ["ns/a", "ns/b"]
    paths = server.paths()
    assert paths[0] == "/version"
    assert not [p for p in paths if "watch=1" not in p and p != "/version"], "no LIST request"
    assert "resourceVersionMatch=NotOlderThan" in paths[1] and "allowWatchBookmarks=true" in paths[1]


@pytest.mark.parametrize(("version", "streaming"), [("32", "refuse"), ("20", "ignore"), ("26", "serve")])
def test_sync_informer_falls_back_to_paged_list(
    scripted: Any, isolated_env: Path, tmp_path: Path, version: str, streaming: str
) -> None:
    server = scripted(version, streaming)
    with Informer(client_for(server.port, tmp_path), PODS, namespace="ns") as informer:
        assert informer.wait_for_sync(5)
        assert informer.store.keys() == ["ns/a"]
    paths = server.paths()
    lists = [p for p in paths if "watch=1" not in p and p != "/version"]
    assert lists and "limit=500" in lists[0]
    streams = [p for p in paths if "sendInitialEvents" in p]
    assert len(streams) == (1 if streaming == "refuse" else 0)  # old servers are never sent the parameter


def test_forced_streaming_against_a_server_that_ignores_it_falls_back(
    scripted: Any, isolated_env: Path, tmp_path: Path
) -> None:
    server = scripted("20", "ignore")
    informer = Informer(client_for(server.port, tmp_path), PODS, namespace="ns", initial_list="stream")
    with informer:
        assert informer.wait_for_sync(5)
    assert informer.watcher.streaming is False
    assert any("limit=500" in p for p in server.paths())


def test_initial_list_is_validated(isolated_env: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="initial_list must be one of"):
        Informer(client_for(1, tmp_path), PODS, initial_list="fast")


def test_metadata_only_asks_the_server_for_partial_objects(scripted: Any, isolated_env: Path, tmp_path: Path) -> None:
    server = scripted("20", "ignore")
    with Informer(client_for(server.port, tmp_path), PODS, namespace="ns", metadata_only=True) as informer:
        assert informer.wait_for_sync(5)
        wait_until(lambda: any("watch=1" in p for p in server.paths()))
    accepts = {("watch" if "watch=1" in p else "list"): a for p, a in server.requests if p != "/version"}
    assert accepts["list"].startswith("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
    assert accepts["watch"].startswith("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")


async def test_async_informer_streams_and_falls_back(scripted: Any, isolated_env: Path, tmp_path: Path) -> None:
    for version, streaming, lists in (("32", "serve", 0), ("33", "refuse", 1)):
        server = scripted(version, streaming)
        client_for(server.port, tmp_path)  # writes the kubeconfig
        cfg = incluster_sdk.load_config(kubeconfig=tmp_path / "kc")
        async with incluster_sdk.AsyncApiClient(cfg) as client, AsyncInformer(client, PODS, namespace="ns") as inf:
            assert await inf.wait_for_sync(5)
            for _ in range(100):
                if inf.store.get("ns/a") is not None:
                    break
                await asyncio.sleep(0.02)
            assert inf.store.get("ns/a") is not None
        assert len([p for p in server.paths() if "limit=500" in p]) == lists
