"""The leader-election decisions (sans-I/O), with a fake clock: client-go's rules, no server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from incluster_sdk.flows import drive
from incluster_sdk.leader.lease import (
    Call,
    LeaderElection,
    LeaseApiError,
    LeaseRecord,
    Outcome,
    attempt,
    lease_body,
    parse_lease,
    release,
)

WALL = dt.datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lease(
    holder: str | None, rv: str = "1", renew: dt.datetime = WALL, duration: int = 15, transitions: int = 0
) -> dict[str, Any]:
    return lease_body("app", "ns", LeaseRecord(holder, duration, renew, renew, transitions, rv))


def run(election: LeaderElection, answers: list[tuple[int, Any]], clock: Clock) -> tuple[Outcome, list[Call]]:
    calls: list[Call] = []
    steps = attempt(election, "app", "ns", clock, lambda: WALL)
    try:
        call = next(steps)
        while True:
            calls.append(call)
            status, body = answers.pop(0)
            if body == "echo":  # the server stores what we sent
                body = {**call.body, "metadata": {**call.body["metadata"], "resourceVersion": str(len(calls) + 10)}}  # type: ignore[index]
            call = steps.send((status, body))
    except StopIteration as done:
        return done.value, calls


def test_lease_round_trip_keeps_microseconds_and_rv() -> None:
    record = parse_lease(lease("a", rv="7", transitions=3))
    assert record == LeaseRecord("a", 15, WALL, WALL, 3, "7")
    assert lease("a")["spec"]["renewTime"] == "2026-11-22T12:00:00.123456Z"


def test_creates_a_missing_lease_and_leads() -> None:
    clock, me = Clock(), LeaderElection("me")
    outcome, calls = run(me, [(404, None), (201, "echo")], clock)
    assert [c.method for c in calls] == ["GET", "POST"]
    assert outcome.started and outcome.new_leader == "me" and me.is_leader(clock.now)
    assert calls[1].body["spec"]["holderIdentity"] == "me"  # type: ignore[index]


def test_a_valid_lease_of_another_is_respected_until_it_expires_on_our_clock() -> None:
    clock, me = Clock(), LeaderElection("me")
    long_ago = WALL - dt.timedelta(hours=1)  # their clock is skewed: the written time is not trusted
    theirs = lease("other", renew=long_ago, transitions=4)
    outcome, calls = run(me, [(200, theirs)], clock)
    assert [c.method for c in calls] == ["GET"] and not outcome.started and outcome.new_leader == "other"
    clock.now += 14.9
    outcome, calls = run(me, [(200, theirs)], clock)  # unchanged record: the holder stopped renewing
    assert [c.method for c in calls] == ["GET"]
    clock.now += 0.2  # 15.1 s since we saw it change: expired
    outcome, calls = run(me, [(200, theirs), (200, "echo")], clock)
    assert [c.method for c in calls] == ["GET", "PUT"] and outcome.started
    put = calls[1].body
    assert put["metadata"]["resourceVersion"] == "1"  # type: ignore[index]  # optimistic concurrency
    assert put["spec"]["leaseTransitions"] == 5  # type: ignore[index]


def test_a_renewing_holder_keeps_the_lease() -> None:
    clock, me = Clock(), LeaderElection("me")
    run(me, [(200, lease("other", rv="1"))], clock)
    for i in range(10):
        clock.now += 2
        outcome, calls = run(
            me, [(200, lease("other", rv=str(i + 2), renew=WALL + dt.timedelta(seconds=2 * i)))], clock
        )
        assert [c.method for c in calls] == ["GET"] and not outcome.started


def test_a_lost_race_is_a_409_and_nothing_else() -> None:
    clock, me = Clock(), LeaderElection("me")
    outcome, calls = run(me, [(404, None), (409, None)], clock)
    assert not outcome.started and not me.leading
    outcome, calls = run(me, [(200, lease(None)), (409, None)], clock)  # released lease, someone was faster
    assert [c.method for c in calls] == ["GET", "PUT"] and not me.leading


def test_leader_renews_with_one_put_and_steps_down_after_the_deadline() -> None:
    clock, me = Clock(), LeaderElection("me", lease_duration=15, renew_deadline=10, retry_period=2)
    run(me, [(404, None), (201, "echo")], clock)
    clock.now += 2
    outcome, calls = run(me, [(200, "echo")], clock)
    assert [c.method for c in calls] == ["PUT"] and me.is_leader(clock.now) and not outcome.started
    renewed = clock.now
    for _ in range(4):  # the API server is down: attempts fail
        clock.now += 2
        with pytest.raises(LeaseApiError):
            run(me, [(503, None)], clock)
    assert me.is_leader(renewed + 9.9) and not me.is_leader(renewed + 10)
    assert me.deadline_passed(renewed + 10)  # the driver steps down here: 5 s before anyone may take over


def test_conflict_on_renew_rereads_and_notices_the_loss() -> None:
    clock, me = Clock(), LeaderElection("me")
    run(me, [(404, None), (201, "echo")], clock)
    outcome, calls = run(me, [(409, None), (200, lease("thief", rv="99"))], clock)
    assert [c.method for c in calls] == ["PUT", "GET"]
    assert outcome.lost and "thief" in outcome.lost and not me.leading and outcome.new_leader == "thief"


def test_release_hands_the_lease_back() -> None:
    clock, me = Clock(), LeaderElection("me")
    assert me.release(WALL) is None  # not ours
    run(me, [(404, None), (201, "echo")], clock)
    released = me.release(WALL)
    assert released is not None and released.holder is None and released.lease_duration == 1
    other, clock2 = LeaderElection("other"), Clock()
    outcome, _ = run(other, [(200, lease_body("app", "ns", released)), (200, "echo")], clock2)
    assert outcome.started  # a free lease is taken at once, no waiting for expiry


@pytest.mark.parametrize(
    ("retry", "renew", "duration", "message"),
    [
        (2, 10, 10, r"lease_duration \(10\) must be greater than renew_deadline \(10\)"),
        (2, 1, 15, r"renew_deadline \(1\) must be greater than retry_period \* 1\.2 \(2 \* 1\.2 = 2\.4\)"),
        (0, 10, 15, r"retry_period \(0\) must be greater than 0"),
        (11, 10, 15, r"renew_deadline \(10\) must be greater than retry_period \* 1\.2 \(11 \* 1\.2 = 13\.2\)"),
        (2, 2.4, 15, r"renew_deadline \(2\.4\) must be greater than retry_period \* 1\.2"),  # equal: refused
        (2, 2.2, 15, r"renew_deadline \(2\.2\) must be greater than retry_period \* 1\.2"),  # > retry: not enough
    ],
)
def test_unsafe_timings_are_refused(retry: float, renew: float, duration: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeaderElection("me", lease_duration=duration, renew_deadline=renew, retry_period=retry)


@pytest.mark.parametrize(("retry", "renew", "duration"), [(2, 10, 15), (1, 4, 6), (0.5, 3, 4), (2, 2.41, 15)])
def test_client_go_timings_are_accepted(retry: float, renew: float, duration: float) -> None:
    """client-go's defaults, and those of the docs, examples and end-to-end tests (15/10/2, 6/4/1, 4/3/0.5)."""
    election = LeaderElection("me", lease_duration=duration, renew_deadline=renew, retry_period=retry)
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (duration, renew, retry)


