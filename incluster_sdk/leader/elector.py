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
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any, Generic, Protocol, TypeVar

import orjson

from ..client import ApiClient
from ..config import Config
from ..flows import drive
from .lease import (
    JITTER,
    LEASE_API,
    LEASE_DURATION,
    RENEW_DEADLINE,
    RETRY_PERIOD,
    Call,
    LeaderElection,
    Outcome,
    Response,
    attempt,
    release,
)

log = logging.getLogger(__name__)


def default_identity() -> str:
    """The pod name (``POD_NAME`` from the downward API, else the hostname, which is the pod name in a pod),
    plus a random suffix so that two processes on one host never share an identity (client-go does this)."""
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

    Both take the same arguments: the client, the Lease's ``name`` and ``namespace`` (default: the client's
    config's), this replica's ``identity`` (default: :func:`default_identity`), client-go's three durations
    (checked by :class:`~.lease.LeaderElection`), the three callbacks, and ``release_on_stop``.
    """

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
        self._path = f"/apis/{LEASE_API}/namespaces/{self.namespace}/leases"

    @property
    def is_leader(self) -> bool:
        """True while this replica leads and has renewed within the renew deadline."""
        return self.election.is_leader(time.monotonic())

    @property
    def leader(self) -> str | None:
        """The identity holding the Lease, as last observed."""
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
        return election.retry_period * (1 + random.random() * JITTER)  # noqa: S311 - jitter, not crypto

    def _attempt(self) -> Generator[Call, Response, Outcome]:
        return attempt(self.election, self.name, self.namespace, time.monotonic, wall_clock)

    def _describe(self) -> str:
        return f"lease {self.namespace}/{self.name} ({self.identity})"


class LeaderElector(LeaderElectionBase[ApiClient, None]):
    """client-go's leader election over the sync ``kubernetes`` client, on its own thread.

    ``on_started_leading()`` runs on a new thread when this replica becomes leader (do the work there, and
    stop when ``is_leader`` turns False or ``on_stopped_leading`` is called). ``on_stopped_leading()`` runs
    on the elector's thread, before anyone else can take over. ``on_new_leader(identity)`` runs on a new
    thread whenever the holder changes. After losing leadership the elector keeps competing.
    """

    _thread: threading.Thread | None = None
    _stop: threading.Event | None = None  # made by the first start(); stop() ends every loop started

    def start(self) -> LeaderElector:
        if self._stop is None:
            self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name=f"incluster-sdk-leader {self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop competing. A leader stops leading (callback) and, with ``release_on_stop``, hands the Lease back."""
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
                self._report(drive(self._attempt(), self._http))
            except Exception as exc:  # a failed attempt is retried; only the deadline decides leadership
                log.log(
                    logging.WARNING if self.election.leading else logging.DEBUG, "%s: %s", self._describe(), str(exc)
                )
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
