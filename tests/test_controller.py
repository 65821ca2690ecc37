"""The reconcile loop (incluster_sdk.controller.reconciler / aio / loop) with fake informers and electors:
outcomes and the queue, secondary mapping, stop with a deadline, leader gating; threads and asyncio."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incluster_sdk.controller.aio import AsyncController
from incluster_sdk.controller.loop import CacheSyncTimeout, Result, leader_grace, owner_mapper
from incluster_sdk.controller.ratelimit import ItemExponentialFailureRateLimiter
from incluster_sdk.controller.reconciler import Controller
from incluster_sdk.controller.workqueue import AsyncRateLimitingQueue, RateLimitingQueue
from incluster_sdk.resource import Resource
from incluster_sdk.watch import DeletedFinalStateUnknown, Store

NAMESPACES = Resource("v1", "namespaces", namespaced=False)


def obj(name: str, namespace: str | None = None, uid: str | None = None, owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid or f"uid-{namespace}-{name}", "resourceVersion": "1"}
    if namespace:
        meta["namespace"] = namespace
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "X", "name": "x", "apiVersion": "v1"}]
    return {"metadata": meta}


class FakeInformer:
    """What the controller uses of an informer: a real Store, handlers called synchronously."""

    def __init__(self, objects: list[dict[str, Any]] = (), synced: bool = True) -> None:  # type: ignore[assignment]
        self.resource = NAMESPACES
        self.store = Store()
        self.store.replace(list(objects))
        self.handlers: list[dict[str, Callable[..., Any]]] = []
        self.started = False
        self.stopped = False
        self._synced = threading.Event()
        if synced:
            self._synced.set()

    def add_handler(self, **callbacks: Callable[..., Any]) -> None:
        self.handlers.append(callbacks)
        for item in self.store.list():
            callbacks["on_add"](item, True)

    def start(self) -> FakeInformer:
        self.started = True
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped = True

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    # test side
    def put(self, item: dict[str, Any]) -> None:
        old, new = self.store.upsert(item)
        for h in self.handlers:
            h["on_add"](new, False) if old is None else h["on_update"](old, new)

    def remove(self, item: dict[str, Any]) -> None:
        old = self.store.delete(item)
        for h in self.handlers:
            h["on_delete"](DeletedFinalStateUnknown("k", old) if old else item)


class AsyncFakeInformer(FakeInformer):
    async def stop(self) -> None:  # type: ignore[override]
        self.stopped = True

    async def wait_for_sync(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        await asyncio.sleep(0)
        return self.has_synced


class FakeElection:
    lease_duration, renew_deadline, retry_period = 6.0, 4.0, 1.0


class FakeElector:
    def __init__(self) -> None:
        self.on_started_leading: Callable[[], Any] | None = None
        self.on_stopped_leading: Callable[[], Any] | None = None
        self.election = FakeElection()
        self.release_on_stop = True
        self.leading = False
        self.started = self.stopped = False

    @property
    def is_leader(self) -> bool:
        return self.leading

    def start(self) -> FakeElector:
        self.started = True
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped = True
        if self.leading:
            self.lose()

    def win(self) -> None:
        self.leading = True
        assert self.on_started_leading is not None
        threading.Thread(target=self.on_started_leading).start()  # as LeaderElector: a new thread

    def lose(self) -> None:
        self.leading = False
        assert self.on_stopped_leading is not None
        self.on_stopped_leading()  # as LeaderElector: on the elector's thread, before anyone else leads


def fast_queue(name: str = "test") -> RateLimitingQueue[str]:
    return RateLimitingQueue(ItemExponentialFailureRateLimiter(0.001, 0.05), name=name)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


class Recorder:
    """A reconcile that records calls, can fail a key N times, and checks one key never runs twice at once."""

    def __init__(self, fail: Mapping[str, int] | None = None, sleep: float = 0.0) -> None:
        self.calls: list[str] = []
        self.fail = defaultdict(int, fail or {})
        self.sleep = sleep
        self.running: set[str] = set()
        self.overlaps: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, key: str) -> Result | None:
        with self.lock:
            if key in self.running:
                self.overlaps.append(key)
            self.running.add(key)
            self.calls.append(key)
        try:
            if self.sleep:
                time.sleep(self.sleep)
            with self.lock:
                if self.fail[key] > 0:
                    self.fail[key] -= 1
                    raise RuntimeError(f"boom for {key}")
            return None
        finally:
            with self.lock:
                self.running.discard(key)


# -- outcomes ---------------------------------------------------------------------------------------------------
def test_error_is_a_rate_limited_requeue_logged_with_the_key(caplog: pytest.LogCaptureFixture) -> None:
    informer = FakeInformer([obj("ns-a"), obj("ns-b")])
    recorder = Recorder(fail={"ns-a": 2})
    controller = Controller("bindings", informer, recorder, queue=fast_queue())  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="incluster_sdk.controller"):
        controller.start()
        wait_until(lambda: recorder.calls.count("ns-a") == 3)
        wait_until(lambda: controller.queue.num_requeues("ns-a") == 0)  # success forgot the failures
        assert controller.stop(deadline=2).clean
    assert recorder.calls.count("ns-b") == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all(
        "controller bindings: reconcile ns-a failed (RuntimeError: boom for ns-a)" in r.getMessage() for r in errors
    )
    assert "failure 1" in errors[0].getMessage() and "failure 2" in errors[1].getMessage()
    assert all(r.exc_info is None for r in errors)  # the traceback is at DEBUG only
    assert any(r.levelno == logging.DEBUG and r.exc_info for r in caplog.records)
    assert controller.state.failures == 2


def test_api_errors_are_described_by_status_and_message_only() -> None:
    from kubernetes.client.exceptions import ApiException

    from incluster_sdk.controller.loop import describe

    exc = ApiException(status=403, reason="Forbidden")
    exc.body = '{"kind":"Status","message":"rolebindings is forbidden: nope"}'
    exc.headers = {"Authorization": "Bearer secret-token"}
    assert describe(exc) == "HTTP 403 Forbidden: rolebindings is forbidden: nope"
    assert describe(ValueError("first\nsecond")) == "ValueError: first"


def test_requeue_after_runs_the_key_again_and_forgets_failures() -> None:
    informer = FakeInformer([obj("ns-a")])
    calls: list[float] = []

    def reconcile(key: str) -> Result:
        calls.append(time.monotonic())
        return Result(requeue_after=0.1)

    controller = Controller("c", informer, reconcile, queue=fast_queue())  # type: ignore[arg-type]
    controller.start()
    wait_until(lambda: len(calls) >= 3)
    controller.stop(deadline=1)
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(calls))


def test_result_rejects_negative_delays() -> None:
    with pytest.raises(ValueError, match="requeue_after must be"):
        Result(requeue_after=-1)
    with pytest.raises(ValueError, match="requeue_after must be"):
        Result(requeue_after=float("nan"))


def test_deletes_queue_the_key_of_the_tombstone() -> None:
    informer = FakeInformer([obj("ns-a")])
    recorder = Recorder()
    controller = Controller("c", informer, recorder, queue=fast_queue()).start()  # type: ignore[arg-type]
    wait_until(lambda: recorder.calls == ["ns-a"])
    informer.remove(obj("ns-a"))
    wait_until(lambda: recorder.calls == ["ns-a", "ns-a"])
    controller.stop(1)


# -- secondary watches ----------------------------------------------------------------------------------------
def test_a_mapping_function_queues_primary_keys() -> None:
    namespaces = FakeInformer([obj("ns-a"), obj("ns-b")])
    bindings = FakeInformer([])
    recorder = Recorder()
    by_namespace = lambda binding: [binding["metadata"]["namespace"]]  # noqa: E731
    controller = Controller(
        "c",
        namespaces,  # type: ignore[arg-type]
        recorder,
        watches=[(bindings, by_namespace)],  # type: ignore[list-item]
        queue=fast_queue(),
    ).start()
    wait_until(lambda: sorted(recorder.calls) == ["ns-a", "ns-b"])
    bindings.put(obj("readonly-default", "ns-b"))
    wait_until(lambda: recorder.calls.count("ns-b") == 2)
    bindings.remove(obj("readonly-default", "ns-b"))
    wait_until(lambda: recorder.calls.count("ns-b") == 3)
    assert recorder.calls.count("ns-a") == 1
    controller.stop(1)


def test_owns_maps_by_controller_owner_uid() -> None:
    apps = FakeInformer([obj("web", "shop", uid="u-web"), obj("db", "shop", uid="u-db")])
    pods = FakeInformer([])
    recorder = Recorder()
    controller = Controller("c", apps, recorder, owns=[pods], queue=fast_queue()).start()  # type: ignore[arg-type,list-item]
    wait_until(lambda: len(recorder.calls) == 2)
    pods.put(obj("web-1", "shop", owner="u-web"))
    pods.put(obj("stray", "shop", owner="u-unknown"))  # owner not cached: nothing to reconcile
    wait_until(lambda: recorder.calls.count("shop/web") == 2)
    time.sleep(0.05)
    assert sorted(recorder.calls) == ["shop/db", "shop/web", "shop/web"]
    controller.stop(1)


def test_owner_mapper_ignores_non_controller_references() -> None:
    store = Store()
    store.replace([obj("web", "shop", uid="u-web")])
    mapper = owner_mapper(store)
    assert owner_mapper(store) is not None  # a second mapper on the same store reuses the index
    dependent = obj("x", "shop", owner="u-web")
    assert list(mapper(dependent)) == ["shop/web"]
    dependent["metadata"]["ownerReferences"][0]["controller"] = False
    assert list(mapper(dependent)) == []


# -- stop -----------------------------------------------------------------------------------------------------
def test_stop_lets_in_flight_reconciles_finish_within_the_deadline() -> None:
    informer = FakeInformer([obj(f"ns-{i}") for i in range(20)])
    recorder = Recorder(sleep=0.2)
    controller = Controller("c", informer, recorder, workers=4, queue=fast_queue()).start()  # type: ignore[arg-type]
    wait_until(lambda: len(recorder.running) == 4)
    began = time.monotonic()
    stopped = controller.stop(deadline=2)
    assert stopped.clean and time.monotonic() - began < 1.0
    assert not recorder.running and len(recorder.calls) == 4  # no new key started after stop
    assert stopped.pending == 16
    assert informer.stopped  # the controller started it, so it stops it
    assert controller.stop() is stopped  # idempotent


def test_stop_reports_what_it_abandons_and_does_not_hang() -> None:
    informer = FakeInformer([obj("slow")])
    release = threading.Event()
    controller = Controller("c", informer, lambda key: (release.wait(10), None)[1], queue=fast_queue())  # type: ignore[arg-type]
    controller.start()
    wait_until(lambda: bool(controller.state.busy()))
    began = time.monotonic()
    stopped = controller.stop(deadline=0.3)
    assert 0.3 <= time.monotonic() - began < 1.0
    assert stopped.abandoned == ("slow",) and not stopped.clean
    release.set()


def test_a_started_informer_is_left_running() -> None:
    informer = FakeInformer([])
    informer.started = True
    Controller("c", informer, Recorder()).start().stop(1)  # type: ignore[arg-type]
    assert not informer.stopped


def test_cache_sync_timeout_names_the_informer() -> None:
    controller = Controller("c", FakeInformer([], synced=False), Recorder(), sync_timeout=0.2)  # type: ignore[arg-type]
    with pytest.raises(CacheSyncTimeout, match=r"controller c: caches not synced after 0\.2s: namespaces") as caught:
        controller.start()
    assert (caught.value.controller, caught.value.timeout, caught.value.pending) == ("c", 0.2, ["namespaces"])
    assert isinstance(caught.value, TimeoutError)
    controller.stop(1)


def test_a_controller_runs_once_and_a_stop_before_start_counts() -> None:
    """A stop before start would leave a later start's informers running for good: the start is refused."""
    informer, elector = FakeInformer([obj("ns-a")]), FakeElector()
    controller = Controller("c", informer, Recorder(), elector=elector)  # type: ignore[arg-type]
    stopped = controller.stop(1)
    with pytest.raises(RuntimeError, match="controller c was stopped before it started: a controller runs once"):
        controller.start()
    with pytest.raises(RuntimeError, match="a controller runs once"):
        controller.run(1)
    assert not informer.started and not elector.started and controller.stop() is stopped
    running = Controller("d", FakeInformer([obj("ns-a")]), Recorder()).start()  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="controller d is already started: a controller runs once"):
        running.start()
    running.stop(1)
    with pytest.raises(RuntimeError, match="controller d is already started"):
        running.start()


