"""What both controller front-ends share: the constructor and its checks, the informers they feed from,
registering the loop's handlers, taking over leadership, and waiting for the caches (one flow).

:class:`~.reconciler.Controller` (threads) and :class:`~.aio.AsyncController` (asyncio) subclass
:class:`ControllerBase` with their own informer, queue and elector types; each adds only how its workers wait
and run a reconcile, and how it stops. The rules themselves are :mod:`.loop`'s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from .loop import CacheSyncTimeout, LoopState, Mapper, Stopped, leader_grace, owner_mapper

if TYPE_CHECKING:
    from ..leader import AsyncLeaderElector, LeaderElector
    from ..watch import AsyncInformer, Informer
    from .workqueue import AsyncRateLimitingQueue, RateLimitingQueue

__all__ = ["GATE_POLL", "STOP_DEADLINE", "SYNC_POLL", "ControllerBase"]

log = logging.getLogger("incluster_sdk.controller")

GATE_POLL = 1.0
"""How often an idle worker re-checks the gate, in seconds: 1 s (our choice). It is woken at once when
leadership starts or the controller stops; the poll only bounds the cost of a missed wake-up."""

STOP_DEADLINE = 25.0
"""The default ``deadline`` of the controllers' ``stop`` and ``run``, in seconds: 25 s.

