"""One client's watch path replaying a recorded stream, in a fresh interpreter (run by watch_events.py).

    python benchmarks/watch_replay.py PATH STREAM_FILE REPLAYS [KUBECONFIG] [--unpinned]

PATH is ``sdk`` (threaded Informer), ``sdk_async`` (AsyncInformer), ``kubernetes`` or ``kubernetes_asyncio``.
Each runs alone in its own process and imports only its own client: CPython's full garbage collections
walk every live object, so a process that has loaded all three libraries would charge each one for the
others' modules. Prints one JSON line: events/s by default and after ``gc.freeze()`` (best of 3 each).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHUNK = 65536  # what one socket read delivers at most (the informer reads 64 KiB)


def _reads(informer: Any, parts: list[bytes]) -> Iterator[None]:
    """Hands ``parts`` to the informer as its network reads would (decoded, then read); yields after each."""
    from incluster_sdk.watch.wire import WatchDecoder

    decoder = WatchDecoder()
    for part in parts:
        decoder.receive_data(part)
        informer._read(decoder)  # what the informer does with each network read
        yield


def sdk_path(kubeconfig: str) -> Callable[[list[bytes], int], int]:
    """The informer's own path for each network read (decode, machine, cache, handler hand-off), no socket."""
    import incluster_sdk
    from incluster_sdk.watch import PODS, Informer

    client = incluster_sdk.api_client(incluster_sdk.load_config(kubeconfig=kubeconfig))

    def run(parts: list[bytes], total: int) -> int:
        informer = Informer(client, PODS, namespace="bench", initial_list="list", preflight=False)
        counted, done = _count_into(informer, total, threading.Event())
        for _ in _reads(informer, parts):
            pass
        done.wait(60)
        informer.stop()
        return counted[0]

    return run


def sdk_async_path(kubeconfig: str) -> Callable[[list[bytes], int], int]:
    """The same for :class:`AsyncInformer`: its handlers are tasks, run when a read yields to the loop."""
    import asyncio

    import incluster_sdk
    from incluster_sdk.watch import PODS, AsyncInformer

    loop = asyncio.new_event_loop()
    config = incluster_sdk.load_config(kubeconfig=kubeconfig)
    client = loop.run_until_complete(_make_async_client(config))
    atexit.register(lambda: loop.run_until_complete(client.close()))

    async def replay(parts: list[bytes], total: int) -> int:
        informer = AsyncInformer(client, PODS, namespace="bench", initial_list="list", preflight=False)
        counted, done = _count_into(informer, total, asyncio.Event())
        for _ in _reads(informer, parts):
            await asyncio.sleep(0)  # where a socket read would give the loop (and the handler tasks) a turn
        await asyncio.wait_for(done.wait(), 60)
        await informer.stop()
        return counted[0]

    return lambda parts, total: loop.run_until_complete(replay(parts, total))


async def _make_async_client(config: Any) -> Any:
    import incluster_sdk

    return await incluster_sdk.async_api_client(config)  # built inside the loop, as an app would


def count_into(informer: Any, total: int, done: Any) -> list[int]:
    """Give ``informer`` a counting handler that sets ``done`` at ``total`` calls."""
    counted = [0]

    def count(*_: Any) -> None:
        counted[0] += 1
        if counted[0] == total:
            done.set()

    informer.add_handler(on_add=count, on_update=count, on_delete=count)
    return counted


def _count_into(informer: Any, total: int, done: Any) -> tuple[list[int], Any]:
    """:func:`count_into`, then an empty first list (the replay feeds the watch events itself)."""
    counted = count_into(informer, total, done)
    empty = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}
    informer._deliver(informer.state.list_page(empty))
    return counted, done


class OfficialCache:
    """What an app on the official clients keeps: each event's V1Pod model, by key."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.events = 0

    def apply(self, event: dict[str, Any]) -> int:
        """Apply one decoded event; returns the number of events so far."""
        obj = event["object"]
        key = f"{obj.metadata.namespace}/{obj.metadata.name}"
        if event["type"] == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.events += 1
        return self.events


def official_path(unmarshal: Callable[[str], Any]) -> Callable[[list[bytes], int], int]:
    """What an app on the official clients does with each event: decode into V1Pod models, keep them."""

    def run(parts: list[bytes], total: int) -> int:
        cache = OfficialCache()
        pending = b""
        for part in parts:
            pending += part
            *lines, pending = pending.split(b"\n")
            for line in lines:
                cache.apply(unmarshal(line.decode()))
        return cache.events

    return run


def kubernetes_path() -> Callable[[list[bytes], int], int]:
    import kubernetes.watch

    watch = kubernetes.watch.Watch()
    return official_path(lambda line: watch.unmarshal_event(line, "V1Pod"))


def kubernetes_asyncio_path() -> Callable[[list[bytes], int], int]:
    import asyncio

    import kubernetes_asyncio.watch

    async def make() -> Any:
        return kubernetes_asyncio.watch.Watch()  # its constructor needs a running loop; decoding does not

    watch = asyncio.run(make())
    return official_path(lambda line: watch.unmarshal_event(line, "V1Pod"))


def pin_to_one_core() -> None:
    """Run on one core, as the goal states; the replay server (if any) has the other (see watch_events.py)."""
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1 and "--unpinned" not in sys.argv:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def main() -> None:
    pin_to_one_core()
    path, stream_file, replays = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stream = Path(stream_file).read_bytes() * replays
    parts = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    total = stream.count(b"\n")
    run = globals()[f"{path}_path"](*sys.argv[4:5]) if path.startswith("sdk") else globals()[f"{path}_path"]()
    print_rates(path, lambda: run(parts, total), total)


def print_rates(path: str, run: Callable[[], int], total: int) -> None:
    """Print events/s, best of 3, by default and after ``gc.freeze()``, as one JSON line."""
    rates = {}
    for frozen in (False, True):
        best = float("inf")
        for _ in range(3):
            gc.collect()
            if frozen:
                gc.freeze()  # what an app can do once after start-up: see docs/performance.md
            start = time.perf_counter()
            handled = run()
            best = min(best, time.perf_counter() - start)
            gc.unfreeze()
            assert handled == total, (path, handled, total)
        rates["frozen" if frozen else "default"] = total / best
    print(json.dumps({"events": total, **rates}))


if __name__ == "__main__":
    main()