def test_is_active_only_while_the_workers_run() -> None:
    informer = FakeInformer([obj("ns-a")], synced=False)
    controller = Controller("c", informer, Recorder())  # type: ignore[arg-type]
    assert not controller.is_active  # not started: nothing runs
    starting = threading.Thread(target=controller.start)
    starting.start()
    wait_until(lambda: informer.started)
    time.sleep(0.05)
    assert not controller.is_active  # waiting for the caches: no worker yet
    informer._synced.set()
    starting.join(5)
    assert controller.is_active
    controller.stop(1)
    assert not controller.is_active


def test_stop_during_cache_sync_returns() -> None:
    controller = Controller("c", FakeInformer([], synced=False), Recorder())  # type: ignore[arg-type]
    threading.Timer(0.2, controller.stop).start()
    began = time.monotonic()
    controller.start()
    assert time.monotonic() - began < 2


# -- leader election ------------------------------------------------------------------------------------------
def test_only_the_leader_reconciles_and_a_new_leader_requeues_everything() -> None:
    informer = FakeInformer([obj("ns-a"), obj("ns-b")])
    recorder = Recorder()
    elector = FakeElector()
    controller = Controller("c", informer, recorder, queue=fast_queue(), elector=elector)  # type: ignore[arg-type]
    controller.start()
    assert elector.started
    time.sleep(0.1)
    assert recorder.calls == []  # warm cache, keys queued, nothing run
    assert len(controller.queue) == 2
    elector.win()
    wait_until(lambda: sorted(recorder.calls) == ["ns-a", "ns-b"])
    elector.lose()
    informer.put(obj("ns-c"))
    time.sleep(0.1)
    assert "ns-c" not in recorder.calls  # a follower queues, never runs
    elector.win()  # the re-queue on taking over covers what the other leader may have had queued
    wait_until(lambda: recorder.calls.count("ns-a") == 2 and "ns-c" in recorder.calls)
    controller.stop(1)
    assert elector.stopped and elector.release_on_stop