def _leading(clock: Clock) -> LeaderElection:
    me = LeaderElection("me")
    outcome, _ = run(me, [(404, None), (201, "echo")], clock)
    assert outcome.started and me.leading
    return me


def _release(me: LeaderElection, answers: list[tuple[int, Any]]) -> tuple[bool, list[Call]]:
    calls: list[Call] = []

    def answer(call: Call) -> tuple[int, Any]:
        calls.append(call)
        return answers.pop(0)

    return drive(release(me, "app", "ns", WALL), answer), calls


def test_release_hands_the_lease_back_with_the_version_it_saw() -> None:
    me = _leading(Clock())
    released, calls = _release(me, [(200, None)])
    assert released and [c.method for c in calls] == ["PUT"]
    assert (
        calls[0].body is not None and calls[0].body["spec"]["holderIdentity"] == ""
    )  # released: an empty holder, as client-go writes it
    assert calls[0].body["metadata"]["resourceVersion"] == me.observed.resource_version  # type: ignore[union-attr]


def test_release_after_a_cancelled_renew_reads_the_lease_and_releases_that_version() -> None:
    """stop() can cancel a renew the server already applied: the release then gets 409 (seen under load)."""
    me = _leading(Clock())
    renewed = lease("me", rv="99")
    released, calls = _release(me, [(409, None), (200, renewed), (200, None)])
    assert released and [c.method for c in calls] == ["PUT", "GET", "PUT"]
    assert calls[2].body is not None and calls[2].body["metadata"]["resourceVersion"] == "99"
    assert calls[2].body["spec"]["holderIdentity"] == ""  # released: an empty holder, as client-go writes it


def test_release_after_409_leaves_a_lease_someone_else_holds() -> None:
    me = _leading(Clock())
    released, calls = _release(me, [(409, None), (200, lease("other", rv="5"))])
    assert not released and [c.method for c in calls] == ["PUT", "GET"]


def test_release_failures_raise_for_the_driver_to_log() -> None:
    me = _leading(Clock())
    with pytest.raises(LeaseApiError, match="PUT lease: HTTP 500"):
        _release(me, [(500, None)])
    not_leading = LeaderElection("me")
    assert _release(not_leading, []) == (False, [])
