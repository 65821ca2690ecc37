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
from .lease import LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD, Call, Outcome, Response, release

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient

log = logging.getLogger(__name__)

#: The on_new_leader tasks of every elector, each until it is done (asyncio's pattern for background tasks).
_CALLBACKS: set[asyncio.Task[None]] = set()


class AsyncLeaderElector(LeaderElectionBase["AsyncApiClient", Any]):
    """client-go's leader election over ``kubernetes_asyncio``, as a task on the running event loop.

    ``async with AsyncLeaderElector(...) as elector:`` is :meth:`start` ... ``await`` :meth:`stop`. The rules,
    the timings and what a lost renew does are those of :class:`~incluster_sdk.leader.elector.LeaderElector`:
    when no renew has succeeded for ``renew_deadline`` seconds, or the Lease is found held by another
    identity, the elector stops leading (the work task is cancelled, ``on_stopped_leading`` is awaited), logs
    a WARNING, and keeps competing.

    Callbacks may be plain functions or coroutine functions (an awaitable they return is awaited); exceptions
    they raise are logged, never propagated. A plain function runs on the event loop: keep it short.

    - ``on_started_leading()`` runs in a new task each time this replica becomes leader. That task is
      cancelled (not awaited) when leadership ends, by a lost renew or by :meth:`stop`, before
      ``on_stopped_leading`` is called: put the leader's work there.
    - ``on_stopped_leading()`` is awaited in the elector's task when leadership is lost (the next attempt
      waits for it), or in the task that awaits :meth:`stop` when stopping ends leadership.
    - ``on_new_leader(identity)`` runs in a new task whenever the observed holder changes to a non-empty
      identity (this replica's own included).

    :param client: the ``kubernetes_asyncio`` client (:func:`~incluster_sdk.aio_client.async_api_client`) whose
        requests read and write the Lease; its config's namespace is the default ``namespace``. Requests time
        out before the renew deadline and are not retried (the loop retries).
    :param name: the Lease's name (``metadata.name``), the same for every replica that competes.
    :param namespace: the Lease's namespace; None: the client config's namespace (the pod's, in a pod).
    :param identity: this replica's identity, written as the Lease's ``holderIdentity``; must differ between
        replicas. None: :func:`~incluster_sdk.leader.elector.default_identity` (pod name + random suffix).
    :param lease_duration: seconds a candidate waits, after it last saw the Lease change, before it takes the
        Lease from a holder that stopped renewing; default :data:`~incluster_sdk.leader.lease.LEASE_DURATION`
        (15 s, client-go's ``LeaseDuration``). Written to the Lease in whole seconds.
    :param renew_deadline: seconds the leader goes on trying to renew before it stops leading; default
        :data:`~incluster_sdk.leader.lease.RENEW_DEADLINE` (10 s, client-go's ``RenewDeadline``).
    :param retry_period: seconds between tries to renew, and to acquire (plus up to 120% jitter:
        :data:`~incluster_sdk.leader.lease.JITTER_FACTOR`); default
        :data:`~incluster_sdk.leader.lease.RETRY_PERIOD` (2 s, client-go's ``RetryPeriod``).
    :param on_started_leading: called as ``fn()`` (returning None or an awaitable) in a new task when this
        replica becomes leader; the task is cancelled when leadership ends. None: nothing is called.
    :param on_stopped_leading: called as ``fn()`` (returning None or an awaitable, which is awaited) when this
        replica stops leading. None: nothing is called.
    :param on_new_leader: called as ``fn(identity: str)`` (returning None or an awaitable) in a new task with
        the new holder's identity. None: nothing is called.
    :param release_on_stop: if True (the default; client-go's ``ReleaseOnCancel`` defaults to False),
        awaiting :meth:`stop` hands a Lease this replica holds back, writing an empty holder and a 1 s
        ``leaseDurationSeconds``, so a successor takes over at its next try instead of a lease duration
        later. Make sure the leader's work has stopped by then (client-go's warning for ``ReleaseOnCancel``).
        If False, the Lease expires by itself ``lease_duration`` seconds after the last renew.
    :raises ValueError: unless ``retry_period > 0``, ``renew_deadline > retry_period * 1.2`` and
        ``lease_duration > renew_deadline``, client-go's rules (1.2 is its ``JitterFactor``,
        ``incluster_sdk.leader.lease.JITTER_FACTOR``); the message names the values and the rule.
    """

    def __init__(
        self, client: AsyncApiClient, name: str, namespace: str | None = None, *, identity: str | None = None,
        lease_duration: float = LEASE_DURATION, renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD, on_started_leading: Callable[[], Any] | None = None,
        on_stopped_leading: Callable[[], Any] | None = None, on_new_leader: Callable[[str], Any] | None = None,
        release_on_stop: bool = True,
    ) -> None:  # fmt: skip
        # the base is generic in its client: this signature names the real one, for the reference and mypy
        super().__init__(
            client, name, namespace, identity=identity, lease_duration=lease_duration,
            renew_deadline=renew_deadline, retry_period=retry_period, on_started_leading=on_started_leading,
            on_stopped_leading=on_stopped_leading, on_new_leader=on_new_leader, release_on_stop=release_on_stop,
        )  # fmt: skip

    client: AsyncApiClient
    _log = log
    _task: asyncio.Task[None] | None = None
    _work: asyncio.Task[Any] | None = None  # on_started_leading's, while leading

    def start(self) -> AsyncLeaderElector:
        """Start competing for the Lease in a new task (``incluster-sdk-leader <name>``); returns at once.

        Call it from a coroutine (the task needs the running event loop). An elector runs once: make a new one to
        compete again after :meth:`stop`.

        :returns: the elector itself, so that ``elector = AsyncLeaderElector(...).start()`` works.
        :raises RuntimeError: if the elector was already started, or stopped (a :meth:`stop` before any start
            counts); or if no event loop is running (from :func:`asyncio.create_task`).
        """
        with self._life:
            self._check_start(self._task is not None)
            self._task = asyncio.create_task(self._run(), name=f"incluster-sdk-leader {self.name}")
        return self

    async def stop(self) -> None:
        """Stop competing: cancel the elector's task and wait for it; a leader stops leading and, with
        ``release_on_stop``, hands the Lease back.

        If this replica was leading, the ``on_started_leading`` task is cancelled, ``on_stopped_leading`` is
        awaited, then the Lease is released (a failed release is logged as a WARNING; the Lease then expires by
        itself). Raises nothing; a request in flight is cancelled, not waited for. The elector cannot be started
        again (a stop before any start counts too).
        """
        with self._life:
            self._stopped = True  # a later start() raises: an elector runs once
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
                outcome = await async_drive(self._attempt(), self._http)
                self._succeeded()
                await self._report(outcome)
            except Exception as exc:  # a failed attempt is retried; only the deadline decides leadership
                self._failed(exc)
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
