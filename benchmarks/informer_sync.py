"""Initial sync, memory, collector pauses and handler lag: incluster_sdk's informers against a real client-go
informer, side by side in one run, against a real local API server.

Creates N pods in a fresh local cluster (or uses ``--kubeconfig``/``--namespace`` where pods exist), then, in
``--rounds`` rounds, runs each client in its own fresh process (client order alternating between rounds):
- client-go 1.20's shared informer, JSON (``informer-bench``, built by
  ``bash scripts/install-kube-binaries.sh --bench`` from the tree kube-apiserver is built from),
- incluster_sdk's Informer (threads), the same with ``compress=True``, and the AsyncInformer,
- with ``--peers``, the official ``kubernetes`` client listing the pods into models.

Each reports the time until synced with every initial add delivered to a handler, resident memory once synced
(and collected) and its peak during the sync (what a pod's memory limit sees), and for Python the time of a
full collection before the start and once the cache is full. Then, with ``--lag-rate``, one informer of each
kind watches while this process patches pods at that rate: the handler's lag from each patch's send.

    python benchmarks/informer_sync.py [--pods 10000] [--rounds 5] [--lag-rate 1000 --lag-seconds 10]

Prints medians and ratios to client-go; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import urllib3

HERE = Path(__file__).parent
CHILD = HERE / "informer_child.py"
NAMESPACE = "bench"
CACHE = Path(os.environ.get("INCLUSTER_SDK_CACHE", Path.home() / ".cache/incluster-sdk")) / "kubernetes-1.20.2"
CLIENT_GO = Path(os.environ.get("INCLUSTER_SDK_INFORMER_BENCH", CACHE / "informer-bench"))

sys.path.insert(0, str(HERE))  # run as a script; shares with the other benchmarks
from bench_pod import bench_pod  # noqa: E402


def sized_pod(i: int) -> dict[str, Any]:
    """A pod about as large as a real one on the wire (about 2.5 KB with what the server adds)."""
    pod = bench_pod(ports=True)
    meta = pod["metadata"]
    meta.update(name=f"pod-{i:06d}", namespace=NAMESPACE)
    meta["labels"] = {**meta["labels"], "release": f"r{i % 7}", "pod-template-hash": "5d8f7c9b6d"}
    meta["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b6d", "controller": True,
         "uid": "0b7e3c1e-1c1a-4c57-9d0e-3b5f1f0a9c11", "blockOwnerDeletion": True}
    ]  # fmt: skip
    pod["spec"]["nodeName"] = f"node-{i % 50}"
    return pod


class Api:
    """Just enough HTTP to create and patch pods fast, from many threads."""

    def __init__(self, kubeconfig: str) -> None:
        import incluster_sdk

        cfg = incluster_sdk.load_config(kubeconfig=kubeconfig)
        self.host = cfg.host
        self.headers = {"Authorization": cfg.credentials.auth_header() or ""}
        self.http = urllib3.PoolManager(ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None, maxsize=64)

    def call(self, method: str, path: str, body: Any, content_type: str = "application/json") -> int:
        headers = {**self.headers, "Content-Type": content_type}
        return self.http.request(method, self.host + path, body=orjson.dumps(body), headers=headers).status

    def count(self) -> int:
        path = f"{self.host}/api/v1/namespaces/{NAMESPACE}/pods?limit=1"
        meta = orjson.loads(self.http.request("GET", path, headers=self.headers).data)["metadata"]
        return int(meta.get("remainingItemCount", 0)) + 1 if meta.get("continue") else 0

    def create_pods(self, count: int) -> None:
        self.call("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        with ThreadPoolExecutor(32) as pool:
            list(
                pool.map(
                    lambda i: self.call("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", sized_pod(i)), range(count)
                )
            )

    def patch_at(self, rate: float, seconds: float, objects: int, kind: str = "pods") -> dict[str, float]:
        """Patch ``objects`` pods (or ConfigMaps) round-robin at ``rate`` per second (as far as the server keeps
        up); each patch carries its send time. Returns each send time (as sent) with when the server
        acknowledged the patch."""
        acked: dict[str, float] = {}

        def patch(name: str) -> None:
            sent = repr(time.time())
            body = {"metadata": {"annotations": {"bench/sent": sent}}}
            path = f"/api/v1/namespaces/{NAMESPACE}/{kind}/{name}"
            if self.call("PATCH", path, body, "application/merge-patch+json") == 200:
                acked[sent] = time.time()

        count, start = 0, time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            while (elapsed := time.monotonic() - start) < seconds:
                if count < elapsed * rate and pool._work_queue.qsize() < 64:  # no backlog beyond the server's pace
                    pool.submit(patch, f"pod-{count % objects:06d}" if kind == "pods" else f"cm-{count % objects:03d}")
                    count += 1
                else:
                    time.sleep(0.0005)
        return acked


Lag = tuple["Api", float, float, int, str]  # the writer, its rate (/s), for how long (s), objects, their kind


def run_client_go(kubeconfig: str, lag: Lag | None = None) -> dict[str, Any]:
    args = [str(CLIENT_GO), "--kubeconfig", kubeconfig, "--namespace", NAMESPACE]
    return run_process(args + (["--lag-seconds", str(lag[2] + 3)] if lag else []), lag)


CONFIGMAPS_PATCHED = 200


def run_python(kubeconfig: str, *flags: str, lag: Lag | None = None) -> dict[str, Any]:
    args = [sys.executable, str(CHILD), kubeconfig, NAMESPACE, *flags]
    if lag:
        args += ["--lag-seconds", str(lag[2] + 3), "--lag-on", lag[4]]
    return run_process(args, lag)


def run_process(args: list[str], lag: Lag | None) -> dict[str, Any]:
    """Run one client; its first line is the sync's figures. With ``lag``, patch pods while it watches, then
    read the updates it saw (a second line) and compute their lag from each patch's send and acknowledgement."""
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    result: dict[str, Any] = json.loads(child.stdout.readline())
    if lag is not None:
        api, rate, seconds, objects, kind = lag
        writer = threading.Thread(target=lambda: result.update(acked=api.patch_at(rate, seconds, objects, kind)))
        writer.start()
        result.update(json.loads(child.stdout.readline()))
        writer.join()
        lags_send = sorted(got - float(sent) for sent, got in result["seen"])
        lags_ack = sorted(got - result["acked"][sent] for sent, got in result["seen"] if sent in result["acked"])
        for name, lags in (("send", lags_send), ("ack", lags_ack)):
            if lags:
                result[f"from_{name}"] = [1000 * lags[int(len(lags) * q)] for q in (0.5, 0.99)] + [1000 * lags[-1]]
    child.wait(60)
    return result