How long in-flight reconciles may go on finishing after a stop. Kubernetes' default
``terminationGracePeriodSeconds`` (30 s) is what a pod gets between SIGTERM and SIGKILL; 25 s leaves 5 s of
it to hand the Lease back and stop the informers before the kill. Raise both together if your reconciles
need longer."""

SYNC_POLL = 0.1
"""How long one wait for an unsynced cache lasts, in seconds (0.1 s, our choice), before the controller checks
for a stop or its ``sync_timeout`` again."""

InformerT = TypeVar("InformerT", "Informer", "AsyncInformer")
QueueT = TypeVar("QueueT", "RateLimitingQueue[str]", "AsyncRateLimitingQueue[str]")
ElectorT = TypeVar("ElectorT", "LeaderElector", "AsyncLeaderElector")
ReconcileT = TypeVar("ReconcileT")


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class ControllerBase(Generic[InformerT, QueueT, ElectorT, ReconcileT]):
    """The constructor of both controllers (see :class:`~.reconciler.Controller` for the arguments) and what
    they do alike; a subclass gives ``_new_queue``, ``_setup``, ``_wrap`` and ``_notify``."""

    def __init__(
        self,
        name: str,
        informer: InformerT,
        reconcile: ReconcileT,
        *,
        owns: Sequence[InformerT] = (),
        watches: Sequence[tuple[InformerT, Mapper]] = (),
        workers: int = 1,
        queue: QueueT | None = None,
        elector: ElectorT | None = None,
        grace: float | None = None,
        sync_timeout: float | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.name = name
        """The controller's name (the ``name`` argument)."""
        self.informer: InformerT = informer
        self.reconcile = reconcile
        self.workers = workers
        """The number of workers (the ``workers`` argument)."""
        self.queue: QueueT = self._new_queue(name) if queue is None else queue
        self.elector: ElectorT | None = elector
        self.sync_timeout = sync_timeout
        """Seconds :meth:`start` waits for the caches; None: no limit (the ``sync_timeout`` argument)."""
        self.secondaries: list[tuple[InformerT, Mapper]] = [(inf, owner_mapper(informer.store)) for inf in owns]
        self.secondaries.extend(watches)
        self.state = LoopState(name, self.queue, None if elector is None else lambda: elector.is_leader, time.monotonic)
        """The loop's bookkeeping (internal): the gate and the keys in flight; ``state.reconciles`` and
        ``state.failures`` count the reconciles finished and those that raised."""
        self.grace = grace
        """Seconds in-flight reconciles get after a loss of leadership: the ``grace`` argument, or with an elector
        and no ``grace``, :func:`~.loop.leader_grace` of its timings; None if neither (unused without an elector)."""
        if grace is None and elector is not None:
            election = elector.election
            self.grace = leader_grace(election.lease_duration, election.renew_deadline, election.retry_period)
        if elector is not None:
            self._wrap(elector)
        self._stopped: Stopped | None = None
        self._own: list[InformerT] = []
        self._started = False  # start() or run() was called
        self._stop_called = False  # stop() was called (perhaps before start)
        self._workers_started = False
        self._life = threading.Lock()  # orders start's steps against stop's: held briefly, never while waiting
        self._setup()

    # -- what each front-end gives --------------------------------------------------------------------------
    def _new_queue(self, name: str) -> QueueT:
        raise NotImplementedError

    def _setup(self) -> None:
        """The front-end's own waiting primitives (workers start in ``start``)."""

    def _wrap(self, elector: ElectorT) -> None:
        raise NotImplementedError

    def _notify(self) -> None:
        raise NotImplementedError

    # -- public -------------------------------------------------------------------------------------------
    @property
    def informers(self) -> list[InformerT]:
        """Every informer this controller feeds from: the primary one first, then those of ``owns`` and
        ``watches``, in order (a new list)."""
        return [self.informer] + [inf for inf, _ in self.secondaries]

    @property
    def has_synced(self) -> bool:
        """True once every informer's cache is synced (complete: its first list applied)."""
        return all(inf.has_synced for inf in self.informers)

    @property
    def is_active(self) -> bool:
        """True while this controller's workers run and may start keys: from when :meth:`start` has started
        them (its caches synced) until :meth:`stop`, and with an elector only while this replica leads (asked
        now). False before :meth:`start`, while it waits for the caches, and from :meth:`stop` on."""
        return self._workers_started and self.state.may_run()

    # -- start ----------------------------------------------------------------------------------------------
    def _claim(self) -> None:
        """The first ``start`` goes on; a later one, or any after a ``stop``, raises: a controller runs once.
        The caller holds ``_life`` until it has registered (so a concurrent stop sees every informer started)."""
        if self._started:
            raise RuntimeError(f"controller {self.name} is already started: a controller runs once")
        if self._stop_called:
            raise RuntimeError(
                f"controller {self.name} was stopped before it started: a controller runs once; make a new one"
            )
        self._started = True

    def _register(self) -> None:
        """The loop's handlers on every informer, then start those not started yet (ours to stop). The caller
        holds ``_life``."""
        self.informer.add_handler(**self.state.primary_handlers())
        for inf, mapper in self.secondaries:
            inf.add_handler(**self.state.mapped_handlers(mapper))
        for inf in self.informers:
            if not inf.started and inf not in self._own:
                inf.start()
                self._own.append(inf)

    def _sync_flow(self, stop_requested: _Flag) -> Generator[InformerT, object, bool]:
        """client-go's ``WaitForCacheSync`` as a flow: yields an informer whose cache is not synced yet (the
        driver waits on it for :data:`SYNC_POLL` seconds); True once all are, False if a stop was requested;
        raises :class:`~.loop.CacheSyncTimeout` after ``sync_timeout``."""
        began = time.monotonic()
        while not stop_requested.is_set():
            pending = [inf for inf in self.informers if not inf.has_synced]
            if not pending:
                return True
            if self.sync_timeout is not None and time.monotonic() - began > self.sync_timeout:
                raise CacheSyncTimeout(self.name, self.sync_timeout, [inf.resource.plural for inf in pending])
            yield pending[0]
        return False

    # -- stop -----------------------------------------------------------------------------------------------
    def _mark_stopping(self) -> None:
        """A stop's very first step: no later ``start`` starts anything (it raises, or returns early)."""
        with self._life:
            self._stop_called = True

    def _stop_taking(self) -> float:
        """A stop's first step: no key starts after this, waiting workers wake, the queue shuts down. Returns
        when (monotonic seconds) the stop began."""
        began = time.monotonic()
        self.state.stop_taking()
        self._notify()
        self.queue.shutdown()
        return began

    # -- leadership -----------------------------------------------------------------------------------------
    def _lead(self) -> None:
        queued = self.state.enqueue_all(self.informer.store, [(inf.store, m) for inf, m in self.secondaries])
        if self.state.lead():
            log.info("controller %s: leading; %d key(s) queued from the caches", self.name, queued)
            self._notify()

    def _leadership_lost(self) -> bool:
        """Close the gate; True if in-flight reconciles now get ``grace`` (False while stopping: the stop waits
        for them with its own deadline)."""
        self.state.follow()
        return not self.state.stopping
