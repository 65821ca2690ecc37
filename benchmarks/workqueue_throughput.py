"""Work-queue throughput: adds + gets per second, threads and asyncio, next to a plain de-duplicating baseline.

One run measures, with P producers adding N distinct keys (each key added twice, so half the adds are
de-duplicated) and W workers taking and finishing them:
- ``RateLimitingQueue`` (threads) vs ``queue.Queue`` plus a set of queued keys under a lock;
- ``AsyncRateLimitingQueue`` (asyncio tasks) vs ``asyncio.Queue`` plus a set.
The baselines de-duplicate queued keys only; they do not keep a key out of two workers at once, have no
delays and no rate limiting, so they are a floor, not a competitor.

    python benchmarks/workqueue_throughput.py [--keys 20000] [--producers 2] [--workers 4] [--rounds 3]

Prints a table (median of the rounds); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from incluster_sdk.controller.workqueue import AsyncRateLimitingQueue, RateLimitingQueue, ShutDown

STOP = None


def run_threads(
    work: Callable[[int], None],
    workers: int,
    produce: Callable[[int], None],
    producers: int,
    stop: Callable[[], object],
) -> None:
    """Start the worker and producer threads, wait for the producers, ``stop`` the workers, wait for them."""
    ts = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    ps = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for t in ts + ps:
        t.start()
    for t in ps:
        t.join()
    stop()
    for t in ts:
        t.join()


async def run_tasks(
    work: Callable[[int], Coroutine[Any, Any, None]],
    workers: int,
    produce: Callable[[int], Awaitable[None]],
    producers: int,
    stop: Callable[[], Awaitable[object]],
) -> None:
    """The asyncio twin of :func:`run_threads`, with tasks."""
    ts = [asyncio.create_task(work(w)) for w in range(workers)]
    await asyncio.gather(*(produce(p) for p in range(producers)))
    await stop()
    await asyncio.gather(*ts)


def sdk_threads(keys: int, producers: int, workers: int) -> int:
    q: RateLimitingQueue[int] = RateLimitingQueue()
    got = [0] * workers

    def produce(p: int) -> None:
        for k in range(p, keys, producers):
            q.add(k)
            q.add(k)

    def work(w: int) -> None:
        while True:
            try:
                k = q.get()
            except ShutDown:
                return
            got[w] += 1
            q.done(k)

    run_threads(work, workers, produce, producers, stop=q.shutdown_with_drain)
    return sum(got)


def baseline_threads(keys: int, producers: int, workers: int) -> int:
    q: queue.Queue[int | None] = queue.Queue()
    queued: set[int] = set()
    lock = threading.Lock()
    got = [0] * workers

    def produce(p: int) -> None:
        for k in range(p, keys, producers):
            for _ in range(2):
                with lock:
                    if k in queued:
                        continue
                    queued.add(k)
                q.put(k)

    def work(w: int) -> None:
        while (k := q.get()) is not STOP:
            with lock:
                queued.discard(k)
            got[w] += 1

    def stop() -> None:
        for _ in range(workers):
            q.put(STOP)

    run_threads(work, workers, produce, producers, stop)
    return sum(got)


async def sdk_asyncio(keys: int, producers: int, workers: int) -> int:
    q: AsyncRateLimitingQueue[int] = AsyncRateLimitingQueue()
    got = [0] * workers

    async def produce(p: int) -> None:
        for i, k in enumerate(range(p, keys, producers)):
            q.add(k)
            q.add(k)
            if i % 100 == 0:
                await asyncio.sleep(0)

    async def work(w: int) -> None:
        while True:
            try:
                k = await q.get()
            except ShutDown:
                return
            got[w] += 1
            q.done(k)

    await run_tasks(work, workers, produce, producers, stop=q.shutdown_with_drain)
    return sum(got)


async def baseline_asyncio(keys: int, producers: int, workers: int) -> int:
    q: asyncio.Queue[int | None] = asyncio.Queue()
    queued: set[int] = set()
    got = [0] * workers

    async def produce(p: int) -> None:
        for i, k in enumerate(range(p, keys, producers)):
            for _ in range(2):
                if k not in queued:
                    queued.add(k)
                    q.put_nowait(k)
            if i % 100 == 0:
                await asyncio.sleep(0)

    async def work(w: int) -> None:
        while (k := await q.get()) is not STOP:
            queued.discard(k)
            got[w] += 1

    async def stop() -> None:
        for _ in range(workers):
            q.put_nowait(STOP)

    await run_tasks(work, workers, produce, producers, stop)
    return sum(got)


def rate(run: Callable[[], int], keys: int, rounds: int) -> float:
    """Median (adds + gets) per second: 2 adds per key, and the gets made (a key taken between its two adds
    is queued again, so there are from ``keys`` to ``2 * keys`` gets)."""
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter()
        got = run()
        elapsed = time.perf_counter() - start
        assert keys <= got <= 2 * keys, f"{got} gets for {keys} keys"
        speeds.append((2 * keys + got) / elapsed)
    return statistics.median(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    a = parser.parse_args()
    k, p, w = a.keys, a.producers, a.workers
    rows = [
        (
            "threads",
            rate(lambda: sdk_threads(k, p, w), k, a.rounds),
            rate(lambda: baseline_threads(k, p, w), k, a.rounds),
        ),
        (
            "asyncio",
            rate(lambda: asyncio.run(sdk_asyncio(k, p, w)), k, a.rounds),
            rate(lambda: asyncio.run(baseline_asyncio(k, p, w)), k, a.rounds),
        ),
    ]
    print(f"{k} keys, each added twice; {p} producers, {w} workers; median of {a.rounds} rounds")
    print(f"{'front-end':<10} {'incluster_sdk ops/s':>20} {'baseline ops/s':>16} {'sdk/baseline':>13}")
    for name, sdk, base in rows:
        print(f"{name:<10} {sdk:>20,.0f} {base:>16,.0f} {sdk / base:>13.2f}")


if __name__ == "__main__":
    main()
