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
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..flows import async_drive
from ..leader import AsyncLeaderElector
from .frontend import GATE_POLL, STOP_DEADLINE, SYNC_POLL, ControllerBase, log
from .loop import Mapper, Result, Stopped
from .workqueue import AsyncRateLimitingQueue, ShutDown

if TYPE_CHECKING:
    from ..watch import AsyncInformer  # imported on first use by incluster_sdk.watch: aiohttp only when needed

__all__ = ["AsyncController", "AsyncReconcile"]

AsyncReconcile = Callable[[str], Awaitable[Result | None] | Result | None]
"""An :class:`AsyncController`'s reconcile: called as ``reconcile(key)``, a coroutine function returning
``Result | None`` or a plain function returning it (which runs on the event loop: keep it short)."""


class AsyncController(ControllerBase["AsyncInformer", AsyncRateLimitingQueue[str], AsyncLeaderElector, AsyncReconcile]):
    """A reconcile loop on asyncio tasks, the twin of :class:`~.reconciler.Controller` (the same rules).

    At a stop or a loss of leadership, reconciles still running after the deadline (or ``grace``) are
    cancelled; a key cancelled by a loss of leadership is queued again for when this replica leads next.
    Informers not started yet are started by :meth:`start` and stopped by :meth:`stop`; started ones are left
    running. A controller runs once: after a :meth:`start` (or :meth:`run`), or a :meth:`stop`, even one
    before any start, a :meth:`start` raises ``RuntimeError``. Create and use it on one event loop.

    :param name: names the queue (and its metrics' ``name`` label) and every log line.
    :param informer: the primary informer; each change of one of its objects queues the object's key
        (``namespace/name``, or ``name`` when cluster-scoped).
    :param reconcile: called as ``reconcile(key)``, never concurrently for one key: a coroutine function, or a
        plain one (which blocks the event loop while it runs: keep it short); returns ``Result | None``
        (:data:`AsyncReconcile`). Raise to be retried with backoff; return ``Result(requeue_after=s)`` to run
        again in ``s`` seconds; return None (or ``Result()``) when done. The object may be gone from the cache.
    :param owns: informers of objects owned by primary objects; a change queues the key of the owner named by
        the object's controller owner reference (:func:`~.loop.owner_mapper`). Default: none.
    :param watches: ``(informer, mapper)`` pairs; a change of one of the informer's objects queues the keys
        ``mapper(obj)`` returns (a :data:`~.loop.Mapper`, a plain function). Default: none.
    :param workers: the number of worker tasks; default 1 (controller-runtime's ``MaxConcurrentReconciles``
        default).
    :param queue: the work queue of keys; None (the default) means ``AsyncRateLimitingQueue(name=name)``
        (client-go's default rate limiter, no metrics): pass your own for metrics or another rate limiter.
    :param elector: a not yet started leader elector; None (the default): no leader election, every replica
        reconciles. The controller starts it once its caches are synced, and only the leader's workers run;
        its callbacks are wrapped (yours still run). On losing leadership the workers stop taking keys, and
        in-flight reconciles get ``grace`` seconds before they are cancelled.
    :param grace: seconds in-flight reconciles may run on after a loss of leadership; None (the default) means
        :func:`~.loop.leader_grace` of the elector's timings (3 s with client-go's defaults). Unused without
        an elector.
    :param sync_timeout: seconds :meth:`start` waits for the caches to sync before it raises
        :class:`~.loop.CacheSyncTimeout`; None (the default): no limit (until :meth:`stop`), as client-go's
        ``WaitForCacheSync``.
    :raises ValueError: if ``workers`` is below 1.
    """

    informer: AsyncInformer
    """The primary informer (the ``informer`` argument)."""
    reconcile: AsyncReconcile
    """The reconcile function (the ``reconcile`` argument)."""
    queue: AsyncRateLimitingQueue[str]
    """The work queue of keys (the ``queue`` argument, or the default one)."""
    elector: AsyncLeaderElector | None
    """The leader elector (the ``elector`` argument); None without leader election."""
    secondaries: list[tuple[AsyncInformer, Mapper]]
    """The secondary informers with their mappers: those of ``owns`` (each with an
    :func:`~.loop.owner_mapper`), then ``watches``."""

    def __init__(
        self, name: str, informer: AsyncInformer, reconcile: AsyncReconcile, *,
        owns: Sequence[AsyncInformer] = (), watches: Sequence[tuple[AsyncInformer, Mapper]] = (), workers: int = 1,
        queue: AsyncRateLimitingQueue[str] | None = None, elector: AsyncLeaderElector | None = None,
        grace: float | None = None, sync_timeout: float | None = None,
    ) -> None:  # fmt: skip
        super().__init__(
            name, informer, reconcile, owns=owns, watches=watches, workers=workers, queue=queue, elector=elector,
            grace=grace, sync_timeout=sync_timeout,
        )  # fmt: skip

    @property
    def informers(self) -> list[AsyncInformer]:
        """Every informer this controller feeds from: the primary one first, then those of ``owns`` and
        ``watches``, in order (a new list)."""
        return super().informers

    def _new_queue(self, name: str) -> AsyncRateLimitingQueue[str]:
        return AsyncRateLimitingQueue(name=name)

    def _setup(self) -> None:
        self._wake: asyncio.Event | None = None  # created in start(): needs the running loop on Python 3.10
        self._running: dict[str, asyncio.Task[Any]] = {}  # key -> its reconcile task
        self._idle: asyncio.Event | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stopping: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- public -------------------------------------------------------------------------------------------
    async def start(self) -> AsyncController:
        """Register the handlers, start the informers that are not started, wait until every cache is synced
        (client-go's ``WaitForCacheSync``), start the worker tasks, then the elector.

        Returns early, without starting the workers, if :meth:`stop` is called meanwhile (from another task).
        If it raises after starting informers, await :meth:`stop` to stop them.

        :returns: the controller itself.
        :raises RuntimeError: if the controller was already started (by :meth:`start` or :meth:`run`) or
            stopped (a :meth:`stop` before any start counts): a controller runs once; make a new one.
        :raises ~incluster_sdk.controller.loop.CacheSyncTimeout: if the caches are not synced after
            ``sync_timeout`` seconds.
        :raises ~incluster_sdk.PermissionDeniedError: from an informer's preflight (raised by its
            ``wait_for_sync``): this identity may not list or watch the resource (the message names the RBAC to
            grant).
        """
        with self._life:  # never held across an await
            self._claim()
            self._wake, self._idle = asyncio.Event(), asyncio.Event()
            self._stop_requested, self._stopping = asyncio.Event(), asyncio.Lock()
            self._idle.set()
            self._register()
        if not await async_drive(self._sync_flow(self._stop_requested), lambda inf: inf.wait_for_sync(SYNC_POLL)):
            return self
        with self._life:
            if self._stop_called:
                return self
            self._tasks = [
                asyncio.create_task(self._work(), name=f"incluster-sdk-worker {self.name}-{i}")
                for i in range(self.workers)
            ]
            self._workers_started = True
            log.info("controller %s: caches synced; %d worker task(s) started", self.name, self.workers)
            if self.elector is not None:
                self.elector.start()
        return self

    async def run(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """:meth:`start`, then wait until :meth:`stop` is called (from another task), then stop with ``deadline``.

        If the task running it is cancelled while it waits, it stops with ``deadline`` (shielded from the
        cancellation), then the cancellation goes on (``CancelledError``).

        :param deadline: seconds in-flight reconciles get to finish at the stop, as :meth:`stop`'s; default
            :data:`~.frontend.STOP_DEADLINE` (25 s, within Kubernetes' default 30 s termination grace period).
        :returns: what the stop left: the first stop's :class:`~.loop.Stopped`.
        :raises RuntimeError: if the controller was already started (a second :meth:`run`, or :meth:`run`
            after :meth:`start`) or stopped (a :meth:`stop` before any start counts): a controller runs once.
        :raises ~incluster_sdk.controller.loop.CacheSyncTimeout: as :meth:`start` (await :meth:`stop` then).
        :raises ~incluster_sdk.PermissionDeniedError: as :meth:`start` (await :meth:`stop` then).
        """
        await self.start()
        assert self._stop_requested is not None
        try:
            await self._stop_requested.wait()
        finally:
            stopped = await asyncio.shield(self.stop(deadline))
        return stopped

    async def stop(self, deadline: float = STOP_DEADLINE) -> Stopped:
        """Stop taking keys, give in-flight reconciles ``deadline`` seconds, cancel those still running, then
        stop the elector and the informers this controller started.

        The elector is stopped after the cancelled reconciles have ended, so it hands the Lease back (with its
        ``release_on_stop``) safely. Idempotent: a later call returns the first stop's result. Also ends a
        :meth:`start` that waits for the caches, and a :meth:`run`. A stop before any :meth:`start` counts: it
        has nothing to stop, and the controller then never starts (a later :meth:`start` raises
        ``RuntimeError``).

        :param deadline: seconds in-flight reconciles get before they are cancelled; default
            :data:`~.frontend.STOP_DEADLINE` (25 s, within Kubernetes' default 30 s termination grace period).
        :returns: what the stop left (:class:`~.loop.Stopped`: the keys cancelled as abandoned, keys left
            queued).
        """
        self._mark_stopping()  # no later start() starts anything: it raises
        if self._stop_requested is None or self._stopping is None:  # never started: nothing runs, nothing to stop
            if self._stopped is None:
                self._stop_taking()
                self._stopped = self.state.report(0.0, "stopping")
            return self._stopped
        self._stop_requested.set()
        async with self._stopping:
            if self._stopped is not None:
                return self._stopped
            began = self._stop_taking()
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

    async def _follow(self) -> None:
        """Awaited by the elector before any other replica can lead: close the gate, give in-flight reconciles
        ``grace`` seconds, cancel the rest (their keys are queued again)."""
        if self._leadership_lost():
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


async def _call(fn: Callable[[], Any] | None) -> None:
    if fn is not None:
        result = fn()
        if inspect.isawaitable(result):
            await result