def test_losing_leadership_waits_for_in_flight_up_to_the_grace() -> None:
    assert leader_grace(6.0, 4.0, 1.0) == 1.0 and leader_grace(15, 10, 2) == 3
    informer = FakeInformer([obj("ns-a"), obj("ns-b")])
    recorder = Recorder(sleep=0.3)
    elector = FakeElector()
    controller = Controller("c", informer, recorder, workers=2, queue=fast_queue(), elector=elector)  # type: ignore[arg-type]
    controller.start()
    elector.win()
    wait_until(lambda: len(recorder.running) == 2)
    began = time.monotonic()
    elector.lose()  # returns once the in-flight reconciles are done (grace 1 s)
    assert not recorder.running and time.monotonic() - began < 0.9
    controller.stop(1)


def test_a_reconcile_abandoned_at_stop_keeps_the_lease_held() -> None:
    informer = FakeInformer([obj("slow")])
    release = threading.Event()
    elector = FakeElector()
    controller = Controller("c", informer, lambda key: (release.wait(5), None)[1], elector=elector)  # type: ignore[arg-type]
    controller.start()
    elector.win()
    wait_until(lambda: bool(controller.state.busy()))
    stopped = controller.stop(deadline=0.2)
    release.set()
    assert stopped.abandoned == ("slow",)
    assert elector.stopped and not elector.release_on_stop  # the Lease expires: no successor while it may run


