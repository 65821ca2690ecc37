"""Leader election against the real API server: one leader among three processes, takeover after a crash
and after a graceful release, step-down when the API server is gone, and never two leaders at once."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import incluster_sdk
from incluster_sdk.leader import AsyncLeaderElector, LeaderElector
from incluster_sdk.testing import LocalCluster
from tests.support.output import Lines

pytestmark = pytest.mark.e2e
CANDIDATE = Path(__file__).with_name("leader_candidate.py")
RULES = ["get,create,update:leases.coordination.k8s.io"]  # all an elector needs
LEASE, RENEW, RETRY = 6.0, 4.0, 1.0  # client-go's ratios, shortened so the test takes seconds
SLACK = 1.5  # process scheduling, HTTP round trips


def _of_kind(event: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return event if event["event"] == kind else None


class Candidate:
    def __init__(self, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CANDIDATE), name, str(LEASE), str(RENEW), str(RETRY)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        assert self.proc.stdout is not None
        self.output = Lines(self.proc.stdout)
        self.identity = str(self.wait_for("ready")["identity"])
        self.killed_at: float | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event the candidate has printed so far (one JSON object a line)."""
        return [json.loads(line) for line in self.output.read]

    def wait_for(self, kind: str, timeout: float = 30) -> dict[str, Any]:
        """The first event of ``kind`` it printed, waiting up to ``timeout`` for one."""
        event: dict[str, Any] | None = self.output.first(lambda line: _of_kind(json.loads(line), kind), timeout)
        if event is None:
            raise AssertionError(f"{self.identity}: no {kind!r} event; saw {self.events}")
        return event

    def leading(self) -> bool:
        kinds = [e["event"] for e in self.events if e["event"] in ("started", "stopped")]
        return bool(kinds) and kinds[-1] == "started" and self.killed_at is None

    def intervals(self) -> list[tuple[float, float]]:
        out, start = [], None
        for event in self.events:
            if event["event"] == "started":
                start = event["t"]
            elif event["event"] == "stopped" and start is not None:
                out.append((start, event["t"]))
                start = None
        if start is not None:
            out.append((start, self.killed_at or time.time()))
        return out


def assert_never_two_leaders(intervals: list[tuple[float, float]]) -> None:
    ordered = sorted(intervals)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert end <= start, f"two leaders at once: {ordered}"


def wait_for_leader(candidates: list[Candidate], timeout: float) -> Candidate:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [c for c in candidates if c.leading()]
        if leaders:
            assert len(leaders) == 1, [c.identity for c in leaders]
            return leaders[0]
        time.sleep(0.05)
    raise AssertionError("no leader")


def test_three_processes_one_leader_crash_and_graceful_takeover(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    in_pod(RULES)
    candidates = [Candidate("pod-counter") for _ in range(3)]
    try:
        first = wait_for_leader(candidates, LEASE + RETRY * 3)
        time.sleep(RETRY * 3)  # everyone has observed the leader by now
        assert sum(c.leading() for c in candidates) == 1
        for other in candidates:
            if other is not first:
                assert other.wait_for("new_leader")["leader"] == first.identity

        first.proc.send_signal(signal.SIGKILL)  # a crash: no release
        first.killed_at = time.time()
        rest = [c for c in candidates if c is not first]
        second = wait_for_leader(rest, LEASE + RETRY * 2 + SLACK)
        took = second.wait_for("started")["t"] - first.killed_at
        assert took <= LEASE + RETRY * 1.2 + SLACK, took  # within lease duration + retry period

        second.proc.send_signal(signal.SIGTERM)  # graceful: stop leading, release
        released = second.wait_for("stopped")["t"]
        assert second.proc.wait(10) == 0
        third = next(c for c in rest if c is not second)
        took = third.wait_for("started", timeout=RETRY * 3)["t"] - released
        assert took <= RETRY * 1.2 + SLACK, took  # within one retry period, not a lease duration
        assert_never_two_leaders([i for c in candidates for i in c.intervals()])
    finally:
        for candidate in candidates:
            candidate.proc.kill()
    lease = local_cluster.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{cluster_namespace}/leases/pod-counter"
    )
    assert lease["spec"]["leaseTransitions"] >= 2


def test_leader_steps_down_when_the_api_server_is_gone_and_one_leads_after(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    mount = in_pod(RULES, bound_to_secret="tok-1")
    history: list[tuple[str, str, float]] = []

    def elector(i: int) -> LeaderElector:
        def record(kind: str) -> Any:
            return lambda: history.append((f"e{i}", kind, time.monotonic()))

        return LeaderElector(
            incluster_sdk.api_client(),
            "singleton",
            identity=f"e{i}",
            lease_duration=LEASE,
            renew_deadline=RENEW,
            retry_period=RETRY,
            on_started_leading=record("started"),
            on_stopped_leading=record("stopped"),
        )

    electors = [elector(i).start() for i in range(2)]
    try:
        deadline = time.monotonic() + LEASE + 3 * RETRY
        while sum(e.is_leader for e in electors) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        (leader,) = [e for e in electors if e.is_leader]
        # the token rotates and the old one is invalidated: renewals carry on with the new one
        mount.rotate(token=local_cluster.mint_token(cluster_namespace, "app", bound_to_secret="tok-2"))
        local_cluster.invalidate(cluster_namespace, "tok-1")
        time.sleep(RETRY * 3)
        assert leader.is_leader

        local_cluster.stop_apiserver()
        down = time.monotonic()
        time.sleep(RENEW + RETRY + SLACK)
        assert not any(e.is_leader for e in electors)
        stopped = [t for who, kind, t in history if kind == "stopped" and who == leader.identity]
        assert stopped and stopped[0] - down <= RENEW + RETRY, stopped[0] - down  # stepped down in time

        local_cluster.start_apiserver()
        deadline = time.monotonic() + LEASE + 3 * RETRY + SLACK
        while sum(e.is_leader for e in electors) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(e.is_leader for e in electors) == 1
    finally:
        for e in electors:
            e.stop()
    intervals: dict[str, list[float]] = {}
    spans = []
    for who, kind, t in sorted(history, key=lambda h: h[2]):
        if kind == "started":
            intervals[who] = [t]
        elif who in intervals:
            spans.append((intervals.pop(who)[0], t))
    assert_never_two_leaders(spans)


async def test_async_electors_hand_over_on_release(local_cluster: LocalCluster, in_pod: Any) -> None:
    in_pod(RULES)
    cfg = incluster_sdk.load_config()
    led: list[str] = []

    async with incluster_sdk.AsyncApiClient(cfg) as client:

        def make(i: int) -> AsyncLeaderElector:
            async def work() -> None:
                led.append(f"a{i}")
                await asyncio.sleep(3600)  # cancelled when leadership ends

            return AsyncLeaderElector(
                client,
                "async-singleton",
                identity=f"a{i}",
                lease_duration=LEASE,
                renew_deadline=RENEW,
                retry_period=RETRY,
                on_started_leading=work,
            )

        first, second = make(0).start(), make(1).start()
        for _ in range(200):
            if first.is_leader or second.is_leader:
                break
            await asyncio.sleep(0.05)
        leader, follower = (first, second) if first.is_leader else (second, first)
        await asyncio.sleep(RETRY * 2)
        assert not follower.is_leader and follower.leader == leader.identity
        released = time.monotonic()
        await leader.stop()
        while not follower.is_leader:
            await asyncio.sleep(0.02)
            assert time.monotonic() - released < RETRY * 1.2 + SLACK
        await follower.stop()
    assert led == [leader.identity, follower.identity]
