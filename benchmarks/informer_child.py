"""One informer in a fresh interpreter, run by informer_sync.py: sync, memory, collector pauses, handler lag.

    python benchmarks/informer_child.py KUBECONFIG NAMESPACE [--compress] [--asyncio] [--lag-seconds S]
        [--lag-on configmaps]

Prints one JSON line once synced (``{"synced": ...}``) and, with ``--lag-seconds``, a second one after that
many seconds of watching (the parent patches pods meanwhile, each patch carrying its send time in the
annotation ``bench/sent``; with ``--lag-on configmaps``, a second informer in the same process watches the
namespace's ConfigMaps and the parent patches those, while the pods stay cached). Alone in its process, so
that resident memory and the collector's work are the informer's (plus the interpreter and the libraries,
measured before the start: ``base_rss_bytes``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from typing import Any

import incluster_sdk
from incluster_sdk.resource import CONFIGMAPS
from incluster_sdk.watch import PODS, Informer

#: What the parent patches during the lag test: ConfigMaps (watched by a second informer) or the cached pods.
LAG_ON_CONFIGMAPS = "--lag-on" in sys.argv and sys.argv[sys.argv.index("--lag-on") + 1] == "configmaps"


def status_bytes(key: str) -> int:
    """One ``Key: N kB`` line of /proc/self/status, in bytes (VmRSS: resident now; VmHWM: the peak so far)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return -1


def full_collection_ms(times: int = 5) -> float:
    """The median time of a full collection (what every thread waits for when CPython runs one)."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        gc.collect()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


class Recorder:
    """Counts the initial adds; records each update's lag from the send time in its annotation."""

    def __init__(self) -> None:
        self.adds = 0
        self.seen: list[tuple[str, float]] = []  # (the patch's send time as sent, when the handler got it)

    def on_add(self, obj: Any, initial: bool) -> None:
        self.adds += 1

    def on_update(self, old: Any, new: Any) -> None:
        sent = ((new.get("metadata") or {}).get("annotations") or {}).get("bench/sent")
        if sent:
            self.seen.append((sent, time.time()))


class Run:
    """One informer measured: a recording handler, memory and collector figures from before its start."""

    def __init__(self, informer: Any) -> None:
        self.informer, self.recorder = informer, Recorder()
        informer.add_handler(on_add=self.recorder.on_add, on_update=self.recorder.on_update)
        gc.collect()
        self.base_rss, self.gc_before = status_bytes("VmRSS"), full_collection_ms()
        self.started = time.perf_counter()

    def caught_up(self) -> bool:
        """Has the handler had every initial add?"""
        return self.recorder.adds >= len(self.informer.store)

    def report_sync(self) -> None:
        synced = time.perf_counter() - self.started
        peak = status_bytes("VmHWM")
        gc.collect()
        figures = {"sync_seconds": synced, "objects": len(self.informer.store), "base_rss_bytes": self.base_rss}
        figures.update(rss_bytes=status_bytes("VmRSS"), peak_rss_bytes=peak, gc_full_ms_empty=self.gc_before)
        print(json.dumps({**figures, "gc_full_ms": full_collection_ms()}), flush=True)
        self.recorder.seen.clear()

    def report_lag(self) -> None:
        """Every update seen since the sync (its send time, when the handler got it), and the collector's work."""
        collections = [s["collections"] for s in gc.get_stats()]
        print(json.dumps({"seen": self.recorder.seen, "gc_collections": collections}), flush=True)


def run_threads(kubeconfig: str, namespace: str, compress: bool, lag_seconds: float) -> None:
    client = incluster_sdk.api_client(incluster_sdk.load_config(kubeconfig=kubeconfig))
    run = Run(Informer(client, PODS, namespace=namespace, compress=compress, preflight=False, initial_list="list"))
    run.informer.start()
    assert run.informer.wait_for_sync(900)
    while not run.caught_up():
        time.sleep(0.001)
    if LAG_ON_CONFIGMAPS:
        configmaps = Informer(client, CONFIGMAPS, namespace=namespace, preflight=False, initial_list="list")
        configmaps.add_handler(on_update=run.recorder.on_update)
        assert configmaps.start().wait_for_sync(60)
    run.report_sync()
    if lag_seconds:
        time.sleep(lag_seconds)  # the handler thread runs meanwhile
        run.report_lag()
    run.informer.stop()


def run_asyncio(kubeconfig: str, namespace: str, compress: bool, lag_seconds: float) -> None:
    from incluster_sdk.watch import AsyncInformer

    async def main() -> None:
        async with await incluster_sdk.async_api_client(incluster_sdk.load_config(kubeconfig=kubeconfig)) as client:
            options: dict[str, Any] = {"namespace": namespace, "compress": compress, "initial_list": "list"}
            run = Run(AsyncInformer(client, PODS, preflight=False, **options))
            async with run.informer:
                assert await run.informer.wait_for_sync(900)
                while not run.caught_up():  # noqa: ASYNC110 - a counter the handler task bumps
                    await asyncio.sleep(0.001)
                if LAG_ON_CONFIGMAPS:
                    configmaps = AsyncInformer(client, CONFIGMAPS, preflight=False, **options)
                    configmaps.add_handler(on_update=run.recorder.on_update)
                    assert await configmaps.start().wait_for_sync(60)
                run.report_sync()
                await asyncio.sleep(lag_seconds)  # the handler tasks run meanwhile
                if lag_seconds:
                    run.report_lag()

    asyncio.run(main())


if __name__ == "__main__":
    kubeconfig, namespace = sys.argv[1], sys.argv[2]
    lag = float(sys.argv[sys.argv.index("--lag-seconds") + 1]) if "--lag-seconds" in sys.argv else 0.0
    runner = run_asyncio if "--asyncio" in sys.argv else run_threads
    runner(kubeconfig, namespace, "--compress" in sys.argv, lag)
