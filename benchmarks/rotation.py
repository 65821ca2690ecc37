"""Token rotation benchmark: incluster_sdk vs the official `kubernetes` in-cluster loader, side by side.

1. Swap-to-use latency: time from kubelet's ``..data`` swap until the first request carrying the new token
   reaches the server, p50/p99 over N rotations. Each client sends a request every ``--period`` seconds.
   The official client re-reads its token once a minute, so its samples are taken in parallel: N clients,
   loaded at staggered times, all rotated at once (that takes about a minute and a half).
2. Per-request overhead of the rotating credential source vs a static token (same server, same client).

    python benchmarks/rotation.py [--rotations 50] [--period 0.005] [--quick]

Prints numbers, asserts nothing. Runs against a local fake HTTPS API server (loopback only).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import kubernetes.client
import kubernetes.config

import incluster_sdk
from incluster_sdk.credentials import StaticToken
from incluster_sdk.testing import FakeServiceAccountMount

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' fake API server
from tests.support.fake_apiserver import FakeApiServer


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def first_use_after(server: FakeApiServer, token: str, since: float, timeout: float) -> float | None:
    header = f"bearer {token}"  # the official client sends "bearer", lower case
    deadline = time.monotonic() + timeout
    checked = 0
    while time.monotonic() < deadline:
        seen = server.seen[checked:]
        for request in seen:
            if request.at >= since and request.headers.get("authorization", "").lower() == header:
                return request.at - since
        checked += len(seen)
        time.sleep(0.002)
    return None


def request_loop(api: kubernetes.client.CoreV1Api, stop: threading.Event, period: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):  # the benchmark measures what the server saw
            api.list_namespaced_pod("ns", limit=1)
        stop.wait(period)


def bench_sdk(server: FakeApiServer, root: Path, rotations: int, period: float) -> list[float]:
    mount = FakeServiceAccountMount(root / "sdk", token="sdk-0", ca=server.ca.cert_pem, port=server.port)
    with mount.activated():
        cfg = incluster_sdk.load_config()
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    stop = threading.Event()
    thread = threading.Thread(target=request_loop, args=(api, stop, period), daemon=True)
    thread.start()
    samples = []
    for i in range(1, rotations + 1):
        server.seen.clear()
        t0 = time.monotonic()
        mount.rotate(token=f"sdk-{i}")
        took = first_use_after(server, f"sdk-{i}", t0, timeout=70)
        samples.append(took if took is not None else float("inf"))
    stop.set()
    thread.join()
    cfg.close()
    return samples


def bench_official(server: FakeApiServer, root: Path, clients: int, period: float, window: float) -> list[float]:
    mounts, stops, threads = [], [], []
    os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"] = "127.0.0.1", str(server.port)
    for k in range(clients):
        mount = FakeServiceAccountMount(root / f"official-{k}", token=f"off-{k}-0", ca=server.ca.cert_pem)
        conf = kubernetes.client.Configuration()
        kubernetes.config.incluster_config.InClusterConfigLoader(
            token_filename=str(mount.path / "token"), cert_filename=str(mount.path / "ca.crt")
        ).load_and_set(conf)
        api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(conf))
        stop = threading.Event()
        thread = threading.Thread(target=request_loop, args=(api, stop, max(period, 0.05)), daemon=True)
        thread.start()
        mounts.append(mount)
        stops.append(stop)
        threads.append(thread)
        time.sleep(window / clients)  # stagger load times across the refresh window
    server.seen.clear()
    t0 = time.monotonic()
    for k, mount in enumerate(mounts):
        mount.rotate(token=f"off-{k}-1")
    samples = []
    for k in range(clients):
        took = first_use_after(server, f"off-{k}-1", t0, timeout=window + 10)
        samples.append(took if took is not None else float("inf"))
    for stop in stops:
        stop.set()
    return samples


def bench_overhead(server: FakeApiServer, root: Path, n: int) -> tuple[float, float, float, float]:
    mount = FakeServiceAccountMount(root / "overhead", token="o", ca=server.ca.cert_pem, port=server.port)
    with mount.activated():
        cfg = incluster_sdk.load_config()
    static_cfg = incluster_sdk.Config(**{**cfg.__dict__, "credentials": StaticToken("o")})
    rotating, static = cfg.credentials, static_cfg.credentials
    # header lookup alone: what the credential source adds to each request
    t = time.perf_counter()
    for _ in range(n * 100):
        rotating.auth_header()
    per_rotating = (time.perf_counter() - t) / (n * 100)
    t = time.perf_counter()
    for _ in range(n * 100):
        static.auth_header()
    per_static = (time.perf_counter() - t) / (n * 100)
    # whole requests, interleaved in blocks so drift hits both equally
    apis = {
        name: kubernetes.client.CoreV1Api(incluster_sdk.api_client(c))
        for name, c in (("rotating", cfg), ("static", static_cfg))
    }
    totals = {"rotating": 0.0, "static": 0.0}
    for _ in range(10):
        for name, api in apis.items():
            t = time.perf_counter()
            for _ in range(n // 10):
                api.list_namespaced_pod("ns", limit=1)
            totals[name] += time.perf_counter() - t
    cfg.close()
    return per_rotating, per_static, totals["rotating"] / n, totals["static"] / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=50)
    parser.add_argument("--period", type=float, default=0.005, help="seconds between a client's requests")
    parser.add_argument("--quick", action="store_true", help="10 rotations, 10 official clients, 1000 requests")
    args = parser.parse_args()
    rotations = 10 if args.quick else args.rotations
    requests = 1000 if args.quick else 4000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = FakeApiServer.start(root)
        try:
            sdk = bench_sdk(server, root, rotations, args.period)
            print(f"measuring the official client ({rotations} clients over its 60 s refresh window) ...", flush=True)
            official = bench_official(server, root, rotations, args.period, window=60.0)
            per_rot, per_static, req_rot, req_static = bench_overhead(server, root, requests)
        finally:
            server.stop()
    print()
    print(f"Swap-to-first-use of a rotated token ({rotations} rotations; request every {args.period * 1000:.0f} ms)")
    print(f"{'client':<34}{'p50':>10}{'p99':>10}{'max':>10}")
    for name, s in (("incluster_sdk (inotify push)", sdk), ("kubernetes.config.incluster", official)):
        print(f"{name:<34}{pct(s, 50):>9.3f}s{pct(s, 99):>9.3f}s{max(s):>9.3f}s")
    print(f"ratio official/incluster_sdk at p99: {pct(official, 99) / max(pct(sdk, 99), 1e-9):.0f}x")
    print()
    print("Per-request cost of the rotating credential source vs a static token")
    print(f"  auth_header(): rotating {per_rot * 1e9:.0f} ns, static {per_static * 1e9:.0f} ns")
    print(
        f"  full request : rotating {req_rot * 1e6:.0f} us, static {req_static * 1e6:.0f} us, "
        f"overhead {100 * (req_rot / req_static - 1):+.2f}%"
    )


if __name__ == "__main__":
    main()
