"""One client's watch path against the replay server, in a fresh interpreter (run by watch_events.py).

    python benchmarks/watch_socket.py PATH KUBECONFIG EVENTS [--unpinned]

PATH is ``sdk`` (threaded Informer), ``sdk_async`` (AsyncInformer), ``kubernetes`` or ``kubernetes_asyncio``.
Each watches the server of ``replay_server.py`` over HTTPS, as an app would, until it has handled EVENTS
events. Each runs alone in its own process and imports only its own client: CPython's full garbage
collections walk every live object, so a process that has loaded all three libraries would charge each one
for the others' modules. Prints one JSON line: events/s by default and after ``gc.freeze()`` (best of 3 each).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

NAMESPACE = "bench"


def sdk_path(kubeconfig: str) -> Callable[[int], int]:
    """The threaded Informer: list, watch, decode, machine, indexed store, a counting handler on its thread."""
    import incluster_sdk
    from incluster_sdk.watch import PODS, Informer

    client = incluster_sdk.api_client(incluster_sdk.load_config(kubeconfig=kubeconfig))

    def run(total: int) -> int:
        informer = Informer(client, PODS, namespace=NAMESPACE, initial_list="list", preflight=False)
        counted, done = _count_into(informer, total, threading.Event())
        with informer:
            done.wait(120)
        return counted[0]

    return run


def sdk_async_path(kubeconfig: str) -> Callable[[int], int]:
    """The same for :class:`AsyncInformer`: its handler is a task."""
    import asyncio

    import incluster_sdk
    from incluster_sdk.watch import PODS, AsyncInformer

    config = incluster_sdk.load_config(kubeconfig=kubeconfig)

    async def watch(total: int) -> int:
        client = await incluster_sdk.async_api_client(config)  # built inside the loop, as an app would
        try:
            informer = AsyncInformer(client, PODS, namespace=NAMESPACE, initial_list="list", preflight=False)
            counted, done = _count_into(informer, total, asyncio.Event())
            async with informer:
                await asyncio.wait_for(done.wait(), 120)
            return counted[0]
        finally:
            await client.close()

    return lambda total: asyncio.run(watch(total))


def _count_into(informer: Any, total: int, done: Any) -> tuple[list[int], Any]:
    """Give ``informer`` a counting handler that sets ``done`` at ``total`` calls."""
    counted = [0]

    def count(*_: Any) -> None:
        counted[0] += 1
        if counted[0] == total:
            done.set()

    informer.add_handler(on_add=count, on_update=count, on_delete=count)
    return counted, done


def _official_cache(events: Any, total: int) -> int:
    """What an app on the official clients keeps: each event's V1Pod model, by key."""
    cache: dict[str, Any] = {}
    n = 0
    for event in events:
        obj = event["object"]
        key = f"{obj.metadata.namespace}/{obj.metadata.name}"
        if event["type"] == "DELETED":
            cache.pop(key, None)
        else:
            cache[key] = obj
        n += 1
        if n == total:
            break
    return n


def kubernetes_path(kubeconfig: str) -> Callable[[int], int]:
    """The official client's watch: ``Watch.stream`` decodes each event into a V1Pod model."""
    import kubernetes

    api = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=kubeconfig))

    def run(total: int) -> int:
        watch = kubernetes.watch.Watch()
        events = watch.stream(api.list_namespaced_pod, NAMESPACE, resource_version="1", timeout_seconds=600)
        try:
            return _official_cache(events, total)
        finally:
            watch.stop()
            events.close()

    return run


def kubernetes_asyncio_path(kubeconfig: str) -> Callable[[int], int]:
    import asyncio

    import kubernetes_asyncio

    async def watch(total: int) -> int:
        configuration = kubernetes_asyncio.client.Configuration()
        await kubernetes_asyncio.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        async with kubernetes_asyncio.client.ApiClient(configuration) as client:
            api = kubernetes_asyncio.client.CoreV1Api(client)
            cache: dict[str, Any] = {}
            n = 0
            async with kubernetes_asyncio.watch.Watch() as watcher:
                stream = watcher.stream(api.list_namespaced_pod, NAMESPACE, resource_version="1", timeout_seconds=600)
                async for event in stream:
                    obj = event["object"]
                    key = f"{obj.metadata.namespace}/{obj.metadata.name}"
                    if event["type"] == "DELETED":
                        cache.pop(key, None)
                    else:
                        cache[key] = obj
                    n += 1
                    if n == total:
                        break
            return n

    return lambda total: asyncio.run(watch(total))


def pin_to_one_core() -> None:
    """Run on one core, as the goal states; the replay server (if any) has the other (see watch_events.py)."""
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1 and "--unpinned" not in sys.argv:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def main() -> None:
    pin_to_one_core()
    path, kubeconfig, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = globals()[f"{path}_path"](kubeconfig)
    rates = {}
    for frozen in (False, True):
        best = float("inf")
        for _ in range(3):
            gc.collect()
            if frozen:
                gc.freeze()  # what an app can do once after start-up: see docs/performance.md
            start = time.perf_counter()
            handled = run(total)
            best = min(best, time.perf_counter() - start)
            gc.unfreeze()
            assert handled == total, (path, handled, total)
        rates["frozen" if frozen else "default"] = total / best
    print(json.dumps({"events": total, **rates}))


if __name__ == "__main__":
    main()
