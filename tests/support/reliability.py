"""The reliability suite: an informer and a read load "as if in a pod", behind a fault-injecting proxy, on a
real local API server, while another client churns objects and the faults production brings are injected.

    python -m tests.support.reliability            # short form (CI: tests/e2e/test_reliability_e2e.py), ~5 min
    python -m tests.support.reliability --long     # more faults, and a 30-minute soak

Run it from the repository's root: it is this project's own suite, not part of the installed package.

After each scenario it checks that the informer's cache equals a fresh LIST, that no handler saw an
impossible sequence, that no read failed, and that no thread or file descriptor leaked. It also measures
how long the informer took to see a change after each fault ended (recovery). Prints a table.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incluster_sdk.testing import ClusterError, FakeServiceAccountMount, FaultProxy, LocalCluster

from .history import HandlerHistory

NAMESPACE = "reliability"
SERVICE_ACCOUNT = "reliability"
log = logging.getLogger(__name__)
POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]},
}
#: How long the informer may take to catch up after the last fault before the scenario counts a loss.
CONVERGE_TIMEOUT = 60.0
_FOREVER = 3600.0  # refuse until told otherwise


@dataclass
class Result:
    scenario: str
    faults: str
    requests: int = 0
    failed: int = 0
    lost: int = 0
    impossible: int = 0
    recoveries: list[float] = field(default_factory=list)
    leaks: str = "none"
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.lost == 0 and self.impossible == 0 and self.leaks == "none"

    def recovery(self, q: float) -> str:
        if not self.recoveries:
            return "-"
        ordered = sorted(self.recoveries)
        return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.2f}s"


def _fds() -> dict[str, str]:
    """Open file descriptors and what they are (socket:[inode], a path, anon_inode:...)."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (or the listing's own descriptor)
    return out


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


