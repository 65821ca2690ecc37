"""The leader electors' drivers (threads and asyncio) with a scripted fake API: how failed attempts are logged,
and that an elector runs once. The decisions themselves are tests/test_leader_election.py's."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from incluster_sdk.leader import AsyncLeaderElector, LeaderElector
from incluster_sdk.leader.lease import Call

LOGGER = "incluster_sdk.leader"
FAST = {"lease_duration": 0.5, "renew_deadline": 0.3, "retry_period": 0.01}


class FakeConfig:
    namespace = "ns"


class FakeClient:
    incluster_config = FakeConfig()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def echo(call: Call, status: int) -> tuple[int, Any]:
    """The server stores what we sent."""
    assert call.body is not None
    return status, {**call.body, "metadata": {**call.body["metadata"], "resourceVersion": "7"}}


Step = tuple[int, Any] | float | Callable[[Call], tuple[int, Any]]


class Script:
    """Answers calls in order: a (status, body) pair, a function of the call, or a float that advances the
    failure log's clock by that many seconds (and answers nothing). Calls ``done`` when it runs out; after
    that, every call is stored (a leader's renews succeed)."""

    def __init__(self, steps: list[Step], clock: Clock, done: Callable[[], None]) -> None:
        self.steps, self.clock, self.done = list(steps), clock, done
        self.calls: list[str] = []

    def __call__(self, call: Call) -> tuple[int, Any]:
        self.calls.append(call.method)
        if not self.steps:
            return echo(call, 200)
        while isinstance(self.steps[0], float):
            self.clock.now += self.steps.pop(0)  # type: ignore[operator]
        step = self.steps.pop(0)
        if not self.steps:
            self.done()
        return step(call) if callable(step) else step


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(LOGGER) and r.levelno == logging.WARNING]


FAILURES: list[Step] = [
    *[(403, None)] * 5,  # missing RBAC: one WARNING, the repeats at DEBUG
    (500, None),  # another error: logged at once
    (500, None),
    61.0,  # a minute later the same error is logged again, with how many were not
    (500, None),
    (404, None),  # the Lease is missing: create it and lead; requests succeed again
    lambda call: echo(call, 201),
]


def check_failure_log(caplog: pytest.LogCaptureFixture) -> None:
    logged = warnings(caplog)
    assert len(logged) == 3, logged
    assert logged[0].startswith("lease ns/app (me): GET lease: HTTP 403")
    assert "get, create and update on leases.coordination.k8s.io in namespace ns" in logged[0]
    assert logged[1].startswith("lease ns/app (me): GET lease: HTTP 500") and "not logged" not in logged[1]
    assert logged[2].startswith("lease ns/app (me): GET lease: HTTP 500")
    assert "1 more like it in the last 61s not logged" in logged[2]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and "HTTP 403" in r.getMessage()]
    assert len(debug) == 4
    infos = [r.getMessage() for r in caplog.records if r.name.startswith(LOGGER) and r.levelno == logging.INFO]
    assert any("requests succeed again" in m for m in infos) and any("started leading" in m for m in infos)


def test_failed_attempts_are_warnings_without_a_flood(caplog: pytest.LogCaptureFixture) -> None:
    elector = LeaderElector(FakeClient(), "app", identity="me", release_on_stop=False, **FAST)  # type: ignore[arg-type]
    clock, stop = Clock(), threading.Event()
    elector._failures.clock = clock
    script = Script(FAILURES, clock, stop.set)
    elector._http = script  # type: ignore[method-assign]
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        elector._run(stop)
    assert script.calls == ["GET"] * 9 + ["POST"] and elector.election.leading
    check_failure_log(caplog)


def test_async_failed_attempts_are_warnings_without_a_flood(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        elector = AsyncLeaderElector(FakeClient(), "app", identity="me", release_on_stop=False, **FAST)  # type: ignore[arg-type]
        clock, done = Clock(), asyncio.Event()
        elector._failures.clock = clock
        script = Script(FAILURES, clock, done.set)

        async def http(call: Call) -> tuple[int, Any]:
            return script(call)

        elector._http = http  # type: ignore[method-assign]
        elector.start()
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0.05)  # the last answer is handled
        await elector.stop()
        assert script.calls[:10] == ["GET"] * 9 + ["POST"]

    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        asyncio.run(main())
    check_failure_log(caplog)


def test_an_elector_runs_once() -> None:
    elector = LeaderElector(FakeClient(), "app", identity="me", **FAST)  # type: ignore[arg-type]
    elector._http = lambda call: (503, None)  # type: ignore[method-assign]
    elector.start()
    with pytest.raises(RuntimeError, match=r"ns/app \(me\): the elector is already started: an elector runs once"):
        elector.start()
    elector.stop()
    with pytest.raises(RuntimeError, match=r"lease ns/app \(me\): the elector was stopped: an elector runs once"):
        elector.start()
    never = LeaderElector(FakeClient(), "app", identity="me", **FAST)  # type: ignore[arg-type]
    never.stop()  # a stop before start counts
    with pytest.raises(RuntimeError, match="the elector was stopped"), never:
        pass


def test_an_async_elector_runs_once() -> None:
    async def main() -> None:
        elector = AsyncLeaderElector(FakeClient(), "app", identity="me", **FAST)  # type: ignore[arg-type]

        async def http(call: Call) -> tuple[int, Any]:
            return 503, None

        elector._http = http  # type: ignore[method-assign]
        elector.start()
        first = elector._task
        with pytest.raises(RuntimeError, match="the elector is already started: an elector runs once"):
            elector.start()
        assert elector._task is first  # no second loop
        await elector.stop()
        with pytest.raises(RuntimeError, match="the elector was stopped: an elector runs once"):
            elector.start()
        never = AsyncLeaderElector(FakeClient(), "app", identity="me", **FAST)  # type: ignore[arg-type]
        await never.stop()
        with pytest.raises(RuntimeError, match="the elector was stopped"):
            async with never:
                pass

    asyncio.run(main())
