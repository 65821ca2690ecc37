"""readonly-default: every namespace's `default` ServiceAccount gets read access (ClusterRole `view`), and no more.

A controller on the SDK's reconcile loop (incluster_sdk.controller): it watches Namespaces and RoleBindings
named `readonly-default`, and for each namespace makes sure that RoleBinding exists and binds ClusterRole
`view` to the namespace's `default` ServiceAccount. It re-creates the binding when it is deleted, repairs it
when it is edited (roleRef is immutable: delete + create; wrong subjects: update), and records an Event for
each repair. Namespaces labelled `incluster-sdk.example/readonly-default: "false"` are left alone, and so are
namespaces being deleted.

    python app.py [--workers 4] [--leader-elect] [--asyncio] [--port 8080] [--selector LABELS] [--resync 300]

HTTP on --port: /healthz (200 once the caches are synced and the token is fresh, else 503 with the reason)
and /metrics (Prometheus: the work queue's client-go series, reconciles, writes by verb, repairs, leader).
Reads come from the informers' caches: when nothing changes, a resync makes no request at all.
SIGTERM or Ctrl-C stops it cleanly (exit 0): in-flight reconciles finish, the Lease is handed back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

import incluster_sdk
from incluster_sdk.controller.aio import AsyncController
from incluster_sdk.controller.events import AsyncEventRecorder, EventRecorder
from incluster_sdk.controller.loop import Result
from incluster_sdk.controller.objects import (
    Answer,
    Call,
    api_error,
    async_send,
    async_update_with_retry,
    object_ref,
    send,
    update_with_retry,
)
from incluster_sdk.controller.reconciler import Controller
from incluster_sdk.controller.workqueue import AsyncRateLimitingQueue, PrometheusMetricsProvider, RateLimitingQueue
from incluster_sdk.flows import async_drive, drive
from incluster_sdk.leader import AsyncLeaderElector, LeaderElector
from incluster_sdk.watch import AsyncInformer, Informer, Resource

log = logging.getLogger("readonly-default")

NAME = "readonly-default"  # the RoleBinding's name in every namespace, the Lease's, the queue's
COMPONENT = "incluster-sdk.example/readonly-default"  # the Events' source
OPT_OUT_LABEL = "incluster-sdk.example/readonly-default"  # value "false": leave this namespace alone
MANAGED_BY = {"app.kubernetes.io/managed-by": NAME}
NAMESPACES = Resource("v1", "namespaces", namespaced=False)
ROLEBINDINGS = Resource("rbac.authorization.k8s.io/v1", "rolebindings")
ROLE_REF = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}


def subjects(namespace: str) -> list[dict[str, str]]:
    return [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]


def desired(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "roleRef": dict(ROLE_REF),
        "subjects": subjects(namespace),
    }


# -- what to do: a pure function of the two cached objects ------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """One repair: ``action`` is "create", "replace" (delete + create: roleRef cannot change) or "update"."""

    namespace: str
    action: str
    reason: str  # the Event's reason
    message: str
    binding: Mapping[str, Any] | None = None  # the cached binding being replaced or updated


def plan(namespace: Mapping[str, Any] | None, binding: Mapping[str, Any] | None, had_binding: bool) -> Plan | None:
    """What the namespace needs, or None. ``had_binding``: this process saw a binding there before (a missing
    one was then deleted: a repair)."""
    if namespace is None:
        return None  # deleted: its RoleBindings go with it
    meta = namespace.get("metadata") or {}
    name = meta["name"]
    if meta.get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
        return None  # the API server refuses new objects in a terminating namespace
    if (meta.get("labels") or {}).get(OPT_OUT_LABEL) == "false":
        return None
    if binding is None:
        if had_binding:
            return Plan(name, "create", "Recreated", f"RoleBinding {NAME} was deleted; re-created (view for default)")
        return Plan(name, "create", "Created", f"RoleBinding {NAME}: ClusterRole view for ServiceAccount default")
    if binding.get("roleRef") != ROLE_REF:
        was = (binding.get("roleRef") or {}).get("name")
        return Plan(name, "replace", "Repaired", f"roleRef was {was!r}; re-created bound to ClusterRole view", binding)
    if binding.get("subjects") != subjects(name):
        return Plan(name, "update", "Repaired", "subjects were edited; set back to ServiceAccount default", binding)
    return None


def create_flow(p: Plan) -> Generator[Call, Answer, dict[str, Any]]:
    """POST the binding; for "replace", first DELETE the cached one (preconditions: only that very object)."""
    ref = object_ref(ROLEBINDINGS, NAME, p.namespace)
    if p.action == "replace" and p.binding is not None:
        meta = p.binding["metadata"]
        precondition = {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
        status, data = yield Call("DELETE", ref.path, {"kind": "DeleteOptions", "preconditions": precondition})
        if status not in (200, 202, 404):
            raise api_error("delete", ref, status, data)  # 409: edited since we read it; the requeue re-reads
    status, data = yield Call("POST", ref.collection, desired(p.namespace))
    if status not in (200, 201):
        raise api_error("create", ref, status, data)  # 409 AlreadyExists: the cache was behind; requeue
    answer: dict[str, Any] = json.loads(data)
    return answer


def fix_subjects(binding: dict[str, Any]) -> dict[str, Any] | None:
    """For update_with_retry: the binding as read from the server, with the subjects set back (None: fine)."""
    if binding.get("roleRef") != ROLE_REF:
        raise RuntimeError("roleRef changed since the cache was read; the next reconcile replaces the binding")
    wanted = subjects(binding["metadata"]["namespace"])
    return None if binding.get("subjects") == wanted else {**binding, "subjects": wanted}


# -- the app -----------------------------------------------------------------------------------------------------
class ReadonlyDefault:
    """The reconcile (sync and async), its metrics, and the optional trace of reconcile start/end times."""

    def __init__(self, namespaces: Any, bindings: Any, trace: str | None, slow: float, resync: float) -> None:
        self.namespaces, self.bindings = namespaces, bindings
        self.had_binding: set[str] = set()
        self.slow, self.resync = slow, resync
        self.registry = CollectorRegistry()
        self.writes = Counter("readonly_default_writes", "API writes made, by verb", ["verb"], registry=self.registry)
        self.repairs = Counter("readonly_default_events", "Events, by reason", ["reason"], registry=self.registry)
        self.leader = Gauge("readonly_default_leader", "1 while this replica's workers run", registry=self.registry)
        self.metrics = PrometheusMetricsProvider(registry=self.registry)  # the queue's workqueue_* series
        self.recorder: Any = None
        self.controller: Any = None
        self.client: Any = None
        self.config: incluster_sdk.Config | None = None
        self._trace = open(trace, "a", buffering=1) if trace else None  # noqa: SIM115 - closed in close()
        self._trace_lock = threading.Lock()
        self.replica = f"{os.getpid()}"

    def _observe(self, key: str) -> Plan | None:
        """Read both caches (never the API server) and decide."""
        binding = self.bindings.store.get(f"{key}/{NAME}")
        if binding is not None:
            self.had_binding.add(key)
        return plan(self.namespaces.store.get(key), binding, key in self.had_binding)

    def _done(self, p: Plan, stored: Mapping[str, Any]) -> Result | None:
        self.had_binding.add(p.namespace)
        self.recorder.event(stored, "Normal", p.reason, p.message)
        self.repairs.labels(p.reason).inc()
        log.info("%s: %s RoleBinding %s/%s", p.reason.lower(), p.action, p.namespace, NAME)
        return None

    def _send(self, call: Call) -> Answer:
        self.writes.labels(call.method).inc()
        return send(self.client, call)

    def _record(self, key: str, start: float) -> None:
        if self._trace is not None:
            with self._trace_lock:
                line = {"replica": self.replica, "key": key, "start": start, "end": time.monotonic()}
                self._trace.write(json.dumps(line) + "\n")

    def reconcile(self, key: str) -> Result | None:
        start = time.monotonic()
        try:
            if self.slow:
                time.sleep(self.slow)
            p = self._observe(key)
            if p is None:
                return None
            client = self.client
            if p.action == "update":
                self.writes.labels("PUT").inc()
                stored = update_with_retry(client, ROLEBINDINGS, NAME, fix_subjects, namespace=p.namespace)
            else:
                stored = drive(create_flow(p), self._send)
            return self._done(p, stored)
        finally:
            self._record(key, start)

    async def areconcile(self, key: str) -> Result | None:
        start = time.monotonic()
        try:
            if self.slow:
                await asyncio.sleep(self.slow)
            p = self._observe(key)
            if p is None:
                return None
            client = self.client
            if p.action == "update":
                self.writes.labels("PUT").inc()
                stored = await async_update_with_retry(client, ROLEBINDINGS, NAME, fix_subjects, namespace=p.namespace)
            else:

                async def perform(call: Call) -> Answer:
                    self.writes.labels(call.method).inc()
                    return await async_send(client, call)

                stored = await async_drive(create_flow(p), perform)
            return self._done(p, stored)
        finally:
            self._record(key, start)

    def health(self) -> tuple[bool, str]:
        if self.controller is None or not self.controller.has_synced:
            return False, "caches not synced yet"
        claims = self.config.credentials.claims() if self.config is not None else None
        remaining = claims.expires_in() if claims is not None else None
        if remaining is not None and remaining.total_seconds() <= 0:
            return False, "the service-account token has expired and no fresh one was found"
        return True, "ok"

    def exposition(self) -> bytes:
        self.leader.set(int(self.controller is not None and self.controller.is_active))
        return generate_latest(self.registry)

    def close(self) -> None:
        if self._trace is not None:
            self._trace.close()


def serve(app: ReadonlyDefault, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok, reason = app.health()
                self._send(200 if ok else 503, "text/plain", (reason + "\n").encode())
            elif self.path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", app.exposition())
            else:
                self._send(404, "text/plain", b"try /healthz or /metrics\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass  # probes every few seconds would drown the log

    server = ThreadingHTTPServer(("", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def by_namespace(binding: Mapping[str, Any]) -> list[str]:
    """A RoleBinding maps to its namespace: the primary key (Namespaces are cluster-scoped: key = name)."""
    return [binding["metadata"]["namespace"]]


def informer_options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    ns = {"label_selector": args.selector, "resync_period": args.resync or None}
    rb = {"field_selector": f"metadata.name={NAME}"}  # one RoleBinding per namespace is all we cache
    return ns, rb


def elector_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "lease_duration": args.lease_duration,
        "renew_deadline": args.renew_deadline,
        "retry_period": args.retry_period,
        "on_new_leader": lambda who: log.info("leader is now %s", who),
    }


def run_threads(args: argparse.Namespace, config: incluster_sdk.Config, app: ReadonlyDefault) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    client = app.client = incluster_sdk.api_client(config)
    ns_opts, rb_opts = informer_options(args)
    app.namespaces = Informer(client, NAMESPACES, **ns_opts)
    app.bindings = Informer(client, ROLEBINDINGS, **rb_opts)
    app.recorder = EventRecorder(client, COMPONENT)
    elector = LeaderElector(client, NAME, **elector_options(args)) if args.leader_elect else None
    queue: RateLimitingQueue[str] = RateLimitingQueue(name=NAME, metrics=app.metrics)
    controller = Controller(
        NAME, app.namespaces, app.reconcile, watches=[(app.bindings, by_namespace)], workers=args.workers,
        queue=queue, elector=elector,
    )  # fmt: skip
    app.controller = controller
    try:
        controller.start()  # checks list/watch permissions first: a clear error instead of a 403 loop
    except incluster_sdk.PermissionDeniedError as exc:
        log.error("%s", exc)
        return 3
    who = f", leader election as {elector.identity}" if elector else ""
    log.info("running: %d worker thread(s)%s", args.workers, who)
    stop.wait()
    log.info("stopping")
    controller.stop(deadline=args.stop_deadline)
    app.recorder.close()
    return 0


async def run_asyncio(args: argparse.Namespace, config: incluster_sdk.Config, app: ReadonlyDefault) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with await incluster_sdk.async_api_client(config) as client:
        app.client = client
        ns_opts, rb_opts = informer_options(args)
        app.namespaces = AsyncInformer(client, NAMESPACES, **ns_opts)
        app.bindings = AsyncInformer(client, ROLEBINDINGS, **rb_opts)
        app.recorder = AsyncEventRecorder(client, COMPONENT)
        elector = AsyncLeaderElector(client, NAME, **elector_options(args)) if args.leader_elect else None
        queue: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue(name=NAME, metrics=app.metrics)
        controller = AsyncController(
            NAME, app.namespaces, app.areconcile, watches=[(app.bindings, by_namespace)], workers=args.workers,
            queue=queue, elector=elector,
        )  # fmt: skip
        app.controller = controller
        try:
            await controller.start()
        except incluster_sdk.PermissionDeniedError as exc:
            log.error("%s", exc)
            return 3
        log.info("running: %d worker task(s) (asyncio)%s", args.workers, " with leader election" if elector else "")
        await stop.wait()
        log.info("stopping")
        await controller.stop(deadline=args.stop_deadline)
        await app.recorder.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="concurrent reconciles (threads or tasks)")
    parser.add_argument("--asyncio", action="store_true", help="asyncio (kubernetes_asyncio) instead of threads")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port for /healthz and /metrics (0: any)")
    parser.add_argument("--leader-elect", action="store_true", help="only one replica acts (Lease readonly-default)")
    parser.add_argument("--selector", help="only namespaces with these labels (a label selector)")
    parser.add_argument("--resync", type=float, default=300, help="seconds between cache replays (0: never)")
    parser.add_argument("--stop-deadline", type=float, default=20, help="seconds in-flight reconciles get at stop")
    timing = parser.add_argument_group("leader election timings (client-go's defaults)")
    timing.add_argument("--lease-duration", type=float, default=15.0)
    timing.add_argument("--renew-deadline", type=float, default=10.0)
    timing.add_argument("--retry-period", type=float, default=2.0)
    testing = parser.add_argument_group("for tests and demos")
    testing.add_argument("--trace", help="append each reconcile's key, start and end (monotonic) to this file")
    testing.add_argument("--slow", type=float, default=0.0, help="sleep this long in each reconcile")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = incluster_sdk.load_config()
    except incluster_sdk.ConfigError as exc:
        log.error("cannot configure the Kubernetes client: %s", exc)
        return 2
    app = ReadonlyDefault(None, None, args.trace, args.slow, args.resync)
    app.config = config
    server = serve(app, args.port)
    log.info("serving /healthz and /metrics on port %d", server.server_address[1])
    try:
        code = asyncio.run(run_asyncio(args, config, app)) if args.asyncio else run_threads(args, config, app)
    finally:
        server.shutdown()
        app.close()
        config.close()
    log.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
