"""readonly-default at scale: time for the example controller to converge on N namespaces (default 2,000), and
the API requests it made, threads and asyncio, against a real local API server, "as if in a pod".

For each mode: create N labelled namespaces, start the app (examples/readonly-default/app.py) with
``--selector`` on them and ``--resync 2``, and measure
- the time from the app's start to N correct bindings (polled with a LIST every 0.2 s),
- kube-apiserver's ``apiserver_request_total`` deltas for the run (the app's requests plus the poll's LISTs,
  which are reported apart), by verb and resource,
- writes during 3 resyncs when nothing changed (should be 0), from kube-apiserver's count and the app's own.

    python benchmarks/controller_converge.py [--namespaces 2000] [--workers 4] [--modes threads,asyncio]

Prints a table; asserts nothing. Needs the local cluster binaries (bash scripts/install-kube-binaries.sh).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from incluster_sdk.testing import LocalCluster

APP = Path(__file__).resolve().parents[1] / "examples" / "readonly-default"
BINDINGS = "/apis/rbac.authorization.k8s.io/v1/rolebindings?fieldSelector=metadata.name%3Dreadonly-default"
WRITES = ("POST", "PUT", "PATCH", "DELETE", "CREATE", "UPDATE")


def requests(cluster: LocalCluster) -> Counter[tuple[str, str]]:
    """kube-apiserver's request counts by (verb, resource), all clients."""
    text = cluster.request("GET", "/metrics", raw=True).decode()
    counts: Counter[tuple[str, str]] = Counter()
    for labels, value in re.findall(r"^apiserver_request_total\{([^}]*)\} (\S+)$", text, re.M):
        verb = re.search(r'verb="([^"]*)"', labels)
        resource = re.search(r'resource="([^"]*)"', labels)
        counts[(verb.group(1) if verb else "", resource.group(1) if resource else "")] += int(float(value))
    return counts


def app_metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def run(cluster: LocalCluster, mode: str, count: int, workers: int) -> dict[str, object]:
    label = uuid.uuid4().hex[:6]
    names = [f"bench-{label}-{i}" for i in range(count)]

    def create(name: str) -> None:
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"b": label}}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))
    wanted = set(names)
    before = requests(cluster)
    polls = 0
    args = ["--port", "0", "--selector", f"b={label}", "--workers", str(workers), "--resync", "2"]
    proc = subprocess.Popen(
        [sys.executable, str(APP / "app.py"), *args, *(["--asyncio"] if mode == "asyncio" else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    began = time.monotonic()
    port = 0
    for line in proc.stdout:
        if found := re.search(r"serving /healthz and /metrics on port (\d+)", line):
            port = int(found.group(1))
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()  # drain the log
    while True:
        polls += 1
        items = cluster.request("GET", BINDINGS)["items"]
        if sum(1 for b in items if b["metadata"]["namespace"] in wanted) == count:
            break
        time.sleep(0.2)
    converged = time.monotonic() - began
    after = requests(cluster)
    app_writes = app_metric(port, "readonly_default_writes_total")
    time.sleep(6.5)  # three resyncs of the whole cache
    quiet = requests(cluster)
    quiet_app = app_metric(port, "readonly_default_writes_total") - app_writes
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    delta = after - before
    delta[("LIST", "rolebindings")] -= polls  # the benchmark's own polls
    quiet_writes = sum(v for (verb, res), v in (quiet - after).items() if verb in WRITES and res == "rolebindings")
    return {
        "mode": mode,
        "converged_s": round(converged, 2),
        "writes": sum(v for (verb, _), v in delta.items() if verb in WRITES and _ == "rolebindings"),
        "app_writes": int(app_writes),
        "requests": {f"{verb} {res}": v for (verb, res), v in sorted(delta.items()) if v > 0},
        "resync_writes_server": quiet_writes,
        "resync_writes_app": int(quiet_app),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--modes", default="threads,asyncio")
    args = parser.parse_args()
    with LocalCluster.start() as cluster:
        for name in ("namespace.yaml", "rbac.yaml"):
            for doc in yaml.safe_load_all((APP / "manifests" / name).read_text()):
                cluster.apply(doc)
        with cluster.pod_environment("readonly-default", "readonly-default"):
            for mode in args.modes.split(","):
                result = run(cluster, mode, args.namespaces, args.workers)
                print(f"{mode}: {args.namespaces} namespaces, {args.workers} workers")
                print(f"  converged in {result['converged_s']} s after start (process start, caches synced included)")
                print(f"  rolebinding writes: {result['writes']} (kube-apiserver), {result['app_writes']} (app)")
                print(f"  resync x3 with nothing changed: {result['resync_writes_server']} writes (kube-apiserver),")
                print(f"    {result['resync_writes_app']} (app)")
                print("  all requests during convergence (every client but the benchmark's polls):")
                for what, n in result["requests"].items():  # type: ignore[attr-defined]
                    print(f"    {what}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