def test_the_gate_is_asked_at_every_start() -> None:
    """is_leader turning False (renew deadline passed) stops new starts before the elector's callback runs."""
    informer = FakeInformer([obj("ns-a")])
    recorder = Recorder()
    elector = FakeElector()
    controller = Controller("c", informer, recorder, queue=fast_queue(), elector=elector)  # type: ignore[arg-type]
    controller.start()
    elector.win()
    wait_until(lambda: recorder.calls == ["ns-a"])
    elector.leading = False  # no callback yet
    informer.put(obj("ns-b"))
    time.sleep(0.1)
    assert recorder.calls == ["ns-a"]
    assert controller.queue.num_requeues("ns-b") == 0 and len(controller.queue) == 1  # handed back, not lost
    controller.stop(1)


# -- a property: whatever fails and however many workers, each key converges and never runs twice at once -----
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    failures=st.dictionaries(st.sampled_from([f"k{i}" for i in range(8)]), st.integers(0, 3), min_size=1),
    workers=st.integers(1, 4),
    updates=st.lists(st.sampled_from([f"k{i}" for i in range(8)]), max_size=20),
)
def test_every_key_converges_and_never_runs_concurrently(
    failures: dict[str, int], workers: int, updates: list[str]
) -> None:
    keys = sorted(failures)
    informer = FakeInformer([obj(k) for k in keys])
    recorder = Recorder(fail=failures, sleep=0.001)
    controller = Controller("p", informer, recorder, workers=workers, queue=fast_queue("p")).start()  # type: ignore[arg-type]
    for key in updates:
        informer.put({"metadata": {"name": key, "uid": key, "resourceVersion": "2"}})
    wait_until(lambda: all(recorder.calls.count(k) > failures[k] for k in keys))
    wait_until(lambda: len(controller.queue) == 0 and not controller.state.busy())
    assert controller.stop(1).clean
    assert recorder.overlaps == []
    for key in keys:  # each failure retried, then one success at least
        assert recorder.calls.count(key) >= failures[key] + 1
        assert controller.queue.num_requeues(key) == 0


