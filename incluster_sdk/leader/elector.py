"""Run several replicas, have exactly one act: a Lease-based leader elector on a thread.

    elector = LeaderElector(
        api_client(cfg), "pod-counter",
        on_started_leading=lambda: ..., on_stopped_leading=lambda: ..., on_new_leader=lambda who: ...,
    )
    with elector:                  # start() ... stop(): stop releases the Lease so a successor takes over
        ...
        if elector.is_leader: ...  # check before each action that only the leader may take

Needs get, create and update on ``leases`` (coordination.k8s.io) in its namespace:
``incluster-sdk rbac --namespace NS --sa SA get,create,update:leases.coordination.k8s.io``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import orjson

from ..client import ApiClient
from ..config import Config
from ..flows import drive
from .lease import (
    JITTER_FACTOR,
    LEASE_API,
    LEASE_DURATION,
    RENEW_DEADLINE,
    RETRY_PERIOD,
    Call,
    LeaderElection,
    LeaseApiError,
    Outcome,
    Response,
    attempt,
    release,
)

log = logging.getLogger(__name__)

FAILURE_LOG_INTERVAL = 60.0
"""How long, in seconds, a failed attempt that repeats the last one logged at WARNING stays at DEBUG: 60 s (our
choice). The first failure is a WARNING, and so is one with another error (another HTTP status or exception
type), at once; a repeat of the same error is a WARNING again only once this has passed since the last one,
which then counts the repeats not logged. client-go logs every failed attempt ("error retrieving resource
lock", "Failed to update lock"): a candidate without RBAC would log one line per ``retry_period`` forever."""


class _FailureLog:
    """Decides which failed attempts are WARNINGs (see :data:`FAILURE_LOG_INTERVAL`), and whether a success
    ends failures that were warned about."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, interval: float = FAILURE_LOG_INTERVAL) -> None:
        self.clock = clock  # monotonic seconds; a test may replace it
        self.interval = interval
        self.kind: str | None = None  # the error of the last WARNING
        self.logged_at = -math.inf
        self.unlogged = 0  # repeats of it since, logged at DEBUG
        self.warned = False  # a WARNING since the last success

    def failed(self, kind: str) -> str | None:
        """A failed attempt with this error: None to log it at DEBUG, else the suffix of its WARNING."""
        now = self.clock()
        if kind == self.kind and now - self.logged_at < self.interval:
            self.unlogged += 1
            return None
        suffix = ""
        if kind == self.kind and self.unlogged:
            suffix = f"; {self.unlogged} more like it in the last {now - self.logged_at:.0f}s not logged"
        self.kind, self.logged_at, self.unlogged, self.warned = kind, now, 0, True
        return suffix

    def succeeded(self) -> bool:
        """An attempt's requests succeeded: True if failures were warned about since the last success."""
        warned, self.warned = self.warned, False
        return warned


def default_identity() -> str:
    """A unique identity for this replica: the pod name plus a random suffix.

    The pod name is ``POD_NAME`` (set it from the downward API), else the hostname, which is the pod name in a
    pod. The suffix keeps two processes on one host apart, as kube-controller-manager's identity
    (hostname + ``_`` + a UUID) does; a new one is drawn on every call.

    :returns: ``<pod name>_<8 hex digits>``, e.g. ``pod-counter-7d9f-x2k4q_1a2b3c4d``.
    """
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def wall_clock() -> dt.datetime:
    """Now, in UTC: what the Lease records (decisions use the monotonic clock)."""
    return dt.datetime.now(dt.timezone.utc)


class ConfiguredClient(Protocol):
    """What an elector needs of its client besides requests: the config, whose namespace is the default."""

    incluster_config: Config


ClientT = TypeVar("ClientT", bound=ConfiguredClient)
#: What the callbacks return: None for the thread elector; anything (a coroutine included) for the asyncio one.
Returned = TypeVar("Returned")


class LeaderElectionBase(Generic[ClientT, Returned]):
    """The options, the decisions and the callback bookkeeping shared by the thread and asyncio electors.

    Both take the same arguments, documented on :class:`LeaderElector`: the client, the Lease's ``name`` and
    ``namespace`` (default: the client's config's), this replica's ``identity`` (default:
    :func:`default_identity`), client-go's three durations (checked by :class:`~.lease.LeaderElection`), the
    three callbacks, and ``release_on_stop``.
    """

    _log: ClassVar[logging.Logger] = log  # the subclass's module logger

    def __init__(
        self,
        client: ClientT,
        name: str,
        namespace: str | None = None,
        *,
        identity: str | None = None,
        lease_duration: float = LEASE_DURATION,
        renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD,
        on_started_leading: Callable[[], Returned] | None = None,
        on_stopped_leading: Callable[[], Returned] | None = None,
        on_new_leader: Callable[[str], Returned] | None = None,
        release_on_stop: bool = True,
    ) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace or client.incluster_config.namespace
        self.identity = identity or default_identity()
        self.release_on_stop = release_on_stop
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.election = LeaderElection(
            self.identity, lease_duration=lease_duration, renew_deadline=renew_deadline, retry_period=retry_period
        )
        """The decisions and what this replica last saw of the Lease (read it; only the elector changes it)."""
        self._path = f"/apis/{LEASE_API}/namespaces/{self.namespace}/leases"
        self._failures = _FailureLog()
        self._stopped = False  # stop() was called (perhaps before start): start() raises from then on
        self._life = threading.Lock()  # orders start() and stop(); held briefly

    @property
    def is_leader(self) -> bool:
        """True while this replica leads and its last successful renew is less than ``renew_deadline`` s old.

        It turns False the moment the deadline passes, even before the elector's loop steps down; check it
        before each action only the leader may take.
        """
        return self.election.is_leader(time.monotonic())

    @property
    def leader(self) -> str | None:
        """The identity holding the Lease, as last read or written; None before the first read, or when the
        Lease is missing or free (released)."""
        observed = self.election.observed
        return observed.holder if observed else None

    def _url(self, host: str, call: Call) -> str:
        return f"{host}{self._path}" if call.method == "POST" else f"{host}{self._path}/{self.name}"

    def _request_timeout(self) -> float:
        """A renew must not outlive the renew deadline: the leader has to notice in time that it failed."""
        election = self.election
        if not election.leading:
            return max(1.0, election.retry_period)
        remaining = election.last_renew + election.renew_deadline - time.monotonic()
        return max(0.2, min(election.renew_deadline / 2, remaining))

    def _pause(self) -> float:
        election = self.election
        if election.leading:
            remaining = election.last_renew + election.renew_deadline - time.monotonic()
            return max(0.0, min(election.retry_period, remaining))
        return election.retry_period * (1 + random.random() * JITTER_FACTOR)  # noqa: S311 - jitter, not crypto

    def _attempt(self) -> Generator[Call, Response, Outcome]:
        return attempt(self.election, self.name, self.namespace, time.monotonic, wall_clock)

    def _describe(self) -> str:
        return f"lease {self.namespace}/{self.name} ({self.identity})"

    def _check_start(self, started: bool) -> None:
        """Raise unless this elector may start now: it runs once, and a stop before start counts."""
        if self._stopped:
            raise RuntimeError(f"{self._describe()}: the elector was stopped: an elector runs once; make a new one")
        if started:
            raise RuntimeError(f"{self._describe()}: the elector is already started: an elector runs once")

    def _failed(self, exc: Exception) -> None:
        """Log a failed attempt: a WARNING, or a DEBUG line for a recent repeat (see FAILURE_LOG_INTERVAL)."""
        kind = str(exc) if isinstance(exc, LeaseApiError) else type(exc).__name__
        suffix = self._failures.failed(kind)
        if suffix is None:
            self._log.debug("%s: %s (repeated; see the last warning)", self._describe(), str(exc))
            return
        hint = ""
        if isinstance(exc, LeaseApiError) and exc.status == 403:
            hint = (
                f"; this identity needs get, create and update on leases.coordination.k8s.io in namespace"
                f" {self.namespace} (incluster-sdk rbac --namespace {self.namespace} --sa <its ServiceAccount>"
                " get,create,update:leases.coordination.k8s.io)"
            )
        self._log.warning(
            "%s: %s%s; retrying every %gs%s", self._describe(), str(exc), hint, self.election.retry_period, suffix
        )

    def _succeeded(self) -> None:
        """An attempt's requests succeeded: say so once if failures were logged as WARNINGs."""
        if self._failures.succeeded():
            self._log.info("%s: lease requests succeed again", self._describe())


class LeaderElector(LeaderElectionBase[ApiClient, None]):
    """client-go's leader election over the sync ``kubernetes`` client, on its own thread.

    ``with LeaderElector(...) as elector:`` is :meth:`start` ... :meth:`stop`. The thread tries to acquire the
    Lease every ``retry_period`` and, once leading, renews it every ``retry_period``. Failed attempts (e.g. a
    403 for missing RBAC, a 5xx, an unreachable API server) are retried, and logged as a WARNING (with the RBAC
    to grant, for a 403): the first, one with another error at once, and the same error again at most once a
    minute (``incluster_sdk.leader.elector.FAILURE_LOG_INTERVAL``, 60 s), counting the repeats logged at DEBUG
    meanwhile; the first success after a WARNING is logged at INFO. Only the renew deadline decides
    leadership. An elector runs once: after :meth:`start`, or :meth:`stop` (even before any start),
    :meth:`start` raises ``RuntimeError``.

    A lost renew: when no renew has succeeded for ``renew_deadline`` seconds (the API server is down or slow,
    or answers with an error), or a renew finds the Lease held by another identity, the elector stops leading
    (:attr:`is_leader` is already False from the deadline on), logs a WARNING and calls
    ``on_stopped_leading``; it has then stopped before any other replica may take over. Unlike client-go's
    ``Run``, which returns (and kube-controller-manager exits), the elector keeps competing and may lead
    again, with ``on_started_leading`` called again.

    Callbacks (exceptions they raise are logged, never propagated):

    - ``on_started_leading()`` runs on a new thread each time this replica becomes leader. Do the leader's
      work there, and stop it when :attr:`is_leader` turns False or ``on_stopped_leading`` is called: the
      elector does not stop that thread.
    - ``on_stopped_leading()`` runs on the elector's thread when leadership is lost (the next attempt waits
      for it), or on the thread that calls :meth:`stop` when stopping ends leadership. Only after leading:
      client-go also calls it when its ``Run`` ends without ever leading.
    - ``on_new_leader(identity)`` runs on a new thread whenever the observed holder changes to a non-empty
      identity: the first holder seen, another replica taking over, or this replica (its own identity).

    :param client: the client (:func:`~incluster_sdk.client.api_client`) whose requests read and write the
        Lease; its config's namespace is the default ``namespace``. Requests time out before the renew
        deadline and are not retried (the loop retries).
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
    :param on_started_leading: called as ``fn() -> None`` (no argument; client-go passes a context) when
        this replica becomes leader, on a new thread; None: nothing is called.
    :param on_stopped_leading: called as ``fn() -> None`` when this replica stops leading, on the elector's
        thread (or :meth:`stop`'s caller's); None: nothing is called.
    :param on_new_leader: called as ``fn(identity: str) -> None`` with the new holder's identity, on a new
        thread; None: nothing is called.
    :param release_on_stop: if True (the default; client-go's ``ReleaseOnCancel`` defaults to False),
        :meth:`stop` hands a Lease this replica holds back, writing an empty holder and a 1 s
        ``leaseDurationSeconds``, so a successor takes over at its next try instead of a lease duration
        later. Make sure the leader's work has stopped by then (client-go's warning for ``ReleaseOnCancel``).
        If False, the Lease expires by itself ``lease_duration`` seconds after the last renew.
    :raises ValueError: unless ``retry_period > 0``, ``renew_deadline > retry_period * 1.2`` and
        ``lease_duration > renew_deadline``, client-go's rules (1.2 is its ``JitterFactor``,
        ``incluster_sdk.leader.lease.JITTER_FACTOR``); the message names the values and the rule.
    """

    def __init__(
        self, client: ApiClient, name: str, namespace: str | None = None, *, identity: str | None = None,
        lease_duration: float = LEASE_DURATION, renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD, on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None, on_new_leader: Callable[[str], None] | None = None,
        release_on_stop: bool = True,
    ) -> None:  # fmt: skip
        # the base is generic in its client: this signature names the real one, for the reference and mypy
        super().__init__(
            client, name, namespace, identity=identity, lease_duration=lease_duration,
            renew_deadline=renew_deadline, retry_period=retry_period, on_started_leading=on_started_leading,
            on_stopped_leading=on_stopped_leading, on_new_leader=on_new_leader, release_on_stop=release_on_stop,
        )  # fmt: skip

    _thread: threading.Thread | None = None
    _stop: threading.Event | None = None  # made by start(); stop() sets it

    def start(self) -> LeaderElector:
        """Start competing for the Lease on a new daemon thread (``incluster-sdk-leader <name>``); returns at once.

        An elector runs once: make a new one to compete again after :meth:`stop`.

        :returns: the elector itself, so that ``elector = LeaderElector(...).start()`` works.
        :raises RuntimeError: if the elector was already started, or stopped (a :meth:`stop` before any start
            counts).
        """
        with self._life:
            self._check_start(self._thread is not None)
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name=f"incluster-sdk-leader {self.name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop competing: end the elector's thread; a leader stops leading and, with ``release_on_stop``, hands
        the Lease back.

        On the calling thread, after the elector's thread has ended (or ``timeout`` has passed): if this
        replica was leading, ``on_stopped_leading`` is called, then the Lease is released (a failed release is
        logged as a WARNING; the Lease then expires by itself). Raises nothing. The elector cannot be started
        again (a stop before any start counts too).

        :param timeout: seconds to wait for the elector's thread to finish its current attempt; default 10 s
            (our choice: an attempt's requests time out within the renew deadline, 10 s by default). After it,
            stopping goes on even if the thread still runs.
        """
        with self._life:
            self._stopped = True  # a later start() raises: an elector runs once
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.election.leading:
            self._step_down("stopping")
            if self.release_on_stop:
                self._release()

    def __enter__(self) -> LeaderElector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop --------------------------------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                outcome = drive(self._attempt(), self._http)
                self._succeeded()
                self._report(outcome)
            except Exception as exc:  # a failed attempt is retried; only the deadline decides leadership
                self._failed(exc)
            if self.election.deadline_passed(time.monotonic()):
                self._step_down(f"could not renew for {self.election.renew_deadline}s")
            stop.wait(self._pause())

    def _http(self, call: Call) -> Response:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        url = self._url(self.client.configuration.host, call)
        try:
            response = self.client.call_api(
                call.method,
                url,
                headers,
                call.body,
                _request_timeout=self._request_timeout(),
                _incluster_retry=False,  # an attempt must end before the renew deadline: the loop retries
            )
        except ApiException as exc:  # kubernetes < 37 raises non-2xx answers
            return exc.status or 0, None
        response.read()
        body = orjson.loads(response.data) if response.data else None
        return int(response.status), body if isinstance(body, dict) else None

    def _report(self, outcome: Outcome) -> None:
        if outcome.lost:
            self._step_down(outcome.lost)
        if outcome.new_leader and self.on_new_leader is not None:
            self._spawn(self.on_new_leader, outcome.new_leader)
        if outcome.started:
            log.info("%s: started leading", self._describe())
            if self.on_started_leading is not None:
                self._spawn(self.on_started_leading)

    def _step_down(self, why: str) -> None:
        self.election.step_down()
        level = logging.INFO if why == "stopping" else logging.WARNING  # a stop the app asked for is no problem
        log.log(level, "%s: stopped leading: %s", self._describe(), why)
        if self.on_stopped_leading is not None:
            try:
                self.on_stopped_leading()
            except Exception:
                log.exception("%s: on_stopped_leading failed", self._describe())

    def _release(self) -> None:
        try:
            if drive(release(self.election, self.name, self.namespace, wall_clock()), self._http):
                log.info("%s: released the lease", self._describe())
        except Exception as exc:  # the lease then expires by itself after lease_duration
            log.warning("%s: release failed (%s); the lease expires by itself", self._describe(), str(exc))

    def _spawn(self, fn: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("%s: leader election callback failed", self._describe())

        threading.Thread(target=run, name=f"incluster-sdk-leader-callback {self.name}", daemon=True).start()
