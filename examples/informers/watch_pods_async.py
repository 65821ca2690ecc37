"""Keep a live cache of pods and print every change (asyncio).

    python examples/informers/watch_pods_async.py [--namespace NS] [--selector app=web] [--seconds N]

Same as watch_pods.py, over kubernetes_asyncio; handlers may be coroutines. Stops on Ctrl-C, SIGTERM or
after --seconds. Needs get/list/watch on pods.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Mapping
from typing import Any

import incluster_sdk
from incluster_sdk.watch import PODS, AsyncInformer, DeletedFinalStateUnknown


def name(pod: Mapping[str, Any]) -> str:
    return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"


async def on_add(pod: Mapping[str, Any], initial: bool) -> None:
    print(f"add {name(pod)}{' (initial list)' if initial else ''}", flush=True)


def on_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    print(f"update {name(new)} phase={new.get('status', {}).get('phase')}", flush=True)


def on_delete(pod: Any) -> None:
    target = pod.obj if isinstance(pod, DeletedFinalStateUnknown) else pod
    print(f"delete {name(target)}", flush=True)


async def main(namespace: str | None, selector: str | None, seconds: float | None) -> None:
    cfg = incluster_sdk.load_config()
    namespace = cfg.namespace if namespace is None else (namespace or None)
    print(f"config: {cfg.source} ({cfg.reason}); watching pods in {namespace or 'all namespaces'}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with (
        await incluster_sdk.async_api_client(cfg) as client,
        AsyncInformer(client, PODS, namespace=namespace, label_selector=selector) as informer,
    ):
        informer.add_handler(on_add=on_add, on_update=on_update, on_delete=on_delete)
        if not await informer.wait_for_sync(timeout=60):
            raise SystemExit("the informer did not sync within 60 s: run `incluster-sdk doctor`")
        print(f"synced: {len(informer.store)} pods", flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    print("stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", help="default: the pod's own namespace (or kubeconfig's); '' for all")
    parser.add_argument("--selector", help="label selector, e.g. app=web")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: run until stopped)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.namespace, args.selector, args.seconds))
