"""The work queue: client-go's util/workqueue tests ported (queue_test.go, delaying_queue_test.go,
rate_limiting_queue_test.go, metrics_test.go, from the 1.20 tree), then the thread and asyncio front-ends with
several workers, shutdown and drain, and the metrics read from a fresh prometheus registry.

Time-dependent cases use an injected clock (FakeClock) and ``get(timeout=0)``, so nothing here depends on how
fast a loaded machine runs; the real-time waits only bound how long a broken test hangs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

import pytest
from prometheus_client import CollectorRegistry

from incluster_sdk.controller.queue_core import EMPTY, QueueCore
from incluster_sdk.controller.workqueue import (
    AsyncRateLimitingQueue,
    ItemExponentialFailureRateLimiter,
    PrometheusMetricsProvider,
    RateLimitingQueue,
    ShutDown,
)
from incluster_sdk.errors import InclusterSDKError

T = TypeVar("T", bound=Hashable)
JOIN = 30.0  # seconds a broken test may hang before it fails; never reached by a passing one


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def _get_now(q: RateLimitingQueue[str]) -> str:
    return q.get(timeout=0)


def _serve(q: RateLimitingQueue[T], handle: Callable[[T], object], timeout: float | None = None) -> None:
    """A worker thread's loop: take items until the queue is shut down (or none comes within ``timeout``),
    pass each to ``handle``, then mark it done."""
    while True:
        try:
            item = q.get(timeout)
        except (ShutDown, TimeoutError):
            return
        handle(item)
        q.done(item)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def q(clock: FakeClock) -> RateLimitingQueue[str]:
    """A queue on the fake clock."""
    return RateLimitingQueue(clock=clock)


# -- queue_test.go ---------------------------------------------------------------------------------------------


def test_basic_producers_and_consumers() -> None:
    """TestBasic: 50 producers add 50 times each, 10 consumers; nothing added after shutdown is handed out."""
    q: RateLimitingQueue[object] = RateLimitingQueue()
    errors: list[str] = []

    def produce(i: int) -> None:
        for _ in range(50):
            q.add(i)
            time.sleep(0.0001)

    def check(item: object) -> None:
        if item == "added after shutdown!":
            errors.append("got an item added after shutdown")

    producers = [threading.Thread(target=produce, args=(i,)) for i in range(50)]
    consumers = [threading.Thread(target=_serve, args=(q, check)) for _ in range(10)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join(JOIN)
    q.shutdown()
    q.add("added after shutdown!")
    for t in consumers:
        t.join(JOIN)
    assert not any(t.is_alive() for t in consumers)
    assert errors == []


def test_add_while_processing() -> None:
    """TestAddWhileProcessing: every worker re-adds each item it sees, up to twice (dirty while processing)."""
    q: RateLimitingQueue[int] = RateLimitingQueue()
    for i in range(50):
        q.add(i)

    def consume() -> None:
        counters: dict[int, int] = {}

        def readd(item: int) -> None:
            counters[item] = counters.get(item, 0) + 1
            if counters[item] < 2:
                q.add(item)

        _serve(q, readd, timeout=0.2)

    consumers = [threading.Thread(target=consume) for _ in range(10)]
    for t in consumers:
        t.start()
    for t in consumers:
        t.join(JOIN)
    q.shutdown()
    assert len(q) == 0


def test_len() -> None:
    """TestLen: a second add of a queued item does not grow the queue."""
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("foo")
    assert len(q) == 1
    q.add("bar")
    assert len(q) == 2
    q.add("foo")
    assert len(q) == 2


def test_reinsert() -> None:
    """TestReinsert: added back while processing, the item is queued again by done()."""
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("foo")
    item = _get_now(q)
    assert item == "foo"
    q.add(item)
    assert len(q) == 0  # not handed out again while processing
    q.done(item)
    assert _get_now(q) == "foo"
    q.done("foo")
    assert len(q) == 0


# -- delaying_queue_test.go (fake clock) ------------------------------------------------------------------------


def _one_ready_after(q: RateLimitingQueue[str], clock: FakeClock, wait: float, then: float) -> None:
    """None is ready now; ``wait`` seconds later exactly one, taken and done; ``then`` seconds on, none."""
    assert len(q) == 0
    clock.step(wait)
    assert len(q) == 1
    q.done(_get_now(q))
    clock.step(then)
    assert len(q) == 0


def _next_after(q: RateLimitingQueue[str], clock: FakeClock, wait: float) -> str:
    """``wait`` seconds on, exactly one item is ready: taken (not done)."""
    clock.step(wait)
    assert len(q) == 1
    return _get_now(q)


def test_simple_delayed_queue(clock: FakeClock, q: RateLimitingQueue[str]) -> None:
    """TestSimpleQueue: not before the delay, once after it, and nothing more past a heartbeat."""
    q.add_after("foo", 0.050)
    _one_ready_after(q, clock, 0.060, 10)  # client-go: "step past the next heartbeat"


def test_deduping(clock: FakeClock, q: RateLimitingQueue[str]) -> None:
    """TestDeduping: a later add_after keeps the earlier ready time; an earlier one replaces a later."""
    q.add_after("foo", 0.050)
    q.add_after("foo", 0.070)
    # past the first: we should receive now; 0.020 later, past the second add: nothing, it was merged
    _one_ready_after(q, clock, 0.060, 0.020)

    # again, but this time the earlier should override
    q.add_after("foo", 0.050)
    q.add_after("foo", 0.030)
    _one_ready_after(q, clock, 0.040, 0.020)


def test_add_two_fire_early(clock: FakeClock, q: RateLimitingQueue[str]) -> None:
    """TestAddTwoFireEarly: items come out in ready order, whatever the order of the add_after calls."""
    q.add_after("foo", 1)
    q.add_after("bar", 0.050)
    assert len(q) == 0
    assert _next_after(q, clock, 0.060) == "bar"
    q.add_after("baz", 2)
    assert _next_after(q, clock, 1) == "foo"
    assert _next_after(q, clock, 2) == "baz"


def test_copy_shifting(clock: FakeClock, q: RateLimitingQueue[str]) -> None:
    """TestCopyShifting: three delays that all pass at once come out earliest first."""
    q.add_after("foo", 1)
    q.add_after("bar", 0.5)
    q.add_after("baz", 0.25)
    assert len(q) == 0
    clock.step(2)
    assert len(q) == 3
    assert [_get_now(q) for _ in range(3)] == ["baz", "bar", "foo"]


def test_add_after_zero_or_negative_adds_now(q: RateLimitingQueue[str]) -> None:
    q.add_after("a", 0)
    q.add_after("b", -5)
    assert [_get_now(q), _get_now(q)] == ["a", "b"]


# -- rate_limiting_queue_test.go --------------------------------------------------------------------------------


def _ready_exactly_after(q: RateLimitingQueue[str], clock: FakeClock, delay: float) -> None:
    start = clock.now
    clock.now = start + delay * 0.999
    assert len(q) == 0, f"ready before {delay} s"
    clock.now = start + delay
    assert len(q) == 1, f"not ready after {delay} s"
    q.done(_get_now(q))


def test_rate_limiting_queue() -> None:
    """TestRateLimitingQueue: add_rate_limited waits as the limiter says; num_requeues and forget pass through."""
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(0.001, 1), clock=clock)
    q.add_rate_limited("one")
    _ready_exactly_after(q, clock, 0.001)
    q.add_rate_limited("one")
    _ready_exactly_after(q, clock, 0.002)
    assert q.num_requeues("one") == 2
    q.add_rate_limited("two")
    _ready_exactly_after(q, clock, 0.001)
    q.add_rate_limited("two")
    _ready_exactly_after(q, clock, 0.002)
    q.forget("one")
    assert q.num_requeues("one") == 0
    q.add_rate_limited("one")
    _ready_exactly_after(q, clock, 0.001)


def test_default_rate_limiter_is_client_gos(clock: FakeClock, q: RateLimitingQueue[str]) -> None:
    q.add_rate_limited("k")
    _ready_exactly_after(q, clock, 0.005)
    q.add_rate_limited("k")
    _ready_exactly_after(q, clock, 0.010)
    assert q.num_requeues("k") == 2


# -- metrics_test.go (TestMetrics), read from a fresh registry ---------------------------------------------------


def _sample(registry: CollectorRegistry, name: str, queue: str = "test") -> float:
    value = registry.get_sample_value(name, {"name": queue})
    assert value is not None, name
    return value


def test_metrics() -> None:
    registry = CollectorRegistry()
    clock = FakeClock(0.0)
    q: RateLimitingQueue[str] = RateLimitingQueue(
        name="test", metrics=PrometheusMetricsProvider(registry=registry), clock=clock
    )
    q.add("foo")
    assert _sample(registry, "workqueue_adds_total") == 1
    assert _sample(registry, "workqueue_depth") == 1
    clock.step(50e-6)
    item = _get_now(q)
    assert item == "foo"
    assert _sample(registry, "workqueue_queue_duration_seconds_sum") == pytest.approx(5e-05)
    assert _sample(registry, "workqueue_queue_duration_seconds_count") == 1

    # add it back while processing; multiple adds of the same item are de-duped
    for _ in range(5):
        q.add(item)
    assert _sample(registry, "workqueue_adds_total") == 2
    assert _sample(registry, "workqueue_depth") == 1  # one thing remains in the queue

    clock.step(25e-6)
    q.done(item)
    assert _sample(registry, "workqueue_work_duration_seconds_sum") == pytest.approx(2.5e-05)
    assert _sample(registry, "workqueue_work_duration_seconds_count") == 1
    assert _sample(registry, "workqueue_depth") == 1

    item = _get_now(q)  # it should be back on the queue
    assert item == "foo"
    assert _sample(registry, "workqueue_queue_duration_seconds_sum") == pytest.approx(5e-05 + 2.5e-05)
    assert _sample(registry, "workqueue_queue_duration_seconds_count") == 2

    clock.step(0.001)
    assert _sample(registry, "workqueue_unfinished_work_seconds") == pytest.approx(0.001)
    assert _sample(registry, "workqueue_longest_running_processor_seconds") == pytest.approx(0.001)

    q.done(item)
    assert _sample(registry, "workqueue_work_duration_seconds_sum") == pytest.approx(2.5e-05 + 0.001)
    assert _sample(registry, "workqueue_work_duration_seconds_count") == 2
    assert _sample(registry, "workqueue_unfinished_work_seconds") == 0
    assert _sample(registry, "workqueue_longest_running_processor_seconds") == 0


def test_metrics_retries_delays_prefix_and_two_queues() -> None:
    registry = CollectorRegistry()
    provider = PrometheusMetricsProvider(prefix="myapp_queue", registry=registry)
    clock = FakeClock(0.0)
    a: RateLimitingQueue[str] = RateLimitingQueue(name="a", metrics=provider, clock=clock)
    b: RateLimitingQueue[str] = RateLimitingQueue(name="b", metrics=provider, clock=clock)
    a.add_after("x", 2)
    a.add_rate_limited("y")
    b.add("z")
    assert _sample(registry, "myapp_queue_retries_total", "a") == 2
    assert registry.get_sample_value("myapp_queue_retries_total", {"name": "b"}) == 0
    assert _sample(registry, "myapp_queue_adds_total", "b") == 1
    clock.step(3)
    assert {_get_now(a), _get_now(a)} == {"x", "y"}
    # a delayed item counts its queue time from its ready time, not from the add_after call
    assert _sample(registry, "myapp_queue_queue_duration_seconds_sum", "a") == pytest.approx(1 + (3 - 0.005))
    assert registry.get_sample_value("workqueue_depth", {"name": "a"}) is None


def test_metrics_need_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        RateLimitingQueue(metrics=PrometheusMetricsProvider(registry=CollectorRegistry()))


def test_metrics_without_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from incluster_sdk.controller.workqueue import MetricsUnavailable

    real_import = builtins.__import__

    def no_prometheus(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("prometheus_client"):
            raise ImportError("No module named 'prometheus_client'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_prometheus)
    with pytest.raises(MetricsUnavailable, match=r"pip install 'incluster-sdk\[metrics\]'") as caught:
        PrometheusMetricsProvider()
    assert isinstance(caught.value, InclusterSDKError)
    assert isinstance(caught.value, ImportError)


# -- the sync front-end: shutdown, drain, errors ----------------------------------------------------------------


def test_shutdown_ignores_adds_drops_waiting_and_drains_the_queue(clock: FakeClock, q: RateLimitingQueue[str]) -> None:
    q.add("a")
    q.add("b")
    q.add_after("later", 1)
    q.shutdown()
    assert q.shutting_down
    q.add("c")
    q.add_after("d", 0)
    q.add_rate_limited("e")
    clock.step(2)
    assert [_get_now(q), _get_now(q)] == ["a", "b"]
    with pytest.raises(ShutDown) as caught:
        q.get()
    assert isinstance(caught.value, InclusterSDKError)


def test_requeued_while_processing_still_runs_after_shutdown() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("a")
    item = _get_now(q)
    q.add("a")
    q.shutdown()
    q.done(item)
    assert _get_now(q) == "a"
    q.done("a")
    with pytest.raises(ShutDown):
        q.get(timeout=0)


def test_get_timeout() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    with pytest.raises(TimeoutError):
        q.get(timeout=0)
    with pytest.raises(TimeoutError):
        q.get(timeout=0.01)


def test_done_twice_is_an_error() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("a")
    q.done(_get_now(q))
    with pytest.raises(ValueError, match="not being processed"):
        q.done("a")


def test_shutdown_wakes_every_blocked_getter() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    outcomes: list[str] = []

    def getter() -> None:
        try:
            q.get()
        except ShutDown:
            outcomes.append("shutdown")

    threads = [threading.Thread(target=getter) for _ in range(4)]
    for t in threads:
        t.start()
    q.shutdown()
    for t in threads:
        t.join(JOIN)
    assert outcomes == ["shutdown"] * 4


def test_blocked_getter_wakes_for_an_earlier_delayed_item() -> None:
    """A getter sleeping towards a far ready time notices an add_after that is ready sooner."""
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add_after("far", 3600)
    got: list[str] = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=JOIN)))
    t.start()
    time.sleep(0.01)
    q.add_after("near", 0.01)
    t.join(JOIN)
    assert got == ["near"]


def test_shutdown_with_drain_waits_for_in_flight_items() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("a")
    q.add("b")
    item = _get_now(q)
    assert q.shutdown_with_drain(timeout=0.01) is False  # "a" in flight, "b" queued, nobody working
    q.done(item)
    assert q.shutdown_with_drain(timeout=0) is False  # "b" is still queued
    release = threading.Event()

    t = threading.Thread(target=_serve, args=(q, lambda _: release.wait(JOIN)))
    t.start()
    drained: list[bool] = []
    drainer = threading.Thread(target=lambda: drained.append(q.shutdown_with_drain()))
    drainer.start()
    release.set()
    drainer.join(JOIN)
    t.join(JOIN)
    assert drained == [True]


def test_shutdown_ends_a_waiting_drain() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("a")
    _get_now(q)
    drained: list[bool] = []
    drainer = threading.Thread(target=lambda: drained.append(q.shutdown_with_drain()))
    drainer.start()
    time.sleep(0.01)
    q.shutdown()
    drainer.join(JOIN)
    assert drained == [False]


# -- several workers: never one item in two workers, no add lost -------------------------------------------------


class Tracker:
    """Records, per item, how many adds were made and the newest add each processing saw when it started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: set[Hashable] = set()
        self.generation: dict[Hashable, int] = {}
        self.seen: dict[Hashable, int] = {}
        self.violations: list[str] = []

    def before_add(self, item: Hashable) -> None:
        with self.lock:
            self.generation[item] = self.generation.get(item, 0) + 1

    def start(self, item: Hashable) -> None:
        with self.lock:
            if item in self.in_flight:
                self.violations.append(f"{item!r} in two workers at once")
            self.in_flight.add(item)
            self.seen[item] = max(self.seen.get(item, 0), self.generation.get(item, 0))

    def add(self, q: RateLimitingQueue[int] | AsyncRateLimitingQueue[int], seed: int, j: int) -> None:
        """Producer ``seed``'s ``j``-th add: the 20 items in turn, every third add rate-limited."""
        item = (seed * 7 + j) % 20
        self.before_add(item)
        if j % 3 == 0:
            q.add_rate_limited(item)
        else:
            q.add(item)

    def finish(self, item: Hashable) -> None:
        with self.lock:
            self.in_flight.discard(item)

    def check(self) -> None:
        assert self.violations == []
        assert self.in_flight == set()
        lost = {item for item, gen in self.generation.items() if self.seen.get(item, 0) < gen}
        assert lost == set(), "adds lost: no processing started after the last add of these"


