"""The reconcile loop's rules, shared by both controllers: keys from events, the gate, what an outcome does.

Nothing here does I/O or waits: :class:`LoopState` is held by :class:`~.reconciler.Controller` (threads) and
:class:`~.aio.AsyncController` (asyncio), which only differ in how workers wait and how a reconcile is called.

- **Keys.** A primary object's key is its cache key (``namespace/name``, or ``name`` when cluster-scoped: the
  informer :class:`~incluster_sdk.watch.Store`'s own key). A secondary object maps to primary keys through a
  :data:`Mapper`: :func:`owner_mapper` (its controller owner reference) or any function of the object.
- **Gate.** A worker starts a key only while the controller is not stopping and, with leader election, while
  this replica leads (``is_leader`` is asked at every start, so a renew deadline that passes stops new starts
  at once, before the elector's thread even notices). Starting is atomic with registering the key as in
  flight, so "stop taking keys, then wait for the ones in flight" never misses one.
- **Outcome** (controller-runtime's ``reconcileHandler``): an exception means ``add_rate_limited(key)`` and one
  log line naming the controller and the key; a :class:`Result` with ``requeue_after`` means ``forget(key)``
  and ``add_after(key, requeue_after)``; ``None`` or ``Result()`` means ``forget(key)``. Then ``done(key)``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import InclusterSDKError
from ..watch.store import DeletedFinalStateUnknown, Store, object_key

log = logging.getLogger("incluster_sdk.controller")

Mapper = Callable[[Mapping[str, Any]], Iterable[str]]
"""Maps a secondary object to the primary keys it concerns: called as ``mapper(obj) -> Iterable[str]``.

``obj`` is the secondary object as the informer's cache holds it, a read-only mapping shaped as the API server
sends it (``{"apiVersion": ..., "metadata": {...}, ...}``); the keys are the primary objects' cache keys
(``namespace/name``, or ``name`` when cluster-scoped). Return nothing for an object that concerns no primary.
It runs on an informer's handler thread (or task), and, with leader election, on every cached object when
this replica starts leading: keep it quick, and read caches rather than the API server. :func:`owner_mapper`
makes one from controller owner references."""

UID_INDEX = "incluster-sdk/uid"
"""The name of the index :func:`owner_mapper` adds to the primary informer's store: an object's uid -> its
key (``Store.by_index(UID_INDEX, uid)``)."""


class CacheSyncTimeout(InclusterSDKError, TimeoutError):
    """The informers' caches did not sync within the controller's ``sync_timeout`` (client-go's
    ``WaitForCacheSync`` returning false): usually missing RBAC or an unreachable API server (the informers
    log which).

    The message names the controller, the timeout and the resources not synced, and so do the attributes
    :attr:`controller`, :attr:`timeout` and :attr:`pending`; a ``TimeoutError``, so ``except TimeoutError``
    catches it too.

    :param controller: the controller's name; kept as :attr:`controller`.
    :param timeout: the ``sync_timeout`` that passed, in seconds; kept as :attr:`timeout`.
    :param pending: the plural resource names (e.g. ``["namespaces"]``) of the informers not synced; kept, as
        a new list, as :attr:`pending`.
    """

    def __init__(self, controller: str, timeout: float, pending: list[str]) -> None:
        super().__init__(f"controller {controller}: caches not synced after {timeout:g}s: {', '.join(pending)}")
        self.controller = controller
        """The name of the controller whose caches did not sync."""
        self.timeout = timeout
        """The ``sync_timeout`` that passed, in seconds."""
        self.pending = list(pending)
        """The plural resource names (e.g. ``["namespaces"]``) of the informers not synced, primary first."""


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for. ``Result()`` (or returning ``None``) means done: the key is forgotten.

        return Result(requeue_after=60)   # look again in a minute, even if nothing changes

    :param requeue_after: seconds (>= 0, finite) after which the key is reconciled again even if nothing changes
        (controller-runtime's ``Result.RequeueAfter``); it also resets the key's failure backoff. None (the
        default): no requeue; a change of the object still queues the key. 0 queues it again at once.
    :raises ValueError: if ``requeue_after`` is negative or not finite.
    """

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and not (math.isfinite(self.requeue_after) and self.requeue_after >= 0):
            raise ValueError(f"requeue_after must be a finite number of seconds >= 0, not {self.requeue_after!r}")


