"""The reconcile loop on asyncio tasks: :class:`AsyncController`, the twin of :class:`~.reconciler.Controller`
with the same rules (:mod:`.loop`), over :class:`~incluster_sdk.watch.AsyncInformer`.

    async def reconcile(key: str) -> Result | None: ...

    controller = AsyncController("bindings", namespaces, reconcile, watches=[(bindings, by_namespace)], workers=4)
    await controller.start()
    ...
    stopped = await controller.stop(deadline=30)

Unlike threads, an abandoned asyncio reconcile is really stopped: it is cancelled at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from .loop import CacheSyncTimeout, LoopState, Mapper, Result, Stopped, leader_grace, owner_mapper
from .reconciler import GATE_POLL, STOP_DEADLINE
from .workqueue import AsyncRateLimitingQueue, ShutDown

if TYPE_CHECKING:
    from ..leader import AsyncLeaderElector
    from ..watch import AsyncInformer

log = logging.getLogger("incluster_sdk.controller")

AsyncReconcile = Callable[[str], "Awaitable[Result | None] | Result | None"]


class AsyncController:
    """A reconcile loop on asyncio tasks. The arguments are :class:`~.reconciler.Controller`'s, with
    :class:`~incluster_sdk.watch.AsyncInformer`, :class:`~.workqueue.AsyncRateLimitingQueue` and
    :class:`~incluster_sdk.leader.AsyncLeaderElector`; ``reconcile`` may be a coroutine function or a plain
    one (a plain one blocks the loop while it runs: keep it short). ``workers`` is the number of tasks.

    At a stop or a loss of leadership, reconciles still running after the deadline (or ``grace``) are
    cancelled; a key cancelled by a loss of leadership is queued again for when this replica leads next.
    """

    def __init__(
        self,
        name: str,
        informer: AsyncInformer,
        reconcile: AsyncReconcile,
        *,
        owns: Sequence[AsyncInformer] = (),
        watches: Sequence[tuple[AsyncInformer, Mapper]] = (),
        workers: int = 1,
        queue: AsyncRateLimitingQueue[str] | None = None,
        elector: AsyncLeaderElector | None = None,
        grace: float | None = None,
        sync_timeout: float | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.name = name
        self.informer = informer
        self.reconcile = reconcile
        self.workers = workers
        self.queue: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue(name=name) if queue is None else queue
        self.elector = elector
        self.sync_timeout = sync_timeout
        self.secondaries: list[tuple[AsyncInformer, Mapper]] = [
            *((inf, owner_mapper(informer.store)) for inf in owns),
            *watches,
        ]
        self.state = LoopState(name, self.queue, None if elector is None else lambda: elector.is_leader, time.monotonic)
        if grace is None and elector is not None:
            election = elector.election
            grace = leader_grace(election.lease_duration, election.renew_deadline, election.retry_period)
        self.grace = grace
        if elector is not None:
            self._wrap(elector)
        self._wake: asyncio.Event | None = None  # created in start(): needs the running loop on Python 3.10
        self._running: dict[str, asyncio.Task[Any]] = {}  # key -> its reconcile task
        self._idle: asyncio.Event | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stopped: Stopped | None = None
        self._stopping: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._own: list[AsyncInformer] = []
        self._started = False

    # -- public -------------------------------------------------------------------------------------------
    @property
    def informers(self) -> list[AsyncInformer]:
        return [self.informer, *(inf for inf, _ in self.secondaries)]

    @property
    def has_synced(self) -> bool:
        return all(inf.has_synced for inf in self.informers)

    @property
    def is_active(self) -> bool:
        """True while workers may start keys (not stopping; leading, with an elector)."""
        return self.state.may_run()

    async def start(self) -> AsyncController:
        """:meth:`Controller.start <.reconciler.Controller.start>` for asyncio: handlers, informers, caches
        synced, worker tasks, then the elector. Raises :class:`~.loop.CacheSyncTimeout` after ``sync_timeout``
        and what the informers' preflight raises (:class:`~incluster_sdk.PermissionDeniedError`)."""
        if self._started:
            raise RuntimeError(f"controller {self.name} is already started: a controller runs once")
        self._started = True
        self._wake, self._idle = asyncio.Event(), asyncio.Event()
        self._stop_requested, self._stopping = asyncio.Event(), asyncio.Lock()
        self._idle.set()
        self.informer.add_handler(**self.state.primary_handlers())
        for inf, mapper in self.secondaries:
            inf.add_handler(**self.state.mapped_handlers(mapper))
        for inf in self.informers:
            if not inf.started and inf not in self._own:
                inf.start()
                self._own.append(inf)
        if not await self._wait_for_sync():
            return self
        self._tasks = [
            asyncio.create_task(self._work(), name=f"incluster-sdk-worker {self.name}-{i}") for i in range(self.workers)
        ]
        log.info("controller %s: caches synced; %d worker task(s) started", self.name, self.workers)
        if self.elector is not None:
            self.elector.start()
        return self

    async def run(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """:meth:`start`, then wait until :meth:`stop` is called (or this task is cancelled: then it stops
        with ``deadline``); returns the :class:`~.loop.Stopped`."""
        await self.start()
        assert self._stop_requested is not None
        try:
            await self._stop_requested.wait()
        finally:
            stopped = await asyncio.shield(self.stop(deadline))
        return stopped

    async def stop(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """Stop taking keys, give in-flight reconciles ``deadline`` seconds (default
        :data:`~.reconciler.STOP_DEADLINE`), cancel those still running, stop the elector (it hands the Lease
        back) and the informers this controller started. Idempotent: returns the first stop's result."""
        if self._stop_requested is None or self._stopping is None:  # never started
            self.state.stop_taking()
            self.queue.shutdown()
            return self.state.report(0.0, "stopping")
        self._stop_requested.set()
        async with self._stopping:
            if self._stopped is not None:
                return self._stopped
            began = time.monotonic()
            self.state.stop_taking()
            self._notify()
            self.queue.shutdown()
            await self._wait_idle(deadline)
            stopped = self.state.report(time.monotonic() - began, "stopping")
            await self._abandon()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.elector is not None:
                await self.elector.stop()  # after the cancelled reconciles ended: releasing the Lease is safe
            for inf in self._own:
                await inf.stop()
            self._stopped = stopped
            return stopped

    # -- leadership -----------------------------------------------------------------------------------------
    def _wrap(self, elector: AsyncLeaderElector) -> None:
        theirs_started, theirs_stopped = elector.on_started_leading, elector.on_stopped_leading

        async def started() -> None:
            self._lead()
            await _call(theirs_started)

        async def stopped() -> None:
            await self._follow()
            await _call(theirs_stopped)

        elector.on_started_leading, elector.on_stopped_leading = started, stopped

    def _lead(self) -> None:
        queued = self.state.enqueue_all(self.informer.store, [(inf.store, m) for inf, m in self.secondaries])
        if self.state.lead():
            log.info("controller %s: leading; %d key(s) queued from the caches", self.name, queued)
            self._notify()

    async def _follow(self) -> None:
        """Awaited by the elector before any other replica can lead: close the gate, give in-flight reconciles
        ``grace`` seconds, cancel the rest (their keys are queued again)."""
        self.state.follow()
        if self.state.stopping:
            return
        began = time.monotonic()
        await self._wait_idle(self.grace or 0.0)
        self.state.report(time.monotonic() - began, "stopped leading")
        await self._abandon()

    # -- workers --------------------------------------------------------------------------------------------
    async def _work(self) -> None:
        state, queue, wake = self.state, self.queue, self._wake
        assert wake is not None
        while True:
            while not state.stopping and not state.may_run():
                wake.clear()
                if state.may_run() or state.stopping:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), GATE_POLL)
            if state.stopping:
                return
            try:
                key = await queue.get()
            except ShutDown:
                return
            if not state.begin(key):
                state.hand_back(key)
                continue
            await self._reconcile(key)

    async def _reconcile(self, key: str) -> None:
        task = asyncio.ensure_future(self._call_reconcile(key))
        self._running[key] = task
        assert self._idle is not None
        self._idle.clear()
        try:
            await asyncio.wait({task})
        finally:
            del self._running[key]
            if not self._running:
                self._idle.set()
        if task.cancelled():  # abandoned: at a stop or a loss of leadership
            with self.state.lock:
                self.state.inflight.pop(key, None)
            self.state.hand_back(key)
            return
        exc = task.exception()
        self.state.end(key, exc if exc is not None else task.result())

    async def _call_reconcile(self, key: str) -> Result | None:
        result = self.reconcile(key)
        if inspect.isawaitable(result):
            return await result
        return result

    async def _abandon(self) -> None:
        running = list(self._running.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _wait_idle(self, seconds: float) -> None:
        assert self._idle is not None
        if self._running and seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), seconds)

    async def _wait_for_sync(self) -> bool:
        assert self._stop_requested is not None
        began = time.monotonic()
        while not self._stop_requested.is_set():
            pending = [inf for inf in self.informers if not inf.has_synced]
            if not pending:
                return True
            if self.sync_timeout is not None and time.monotonic() - began > self.sync_timeout:
                raise CacheSyncTimeout(self.name, self.sync_timeout, [inf.resource.plural for inf in pending])
            await pending[0].wait_for_sync(0.1)
        return False


async def _call(fn: Callable[[], Any] | None) -> None:
    if fn is not None:
        result = fn()
        if inspect.isawaitable(result):
            await result
