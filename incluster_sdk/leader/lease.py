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

LEASE_DURATION = 15.0
"""Default ``lease_duration``, in seconds: how long a candidate waits, after it last saw the Lease change, before
it may take the Lease from a holder that stopped renewing.

client-go's ``leaderelection`` ``LeaseDuration`` as kube-controller-manager uses it ("Core clients default this
value to 15 seconds"). client-go's reason: a candidate must wait a full lease duration without seeing the record
change before it takes over (also after all candidates restart under new identities), so it should be as
short as your tolerance for clock skew *rate* allows. 15 s rides out a slow API server or a GC pause, and a
crashed leader is replaced within about 15-20 s.
"""
RENEW_DEADLINE = 10.0
"""Default ``renew_deadline``, in seconds: how long the leader keeps trying to renew before it stops leading.

client-go's ``leaderelection`` ``RenewDeadline`` as kube-controller-manager uses it (10 s: "the duration that
the acting master will retry refreshing leadership before giving up"). It must be below :data:`LEASE_DURATION`:
the gap (5 s by default) covers the time between another candidate's observation of the Lease and its write,
so the old leader has stopped before anyone may take over. client-go's package documentation: the ratio
``LeaseDuration / RenewDeadline`` (1.5 here) is about the largest ratio of clock *rates* between the fastest and
the slowest node that the election tolerates.
"""
RETRY_PERIOD = 2.0
"""Default ``retry_period``, in seconds: how often candidates try to acquire the Lease and the leader renews it.

client-go's ``leaderelection`` ``RetryPeriod`` as kube-controller-manager uses it (2 s: "the duration the
LeaderElector clients should wait between tries of actions"); several renew attempts fit in
:data:`RENEW_DEADLINE`.
"""
JITTER_FACTOR = 1.2
"""client-go's ``leaderelection.JitterFactor`` (1.2), used as client-go uses it:

- candidates that do not lead wait ``retry_period * (1 + random() * JITTER_FACTOR)`` between tries (2-4.4 s by
  default; client-go's ``wait.JitterUntil``), so they do not all write at once; the leader renews every
  ``retry_period``, without jitter;
- ``renew_deadline`` must be greater than ``retry_period * JITTER_FACTOR`` ("renewDeadline must be greater than
  retryPeriod*JitterFactor"): a retry period close to the renew deadline leaves the leader about one try to
  renew before it gives up."""

LEASE_API = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class LeaseRecord:
    """The ``spec`` of a ``coordination.k8s.io/v1`` Lease, and the ``resourceVersion`` it was read at.

    :param holder: ``spec.holderIdentity``: the identity of the leader; None when the Lease is free (never
        taken, or released: the server stores an empty string).
    :param lease_duration: ``spec.leaseDurationSeconds``, in whole seconds: how long candidates wait after they
        last saw the record change before they may take it (1 s in a released Lease).
    :param acquire_time: ``spec.acquireTime`` (UTC, microseconds): when the current holder took the Lease; None
        when the Lease has none.
    :param renew_time: ``spec.renewTime`` (UTC, microseconds): when the holder last renewed; None when the Lease
        has none. Written for humans and other tools: no decision here reads it (see :class:`LeaderElection`).
    :param transitions: ``spec.leaseTransitions``: how many times the holder changed (a count).
    :param resource_version: ``metadata.resourceVersion`` of the Lease this was read from, sent with the next
        write so that a Lease that moved on since gets 409 Conflict; None for a Lease not read yet (a create).
    """

    holder: str | None
    lease_duration: int
    acquire_time: dt.datetime | None
    renew_time: dt.datetime | None
    transitions: int
    resource_version: str | None = None

    def same_as(self, other: LeaseRecord | None) -> bool:
        """Whether ``other`` holds the same record, apart from the resourceVersion (which changes on every write,
        our own included).

        :param other: the record to compare with; None (no Lease) is never the same.
        :returns: True if every field but ``resource_version`` is equal.
        """
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
    """The record of a Lease as the API server sends it.

    :param body: a Lease as a dict (``{"metadata": {"resourceVersion": ...}, "spec": {"holderIdentity": ...}}``);
        missing fields read as None or 0, unparseable times as None.
    :returns: its :class:`LeaseRecord`.
    """
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
    """The Lease to send for ``record``.

    :param name: the Lease's name.
    :param namespace: the Lease's namespace.
    :param record: what to write; its ``resource_version``, if any, makes the write conditional.
    :returns: a ``coordination.k8s.io/v1`` Lease as a dict; times as RFC 3339 with microseconds in UTC, an
        empty ``holderIdentity`` for a free Lease.
    """
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


