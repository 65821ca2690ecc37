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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..flows import async_drive
from .frontend import GATE_POLL, STOP_DEADLINE, SYNC_POLL, ControllerBase, log
from .loop import Result, Stopped
from .workqueue import AsyncRateLimitingQueue, ShutDown

if TYPE_CHECKING:
    from ..leader import AsyncLeaderElector
    from ..watch import AsyncInformer  # noqa: F401 - in the base class's parameters

__all__ = ["AsyncController", "AsyncReconcile"]

AsyncReconcile = Callable[[str], "Awaitable[Result | None] | Result | None"]


class AsyncController(
    ControllerBase["AsyncInformer", "AsyncRateLimitingQueue[str]", "AsyncLeaderElector", AsyncReconcile]
):
    """A reconcile loop on asyncio tasks. The arguments are :class:`~.reconciler.Controller`'s, with
    :class:`~incluster_sdk.watch.AsyncInformer`, :class:`~.workqueue.AsyncRateLimitingQueue` and
    :class:`~incluster_sdk.leader.AsyncLeaderElector`; ``reconcile`` may be a coroutine function or a plain
    one (a plain one blocks the loop while it runs: keep it short). ``workers`` is the number of tasks.

    At a stop or a loss of leadership, reconciles still running after the deadline (or ``grace``) are
    cancelled; a key cancelled by a loss of leadership is queued again for when this replica leads next.
    """

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
        """:meth:`Controller.start <.reconciler.Controller.start>` for asyncio: handlers, informers, caches
        synced, worker tasks, then the elector. Raises :class:`~.loop.CacheSyncTimeout` after ``sync_timeout``
        and what the informers' preflight raises (:class:`~incluster_sdk.PermissionDeniedError`)."""
        self._claim()
        self._wake, self._idle = asyncio.Event(), asyncio.Event()
        self._stop_requested, self._stopping = asyncio.Event(), asyncio.Lock()
        self._idle.set()
        self._register()
        if not await async_drive(self._sync_flow(self._stop_requested), lambda inf: inf.wait_for_sync(SYNC_POLL)):
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
            self._stop_taking()
            return self.state.report(0.0, "stopping")
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
