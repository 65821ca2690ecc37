"""pod-counter: "There are N pods", the right way: an informer (watch + cache), not a LIST every 10 seconds.

In a pod it uses the pod's ServiceAccount (get/list/watch on pods is all it needs); elsewhere your
kubeconfig. No human ever handles a token: the SDK reads the mounted one and follows its rotation.

    python app.py [--namespace NS | --all-namespaces] [--port 8080] [--leader-elect]

HTTP on --port: /healthz (200 when the cache is synced and the token is fresh, else 503 with the reason)
and /metrics (Prometheus text: pods by namespace and phase, watch restarts, relists, token expiry).
SIGTERM or Ctrl-C stops it cleanly (exit 0).

With --leader-elect, run several replicas: all keep a warm cache, only the leader (a Lease in the
namespace, client-go semantics) reports. Needs get/create/update on leases as well.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import incluster_sdk
from incluster_sdk.leader import LeaderElector
from incluster_sdk.watch import PODS, Informer

log = logging.getLogger("pod-counter")


class PodCounter:
    """Counts the informer's cache and prints the total whenever it changes."""

    def __init__(self, informer: Informer, config: incluster_sdk.Config, where: str) -> None:
        self.informer, self.config, self.where = informer, config, where
        self.elector: LeaderElector | None = None  # set with --leader-elect: only the leader reports
        self._last: int | None = None
        self._lock = threading.Lock()
        informer.add_handler(
            on_add=lambda pod, initial: self.changed(),
            on_update=lambda old, new: self.changed(),
            on_delete=lambda pod: self.changed(),
        )

    def changed(self) -> None:
        if not self.informer.has_synced:
            return  # the initial list arrives as adds: report once it is complete
        if self.elector is not None and not self.elector.is_leader:
            return
        with self._lock:
            count = len(self.informer.store)
            if count != self._last:
                self._last = count
                print(f"{pods_phrase(count)} in {self.where}", flush=True)

    def took_over(self) -> None:
        log.info("leading: this replica reports now")
        with self._lock:
            self._last = None  # report the current count at once
        self.changed()

    def health(self) -> tuple[bool, str]:
        if not self.informer.has_synced:
            return False, "pod cache not synced yet"
        claims = self.config.credentials.claims()
        remaining = claims.expires_in() if claims is not None else None
        if remaining is not None and remaining.total_seconds() <= 0:
            return False, "the service-account token has expired and no fresh one was found"
        return True, "ok"

    def metrics(self) -> str:
        by_phase = Counter(
            (pod["metadata"].get("namespace", ""), (pod.get("status") or {}).get("phase", "Unknown"))
            for pod in self.informer.store.list()
        )
        watcher = self.informer.watcher
        lines = [
            "# HELP pod_counter_pods Pods in the cache, by namespace and phase.",
            "# TYPE pod_counter_pods gauge",
            *(
                f'pod_counter_pods{{namespace="{_label(ns)}",phase="{_label(phase)}"}} {n}'
                for (ns, phase), n in sorted(by_phase.items())
            ),
            "# HELP pod_counter_synced 1 once the pod cache is complete.",
            "# TYPE pod_counter_synced gauge",
            f"pod_counter_synced {int(self.informer.has_synced)}",
            "# HELP pod_counter_watch_restarts_total Watch connections re-established (timeouts, errors).",
            "# TYPE pod_counter_watch_restarts_total counter",
            f"pod_counter_watch_restarts_total {max(0, watcher.watch_starts - 1)}",
            "# HELP pod_counter_leader 1 while this replica leads (always 1 without --leader-elect).",
            "# TYPE pod_counter_leader gauge",
            f"pod_counter_leader {int(self.elector is None or self.elector.is_leader)}",
            "# HELP pod_counter_relists_total Full relists after 410 Gone.",
            "# TYPE pod_counter_relists_total counter",
            f"pod_counter_relists_total {watcher.relists}",
        ]
        claims = self.config.credentials.claims()
        remaining = claims.expires_in() if claims is not None else None
        if remaining is not None:
            lines += [
                "# HELP pod_counter_token_expiry_seconds Seconds until the current token expires.",
                "# TYPE pod_counter_token_expiry_seconds gauge",
                f"pod_counter_token_expiry_seconds {remaining.total_seconds():.0f}",
            ]
        return "\n".join(lines) + "\n"


def pods_phrase(count: int) -> str:
    return "There is 1 pod" if count == 1 else f"There are {count} pods"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def serve(counter: PodCounter, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok, reason = counter.health()
                self._send(200 if ok else 503, "text/plain", reason + "\n")
            elif self.path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", counter.metrics())
            else:
                self._send(404, "text/plain", "try /healthz or /metrics\n")

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass  # probes every few seconds would drown the log

    server = ThreadingHTTPServer(("", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", help="namespace to count (default: the pod's own namespace)")
    scope.add_argument("--all-namespaces", action="store_true", help="count pods in every namespace")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port for /healthz and /metrics (0: any)")
    parser.add_argument("--leader-elect", action="store_true", help="only one replica reports (Lease pod-counter)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    try:
        config = incluster_sdk.load_config()
    except incluster_sdk.ConfigError as exc:
        log.error("cannot configure the Kubernetes client: %s", exc)
        return 2
    namespace = None if args.all_namespaces else (args.namespace or config.namespace)
    where = "the cluster" if namespace is None else f"namespace {namespace}"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    informer = Informer(incluster_sdk.api_client(config), PODS, namespace=namespace)
    counter = PodCounter(informer, config, where)
    server = serve(counter, args.port)
    log.info("serving /healthz and /metrics on port %d", server.server_address[1])
    try:
        informer.start()  # checks get/list/watch permissions first: a clear error instead of a 403 loop
    except incluster_sdk.PermissionDeniedError as exc:
        log.error("%s", exc)
        server.shutdown()
        return 3
    if args.leader_elect:
        counter.elector = LeaderElector(
            incluster_sdk.api_client(config),
            "pod-counter",
            on_started_leading=counter.took_over,
            on_new_leader=lambda who: log.info("leader is now %s", who),
        ).start()
        log.info("leader election as %s", counter.elector.identity)
    if informer.wait_for_sync(timeout=60):
        counter.changed()
    else:
        log.warning("the pod cache is not synced after 60 s; /healthz reports 503 until it is")
    stop.wait()
    log.info("stopping")
    if counter.elector is not None:
        counter.elector.stop()  # hands the Lease back: another replica takes over at once
    informer.stop()
    server.shutdown()
    config.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