def _check_timings(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """client-go's checks of the three durations (``NewLeaderElector``), with messages that name the values.

    :param lease_duration: the election's lease duration, in seconds.
    :param renew_deadline: the election's renew deadline, in seconds.
    :param retry_period: the election's retry period, in seconds.
    :raises ValueError: unless ``retry_period > 0``, ``renew_deadline > retry_period * JITTER_FACTOR`` (1.2)
        and ``lease_duration > renew_deadline``.
    """
    if not retry_period > 0:
        raise ValueError(f"leader election: retry_period ({retry_period:g}) must be greater than 0 seconds")
    if not renew_deadline > retry_period * JITTER_FACTOR:
        raise ValueError(
            f"leader election: renew_deadline ({renew_deadline:g}) must be greater than retry_period * "
            f"{JITTER_FACTOR:g} ({retry_period:g} * {JITTER_FACTOR:g} = {retry_period * JITTER_FACTOR:g}), as"
            " client-go requires (renewDeadline > retryPeriod * JitterFactor)"
        )
    if not lease_duration > renew_deadline:
        raise ValueError(
            f"leader election: lease_duration ({lease_duration:g}) must be greater than renew_deadline"
            f" ({renew_deadline:g}), as client-go requires: the leader must give up before anyone else may take over"
        )


class LeaderElection:
    """One candidate's view of the Lease and the decisions of client-go's ``tryAcquireOrRenew``, without I/O.

    :class:`~incluster_sdk.leader.elector.LeaderElector` and
    :class:`~incluster_sdk.leader.aio.AsyncLeaderElector` drive it; use it directly only to build another
    driver. Every ``now`` is the caller's monotonic clock, in seconds (``time.monotonic()``): the decisions
    use nothing else. Every ``wall`` is a timezone-aware UTC :class:`~datetime.datetime`, only written into
    the Lease.

    :param identity: this candidate's identity, written as the Lease's ``holderIdentity``; unique among the
        candidates (see :func:`~incluster_sdk.leader.elector.default_identity`).
    :param lease_duration: seconds a candidate waits, after it last saw the Lease change, before it may take
        it from a holder; default :data:`LEASE_DURATION` (15 s, client-go's). Written to the Lease rounded to
        whole seconds (at least 1).
    :param renew_deadline: seconds the leader may go without a successful renew before it must stop leading;
        default :data:`RENEW_DEADLINE` (10 s, client-go's).
    :param retry_period: seconds between tries, to acquire or to renew; default :data:`RETRY_PERIOD` (2 s,
        client-go's).
    :raises ValueError: unless ``retry_period > 0``, ``renew_deadline > retry_period * 1.2``
        (``JITTER_FACTOR``) and ``lease_duration > renew_deadline`` (the leader must give up before anyone else
        may take over): client-go's ``NewLeaderElector`` checks. The message names the values and the rule
        broken.
    """

    def __init__(
        self,
        identity: str,
        *,
        lease_duration: float = LEASE_DURATION,
        renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD,
    ) -> None:
        _check_timings(lease_duration, renew_deadline, retry_period)
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.observed: LeaseRecord | None = None
        """The Lease as last read or written; None before the first read, or when it did not exist."""
        self.observed_at = float("-inf")
        """When (``now``, monotonic seconds) :attr:`observed` last changed; -inf before any observation."""
        self.last_renew = float("-inf")
        """When (``now``, monotonic seconds) our last claim was stored; -inf before any."""
        self.leading = False
        """True from a stored claim until :meth:`step_down`, or until the Lease is seen held by another. Not
        bounded by the renew deadline: :meth:`is_leader` is."""

    def observe(self, record: LeaseRecord | None, now: float) -> str | None:
        """Take in the Lease as read; stop :attr:`leading` if it exists and this identity does not hold it.

        The lease clock restarts (:attr:`observed_at` = ``now``) whenever the record differs from the one
        observed before, apart from its resourceVersion.

        :param record: the Lease as read, or None when it does not exist (404).
        :param now: monotonic seconds.
        :returns: the new holder's identity if the holder changed to a non-empty one (this candidate's own
            included), else None. The caller reports it as ``on_new_leader``; if :attr:`leading` turned False,
            the caller reports ``on_stopped_leading``.
        """
        changed_holder = (record.holder if record else None) != (self.observed.holder if self.observed else None)
        if record is None or not record.same_as(self.observed):
            self.observed_at = now  # the lease's clock runs from when *we* saw it change
        self.observed = record
        if record is not None and record.holder != self.identity and self.leading:
            self.leading = False  # someone else holds it: we lost it (the caller fires on_stopped_leading)
        return record.holder if changed_holder and record is not None and record.holder else None

    def held_by_other(self, now: float) -> bool:
        """Whether another identity holds the Lease and may still be renewing it, so this candidate must not
        take it.

        :param now: monotonic seconds.
        :returns: True if the observed holder is another identity and less than the Lease's
            ``leaseDurationSeconds`` have passed since :attr:`observed_at`; False for a free Lease, our own,
            or an expired one.
        """
        record = self.observed
        if record is None or not record.holder or record.holder == self.identity:
            return False
        return now < self.observed_at + record.lease_duration

    def claim(self, wall: dt.datetime) -> LeaseRecord:
        """The record to write to acquire or renew the Lease (call only when not :meth:`held_by_other`).

        :param wall: now, as a UTC datetime: the new ``renewTime`` (and ``acquireTime`` when taking the Lease
            from someone else).
        :returns: a record naming this identity, with the observed Lease's resourceVersion (None: create it);
            ``acquireTime`` and ``transitions`` are kept on a renew, and ``transitions`` is one more on a
            takeover (0 for a new Lease).
        """
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
        """Record that our claim was stored: :attr:`leading` from now, renewed at ``now``.

        :param record: the Lease as the server answered the write (its new resourceVersion included).
        :param now: monotonic seconds.
        :returns: True if this started our leadership (we were not leading), False for a renew.
        """
        started = not self.leading
        self.observed, self.observed_at = record, now
        self.last_renew = now
        self.leading = True
        return started

    def is_leader(self, now: float) -> bool:
        """Whether this candidate leads and renewed recently enough that nobody else may have taken over.

        :param now: monotonic seconds.
        :returns: True if :attr:`leading` and less than ``renew_deadline`` seconds have passed since
            :attr:`last_renew`.
        """
        return self.leading and now < self.last_renew + self.renew_deadline

    def deadline_passed(self, now: float) -> bool:
        """Whether this candidate still counts itself as leading but has not renewed for ``renew_deadline``:
        the driver must then :meth:`step_down`.

        :param now: monotonic seconds.
        :returns: True if :attr:`leading` and at least ``renew_deadline`` seconds have passed since
            :attr:`last_renew`.
        """
        return self.leading and now >= self.last_renew + self.renew_deadline

    def step_down(self) -> None:
        """Stop leading (:attr:`leading` False); the observed Lease is kept, so the next claim can renew it."""
        self.leading = False

    def release(self, wall: dt.datetime) -> LeaseRecord | None:
        """The record that hands the Lease back, as client-go's ``release`` writes it.

        :param wall: now, as a UTC datetime: the new ``acquireTime`` and ``renewTime``.
        :returns: the observed record with an empty holder and a 1 s ``leaseDurationSeconds`` (so a successor
            takes it at its next try), and the observed resourceVersion; None if the observed Lease is not
            held by this identity (nothing to release).
        """
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
    """What one :func:`attempt` did, for the driver to report through the callbacks."""

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
