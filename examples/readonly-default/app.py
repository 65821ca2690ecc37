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
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app

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
#: How long a binding this process created may stay missing from the cache before a reconcile stops waiting
#: for it (client-go's ControllerExpectations idea): the watch event of our own create usually arrives within
#: milliseconds, and a reconcile in between (a resync, a re-queue) must not POST it again (a 409, and a
#: needless write). Short, because a binding deleted before the cache ever saw it is repaired only after it.
EXPECTATION_TIMEOUT = 10.0


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
        self.created: dict[str, tuple[str, float]] = {}  # namespace -> (uid, when) of our create, until cached
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

    def _observe(self, key: str) -> Plan | Result | None:
        """Read both caches (never the API server) and decide; while our own create is not cached yet, wait."""
        binding = self.bindings.store.get(f"{key}/{NAME}")
        if binding is not None:
            self.had_binding.add(key)
        uid, when = self.created.get(key, ("", 0.0))
        unseen = uid and (binding is None or binding["metadata"].get("uid") != uid)
        if unseen and time.monotonic() - when < EXPECTATION_TIMEOUT:
            return Result(requeue_after=1.0)  # its watch event re-queues the key sooner
        self.created.pop(key, None)
        return plan(self.namespaces.store.get(key), binding, key in self.had_binding)

    def _done(self, p: Plan, stored: Mapping[str, Any]) -> Result | None:
        self.had_binding.add(p.namespace)
        if p.action != "update":
            self.created[p.namespace] = (stored["metadata"]["uid"], time.monotonic())
        self.recorder.event(stored, "Normal", p.reason, p.message)
        self.repairs.labels(p.reason).inc()
        log.info("%s: %s RoleBinding %s/%s", p.reason.lower(), p.action, p.namespace, NAME)
        return None

    def _send(self, call: Call) -> Answer:
        self.writes.labels(call.method).inc()
        return send(self.client, call)

    async def _async_send(self, call: Call) -> Answer:
        self.writes.labels(call.method).inc()
        return await async_send(self.client, call)

    def _fix(self, binding: dict[str, Any]) -> dict[str, Any] | None:
        fixed = fix_subjects(binding)
        if fixed is not None:  # update_with_retry PUTs it (a re-read that finds it fixed sends nothing)
            self.writes.labels("PUT").inc()
        return fixed

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
            if not isinstance(p, Plan):
                return p
            if p.action == "update":
                stored = update_with_retry(self.client, ROLEBINDINGS, NAME, self._fix, namespace=p.namespace)
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
            if not isinstance(p, Plan):
                return p
            if p.action == "update":
                fixed = async_update_with_retry(self.client, ROLEBINDINGS, NAME, self._fix, namespace=p.namespace)
                return self._done(p, await fixed)
            return self._done(p, await async_drive(create_flow(p), self._async_send))
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

    def wsgi(self) -> Any:
        """/healthz, and /metrics by prometheus_client's own WSGI app (the leader gauge read when scraped)."""
        metrics = make_wsgi_app(self.registry)

        def application(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("PATH_INFO") == "/metrics":
                self.leader.set(int(self.controller is not None and self.controller.is_active))
                return metrics(environ, start_response)
            ok, reason = (
                self.health() if environ.get("PATH_INFO") == "/healthz" else (False, "try /healthz or /metrics")
            )
            status = (
                "200 OK"
                if ok
                else "503 Service Unavailable"
                if reason != "try /healthz or /metrics"
                else "404 Not Found"
            )
            start_response(status, [("Content-Type", "text/plain")])
            return [(reason + "\n").encode()]

        return application

    def close(self) -> None:
        if self._trace is not None:
            self._trace.close()


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass  # probes every few seconds would drown the log


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve(app: ReadonlyDefault, port: int) -> WSGIServer:
    server = make_server("", port, app.wsgi(), server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def by_namespace(binding: Mapping[str, Any]) -> list[str]:
    """A RoleBinding maps to its namespace: the primary key (Namespaces are cluster-scoped: key = name)."""
    return [binding["metadata"]["namespace"]]


def build(args: argparse.Namespace, app: ReadonlyDefault, client: Any, flavour: str) -> Any:
    """The informers, recorder, queue, elector and controller of one flavour ("threads" or "asyncio")."""
    informer, recorder, queue, elector, controller, reconcile = {
        "threads": (Informer, EventRecorder, RateLimitingQueue, LeaderElector, Controller, app.reconcile),
        "asyncio": (AsyncInformer, AsyncEventRecorder, AsyncRateLimitingQueue, AsyncLeaderElector, AsyncController,
                    app.areconcile),
    }[flavour]  # fmt: skip
    app.client = client
    app.namespaces = informer(client, NAMESPACES, label_selector=args.selector, resync_period=args.resync or None)
    app.bindings = informer(client, ROLEBINDINGS, field_selector=f"metadata.name={NAME}")  # one per namespace
    app.recorder = recorder(client, COMPONENT)
    timings = {"lease_duration": args.lease_duration, "renew_deadline": args.renew_deadline}
    elect = elector(client, NAME, **timings, retry_period=args.retry_period, on_new_leader=_new_leader)
    elect = elect if args.leader_elect else None
    app.controller = controller(
        NAME, app.namespaces, reconcile, watches=[(app.bindings, by_namespace)], workers=args.workers,
        queue=queue(name=NAME, metrics=app.metrics), elector=elect,
    )  # fmt: skip
    return app.controller


def _new_leader(who: str) -> None:
    log.info("leader is now %s", who)


def run_threads(args: argparse.Namespace, config: incluster_sdk.Config, app: ReadonlyDefault) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller = build(args, app, incluster_sdk.api_client(config), "threads")
    try:
        controller.start()  # checks list/watch permissions first: a clear error instead of a 403 loop
    except incluster_sdk.PermissionDeniedError as exc:
        log.error("%s", exc)
        return 3
    who = f", leader election as {controller.elector.identity}" if controller.elector else ""
    log.info("running: %d worker thread(s)%s", args.workers, who)
    stop.wait()
    log.info("stopping")
    controller.stop(deadline=args.stop_deadline)
    app.recorder.close()
    return 0


async def run_asyncio(args: argparse.Namespace, config: incluster_sdk.Config, app: ReadonlyDefault) -> int:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with await incluster_sdk.async_api_client(config) as client:
        controller = build(args, app, client, "asyncio")
        try:
            await controller.start()
        except incluster_sdk.PermissionDeniedError as exc:
            log.error("%s", exc)
            return 3
        log.info(
            "running: %d worker task(s) (asyncio)%s", args.workers, " with leader election" if args.leader_elect else ""
        )
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parser.parse_args(argv)
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
