"""Lease-based leader election, the decisions only (sans-I/O), with client-go's semantics.

A ``coordination.k8s.io/v1`` Lease records who holds leadership and when they last renewed. The rules:

- A candidate may take the Lease when it is free (no holder, or released) or when the holder has not renewed
  for ``lease_duration`` *as observed on the candidate's own clock*: the time the candidate last saw the
  record change, not the timestamps written in it. So clock skew between pods never shortens a lease.
- Writes carry the Lease's resourceVersion: of two candidates racing for it, one gets 409 Conflict.
- The leader renews every ``retry_period``. If it has not renewed successfully for ``renew_deadline``, it
  stops leading. Because ``renew_deadline < lease_duration``, it has stopped before anyone else can see
  the lease as expired: never two leaders, as far as the Lease's own clock rules can tell.
- Releasing (on graceful shutdown) writes an empty holder, so a successor takes over at its next try.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InclusterSDKError

#: client-go's defaults (leaderelection.LeaderElectionConfig, as used by kube-controller-manager).
#: How long a lease stays valid after the last renew a candidate observed: long enough to ride out a slow
#: API server or a GC pause, short enough that a crashed leader is replaced within seconds.
LEASE_DURATION = 15.0
#: How long the leader keeps trying to renew before it gives up leading. Must be below LEASE_DURATION, and
#: the gap (5 s) covers the time between one candidate's observation and its write.
RENEW_DEADLINE = 10.0
#: How often candidates try to acquire and the leader renews; several renew attempts fit in RENEW_DEADLINE.
RETRY_PERIOD = 2.0
#: Candidates wait RETRY_PERIOD * (1 + random * JITTER) between tries so they do not all write at once.
JITTER = 0.2

LEASE_API = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class LeaseRecord:
    holder: str | None
    lease_duration: int
    acquire_time: dt.datetime | None
    renew_time: dt.datetime | None
    transitions: int
    resource_version: str | None = None

    def same_as(self, other: LeaseRecord | None) -> bool:
        """Equal apart from the resourceVersion (which changes on every write, including our own)."""
        return other is not None and replace(self, resource_version=None) == replace(other, resource_version=None)


def _micro_time(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_lease(body: dict[str, Any]) -> LeaseRecord:
    spec = body.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        lease_duration=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=(body.get("metadata") or {}).get("resourceVersion"),
    )


def lease_body(name: str, namespace: str, record: LeaseRecord) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if record.resource_version:
        metadata["resourceVersion"] = record.resource_version  # optimistic concurrency: 409 if it moved on
    spec: dict[str, Any] = {
        "holderIdentity": record.holder or "",
        "leaseDurationSeconds": record.lease_duration,
        "leaseTransitions": record.transitions,
    }
    for key, value in (("acquireTime", record.acquire_time), ("renewTime", record.renew_time)):
        if value is not None:
            spec[key] = _micro_time(value)
    return {"apiVersion": LEASE_API, "kind": "Lease", "metadata": metadata, "spec": spec}


class LeaderElection:
    """One candidate's view. Times are the caller's monotonic clock; ``wall`` is only written to the Lease."""

    def __init__(
        self,
        identity: str,
        *,
        lease_duration: float = LEASE_DURATION,
        renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD,
    ) -> None:
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError(
                "leader election needs 0 < retry_period < renew_deadline < lease_duration "
                f"(got {retry_period}, {renew_deadline}, {lease_duration}): the leader must give up before"
                " anyone else may take over"
            )
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.observed: LeaseRecord | None = None
        self.observed_at = float("-inf")
        self.last_renew = float("-inf")
        self.leading = False

    def observe(self, record: LeaseRecord | None, now: float) -> str | None:
        """Take in the Lease as read (None: it does not exist); returns the holder if it changed."""
        changed_holder = (record.holder if record else None) != (self.observed.holder if self.observed else None)
        if record is None or not record.same_as(self.observed):
            self.observed_at = now  # the lease's clock runs from when *we* saw it change
        self.observed = record
        if record is not None and record.holder != self.identity and self.leading:
            self.leading = False  # someone else holds it: we lost it (the caller fires on_stopped_leading)
        return record.holder if changed_holder and record is not None and record.holder else None

    def held_by_other(self, now: float) -> bool:
        record = self.observed
        if record is None or not record.holder or record.holder == self.identity:
            return False
        return now < self.observed_at + record.lease_duration

    def claim(self, wall: dt.datetime) -> LeaseRecord:
        """The record to write to acquire or renew (call only when not :meth:`held_by_other`)."""
        old = self.observed
        mine = old is not None and old.holder == self.identity
        return LeaseRecord(
            holder=self.identity,
            lease_duration=max(1, round(self.lease_duration)),
            acquire_time=old.acquire_time if mine and old is not None else wall,
            renew_time=wall,
            transitions=(old.transitions + (0 if mine else 1)) if old is not None else 0,
            resource_version=old.resource_version if old is not None else None,
        )

    def written(self, record: LeaseRecord, now: float) -> bool:
        """Our claim was stored; returns True if this started our leadership."""
        started = not self.leading
        self.observed, self.observed_at = record, now
        self.last_renew = now
        self.leading = True
        return started

    def is_leader(self, now: float) -> bool:
        """Leading, and renewed recently enough that nobody else may have taken over."""
        return self.leading and now < self.last_renew + self.renew_deadline

    def deadline_passed(self, now: float) -> bool:
        return self.leading and now >= self.last_renew + self.renew_deadline

    def step_down(self) -> None:
        self.leading = False

    def release(self, wall: dt.datetime) -> LeaseRecord | None:
        """The record that hands the Lease back (empty holder, 1 s duration), if we hold it."""
        old = self.observed
        if old is None or old.holder != self.identity:
            return None
        return replace(old, holder=None, lease_duration=1, acquire_time=wall, renew_time=wall)


# -- one acquire-or-renew attempt, as a protocol the drivers run (no I/O here) --------------------------------
@dataclass(frozen=True)
class Call:
    """An HTTP request on the Lease: GET it, POST (create) it, or PUT (update) it with ``body``."""

    method: str
    body: dict[str, Any] | None = None


#: What the driver sends back for a Call: (HTTP status, decoded JSON body or None).
Response = tuple[int, "dict[str, Any] | None"]


@dataclass
class Outcome:
    started: bool = False  # we became leader with this attempt
    lost: str | None = None  # we were leading and are no longer: why
    new_leader: str | None = None  # the holder changed to this identity (may be us)


class LeaseApiError(InclusterSDKError):
    """The API server refused a Lease read or write; the election loop logs it and tries again."""

    def __init__(self, call: Call, status: int) -> None:
        super().__init__(f"{call.method} lease: HTTP {status}")
        self.status = status


def attempt(
    election: LeaderElection, name: str, namespace: str, clock: Any, wall: Any
) -> Generator[Call, Response, Outcome]:
    """tryAcquireOrRenew: drive with ``gen.send(response)``; the return value says what happened.

    ``clock()`` is monotonic seconds, ``wall()`` the UTC datetime written into the Lease.
    """
    outcome = Outcome()
    was_holder = election.observed.holder if election.observed else None
    if election.leading and election.observed is not None:
        # Renew directly with the resourceVersion we wrote last: one request instead of GET + PUT.
        status, body = yield Call("PUT", lease_body(name, namespace, election.claim(wall())))
        if status == 200 and body is not None:
            election.written(parse_lease(body), clock())
            return outcome
        if status != 409:
            raise LeaseApiError(Call("PUT"), status)
        # 409: the Lease moved on without us; read it and decide
    status, body = yield Call("GET")
    if status == 404:
        election.observe(None, clock())
        status, body = yield Call("POST", lease_body(name, namespace, election.claim(wall())))
        if status == 409:
            return outcome  # another candidate created it first
        if status != 201 or body is None:
            raise LeaseApiError(Call("POST"), status)
    elif status == 200 and body is not None:
        was_leading = election.leading
        outcome.new_leader = election.observe(parse_lease(body), clock())
        if was_leading and not election.leading:
            outcome.lost = f"the lease is now held by {election.observed.holder if election.observed else '?'}"
            return outcome
        if election.held_by_other(clock()):
            return outcome
        status, body = yield Call("PUT", lease_body(name, namespace, election.claim(wall())))
        if status == 409:
            return outcome  # lost the race
        if status != 200 or body is None:
            raise LeaseApiError(Call("PUT"), status)
    else:
        raise LeaseApiError(Call("GET"), status)
    outcome.started = election.written(parse_lease(body), clock())
    if was_holder != election.identity:
        outcome.new_leader = election.identity
    return outcome


def release(election: LeaderElection, name: str, namespace: str, wall: dt.datetime) -> Generator[Call, Response, bool]:
    """Hand the Lease back, if we hold it; True when released. Driven like :func:`attempt`.

    A 409 means the Lease moved on since we last saw it. Most often it was our own renew, whose answer was
    lost when stopping cancelled it mid-flight: so read the Lease, and if we still hold it, release that
    version once more. Raises :class:`LeaseApiError` when the server refuses."""
    record = election.release(wall)
    if record is None:
        return False
    status, _ = yield Call("PUT", lease_body(name, namespace, record))
    if status == 409:
        status, body = yield Call("GET")
        if status != 200 or body is None:
            raise LeaseApiError(Call("GET"), status)
        current = parse_lease(body)
        if current.holder != election.identity:
            return False  # someone else holds it now: nothing of ours to release
        handed_back = replace(current, holder=None, lease_duration=1, acquire_time=wall, renew_time=wall)
        status, _ = yield Call("PUT", lease_body(name, namespace, handed_back))
    if status != 200:
        raise LeaseApiError(Call("PUT"), status)
    return True
