"""Initial sync and memory: incluster_sdk's informer vs the peers, side by side, against a real local API server.

Creates N pods (default 10,000) in a fresh local cluster, then measures in one run:
- the official `kubernetes` client listing into models,
- `kubernetes_asyncio` listing into models,
- the same list fetched raw and parsed with orjson (the floor), and the same from the watch cache (RV=0,
  which is what the informer's first LIST asks for: the like-for-like floor),
- incluster_sdk's Informer (paged LIST of 500, orjson, managedFields stripped) until synced, and with its two
  memory options (the ``compact`` transform; ``metadata_only``),
and the memory each keeps per pod (tracemalloc, in a fresh measurement per client).

    python benchmarks/informer_sync.py [--pods 10000] [--rounds 3]

Prints a table; asserts nothing. Needs the local cluster binaries (bash scripts/install-kube-binaries.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes_asyncio.client
import orjson
import urllib3

import incluster_sdk
from incluster_sdk.testing import LocalCluster
from incluster_sdk.watch import PODS, Informer, compact

sys.path.insert(0, str(Path(__file__).parent))  # run as a script; shares with the other benchmarks
from bench_pod import bench_pod

NAMESPACE = "bench"
POD = bench_pod(ports=True)


def create_pods(cluster: LocalCluster, count: int) -> None:
    cluster.create_namespace(NAMESPACE)

    def one(i: int) -> None:
        cluster.create({**POD, "metadata": {**POD["metadata"], "name": f"pod-{i:05d}", "namespace": NAMESPACE}})

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(count)))


def official(cfg: incluster_sdk.Config) -> Any:
    return kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg)).list_namespaced_pod(NAMESPACE).items


def official_async(cfg: incluster_sdk.Config) -> Any:
    async def run() -> Any:
        async with incluster_sdk.AsyncApiClient(cfg) as client:
            return (await kubernetes_asyncio.client.CoreV1Api(client).list_namespaced_pod(NAMESPACE)).items

    return asyncio.run(run())


def raw_orjson(cluster: LocalCluster, query: str = "") -> Callable[[incluster_sdk.Config], Any]:
    http = urllib3.PoolManager(ca_certs=str(cluster.ca_file))

    def run(cfg: incluster_sdk.Config) -> Any:
        response = http.request(
            "GET",
            f"{cfg.host}/api/v1/namespaces/{NAMESPACE}/pods{query}",
            headers={"Authorization": cfg.credentials.auth_header() or ""},
        )
        return orjson.loads(response.data)["items"]

    return run


def informer(**options: Any) -> Callable[[incluster_sdk.Config], Any]:
    def run(cfg: incluster_sdk.Config) -> Any:
        inf = Informer(incluster_sdk.api_client(cfg), PODS, namespace=NAMESPACE, **options)
        inf.start()
        assert inf.wait_for_sync(120)
        inf.stop()
        return inf.store

    return run


def measure(
    fn: Callable[[incluster_sdk.Config], Any], cfg: incluster_sdk.Config, rounds: int, count: int
) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        result = fn(cfg)
        times.append(time.perf_counter() - start)
        assert len(result) == count, (fn, len(result))
        del result
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = fn(cfg)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del result
    return statistics.median(times), kept / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with LocalCluster.start() as cluster:
        t = time.perf_counter()
        create_pods(cluster, args.pods)
        print(f"created {args.pods} pods in {time.perf_counter() - t:.1f}s", flush=True)
        cfg = cluster.admin_config()
        rows = {}
        for name, fn in (
            ("kubernetes (models)", official),
            ("kubernetes_asyncio (models)", official_async),
            ("raw GET + orjson (floor)", raw_orjson(cluster)),
            ("raw GET RV=0 + orjson", raw_orjson(cluster, "?resourceVersion=0")),
            ("incluster_sdk Informer", informer()),
            ("  transform=compact", informer(transform=compact)),
            ("  metadata_only=True", informer(metadata_only=True)),
        ):
            rows[name] = measure(fn, cfg, args.rounds, args.pods)
            print(f"  measured {name}", flush=True)
    base_t, base_m = rows["kubernetes (models)"]
    floor_t = rows["raw GET + orjson (floor)"][0]
    print(f"\nInitial sync of {args.pods} pods (median of {args.rounds}) and memory kept per pod (tracemalloc)")
    print(f"{'client':<30}{'time':>9}{'vs official':>13}{'vs floor':>10}{'KB/pod':>9}{'vs official':>13}")
    for name, (secs, per_pod) in rows.items():
        print(
            f"{name:<30}{secs:>8.2f}s{secs / base_t:>12.2f}x{secs / floor_t:>9.2f}x"
            f"{per_pod / 1024:>9.1f}{per_pod / base_m:>12.2f}x"
        )


if __name__ == "__main__":
    main()