# -- asyncio ----------------------------------------------------------------------------------------------------
class AsyncFakeElector(FakeElector):
    async def stop(self) -> None:  # type: ignore[override]
        self.stopped = True
        if self.leading:
            await self.alose()

    def start(self) -> AsyncFakeElector:
        self.started = True
        return self

    async def awin(self) -> None:
        self.leading = True
        assert self.on_started_leading is not None
        await self.on_started_leading()

    async def alose(self) -> None:
        self.leading = False
        assert self.on_stopped_leading is not None
        await self.on_stopped_leading()


def fast_async_queue() -> AsyncRateLimitingQueue[str]:
    return AsyncRateLimitingQueue(ItemExponentialFailureRateLimiter(0.001, 0.05), name="async-test")


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def test_async_outcomes_and_requeue_after(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        informer = AsyncFakeInformer([obj("ns-a"), obj("ns-b")])
        calls: list[str] = []
        failures = {"ns-a": 1}

        async def reconcile(key: str) -> Result | None:
            calls.append(key)
            await asyncio.sleep(0)
            if failures.get(key):
                failures[key] -= 1
                raise RuntimeError("boom")
            return Result(requeue_after=0.05) if key == "ns-b" else None

        controller = AsyncController("ac", informer, reconcile, workers=2, queue=fast_async_queue())  # type: ignore[arg-type]
        await controller.start()
        await until(lambda: calls.count("ns-a") == 2 and calls.count("ns-b") >= 3)
        assert controller.queue.num_requeues("ns-a") == 0
        stopped = await controller.stop(deadline=1)
        assert stopped.clean and informer.stopped

    with caplog.at_level(logging.ERROR, logger="incluster_sdk.controller"):
        asyncio.run(main())
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "controller ac: reconcile ns-a failed (RuntimeError: boom); requeued with backoff (failure 1)"
    ]


