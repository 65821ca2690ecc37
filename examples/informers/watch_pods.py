"""Keep a live cache of pods and print every change (threads).

    python examples/informers/watch_pods.py [--namespace NS] [--selector app=web] [--seconds N]

In a pod it uses the pod's ServiceAccount; elsewhere your kubeconfig. Stops on Ctrl-C, SIGTERM or after
--seconds. Needs get/list/watch on pods.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Mapping
from typing import Any

import incluster_sdk
from incluster_sdk.watch import PODS, DeletedFinalStateUnknown, Informer


def name(pod: Mapping[str, Any]) -> str:
    return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"


def on_add(pod: Mapping[str, Any], initial: bool) -> None:
    print(f"add {name(pod)}{' (initial list)' if initial else ''}", flush=True)


def on_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    print(f"update {name(new)} phase={new.get('status', {}).get('phase')}", flush=True)


def on_delete(pod: Any) -> None:
    if isinstance(pod, DeletedFinalStateUnknown):  # missed while disconnected; found by a relist
        print(f"delete {name(pod.obj)} (final state unknown)", flush=True)
    else:
        print(f"delete {name(pod)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", help="default: the pod's own namespace (or kubeconfig's); '' for all")
    parser.add_argument("--selector", help="label selector, e.g. app=web")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: run until stopped)")
    args = parser.parse_args()

    cfg = incluster_sdk.load_config()
    namespace = cfg.namespace if args.namespace is None else (args.namespace or None)
    print(f"config: {cfg.source} ({cfg.reason}); watching pods in {namespace or 'all namespaces'}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    informer = Informer(
        incluster_sdk.api_client(cfg),
        PODS,
        namespace=namespace,
        label_selector=args.selector,
        indexers={"phase": lambda pod: [pod.get("status", {}).get("phase", "Unknown")]},
    )
    informer.add_handler(on_add=on_add, on_update=on_update, on_delete=on_delete)
    with informer:
        if not informer.wait_for_sync(timeout=60):
            raise SystemExit("the informer did not sync within 60 s: run `incluster-sdk doctor`")
        pending = len(informer.store.by_index("phase", "Pending"))
        print(f"synced: {len(informer.store)} pods, {pending} pending", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(args.seconds)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