OFFICIAL = """
import json, sys, time, kubernetes.client, incluster_sdk
cfg = incluster_sdk.load_config(kubeconfig=sys.argv[1])
started = time.perf_counter()
items = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg)).list_namespaced_pod(sys.argv[2]).items
status = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("Vm")}
result = {"sync_seconds": time.perf_counter() - started, "objects": len(items)}
print(json.dumps({**result, "rss_bytes": status["VmRSS"], "peak_rss_bytes": status["VmHWM"]}))
"""


def run_official(kubeconfig: str) -> dict[str, Any]:
    args = [sys.executable, "-c", OFFICIAL, kubeconfig, NAMESPACE]
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


CLIENTS = {
    "client-go informer (JSON)": run_client_go,
    "incluster_sdk Informer": lambda k: run_python(k),
    "incluster_sdk Informer compress=True": lambda k: run_python(k, "--compress"),
    "incluster_sdk AsyncInformer": lambda k: run_python(k, "--asyncio"),
}


def mib(value: float) -> str:
    return f"{value / 2**20:7.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kubeconfig", help="an existing cluster's admin kubeconfig (pods in namespace bench)")
    parser.add_argument("--peers", action="store_true", help="also the official client listing into models")
    parser.add_argument("--lag-rate", type=float, default=0, help="patches per second for the lag test")
    parser.add_argument("--lag-seconds", type=float, default=10)
    parser.add_argument(
        "--lag-on", choices=("pods", "configmaps"), default="pods",
        help="what is patched: the cached pods, or 200 ConfigMaps a second informer watches (the pods stay cached;"
        " the server takes ConfigMap writes far faster than pod writes; the SDK's informers only)",
    )  # fmt: skip
    args = parser.parse_args()
    if not CLIENT_GO.exists():
        sys.exit(f"{CLIENT_GO} is missing: run bash scripts/install-kube-binaries.sh --bench")
    if args.kubeconfig:
        measure(args, args.kubeconfig)
        return
    from incluster_sdk.testing import LocalCluster

    with LocalCluster.start() as cluster:
        started = time.perf_counter()
        Api(str(cluster.admin_kubeconfig)).create_pods(args.pods)
        print(f"created {args.pods} pods in {time.perf_counter() - started:.0f}s", flush=True)
        measure(args, str(cluster.admin_kubeconfig))


