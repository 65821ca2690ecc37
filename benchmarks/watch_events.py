"""Watch events: throughput into the cache and handlers from a recorded stream, and end-to-end lag on a real
API server under a steady write rate.

1. Throughput. Records a real watch stream from a local kube-apiserver while pods are created, patched and
   deleted, then replays it, each client in its own interpreter pinned to one core, two ways:
   a. from memory, in 64 KiB reads (what the informers take off a busy connection): decoding and applying
      alone. incluster_sdk: stream decoder → watch state machine → store (indexed) → a counting handler, on
      its own thread (Informer) or in its own task (AsyncInformer). The official clients: their
      ``Watch.unmarshal_event`` into V1Pod models, kept in a dict.
   b. over TLS from ``replay_server.py`` (on the other core), which sends each event as its own HTTP chunk
      and TLS record, as kube-apiserver does: the whole path, each client as an app would use it
      (informers; ``Watch.stream`` for the official clients). Also the threaded Informer unpinned.
2. Lag. An informer on ConfigMaps while another process patches them at a fixed rate (default 1,000/s);
   each patch carries its send time; the handler records when it sees it. Reported from the send, and from
   the server's acknowledgement of the write.

    python benchmarks/watch_events.py [--pods 2000] [--replays 5] [--rate 1000] [--seconds 10]

Prints tables; asserts nothing. Needs the local cluster binaries (bash scripts/install-kube-binaries.sh).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import urllib3

import incluster_sdk
from incluster_sdk.testing import LocalCluster
from incluster_sdk.watch import Informer, Resource

sys.path.insert(0, str(Path(__file__).parent))  # run as a script; shares with the other benchmarks
from bench_pod import bench_pod

NAMESPACE = "bench"
CHUNK = 65536
REPLAY = Path(__file__).with_name("watch_replay.py")
SOCKET = Path(__file__).with_name("watch_socket.py")
REPLAY_SERVER = Path(__file__).with_name("replay_server.py")
CONFIGMAPS = Resource("v1", "configmaps")
POD = bench_pod(ports=False)


# -- 1. throughput ------------------------------------------------------------------------------------------
def record_stream(cluster: LocalCluster, pods: int) -> bytes:
    """A real watch stream: every pod created, patched twice, then deleted (pods x 5 events, ~1 KB each)."""
    cfg = cluster.admin_config()
    http = urllib3.PoolManager(ca_certs=str(cluster.ca_file))
    rv = cluster.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")["metadata"]["resourceVersion"]
    response = http.request(
        "GET",
        f"{cfg.host}/api/v1/namespaces/{NAMESPACE}/pods?watch=1&resourceVersion={rv}&timeoutSeconds=600",
        headers={"Authorization": cfg.credentials.auth_header() or ""},
        preload_content=False,
    )
    recorded: list[bytes] = []
    expected = pods * 5  # DELETED is preceded by a MODIFIED (deletionTimestamp) on this server

    def read() -> None:
        seen = 0
        for chunk in response.stream(CHUNK):
            recorded.append(chunk)
            seen += chunk.count(b"\n")
            if seen >= expected:
                return

    reader = threading.Thread(target=read)
    reader.start()

    def churn(i: int) -> None:
        name = f"pod-{i:05d}"
        cluster.create({**POD, "metadata": {**POD["metadata"], "name": name, "namespace": NAMESPACE}})
        for n in range(2):
            patch = {"metadata": {"labels": {"rev": str(n)}}}
            cluster.patch(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}", patch)
        cluster.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}?gracePeriodSeconds=0")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(churn, range(pods)))
    reader.join(120)
    response.release_conn()
    return b"".join(recorded)


PATHS = (
    ("kubernetes Watch → V1Pod", "kubernetes"),
    ("kubernetes_asyncio Watch → V1Pod", "kubernetes_asyncio"),
    ("incluster_sdk Informer (threads)", "sdk"),
    ("incluster_sdk AsyncInformer (asyncio)", "sdk_async"),
)


def throughput(stream: bytes, replays: int) -> None:
    """Replays ``stream`` through each client, each in a fresh interpreter pinned to one core, with the cluster
    stopped (its processes would otherwise take CPU from the replays at random; the replays never contact it):
    first from memory (decoding and applying alone), then over TLS from the replay server on the other core."""
    events = stream.count(b"\n") * replays
    with tempfile.TemporaryDirectory() as tmp:
        stream_file = Path(tmp, "stream.bin")
        stream_file.write_bytes(stream)
        kubeconfig = Path(tmp, "kubeconfig")  # the SDK path builds a client as an app would; it is never used
        kubeconfig.write_text(
            "current-context: c\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "users: [{name: u, user: {token: unused}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        )
        rows = {name: _replay(REPLAY, path, stream_file, replays, kubeconfig) for name, path in PATHS}
        _print_rates(f"Decoded and applied from memory, 64 KiB reads, one core, {events} events", rows)

        server_dir = Path(tmp, "server")
        server_dir.mkdir()
        server = subprocess.Popen(
            [sys.executable, str(REPLAY_SERVER), str(stream_file), str(replays), str(server_dir)],
            stdin=subprocess.PIPE,
        )
        try:
            served = server_dir / "kubeconfig"
            deadline = time.monotonic() + 60
            while not served.exists():
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the replay server did not start")
                time.sleep(0.1)
            rows = {name: _replay(SOCKET, path, served, events) for name, path in PATHS}
            rows["incluster_sdk Informer (threads), unpinned"] = _replay(SOCKET, "sdk", served, events, "--unpinned")
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(30)
        _print_rates(f"Watched over TLS from the replay server (other core), one core, {events} events", rows)


def _replay(script: Path, *args: object) -> dict[str, float]:
    command = [sys.executable, str(script), *map(str, args)]
    result: dict[str, float] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return result


def _print_rates(title: str, rows: dict[str, dict[str, float]]) -> None:
    base = rows["kubernetes Watch → V1Pod"]
    print(f"\n{title}")
    print(f"{'path':<48}{'events/s':>12}{'vs official':>13}{'after gc.freeze()':>19}{'vs official':>13}")
    for name, row in rows.items():
        rate, frozen = row["default"], row["frozen"]
        print(
            f"{name:<48}{rate:>12,.0f}{rate / base['default']:>12.1f}x{frozen:>19,.0f}{frozen / base['frozen']:>12.1f}x"
        )


# -- 2. lag ---------------------------------------------------------------------------------------------------
def writer(host: str, port: int, ca: str, auth: str, names: list[str], rate: float, seconds: float, out: Any) -> None:
    """Patch ConfigMaps round-robin at ``rate`` per second from 32 keep-alive connections (its own process)."""
    context = ssl.create_default_context(cafile=ca)
    total = int(rate * seconds)
    counter = itertools.count()
    start = time.time() + 0.5
    acks: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def work() -> None:
        conn = http.client.HTTPSConnection(host, port, context=context)
        while (i := next(counter)) < total:
            due = start + i / rate
            if (wait := due - time.time()) > 0:
                time.sleep(wait)
            sent = time.time()
            body = orjson.dumps({"metadata": {"annotations": {"sent": repr(sent)}}})
            headers = {"Authorization": auth, "Content-Type": "application/merge-patch+json"}
            conn.request("PATCH", f"/api/v1/namespaces/{NAMESPACE}/configmaps/{names[i % len(names)]}", body, headers)
            conn.getresponse().read()
            with lock:
                acks.append((repr(sent), sent, time.time()))

    threads = [threading.Thread(target=work) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send((acks, time.time() - start))


def lag(cluster: LocalCluster, rate: float, seconds: float) -> None:
    names = [f"cm-{i:03d}" for i in range(200)]
    for name in names:
        cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE}})
    cfg = cluster.admin_config()
    seen: dict[str, float] = {}

    def on_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        sent = (new["metadata"].get("annotations") or {}).get("sent")
        if sent is not None:
            seen[sent] = time.time()

    with Informer(incluster_sdk.api_client(cfg), CONFIGMAPS, namespace=NAMESPACE) as informer:
        informer.add_handler(on_update=on_update)
        assert informer.wait_for_sync(30)
        receive, send = multiprocessing.Pipe(duplex=False)
        host, port = "127.0.0.1", int(cfg.host.rsplit(":", 1)[1])
        auth = cfg.credentials.auth_header() or ""
        proc = multiprocessing.Process(
            target=writer, args=(host, port, str(cluster.ca_file), auth, names, rate, seconds, send)
        )
        proc.start()
        acks, elapsed = receive.recv()
        proc.join()
        time.sleep(1)
    from_send = sorted(seen[key] - sent for key, sent, _ in acks if key in seen)
    from_ack = sorted(max(0.0, seen[key] - ack) for key, _, ack in acks if key in seen)
    write = sorted(ack - sent for _, sent, ack in acks)

    def pct(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000

    print(
        f"\nEnd-to-end lag: {len(acks)} writes in {elapsed:.1f}s = {len(acks) / elapsed:,.0f}/s (target {rate:,.0f}/s)"
    )
    print(f"  seen by the handler: {len(from_send)} of {len(acks)}")
    print(f"{'measure':<40}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, values in (
        ("write sent → handler called", from_send),
        ("write acknowledged → handler called", from_ack),
        ("(write latency, for context)", write),
    ):
        print(f"{label:<40}{pct(values, 0.5):>9.1f}{pct(values, 0.99):>9.1f}{values[-1] * 1000:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000, help="pods churned for the recorded stream")
    parser.add_argument("--replays", type=int, default=5, help="times the recorded stream is replayed")
    parser.add_argument("--rate", type=float, default=1000.0, help="writes per second for the lag test")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with LocalCluster.start() as cluster:
        cluster.create_namespace(NAMESPACE)
        started = time.perf_counter()
        stream = record_stream(cluster, args.pods)
        events = stream.count(b"\n")
        print(
            f"recorded {events} events ({len(stream) / events:.0f} bytes each) in {time.perf_counter() - started:.1f}s"
        )
        lag(cluster, args.rate, args.seconds)
    throughput(stream, args.replays)


if __name__ == "__main__":
    main()
