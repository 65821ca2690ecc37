"""A full CPython collection with 100,000 objects in the informer's Store, without them, and as dicts.

    python benchmarks/gc_store.py [--objects 100000]

One process, the libraries an app loads imported first; the store is filled and dropped three times,
alternating with the empty measurement (median of 7 collections each). Prints the three times; asserts
nothing. No API server needed.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

import kubernetes.client  # noqa: F401 - what an app has loaded: its objects are walked by every collection
import orjson

import incluster_sdk  # noqa: F401
from incluster_sdk.watch.store import Store


def full_collection_ms() -> float:
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        gc.collect()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def pod(i: int) -> dict[str, Any]:
    env = [{"name": f"VAR_{k}", "value": f"value-{k}"} for k in range(10)]
    meta = {"name": f"pod-{i:06d}", "namespace": "bench", "labels": {"app": "web"}}
    return {"metadata": meta, "spec": {"containers": [{"name": "app", "env": env}]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    count = parser.parse_args().objects
    empty, cached = [], []
    for _ in range(3):
        empty.append(full_collection_ms())
        store = Store({"app": lambda obj: [obj["metadata"]["labels"]["app"]]})
        for i in range(count):
            obj = pod(i)
            store.put(f"bench/{obj['metadata']['name']}", obj, store.codec.encode(obj))
        cached.append(full_collection_ms())
        del store
    as_dicts = {i: orjson.loads(orjson.dumps(pod(i))) for i in range(count)}
    dicts = full_collection_ms()
    del as_dicts
    print(f"full collection, median of 7 (of 3 fillings), {count} objects")
    print(f"  no cache                         {statistics.median(empty):7.1f} ms")
    print(f"  {count} objects in the Store     {statistics.median(cached):7.1f} ms")
    print(f"  the same objects as dicts        {dicts:7.1f} ms")


if __name__ == "__main__":
    main()
