"""One client's watch path against the replay server, in a fresh interpreter (run by watch_events.py).

    python benchmarks/watch_socket.py PATH KUBECONFIG EVENTS [--unpinned]

PATH is ``sdk`` (threaded Informer), ``sdk_async`` (AsyncInformer), ``kubernetes`` or ``kubernetes_asyncio``.
Each watches the server of ``replay_server.py`` over HTTPS, as an app would, until it has handled EVENTS
events. Each runs alone in its own process and imports only its own client: CPython's full garbage
collections walk every live object, so a process that has loaded all three libraries would charge each one
for the others' modules. Prints one JSON line: events/s by default and after ``gc.freeze()`` (best of 3 each).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

NAMESPACE = "bench"

sys.path.insert(0, str(Path(__file__).parent))  # run as a script by watch_events.py; shares with it
from watch_replay import OfficialCache, count_into, pin_to_one_core, print_rates  # noqa: E402


def sdk_path(kubeconfig: str) -> Callable[[int], int]:
    """The threaded Informer: list, watch, decode, machine, indexed store, a counting handler on its thread."""
    import incluster_sdk
    from incluster_sdk.watch import PODS, Informer

    client = incluster_sdk.api_client(incluster_sdk.load_config(kubeconfig=kubeconfig))

    def run(total: int) -> int:
        informer = Informer(client, PODS, namespace=NAMESPACE, initial_list="list", preflight=False)
        done = threading.Event()
        counted = count_into(informer, total, done)
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
            done = asyncio.Event()
            counted = count_into(informer, total, done)
            async with informer:
                await asyncio.wait_for(done.wait(), 120)
            return counted[0]
        finally:
            await client.close()

    return lambda total: asyncio.run(watch(total))


def kubernetes_path(kubeconfig: str) -> Callable[[int], int]:
    """The official client's watch: ``Watch.stream`` decodes each event into a V1Pod model."""
    import kubernetes

    api = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=kubeconfig))

    def run(total: int) -> int:
        watch = kubernetes.watch.Watch()
        events = watch.stream(api.list_namespaced_pod, NAMESPACE, resource_version="1", timeout_seconds=600)
        cache = OfficialCache()
        try:
            for event in events:
                if cache.apply(event) == total:
                    break
            return cache.events
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
            cache = OfficialCache()
            async with kubernetes_asyncio.watch.Watch() as watcher:
                stream = watcher.stream(api.list_namespaced_pod, NAMESPACE, resource_version="1", timeout_seconds=600)
                async for event in stream:
                    if cache.apply(event) == total:
                        break
            return cache.events

    return lambda total: asyncio.run(watch(total))


def main() -> None:
    pin_to_one_core()
    path, kubeconfig, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = globals()[f"{path}_path"](kubeconfig)
    print_rates(path, lambda: run(total), total)


if __name__ == "__main__":
    main()