def measure(args: argparse.Namespace, kubeconfig: str) -> None:
    api = Api(kubeconfig)
    pods = api.count()
    clients = dict(CLIENTS)
    if args.peers:
        clients["kubernetes (list into models)"] = run_official
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
    for round_ in range(args.rounds):
        order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
        for name in order:
            result = clients[name](kubeconfig)
            assert result["objects"] == pods, (name, result["objects"], pods)
            rows[name].append(result)
        print(f"  round {round_ + 1}/{args.rounds} done", flush=True)
    listed = api.http.request("GET", f"{api.host}/api/v1/namespaces/{NAMESPACE}/pods", headers=api.headers)
    size = len(listed.data) / pods
    reference = rows["client-go informer (JSON)"]
    base = {k: statistics.median(r[k] for r in reference) for k in ("sync_seconds", "rss_bytes", "peak_rss_bytes")}
    print(f"\n{pods} pods of {size / 1024:.1f} KB on the wire, median of {args.rounds} rounds, ratios to client-go")
    print(f"{'client':<38}{'sync s':>8}{'ratio':>7}{'RSS MiB':>9}{'ratio':>7}{'peak MiB':>9}{'ratio':>7}"
          f"{'KB/pod':>8}{'full GC ms (empty)':>20}")  # fmt: skip
    for name, results in rows.items():
        numbers = [k for k, v in results[0].items() if isinstance(v, (int, float))]
        med = {k: statistics.median(r.get(k, 0) for r in results) for k in numbers}
        per_pod = med.get("heap_bytes") or (med["rss_bytes"] - med.get("base_rss_bytes", med["rss_bytes"]))
        gc_text = f"{med['gc_full_ms']:8.1f} ({med['gc_full_ms_empty']:.1f})" if "gc_full_ms" in med else ""
        print(
            f"{name:<38}{med['sync_seconds']:>8.2f}{med['sync_seconds'] / base['sync_seconds']:>6.2f}x"
            f"{mib(med['rss_bytes'])}  {med['rss_bytes'] / base['rss_bytes']:>5.2f}x"
            f"{mib(med['peak_rss_bytes'])}  {med['peak_rss_bytes'] / base['peak_rss_bytes']:>5.2f}x"
            f"{per_pod / pods / 1024:>8.2f}{gc_text:>20}"
        )
    print("KB/pod: client-go's live heap after a collection; Python: resident memory added by the sync")
    if args.lag_rate:
        kind = args.lag_on
        print(f"\nHandler lag while patching {kind} at up to {args.lag_rate:.0f}/s for {args.lag_seconds:.0f}s")
        if kind == "configmaps":
            for i in range(CONFIGMAPS_PATCHED):
                api.call("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", {"metadata": {"name": f"cm-{i:03d}"}})
        writer = (api, args.lag_rate, args.lag_seconds, pods if kind == "pods" else CONFIGMAPS_PATCHED, kind)
        runs = [
            ("client-go informer", lambda: run_client_go(kubeconfig, lag=writer)),
            ("incluster_sdk Informer", lambda: run_python(kubeconfig, lag=writer)),
            ("incluster_sdk AsyncInformer", lambda: run_python(kubeconfig, "--asyncio", lag=writer)),
        ]
        for name, run in runs[kind == "configmaps" :]:
            lag = run()
            rate = len(lag["acked"]) / args.lag_seconds
            print(f"  {name}: {len(lag['seen'])} updates seen of {len(lag['acked'])} acknowledged ({rate:.0f}/s)")
            for since, label in (("ack", "the server's acknowledgement"), ("send", "the send")):
                p50, p99, worst = lag.get(f"from_{since}", (0, 0, 0))
                print(f"    from {label:<28} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {worst:7.1f} ms")


if __name__ == "__main__":
    main()