class Run:
    """One scenario's moving parts: proxy, pod environment, informer, load, churn."""

    def __init__(self, cluster: LocalCluster, mount: FakeServiceAccountMount, proxy: FaultProxy) -> None:
        import incluster_sdk
        from incluster_sdk.watch import PODS, Informer

        self.cluster, self.mount, self.proxy = cluster, mount, proxy
        self.history = HandlerHistory()
        self.client = incluster_sdk.api_client()
        self.informer = Informer(self.client, PODS, namespace=NAMESPACE)
        self.informer.add_handler(**self.history.handlers())
        self.requests = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.recoveries: list[float] = []
        self.outages: list[float] = []  # how long each API server restart kept the proxy refusing
        self._canary = 0
        self._token_round = 0

    # -- load ---------------------------------------------------------------------------------------------
    def _reader(self) -> None:
        import kubernetes.client

        api = kubernetes.client.CoreV1Api(self.client)
        while not self.stop.is_set():
            for call in (
                lambda: api.list_namespaced_pod(NAMESPACE, limit=20, _request_timeout=(10, 30)),
                lambda: api.read_namespaced_pod("canary", NAMESPACE, _request_timeout=(10, 30)),
            ):
                began = time.monotonic()
                try:
                    call()
                except Exception as exc:  # every failure is a finding
                    text = str(exc).splitlines()[0][:200] if str(exc) else ""
                    self.failures.append(f"{type(exc).__name__} after {time.monotonic() - began:.1f}s: {text}")
                self.requests += 1
            self.stop.wait(0.02)

    def _churn(self) -> None:
        i = 0
        while not self.stop.is_set():
            name = f"churn-{i % 40}"
            path = f"/api/v1/namespaces/{NAMESPACE}/pods/{name}"
            try:
                step = (i // 40) % 3
                if step == 0:
                    self.cluster.request(
                        "POST",
                        f"/api/v1/namespaces/{NAMESPACE}/pods",
                        {**POD, "metadata": {"name": name}},
                        ok=(201, 409),
                    )
                elif step == 1:
                    self.cluster.patch(path, {"metadata": {"labels": {"round": str(i)}}})
                else:
                    self.cluster.request("DELETE", f"{path}?gracePeriodSeconds=0", ok=(200, 202, 404))
            except (ClusterError, OSError):
                self.stop.wait(0.5)  # the API server is down on purpose: the churn client just waits
            i += 1
            self.stop.wait(0.05)

    def start(self) -> None:
        self.cluster.request(
            "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", {**POD, "metadata": {"name": "canary"}}, ok=(201, 409)
        )
        self.informer.start()
        if not self.informer.wait_for_sync(60):
            raise RuntimeError("the informer did not sync")
        for target in (self._reader, self._reader, self._churn):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)

    # -- probes and faults ------------------------------------------------------------------------------------
    def probe_recovery(self, timeout: float = 60.0) -> None:
        """A fault just ended: write a marker (directly, not through the proxy) and time how long until the
        informer's handler sees it."""
        self._canary += 1
        mark = str(self._canary)
        written = time.monotonic()
        deadline = written + timeout
        while True:
            try:
                self.cluster.patch(
                    f"/api/v1/namespaces/{NAMESPACE}/pods/canary", {"metadata": {"annotations": {"canary": mark}}}
                )
                break
            except (ClusterError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        while mark not in self.history.canary:
            if time.monotonic() > deadline:
                self.failures.append(f"no recovery within {timeout}s (canary {mark})")
                return
            time.sleep(0.01)
        self.recoveries.append(self.history.canary[mark] - written)

    def restart_apiserver(self, down: float = 2.0, compact: bool = False, kill: bool = False) -> None:
        """Stop kube-apiserver (SIGTERM, or SIGKILL with ``kill``) and start it again; the proxy refuses new
        connections from the moment it is told to stop, and routes to it again only once it is ready.
        A graceful stop under load takes kube-apiserver up to the harness's 10 s stop timeout.

        Like a load balancer with a readiness check: a 1.20 kube-apiserver answers before its RBAC informers
        have synced, and until then it denies a ServiceAccount what its Role grants (403; kubernetes#121635,
        fixed upstream with the "informers not synced" reason and readiness checks). A client cannot tell
        that 403 from a real one, so no client retries it; the scenario is about what the client survives."""
        if compact:
            self.cluster.compact_etcd()
        self.proxy.refuse(_FOREVER)
        began = time.monotonic()
        try:
            self.cluster.stop_apiserver(kill=kill)
            time.sleep(down)
            self.cluster.start_apiserver()
            self._wait_until_authorized()
        finally:
            self.proxy.refuse(0.0)
            self.outages.append(time.monotonic() - began)

    def _wait_until_authorized(self, timeout: float = 60.0) -> None:
        token = (self.mount.path / "token").read_text()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.cluster.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods?limit=1", token=token)
                return
            except (ClusterError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def rotate_token(self) -> None:
        """Kubelet's refresh: a new token in the mount; then the old one stops working (its Secret goes)."""
        self._token_round += 1
        new, old = f"rel-tok-{self._token_round}", f"rel-tok-{self._token_round - 1}"
        token = self.cluster.mint_token(NAMESPACE, SERVICE_ACCOUNT, bound_to_secret=new)
        self.mount.rotate(token=token)
        self.cluster.invalidate(NAMESPACE, old)

    # -- verdict ----------------------------------------------------------------------------------------------
    def finish(self) -> tuple[int, list[str]]:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        while True:
            diff = self._difference()
            if not diff or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.informer.stop()
        self.client.close()  # type: ignore[no-untyped-call]
        self.client.incluster_config.close()  # stop watching the mount before the pod environment goes
        return len(diff), diff

    def _difference(self) -> list[str]:
        truth = {
            p["metadata"]["name"]: p["metadata"]["resourceVersion"]
            for p in self.cluster.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
        }
        cached = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in self.informer.store.list()}
        return sorted(k for k in truth.keys() | cached.keys() if truth.get(k) != cached.get(k))


Scenario = Callable[[Run, bool], str]


def resets_and_stalls(run: Run, long: bool) -> str:
    resets, stalls = (300, 60) if long else (100, 20)
    stalled = 0
    while run.proxy.counts["reset"] < resets or stalled < stalls:
        if run.proxy.counts["reset"] < resets:
            run.proxy.reset(1)
        if stalled < stalls and run.proxy.counts["reset"] >= stalled * resets // stalls:
            run.proxy.stall(1.0)
            stalled += 1
            time.sleep(1.0)
        time.sleep(0.05)
        if (run.proxy.counts["reset"] + stalled) % 20 == 0:
            run.probe_recovery()
    run.probe_recovery()
    return f"{run.proxy.counts['reset']} resets, {stalls} stalls"


def apiserver_restarts(run: Run, long: bool) -> str:
    count = 10 if long else 5
    for _ in range(count):
        run.restart_apiserver(kill=True)
        run.probe_recovery()
        time.sleep(1)
    return f"{count} apiserver kills + restarts (down {max(run.outages):.1f}s at most)"


def compaction(run: Run, long: bool) -> str:
    """The informer is cut off while the history it would resume from is compacted away: on its way back
    its watch gets 410 Gone, and it must relist (and diff) instead of retrying the same resourceVersion."""
    count = 4 if long else 2
    before = run.informer.watcher.relists
    for _ in range(count):
        run.proxy.refuse(8.0)
        run.proxy.reset(100)  # the live watch goes too
        time.sleep(3.0)  # churn moves on while the informer cannot see it
        run.restart_apiserver(down=1.0, compact=True)  # a fresh watch cache starts at the compacted revision
        run.proxy.refuse(0.0)
        run.probe_recovery()
    return f"{count} compactions ({run.informer.watcher.relists - before} relists)"


def token_rotation(run: Run, long: bool) -> str:
    count = 20 if long else 8
    for _ in range(count):
        run.rotate_token()
        time.sleep(2.0)
    run.probe_recovery()
    return f"{count} rotations + invalidations"


def everything(run: Run, long: bool) -> str:
    """Resets and stalls all along, with rotations, restarts and compactions. The network faults pause only
    while recovery is measured: recovery is the time after faults end (under faults that never end, the
    informer's backoff, up to 30 s a try, would make any deadline a coin toss)."""
    done, calm = threading.Event(), threading.Event()

    def network() -> None:
        while not done.is_set():
            if not calm.is_set():
                run.proxy.reset(1)
                if run.proxy.counts["reset"] % 10 == 0:
                    run.proxy.stall(0.5)
            time.sleep(0.2)

    def probe_in_calm() -> None:
        calm.set()
        try:
            run.probe_recovery()
        finally:
            calm.clear()

    thread = threading.Thread(target=network, daemon=True)
    thread.start()
    rounds = 6 if long else 3
    try:
        for i in range(rounds):
            run.rotate_token()
            # killed, not stopped: a graceful stop under load takes up to the harness's 10 s, and with the
            # start-up an outage then nears the reads' 30 s retry deadline (docs/reliability.md)
            run.restart_apiserver(down=1.5, compact=i % 2 == 1, kill=True)
            time.sleep(2.0)  # the network faults go on after the restart too
            probe_in_calm()
            time.sleep(1)
    finally:
        done.set()
        thread.join()
    run.probe_recovery()
    return f"{run.proxy.counts['reset']} resets, {rounds} restarts, {rounds} rotations, compactions"


SCENARIOS: dict[str, Scenario] = {
    "resets + stalls during churn": resets_and_stalls,
    "apiserver killed and restarted": apiserver_restarts,
    "etcd compaction (410 Gone)": compaction,
    "token rotation + invalidation": token_rotation,
    "all at once": everything,
}


def prepare(cluster: LocalCluster) -> None:
    cluster.create_service_account(NAMESPACE, SERVICE_ACCOUNT)
    cluster.grant(NAMESPACE, SERVICE_ACCOUNT, ["get,list,watch:pods"])


@contextmanager
def _in_pod(cluster: LocalCluster, proxy: FaultProxy) -> Iterator[FakeServiceAccountMount]:
    with cluster.pod_environment(NAMESPACE, SERVICE_ACCOUNT, bound_to_secret="rel-tok-0", api_port=proxy.port) as m:
        yield m


def run_scenario(cluster: LocalCluster, name: str, *, long: bool = False) -> Result:
    scenario = SCENARIOS[name]
    started = time.monotonic()
    proxy = FaultProxy.start("127.0.0.1", cluster.api_port)
    try:
        with _in_pod(cluster, proxy) as mount:
            run = Run(cluster, mount, proxy)
            # the baseline: the process-wide file watcher already runs, the informer does not yet; the
            # proxy's listening socket and accept thread are counted in (they go before the check)
            threads_before, fds_before = threading.active_count() - 1, _fds()
            run.start()
            faults = scenario(run, long)
            lost, diff = run.finish()
            proxy.stop()  # the proxy's own threads and sockets go first: what remains is the SDK's
            leaked = _leaks(threads_before, fds_before)
    finally:
        proxy.stop()
    return Result(
        scenario=name,
        faults=faults,
        requests=run.requests,
        failed=len(run.failures),
        lost=lost,
        impossible=len(run.history.impossible()),
        recoveries=run.recoveries,
        leaks=leaked,
        seconds=time.monotonic() - started,
        failures=run.failures[:5] + [f"differs from LIST: {d}" for d in diff[:5]] + run.history.impossible()[:5],
    )


def _leaks(threads_before: int, fds_before: dict[str, str]) -> str:
    """Threads and file descriptors still open after everything was stopped (given a moment to close).

    A socket that only the cyclic garbage collector would close (it sits in a reference cycle, say an
    exception's traceback) is reported too, as such: it closes late, at the next full collection, but it
    is not held forever. Anything still open after a collection is a leak."""
    deadline = time.monotonic() + 5
    while True:
        threads = threading.active_count() - threads_before
        new_fds = _new_fds(fds_before)
        if (threads <= 0 and not new_fds) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    parts = []
    if threads > 0:
        parts.append(f"{threads} threads ({sorted(t.name for t in threading.enumerate())})")
    if new_fds:
        described = sorted(_describe_fd(target) for target in new_fds.values())
        gc.collect()
        held = _new_fds(fds_before)
        if held:
            parts.append(f"{len(held)} fds ({sorted(_describe_fd(target) for target in held.values())})")
        else:
            log.warning("closed only by the garbage collector: %s", ", ".join(described))
    return ", ".join(parts) or "none"


def _new_fds(fds_before: dict[str, str]) -> dict[str, str]:
    return {fd: target for fd, target in _fds().items() if fds_before.get(fd) != target}


def _describe_fd(target: str) -> str:
    """``socket:[inode]`` → the TCP connection's ends, which say whose it is (the proxy's port, or the API
    server's directly)."""
    if not target.startswith("socket:["):
        return target
    inode = target[len("socket:[") : -1]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9] == inode:
                local, remote = (int(end.rsplit(":", 1)[1], 16) for end in (fields[1], fields[2]))
                return f"{target} tcp :{local} -> :{remote}"
    return target