@dataclass(frozen=True)
class Stopped:
    """What a stop, or a loss of leadership, left behind: returned by the controllers' ``stop`` and ``run``.

    :param abandoned: the keys (``namespace/name``, or ``name``), sorted, whose reconcile was still running when
        the deadline passed (threads keep running them to the end; asyncio cancels them). Empty means every
        in-flight reconcile finished in time.
    :param pending: how many keys were queued and not started (a count). They are not lost: each replica's
        informers re-queue every key when it starts, or takes over, leading.
    :param waited: seconds spent waiting for in-flight reconciles.
    """

    abandoned: tuple[str, ...]
    pending: int
    waited: float

    @property
    def clean(self) -> bool:
        """True if no reconcile was abandoned (``abandoned`` is empty)."""
        return not self.abandoned


class LoopQueue(Protocol):
    """The work-queue methods the loop calls (both :mod:`.workqueue` front-ends have them; none blocks)."""

    def add(self, item: str) -> None: ...
    def add_after(self, item: str, delay_seconds: float) -> None: ...
    def add_rate_limited(self, item: str) -> None: ...
    def forget(self, item: str) -> None: ...
    def num_requeues(self, item: str) -> int: ...
    def done(self, item: str) -> None: ...
    def __len__(self) -> int: ...


def owner_mapper(primary: Store) -> Mapper:
    """A :data:`Mapper` for objects owned by primary objects (what a controller's ``owns=`` uses).

    It maps an object to the key of the cached primary object whose uid is the object's controller owner
    reference (``controller: true``, as controller-runtime's ``EnqueueRequestForOwner(OnlyControllerOwner)``);
    other owner references are ignored. Matching by uid needs no kind and is exact across delete + re-create
    of an owner with the same name. An owner not in the cache (deleted) maps to nothing: the garbage collector
    owns its dependents.

    :param primary: the primary informer's store (``informer.store``). The :data:`UID_INDEX` index is added to
        it, once: a second call on the same store reuses it.
    :returns: the mapper, called as ``mapper(obj) -> list[str]`` (zero or one key per controller reference).
    """
    with contextlib.suppress(ValueError):  # a second controller on the same informer: the index exists already
        primary.add_indexer(UID_INDEX, lambda obj: [uid] if (uid := (obj.get("metadata") or {}).get("uid")) else [])

    def keys(obj: Mapping[str, Any]) -> list[str]:
        found: list[str] = []
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("uid"):
                found.extend(object_key(owner) for owner in primary.by_index(UID_INDEX, ref["uid"]))
        return found

    return keys


def describe(exc: BaseException) -> str:
    """One line about a failure, for the log.

    :param exc: what a reconcile raised.
    :returns: for a ``kubernetes`` ApiException, ``HTTP <status> <reason>: <the server's message>`` (never its
        headers or the request); else ``<type>: <the first line of the message>`` (at most 300 characters; the
        SDK's own errors never carry a credential in their message).
    """
    status = getattr(exc, "status", None)
    if isinstance(status, int) and hasattr(exc, "headers") and not isinstance(exc, InclusterSDKError):
        reason = getattr(exc, "reason", "") or ""
        return f"HTTP {status} {reason}".strip() + _message(getattr(exc, "body", None))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def _message(body: Any) -> str:
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, TypeError, AttributeError):
        return ""
    return f": {str(message)[:300]}" if message else ""


def _tombstone_free(obj: Any) -> Mapping[str, Any]:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


