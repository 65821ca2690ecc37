"""The reconcile loop on worker threads: :class:`Controller` feeds a work queue from informers and runs
``reconcile(key)`` on N threads, optionally only while this replica leads.

    def reconcile(key: str) -> Result | None:
        namespace = namespaces.store.get(key)       # read the cache, never the API server
        ...                                         # make the world match; raise to retry with backoff
        return None                                 # or Result(requeue_after=60)

    controller = Controller("bindings", namespaces, reconcile, watches=[(bindings, by_namespace)], workers=4)
    controller.start()                              # starts the informers, waits for their caches, starts workers
    ...
    stopped = controller.stop(deadline=30)          # in-flight reconciles finish (or are reported abandoned)

The rules (keys, the gate, what an outcome does to the queue) are :mod:`.loop`'s, shared with
:class:`~.aio.AsyncController`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..flows import drive
from ..leader import LeaderElector
from ..watch import Informer
from .frontend import GATE_POLL, STOP_DEADLINE, SYNC_POLL, ControllerBase, log
from .loop import CacheSyncTimeout, Mapper, Result, Stopped, owner_mapper
from .workqueue import RateLimitingQueue, ShutDown

__all__ = [
    "GATE_POLL",
    "STOP_DEADLINE",
    "CacheSyncTimeout",
    "Controller",
    "Mapper",
    "Result",
    "Stopped",
    "owner_mapper",
]


class Controller(ControllerBase[Informer, "RateLimitingQueue[str]", LeaderElector, Callable[[str], "Result | None"]]):
    """A reconcile loop on threads (controller-runtime's ``Controller``, client-go's workqueue pattern).

    - ``name``: names the queue (and its metrics' ``name`` label) and every log line.
    - ``informer``: the primary :class:`~incluster_sdk.watch.Informer`; each change queues the object's key
      (``namespace/name``, or ``name`` when cluster-scoped).
    - ``reconcile(key) -> Result | None``: called on a worker thread, never concurrently for one key. Raise to
      be retried with backoff (the queue's rate limiter); return ``Result(requeue_after=s)`` to run again in
      ``s`` seconds. The object may be gone from the cache: then clean up (or do nothing).
    - ``owns``: informers of objects owned by primary objects; a change queues the owner's key
      (:func:`~.loop.owner_mapper`). ``watches``: (informer, mapper) pairs; a change queues ``mapper(obj)``.
    - ``workers``: threads (default 1, client-go's and controller-runtime's ``MaxConcurrentReconciles``).
    - ``queue``: default ``RateLimitingQueue(name=name)`` (client-go's default rate limiter, no metrics): pass
      your own for metrics or another rate limiter.
    - ``elector``: a not yet started :class:`~incluster_sdk.leader.LeaderElector`. The controller starts it
      once its caches are synced, and only the leader's workers run; its callbacks are wrapped (yours still
      run). On losing leadership the workers stop taking keys and in-flight reconciles get ``grace`` seconds
      (default :func:`~.loop.leader_grace` of the elector's timings) before they are reported abandoned.
    - ``sync_timeout``: seconds :meth:`start` waits for the caches (None: until :meth:`stop`), then raises
      :class:`CacheSyncTimeout`.

    Informers not started yet are started by :meth:`start` and stopped by :meth:`stop`; started ones (shared,
    from a factory) are left running. A controller runs once.
    """

    def _new_queue(self, name: str) -> RateLimitingQueue[str]:
        return RateLimitingQueue(name=name)

    def _setup(self) -> None:
        self._cond = threading.Condition()  # notified when the gate may have opened or a reconcile ended
        self._stop_requested = threading.Event()
        self._stop_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- public -------------------------------------------------------------------------------------------
    def start(self) -> Controller:
        """Register the handlers, start the informers that are not started, wait until every cache is synced
        (client-go's WaitForCacheSync), start the workers, then the elector. Blocks until then, or until
        :meth:`stop` is called from another thread. Raises :class:`CacheSyncTimeout` after ``sync_timeout``,
        and what an informer's start raises (:class:`~incluster_sdk.PermissionDeniedError`)."""
        self._claim()
        self._register()
        if not drive(self._sync_flow(self._stop_requested), lambda inf: inf.wait_for_sync(SYNC_POLL)):
            return self
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"incluster-sdk-worker {self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("controller %s: caches synced; %d worker(s) started", self.name, self.workers)
        if self.elector is not None:
            self.elector.start()
        return self

    def run(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """:meth:`start`, then block until :meth:`stop` is called (from another thread or a signal handler);
        returns what the stop left (:class:`~.loop.Stopped`)."""
        self.start()
        self._stop_requested.wait()
        return self.stop(deadline)

    def stop(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """Stop taking keys, let in-flight reconciles finish for up to ``deadline`` seconds (default
        :data:`STOP_DEADLINE`), then stop the elector (handing the Lease back, unless a reconcile was abandoned:
        then the Lease expires by itself, so a successor cannot start while it may still run) and the informers
        this controller started. Never blocks much longer than ``deadline``. Idempotent: returns the first
        stop's :class:`~.loop.Stopped` (abandoned keys, keys left queued)."""
        self._stop_requested.set()
        with self._stop_lock:
            if self._stopped is not None:
                return self._stopped
            began = self._stop_taking()
            self._wait_idle(began + deadline)
            stopped = self.state.report(time.monotonic() - began, "stopping")
            if self.elector is not None:
                if stopped.abandoned:
                    self.elector.release_on_stop = False
                self.elector.stop()
            for inf in self._own:
                inf.stop()
            for thread in self._threads:
                thread.join(max(0.0, began + deadline - time.monotonic()) if stopped.clean else 0.0)
            self._stopped = stopped
            return stopped

    # -- leadership -----------------------------------------------------------------------------------------
    def _wrap(self, elector: LeaderElector) -> None:
        theirs_started, theirs_stopped = elector.on_started_leading, elector.on_stopped_leading

        def started() -> None:
            self._lead()
            if theirs_started is not None:
                theirs_started()

        def stopped() -> None:
            self._follow()
            if theirs_stopped is not None:
                theirs_stopped()

        elector.on_started_leading, elector.on_stopped_leading = started, stopped

    def _follow(self) -> None:
        """On the elector's thread, before any other replica can lead: close the gate, wait for in-flight
        reconciles up to ``grace`` seconds."""
        if self._leadership_lost():
            began = time.monotonic()
            self._wait_idle(began + (self.grace or 0.0))
            self.state.report(time.monotonic() - began, "stopped leading")

    # -- workers --------------------------------------------------------------------------------------------
    def _work(self) -> None:
        state, queue = self.state, self.queue
        while True:
            with self._cond:
                while not state.stopping and not state.may_run():
                    self._cond.wait(GATE_POLL)
            if state.stopping:
                return
            try:
                key = queue.get()
            except ShutDown:
                return
            if not state.begin(key):
                state.hand_back(key)
                continue
            outcome: Result | Exception | None
            try:
                outcome = self.reconcile(key)
            except Exception as exc:
                outcome = exc
            state.end(key, outcome)
            self._notify()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wait_idle(self, until: float) -> None:
        with self._cond:
            while self.state.busy() and (left := until - time.monotonic()) > 0:
                self._cond.wait(min(left, GATE_POLL))
