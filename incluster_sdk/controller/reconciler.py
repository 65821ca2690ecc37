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
from collections.abc import Callable, Sequence

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


class Controller(ControllerBase[Informer, RateLimitingQueue[str], LeaderElector, Callable[[str], Result | None]]):
    """A reconcile loop on threads (controller-runtime's ``Controller``, client-go's workqueue pattern).

    Informers not started yet are started by :meth:`start` and stopped by :meth:`stop`; started ones (shared,
    from a factory) are left running. A controller runs once: after a :meth:`start` (or :meth:`run`), or a
    :meth:`stop`, even one before any start, a :meth:`start` raises ``RuntimeError``.

    :param name: names the queue (and its metrics' ``name`` label) and every log line.
    :param informer: the primary informer; each change of one of its objects queues the object's key
        (``namespace/name``, or ``name`` when cluster-scoped).
    :param reconcile: called as ``reconcile(key) -> Result | None`` on a worker thread, never concurrently for
        one key. Raise to be retried with backoff (the queue's rate limiter); return ``Result(requeue_after=s)``
        to run again in ``s`` seconds; return None (or ``Result()``) when done. The object may be gone from the
        cache: then clean up (or do nothing).
    :param owns: informers of objects owned by primary objects; a change queues the key of the owner named by
        the object's controller owner reference (:func:`~.loop.owner_mapper`). Default: none.
    :param watches: ``(informer, mapper)`` pairs; a change of one of the informer's objects queues the keys
        ``mapper(obj)`` returns (a :data:`~.loop.Mapper`). Default: none.
    :param workers: the number of worker threads; default 1 (controller-runtime's ``MaxConcurrentReconciles``
        default).
    :param queue: the work queue of keys; None (the default) means ``RateLimitingQueue(name=name)`` (client-go's
        default rate limiter, no metrics): pass your own for metrics or another rate limiter.
    :param elector: a not yet started leader elector; None (the default): no leader election, every replica
        reconciles. The controller starts it once its caches are synced, and only the leader's workers run;
        its callbacks are wrapped (yours still run). On losing leadership the workers stop taking keys and
        in-flight reconciles get ``grace`` seconds before they are reported abandoned.
    :param grace: seconds in-flight reconciles may run on after a loss of leadership; None (the default) means
        :func:`~.loop.leader_grace` of the elector's timings (3 s with client-go's defaults). Unused without
        an elector.
    :param sync_timeout: seconds :meth:`start` waits for the caches to sync before it raises
        :class:`~.loop.CacheSyncTimeout`; None (the default): no limit (until :meth:`stop`), as client-go's
        ``WaitForCacheSync``.
    :raises ValueError: if ``workers`` is below 1.
    """

    informer: Informer
    """The primary informer (the ``informer`` argument)."""
    reconcile: Callable[[str], Result | None]
    """The reconcile function (the ``reconcile`` argument)."""
    queue: RateLimitingQueue[str]
    """The work queue of keys (the ``queue`` argument, or the default one)."""
    elector: LeaderElector | None
    """The leader elector (the ``elector`` argument); None without leader election."""
    secondaries: list[tuple[Informer, Mapper]]
    """The secondary informers with their mappers: those of ``owns`` (each with an
    :func:`~.loop.owner_mapper`), then ``watches``."""

    def __init__(
        self, name: str, informer: Informer, reconcile: Callable[[str], Result | None], *,
        owns: Sequence[Informer] = (), watches: Sequence[tuple[Informer, Mapper]] = (), workers: int = 1,
        queue: RateLimitingQueue[str] | None = None, elector: LeaderElector | None = None,
        grace: float | None = None, sync_timeout: float | None = None,
    ) -> None:  # fmt: skip
        super().__init__(
            name, informer, reconcile, owns=owns, watches=watches, workers=workers, queue=queue, elector=elector,
            grace=grace, sync_timeout=sync_timeout,
        )  # fmt: skip

    @property
    def informers(self) -> list[Informer]:
        """Every informer this controller feeds from: the primary one first, then those of ``owns`` and
        ``watches``, in order (a new list)."""
        return super().informers

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
        (client-go's ``WaitForCacheSync``), start the workers, then the elector.

        Blocks until then, or until :meth:`stop` is called from another thread (then it returns without
        starting the workers). If it raises after starting informers, call :meth:`stop` to stop them.

        :returns: the controller itself.
        :raises RuntimeError: if the controller was already started (by :meth:`start` or :meth:`run`) or
            stopped (a :meth:`stop` before any start counts): a controller runs once; make a new one.
        :raises ~incluster_sdk.controller.loop.CacheSyncTimeout: if the caches are not synced after
            ``sync_timeout`` seconds.
        :raises ~incluster_sdk.PermissionDeniedError: from an informer's start: its preflight found that this
            identity may not list or watch the resource (the message names the RBAC to grant).
        """
        with self._life:  # a concurrent stop() waits for this, then stops what it started
            self._claim()
            self._register()
        if not drive(self._sync_flow(self._stop_requested), lambda inf: inf.wait_for_sync(SYNC_POLL)):
            return self
        with self._life:
            if self._stop_called:  # stop() came as the caches synced: it has stopped, or is stopping, the rest
                return self
            for i in range(self.workers):
                name = f"incluster-sdk-worker {self.name}-{i}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)
            self._workers_started = True
            log.info("controller %s: caches synced; %d worker(s) started", self.name, self.workers)
            if self.elector is not None:
                self.elector.start()
        return self

    def run(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """:meth:`start`, then block until :meth:`stop` is called (from another thread or a signal handler),
        then stop with ``deadline``.

        :param deadline: seconds in-flight reconciles get to finish at the stop, as :meth:`stop`'s; default
            :data:`~.frontend.STOP_DEADLINE` (25 s, within Kubernetes' default 30 s termination grace period).
        :returns: what the stop left: the first stop's :class:`~.loop.Stopped`.
        :raises RuntimeError: if the controller was already started (a second :meth:`run`, or :meth:`run`
            after :meth:`start`) or stopped (a :meth:`stop` before any start counts): a controller runs once.
        :raises ~incluster_sdk.controller.loop.CacheSyncTimeout: as :meth:`start` (call :meth:`stop` then).
        :raises ~incluster_sdk.PermissionDeniedError: as :meth:`start` (call :meth:`stop` then).
        """
        self.start()
        self._stop_requested.wait()
        return self.stop(deadline)

    def stop(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """Stop taking keys, let in-flight reconciles finish, then stop the elector and the informers this
        controller started.

        The elector hands the Lease back (with its ``release_on_stop``), unless a reconcile was abandoned: then
        the Lease expires by itself, so a successor cannot start while that reconcile may still run (a thread
        cannot be killed: it runs to its end). Waits for reconciles up to ``deadline``; stopping the elector and
        the informers then normally takes milliseconds (each waits at most 10 s for its own thread). Safe from
        any thread, and idempotent: a later call returns the first stop's result at once. Also ends a
        :meth:`start` that waits for the caches, and a :meth:`run`. A stop before any :meth:`start` counts:
        the controller then never starts (a later :meth:`start` raises ``RuntimeError``).

        :param deadline: seconds in-flight reconciles get to finish; default :data:`~.frontend.STOP_DEADLINE`
            (25 s, within Kubernetes' default 30 s termination grace period).
        :returns: what the stop left (:class:`~.loop.Stopped`: abandoned keys, keys left queued).
        """
        self._stop_requested.set()
        self._mark_stopping()  # waits for a start() registering or starting its workers; no later start starts
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
