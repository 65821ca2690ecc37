"""The work queue's rate limiters: client-go's default_rate_limiters_test.go ported, the token bucket checked
against golang.org/x/time/rate's reservation rules, and hypothesis properties of the arithmetic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incluster_sdk.controller.ratelimit import (
    DEFAULT_BASE_DELAY,
    DEFAULT_BURST,
    DEFAULT_MAX_DELAY,
    DEFAULT_QPS,
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)
from incluster_sdk.controller.workqueue import RateLimiter  # the protocol, as the queue takes it

MS = 0.001


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- default_rate_limiters_test.go -----------------------------------------------------------------------------


def test_item_exponential_failure_rate_limiter_overflow() -> None:
    limiter = ItemExponentialFailureRateLimiter(1 * MS, 1000)
    for _ in range(5):
        limiter.when("one")
    assert limiter.when("one") == 32 * MS
    for _ in range(1000):
        limiter.when("overflow1")
    assert limiter.when("overflow1") == 1000

    limiter = ItemExponentialFailureRateLimiter(60, 1000 * 3600)
    for _ in range(2):
        limiter.when("two")
    assert limiter.when("two") == 4 * 60
    for _ in range(1000):
        limiter.when("overflow2")
    assert limiter.when("overflow2") == 1000 * 3600
    for _ in range(2000):  # past a float's exponent range too: capped, no OverflowError
        limiter.when("overflow3")
    assert limiter.when("overflow3") == 1000 * 3600


@pytest.mark.parametrize(
    ("make", "one", "two"),
    [
        pytest.param(
            lambda: ItemExponentialFailureRateLimiter(1 * MS, 1),
            [1 * MS, 2 * MS, 4 * MS, 8 * MS, 16 * MS],
            [1 * MS, 2 * MS],
            id="TestItemExponentialFailureRateLimiter",
        ),
        pytest.param(
            lambda: ItemFastSlowRateLimiter(5 * MS, 10, 3),
            [5 * MS, 5 * MS, 5 * MS, 10, 10],
            [5 * MS, 5 * MS],
            id="TestItemFastSlowRateLimiter",
        ),
        pytest.param(
            lambda: MaxOfRateLimiter(
                ItemFastSlowRateLimiter(5 * MS, 3, 3), ItemExponentialFailureRateLimiter(1 * MS, 1)
            ),
            [5 * MS, 5 * MS, 5 * MS, 3, 3],
            [5 * MS, 5 * MS],
            id="TestMaxOfRateLimiter",
        ),
    ],
)
def test_per_item_limiters(make: Callable[[], RateLimiter], one: list[float], two: list[float]) -> None:
    """client-go's three per-item tests: five requeues of "one" and two of "two" are counted apart; after
    ``forget("one")`` its count is 0 and its next delay is the first one again."""
    limiter = make()
    assert [limiter.when("one") for _ in range(5)] == one
    assert limiter.num_requeues("one") == 5
    assert [limiter.when("two") for _ in range(2)] == two
    assert limiter.num_requeues("two") == 2
    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == one[0]


def test_max_of_nothing_is_zero() -> None:
    assert MaxOfRateLimiter().when("x") == 0
    assert MaxOfRateLimiter().num_requeues("x") == 0


# -- the token bucket: x/time/rate's Reserve().Delay() -----------------------------------------------------------


def test_bucket_starts_full_then_spaces_reservations() -> None:
    clock = FakeClock(100.0)
    bucket = BucketRateLimiter(10, 3, clock=clock)
    assert [bucket.when("x") for _ in range(3)] == [0, 0, 0]  # the burst
    assert bucket.when("x") == pytest.approx(0.1)  # one token short: 1/qps
    assert bucket.when("y") == pytest.approx(0.2)  # the reservation above is counted
    clock.now += 0.2
    assert bucket.when("x") == pytest.approx(0.1)
    clock.now += 10  # refills, to the burst and no further
    assert [bucket.when("x") for _ in range(3)] == [0, 0, 0]
    assert bucket.when("x") == pytest.approx(0.1)
    assert bucket.num_requeues("x") == 0
    bucket.forget("x")


def test_bucket_clock_going_back_counts_no_time() -> None:
    clock = FakeClock(100.0)
    bucket = BucketRateLimiter(1, 1, clock=clock)
    assert bucket.when("x") == 0
    clock.now = 50.0
    assert bucket.when("x") == pytest.approx(1.0)


def test_bucket_refuses_what_go_would_never_grant() -> None:
    with pytest.raises(ValueError, match="qps"):
        BucketRateLimiter(0, 10)
    with pytest.raises(ValueError, match="burst"):
        BucketRateLimiter(1, 0)
    assert BucketRateLimiter(math.inf, 1).when("x") == 0
    with pytest.raises(ValueError, match="base_delay"):
        ItemExponentialFailureRateLimiter(2, 1)


def test_default_controller_rate_limiter_is_client_gos() -> None:
    assert (DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY, DEFAULT_QPS, DEFAULT_BURST) == (0.005, 1000.0, 10.0, 100)
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock=clock)
    assert [limiter.when("k") for _ in range(3)] == [0.005, 0.010, 0.020]
    assert limiter.num_requeues("k") == 3
    # 100 items fail at once: the first 100 reservations (3 above included) are free, then 10 per second
    delays = [limiter.when(f"i{n}") for n in range(100)]
    assert delays[:97] == [0.005] * 97
    assert delays[97:] == pytest.approx([0.1, 0.2, 0.3])
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0


# -- properties -------------------------------------------------------------------------------------------------


@given(
    base=st.floats(1e-9, 100, allow_nan=False),
    factor=st.floats(1, 1e12, allow_nan=False),
    failures=st.integers(0, 1200),
)
@settings(max_examples=200)
def test_exponential_is_capped_doubling(base: float, factor: float, failures: int) -> None:
    maximum = base * factor
    limiter = ItemExponentialFailureRateLimiter(base, maximum)
    delays = [limiter.when("x") for _ in range(failures + 1)]
    assert delays[0] == min(base, maximum)
    assert all(0 < d <= maximum for d in delays)
    assert all(a <= b for a, b in itertools.pairwise(delays))
    for n, delay in enumerate(delays):
        exact = base * 2.0**n if n < 1024 else math.inf
        assert delay == (maximum if exact >= maximum else pytest.approx(exact))
    assert limiter.num_requeues("x") == failures + 1
    assert limiter.num_requeues("other") == 0


@given(
    qps=st.floats(0.1, 1000),
    burst=st.integers(1, 50),
    steps=st.lists(st.tuples(st.floats(0, 2), st.integers(1, 5)), min_size=1, max_size=40),
)
@settings(max_examples=200)
def test_bucket_never_exceeds_its_rate(qps: float, burst: int, steps: list[tuple[float, int]]) -> None:
    """Reservations are granted in order, and by any time T at most burst + qps * (T - start) of them act."""
    clock = FakeClock(0.0)
    bucket = BucketRateLimiter(qps, burst, clock=clock)
    acts: list[float] = []
    for pause, calls in steps:
        clock.now += pause
        idle_enough = not acts or clock.now - max(acts[-1], 0.0) >= burst / qps
        first = bucket.when("x")
        if idle_enough:
            assert first == 0  # a bucket left alone long enough is full again
        acts.append(clock.now + first)
        acts.extend(clock.now + bucket.when("x") for _ in range(calls - 1))
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(acts))
    for i, act in enumerate(acts):
        assert i + 1 <= burst + qps * act + 1e-6


@given(delays=st.lists(st.lists(st.floats(0, 100), min_size=1, max_size=5), min_size=1, max_size=4))
def test_max_of_answers_the_longest(delays: list[list[float]]) -> None:
    limiters = [ItemFastSlowRateLimiter(d[0], d[0], 10) for d in delays]
    assert MaxOfRateLimiter(*limiters).when("x") == max(d[0] for d in delays)