def test_threads_several_workers_several_producers() -> None:
    q: RateLimitingQueue[int] = RateLimitingQueue(ItemExponentialFailureRateLimiter(0.0001, 0.001))
    tracker = Tracker()

    def produce(seed: int) -> None:
        for j in range(300):
            tracker.add(q, seed, j)

    def work(item: int) -> None:
        tracker.start(item)
        time.sleep(0)
        tracker.finish(item)
        q.forget(item)

    workers = [threading.Thread(target=_serve, args=(q, work)) for _ in range(6)]
    producers = [threading.Thread(target=produce, args=(i,)) for i in range(4)]
    for t in workers + producers:
        t.start()
    for t in producers:
        t.join(JOIN)
    time.sleep(0.01)  # past the rate limiter's 1 ms cap: every delayed add has been queued
    assert q.shutdown_with_drain(timeout=JOIN)
    for t in workers:
        t.join(JOIN)
    tracker.check()


# -- the asyncio front-end -------------------------------------------------------------------------------------


async def test_asyncio_several_workers_several_producers() -> None:
    q: AsyncRateLimitingQueue[int] = AsyncRateLimitingQueue(ItemExponentialFailureRateLimiter(0.0001, 0.001))
    tracker = Tracker()

    async def produce(seed: int) -> None:
        for j in range(300):
            tracker.add(q, seed, j)
            if j % 10 == 0:
                await asyncio.sleep(0)

    async def work() -> None:
        while True:
            try:
                item = await q.get()
            except ShutDown:
                return
            tracker.start(item)
            await asyncio.sleep(0)
            tracker.finish(item)
            q.forget(item)
            q.done(item)

    workers = [asyncio.create_task(work()) for _ in range(6)]
    await asyncio.gather(*(produce(i) for i in range(4)))
    await asyncio.sleep(0.01)
    assert await q.shutdown_with_drain(timeout=JOIN)
    await asyncio.wait_for(asyncio.gather(*workers), JOIN)
    tracker.check()


