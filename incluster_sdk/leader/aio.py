"""The asyncio twin of :class:`~.elector.LeaderElector` (over ``kubernetes_asyncio``), with the same
decisions (:mod:`.lease`). Callbacks may be plain functions or coroutines.

    async with AsyncLeaderElector(client, "my-app", on_started_leading=work) as elector:
        ...
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ..flows import async_drive
from .elector import LeaderElectionBase, wall_clock
from .lease import Call, Outcome, Response, release

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient

log = logging.getLogger(__name__)

#: The on_new_leader tasks of every elector, each until it is done (asyncio's pattern for background tasks).
_CALLBACKS: set[asyncio.Task[None]] = set()


class AsyncLeaderElector(LeaderElectionBase["AsyncApiClient", Any]):
    """``on_started_leading()`` runs as a task that is cancelled when leadership ends;
    ``on_stopped_leading()`` is awaited before anyone else can take over; ``on_new_leader(identity)``."""

    client: AsyncApiClient
    _task: asyncio.Task[None] | None = None
    _work: asyncio.Task[Any] | None = None  # on_started_leading's, while leading

    def start(self) -> AsyncLeaderElector:
        self._task = asyncio.create_task(self._run(), name=f"incluster-sdk-leader {self.name}")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.election.leading:
            await self._step_down("stopping")
            if self.release_on_stop:
                await self._release()

    async def __aenter__(self) -> AsyncLeaderElector:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self._report(await async_drive(self._attempt(), self._http))
            except Exception as exc:  # a failed attempt is retried; only the deadline decides leadership
                log.log(
                    logging.WARNING if self.election.leading else logging.DEBUG, "%s: %s", self._describe(), str(exc)
                )
            if self.election.deadline_passed(time.monotonic()):
                await self._step_down(f"could not renew for {self.election.renew_deadline}s")
            await asyncio.sleep(self._pause())

    async def _http(self, call: Call) -> Response:
        from kubernetes_asyncio.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        url = self._url(str(self.client.configuration.host), call)
        try:
            response = await self.client.request(
                call.method,
                url,
                headers=headers,
                body=call.body,
                _preload_content=False,
                _request_timeout=self._request_timeout(),
                _incluster_retry=False,  # an attempt must end before the renew deadline: the loop retries
            )
        except ApiException as exc:
            return exc.status or 0, None
        try:
            data = await response.read()
        finally:
            response.release()
        body = orjson.loads(data) if data else None
        return int(response.status), body if isinstance(body, dict) else None

    async def _report(self, outcome: Outcome) -> None:
        if outcome.lost:
            await self._step_down(outcome.lost)
        if outcome.new_leader and self.on_new_leader is not None:
            task = asyncio.create_task(self._call(self.on_new_leader, outcome.new_leader))
            _CALLBACKS.add(task)  # held until done: the loop keeps only weak references to tasks
            task.add_done_callback(_CALLBACKS.discard)
        if outcome.started:
            log.info("%s: started leading", self._describe())
            if self.on_started_leading is not None:
                self._work = asyncio.create_task(self._call(self.on_started_leading))

    async def _step_down(self, why: str) -> None:
        self.election.step_down()
        level = logging.INFO if why == "stopping" else logging.WARNING  # a stop the app asked for is no problem
        log.log(level, "%s: stopped leading: %s", self._describe(), why)
        if self._work is not None:
            self._work.cancel()  # the leader's work must stop with its leadership
            self._work = None
        if self.on_stopped_leading is not None:
            await self._call(self.on_stopped_leading)

    async def _release(self) -> None:
        try:
            if await async_drive(release(self.election, self.name, self.namespace, wall_clock()), self._http):
                log.info("%s: released the lease", self._describe())
        except Exception as exc:  # the lease then expires by itself after lease_duration
            log.warning("%s: release failed (%s); the lease expires by itself", self._describe(), str(exc))

    async def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: leader election callback failed", self._describe())
