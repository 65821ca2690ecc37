"""pod-counter: "There are N pods" — reaching the API server with no human ever touching a token.

Runs in a pod with a ServiceAccount allowed to list pods. Configuration comes from the pod itself
(service env vars + the mounted service-account token), or from kubeconfig when run locally.

    python app.py [--namespace NS | --all-namespaces] [--interval SECONDS]

This version polls with LIST; it will move to an informer (watch + cache) once those land.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

import kubernetes.client

import incluster_sdk

log = logging.getLogger("pod-counter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", help="namespace to count (default: the pod's own namespace)")
    scope.add_argument("--all-namespaces", action="store_true", help="count pods in every namespace")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between counts (default 10)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    try:
        config = incluster_sdk.load_config()
    except incluster_sdk.ConfigError as exc:
        log.error("cannot configure the Kubernetes client: %s", exc)
        return 2
    log.info("using %s (%s)", config.source, config.reason)
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(config))
    namespace = None if args.all_namespaces else (args.namespace or config.namespace)
    where = "the cluster" if namespace is None else f"namespace {namespace}"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    last: int | None = None
    while not stop.is_set():
        try:
            pods = api.list_pod_for_all_namespaces() if namespace is None else api.list_namespaced_pod(namespace)
        except kubernetes.client.ApiException as exc:
            log.error("listing pods failed: HTTP %s %s", exc.status, exc.reason)
        else:
            count = len(pods.items)
            if count != last:
                print(f"There are {count} pods in {where}", flush=True)
                last = count
        stop.wait(args.interval)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