class LoopState:
    """One controller's bookkeeping: its queue, the gate, the keys in flight. Thread-safe (one short lock,
    never held while a reconcile runs); the asyncio controller uses it from its one thread.

    Internal to the controllers (``controller.state``); its counters ``reconciles`` (finished reconciles) and
    ``failures`` (reconciles that raised) may be read.

    :param name: the controller's name, for the log.
    :param queue: the controller's work queue.
    :param is_leader: None without leader election, else the elector's ``is_leader`` as a function, called as
        ``is_leader() -> bool``.
    :param clock: called as ``clock() -> float``, monotonic seconds (for ``Stopped.waited`` and the in-flight
        start times).
    """

    def __init__(
        self, name: str, queue: LoopQueue, is_leader: Callable[[], bool] | None, clock: Callable[[], float]
    ) -> None:
        self.name = name
        self.queue = queue
        self.is_leader = is_leader
        self.clock = clock
        self.lock = threading.Lock()
        self.inflight: dict[str, float] = {}  # key -> start time
        self.leading = is_leader is None  # the elector said we lead (always, without one)
        self.stopping = False
        self.reconciles = 0  # counters for tests and metrics: finished reconciles, failures
        self.failures = 0

    # -- events -> keys -------------------------------------------------------------------------------------
    def primary_handlers(self) -> dict[str, Callable[..., None]]:
        """``add_handler`` keyword arguments that queue a primary object's own key on every change.

        :returns: ``{"on_add": ..., "on_update": ..., "on_delete": ...}``, for ``informer.add_handler(**...)``.
        """
        add = self.queue.add
        return {
            "on_add": lambda obj, initial: add(object_key(obj)),
            "on_update": lambda old, new: add(object_key(new)),
            "on_delete": lambda obj: add(object_key(_tombstone_free(obj))),
        }

    def mapped_handlers(self, mapper: Mapper) -> dict[str, Callable[..., None]]:
        """``add_handler`` keyword arguments that queue the primary keys ``mapper`` gives for a secondary
        object (for an update, those of the old and of the new object: an owner change concerns both).

        :param mapper: maps a secondary object to primary keys.
        :returns: ``{"on_add": ..., "on_update": ..., "on_delete": ...}``, for ``informer.add_handler(**...)``.
        """

        def enqueue(*objs: Any) -> None:
            for key in {key for obj in objs for key in mapper(_tombstone_free(obj))}:
                self.queue.add(key)

        def on_add(obj: Mapping[str, Any], initial: bool) -> None:
            enqueue(obj)

        return {"on_add": on_add, "on_update": enqueue, "on_delete": enqueue}

    def enqueue_all(self, primary: Store, secondaries: Iterable[tuple[Store, Mapper]]) -> int:
        """Queue every key the caches know (a new leader's first act: what the previous leader had queued,
        failed or delayed is not lost).

        :param primary: the primary informer's store: each of its keys is queued.
        :param secondaries: (store, mapper) pairs: each cached secondary object's mapped keys are queued.
        :returns: how many distinct keys were passed to the queue's ``add`` (it ignores those already queued).
        """
        keys = set(primary.keys())
        for store, mapper in secondaries:
            for obj in store.list():
                keys.update(mapper(obj))
        for key in keys:
            self.queue.add(key)
        return len(keys)

    # -- the gate -------------------------------------------------------------------------------------------
    def may_run(self) -> bool:
        """Whether workers may start keys now.

        :returns: True if not stopping, and leading if elected (``is_leader`` is asked now).
        """
        return not self.stopping and self.leading and (self.is_leader is None or self.is_leader())

    def begin(self, key: str) -> bool:
        """Register ``key`` as in flight if the gate is open.

        :param key: the key a worker took from the queue.
        :returns: True if the worker may reconcile it; False means: do not, :meth:`hand_back` it.
        """
        with self.lock:
            if not self.may_run():
                return False
            self.inflight[key] = self.clock()
            return True

    def hand_back(self, key: str) -> None:
        """A worker took ``key`` but may not run it (the gate closed): queue it again unless stopping.

        :param key: the key, which this calls ``done`` for.
        """
        if not self.stopping:
            self.queue.add(key)  # marks it dirty: done() queues it again
        self.queue.done(key)

    def end(self, key: str, outcome: Result | BaseException | None) -> None:
        """Apply a reconcile's outcome to the queue (see the module docstring), then ``done(key)``.

        :param key: the key reconciled.
        :param outcome: what the reconcile returned (a :class:`Result` or None) or raised.
        """
        queue = self.queue
        try:
            if isinstance(outcome, BaseException):
                queue.add_rate_limited(key)
                self.failures += 1
                log.error(
                    "controller %s: reconcile %s failed (%s); requeued with backoff (failure %d)",
                    self.name,
                    key,
                    describe(outcome),
                    queue.num_requeues(key),
                )
                log.debug("controller %s: reconcile %s traceback", self.name, key, exc_info=outcome)
            else:
                queue.forget(key)
                if outcome is not None and outcome.requeue_after is not None:
                    queue.add_after(key, outcome.requeue_after)
        finally:
            with self.lock:
                self.inflight.pop(key, None)
                self.reconciles += 1
            queue.done(key)

    # -- leadership and stop --------------------------------------------------------------------------------
    def lead(self) -> bool:
        """The elector says we lead: open the gate.

        :returns: True if the gate opened (the elector still agrees when asked now).
        """
        with self.lock:
            self.leading = self.is_leader is None or self.is_leader()
            return self.leading

    def follow(self) -> None:
        """Close the gate (leadership lost): no key starts after this returns."""
        with self.lock:
            self.leading = False

    def stop_taking(self) -> None:
        """Close the gate for good (the controller is stopping)."""
        with self.lock:
            self.stopping = True

    def busy(self) -> list[str]:
        """The keys in flight.

        :returns: the keys whose reconcile is running now, in no particular order.
        """
        with self.lock:
            return list(self.inflight)

    def report(self, waited: float, why: str) -> Stopped:
        """The :class:`Stopped` for now, logged: abandoned keys at WARNING, a clean stop at INFO.

        :param waited: seconds spent waiting for in-flight reconciles.
        :param why: what ended the work, for the log (``stopping``, ``stopped leading``).
        :returns: the keys in flight now as abandoned, and how many keys are queued.
        """
        stopped = Stopped(tuple(sorted(self.busy())), len(self.queue), waited)
        if stopped.abandoned:
            shown = ", ".join(stopped.abandoned[:10]) + (" ..." if len(stopped.abandoned) > 10 else "")
            log.warning(
                "controller %s: %s: %d reconcile(s) still running after %.1fs, abandoned: %s",
                self.name,
                why,
                len(stopped.abandoned),
                waited,
                shown,
            )
        else:
            log.info("controller %s: %s: no reconcile in flight (waited %.1fs)", self.name, why, waited)
        return stopped


def leader_grace(lease_duration: float, renew_deadline: float, retry_period: float) -> float:
    """How long in-flight reconciles may run on after this replica stopped leading: a controller's default
    ``grace`` when it has an elector.

    ``lease_duration - renew_deadline - retry_period``, never below 0: 15 - 10 - 2 = 3 s with client-go's
    ``leaderelection`` defaults (:data:`~incluster_sdk.leader.lease.LEASE_DURATION`,
    :data:`~incluster_sdk.leader.lease.RENEW_DEADLINE`, :data:`~incluster_sdk.leader.lease.RETRY_PERIOD`).

    Why: a leader steps down at most ``renew_deadline`` (+ one short request) after its last renew; no other
    replica takes over until ``lease_duration`` after it *saw* that renew, on its own clock. The gap
    (``lease_duration - renew_deadline``) is what the old leader's reconciles may use without ever overlapping
    the new leader's; ``retry_period`` is kept out of it as a margin for the step-down's own delay.

    :param lease_duration: the election's lease duration, in seconds.
    :param renew_deadline: the election's renew deadline, in seconds.
    :param retry_period: the election's retry period, in seconds.
    :returns: the grace, in seconds (>= 0).
    """
    return max(0.0, lease_duration - renew_deadline - retry_period)