def test_async_stop_cancels_what_outlives_the_deadline() -> None:
    async def main() -> None:
        informer = AsyncFakeInformer([obj("slow"), obj("quick")])
        cancelled: list[str] = []

        async def reconcile(key: str) -> None:
            try:
                await asyncio.sleep(10 if key == "slow" else 0.05)
            except asyncio.CancelledError:
                cancelled.append(key)
                raise

        controller = AsyncController("ac", informer, reconcile, workers=2)  # type: ignore[arg-type]
        await controller.start()
        await until(lambda: len(controller.state.busy()) == 2)
        began = time.monotonic()
        stopped = await controller.stop(deadline=0.3)
        assert 0.3 <= time.monotonic() - began < 1.5
        assert stopped.abandoned == ("slow",) and cancelled == ["slow"]
        assert await controller.stop() is stopped

    asyncio.run(main())


def test_async_controller_runs_once_and_a_stop_before_start_counts() -> None:
    async def main() -> None:
        informer, elector = AsyncFakeInformer([obj("ns-a")]), AsyncFakeElector()
        controller = AsyncController("ac", informer, Recorder(), elector=elector)  # type: ignore[arg-type]
        assert not controller.is_active
        stopped = await controller.stop(1)
        with pytest.raises(RuntimeError, match="controller ac was stopped before it started: a controller runs once"):
            await controller.start()
        with pytest.raises(RuntimeError, match="a controller runs once"):
            await controller.run(1)
        assert not informer.started and not elector.started
        assert await controller.stop() is stopped  # one stop is enough, and later ones return its result
        running = AsyncController("ad", AsyncFakeInformer([obj("ns-a")]), Recorder())  # type: ignore[arg-type]
        await running.start()
        assert running.is_active
        with pytest.raises(RuntimeError, match="controller ad is already started: a controller runs once"):
            await running.start()
        await running.stop(1)
        assert not running.is_active
        with pytest.raises(RuntimeError, match="controller ad is already started"):
            await running.start()

    asyncio.run(main())


def test_async_leader_gating_and_abandon_on_loss() -> None:
    async def main() -> None:
        informer = AsyncFakeInformer([obj("ns-a"), obj("slow")])
        calls: list[str] = []

        async def reconcile(key: str) -> None:
            calls.append(key)
            if key == "slow" and calls.count("slow") == 1:
                await asyncio.sleep(10)

        elector = AsyncFakeElector()
        controller = AsyncController(
            "ac",
            informer,  # type: ignore[arg-type]
            reconcile,
            workers=2,
            elector=elector,  # type: ignore[arg-type]
            grace=0.2,
        )
        await controller.start()
        await asyncio.sleep(0.05)
        assert calls == [] and elector.started
        await elector.awin()
        await until(lambda: sorted(calls) == ["ns-a", "slow"])
        await elector.alose()  # the slow one is cancelled after the grace, its key queued again
        assert not controller.state.busy() and len(controller.queue) == 1
        await elector.awin()
        await until(lambda: calls.count("slow") == 2)
        await controller.stop(1)

    asyncio.run(main())