async def test_asyncio_ported_cases_with_a_fake_clock() -> None:
    clock = FakeClock()
    q: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue(clock=clock)
    q.add("foo")
    q.add("foo")
    q.add("bar")
    assert len(q) == 2
    item = await q.get(timeout=0)
    q.add(item)
    q.done(item)
    assert [await q.get(timeout=0), await q.get(timeout=0)] == ["bar", "foo"]
    q.add_after("x", 0.05)
    q.add_after("x", 0.07)
    with pytest.raises(TimeoutError):
        await q.get(timeout=0)
    clock.step(0.06)
    assert await q.get(timeout=0) == "x"
    with pytest.raises(ValueError, match="not being processed"):
        q.done("nope")


async def test_asyncio_timeout_shutdown_and_waking() -> None:
    q: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue()
    with pytest.raises(TimeoutError):
        await q.get(timeout=0.01)
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add_after("soon", 0.01)
    assert await asyncio.wait_for(getter, JOIN) == "soon"
    q.done("soon")
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)


async def test_asyncio_a_cancelled_getter_passes_its_wake_up_on() -> None:
    q: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("a")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, JOIN) == "a"
    assert first.cancelled()


async def test_asyncio_shutdown_with_drain() -> None:
    q: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue()
    q.add("a")
    item = await q.get(timeout=0)
    assert await q.shutdown_with_drain(timeout=0.01) is False
    drain = asyncio.create_task(q.shutdown_with_drain())
    await asyncio.sleep(0)
    q.done(item)
    assert await asyncio.wait_for(drain, JOIN) is True
    with pytest.raises(ShutDown):
        await q.get()
    q2: AsyncRateLimitingQueue[str] = AsyncRateLimitingQueue()
    q2.add("a")
    await q2.get()
    drain = asyncio.create_task(q2.shutdown_with_drain())
    await asyncio.sleep(0)
    q2.shutdown()
    assert await asyncio.wait_for(drain, JOIN) is False


def test_core_reports_empty_and_finished() -> None:
    core: QueueCore[str] = QueueCore()
    assert core.get(0.0) is EMPTY
    assert not core.finished
    core.shutdown(0.0)
    assert core.finished
    assert core.drained


def test_a_delayed_item_due_before_done_is_queued_before_the_requeued_one() -> None:
    """client-go's waiting loop adds a due item when its time comes, so it precedes a later done()'s requeue."""
    core: QueueCore[str] = QueueCore()
    core.add("x", 0.0)
    assert core.get(0.0) == "x"
    core.add("x", 0.0)  # dirty while processing
    core.add_after("y", 1.0, 0.0)
    assert core.done("x", 2.0) == 2
    assert [core.get(2.0), core.get(2.0)] == ["y", "x"]