def soak(cluster: LocalCluster, *, minutes: float, objects: int) -> dict[str, float]:
    """An informer over ``objects`` ConfigMaps under steady churn; RSS sampled; growth reported."""
    import incluster_sdk
    from incluster_sdk.watch import Informer, Resource

    configmaps = Resource("v1", "configmaps")
    namespace = "soak"
    cluster.create_namespace(namespace)
    from concurrent.futures import ThreadPoolExecutor

    def create(i: int) -> None:
        cluster.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/configmaps",
            {"metadata": {"name": f"cm-{i:05d}"}, "data": {"v": "0" * 200}},
            ok=(201, 409),
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(objects)))
    informer = Informer(incluster_sdk.api_client(cluster.admin_config()), configmaps, namespace=namespace)
    informer.add_handler(on_update=lambda old, new: None)
    informer.start()
    assert informer.wait_for_sync(120)
    samples = [_rss_mib()]
    end = time.monotonic() + minutes * 60
    i = 0
    next_sample = time.monotonic() + 10
    while time.monotonic() < end:
        cluster.patch(f"/api/v1/namespaces/{namespace}/configmaps/cm-{i % objects:05d}", {"data": {"v": str(i) * 5}})
        i += 1
        if time.monotonic() >= next_sample:
            samples.append(_rss_mib())
            next_sample += 10
        time.sleep(0.01)
    converged = len(informer.store) == objects
    informer.stop()
    settled = statistics.median(samples[len(samples) // 2 :]) if len(samples) > 2 else samples[-1]
    first_half = statistics.median(samples[1 : max(2, len(samples) // 2)])
    return {
        "minutes": minutes,
        "objects": objects,
        "updates": i,
        "rss_start_mib": samples[0],
        "rss_first_half_mib": first_half,
        "rss_second_half_mib": settled,
        "growth_mib": settled - first_half,
        "converged": float(converged),
    }


def print_table(results: list[Result]) -> None:
    print(
        f"\n{'scenario':<32}{'faults injected':<58}{'requests':>9}{'failed':>7}{'lost':>5}"
        f"{'impossible':>11}{'recovery p50':>13}{'p99':>8}  leaks"
    )
    for r in results:
        print(
            f"{r.scenario:<32}{r.faults:<58}{r.requests:>9}{r.failed:>7}{r.lost:>5}{r.impossible:>11}"
            f"{r.recovery(0.5):>13}{r.recovery(0.99):>8}  {r.leaks}"
        )
    for r in results:
        for failure in r.failures:
            print(f"  {r.scenario}: {failure}")


def main() -> int:
    import logging

    logging.basicConfig(level=logging.ERROR)  # the informers' retry warnings are expected here: show errors only
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="more faults, and a 30-minute soak")
    parser.add_argument("--soak-minutes", type=float, help="soak length (default: 2, or 30 with --long)")
    parser.add_argument("--soak-objects", type=int, default=10_000)
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), help="run only these scenarios")
    args = parser.parse_args()
    results = []
    with LocalCluster.start() as cluster:
        prepare(cluster)
        for name in args.only or SCENARIOS:
            results.append(run_scenario(cluster, name, long=args.long))
            print(f"  {name}: {'ok' if results[-1].ok else 'FAILED'} in {results[-1].seconds:.0f}s", flush=True)
        print_table(results)
        minutes = args.soak_minutes if args.soak_minutes is not None else (30 if args.long else 2)
        if minutes > 0:
            figures = soak(cluster, minutes=minutes, objects=args.soak_objects)
            print("\nsoak: " + ", ".join(f"{k}={v:.1f}" for k, v in figures.items()))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
