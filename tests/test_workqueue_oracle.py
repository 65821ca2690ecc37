"""The work queue against client-go itself: random traces run through client-go 1.20's rate limiters and queue
(``scripts/workqueue-oracle/main.go``, built by ``bash scripts/install-kube-binaries.sh`` from Debian's
kubernetes 1.20.2 tree and cached beside kube-apiserver) and through ours; the answers must agree.

- Rate limiters: every delay within 1 microsecond (Go counts whole nanoseconds, we count float seconds), every
  requeue count exactly; the token bucket is x/time/rate's ``Reserve().Delay()`` with a fake clock on both
  sides. The defaults are read from client-go's ``DefaultControllerRateLimiter()`` itself.
- Queue: client-go's ``workqueue.New()`` (dirty and processing sets) and our thread front-end give the same
  items in the same order, the same lengths, the same shutdown answers.

Skips without the oracle, except where the real-server tests must run (``CI`` or
``INCLUSTER_SDK_REQUIRE_CLUSTER`` set): there, the install script has built it, and a missing oracle fails.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incluster_sdk.controller import ratelimit
from incluster_sdk.controller.ratelimit import RateLimiter
from incluster_sdk.controller.workqueue import RateLimitingQueue, ShutDown
from tests.support.go_oracle import GoOracle, oracle_fixture

ORACLE_ENV = "INCLUSTER_SDK_WORKQUEUE_ORACLE"
TOLERANCE_NS = 1000


oracle = oracle_fixture("workqueue-oracle", ORACLE_ENV)


class FakeClock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> float:
        return self.ns / 1e9


# -- rate limiters -------------------------------------------------------------------------------------------------

NS = st.integers(1, 10**10)
SIMPLE_SPECS = st.one_of(
    st.tuples(NS, st.integers(0, 10**4)).map(
        lambda bm: {"kind": "exponential", "base_ns": bm[0], "max_ns": bm[0] * (1 + bm[1])}
    ),
    st.builds(
        lambda f, s, a: {"kind": "fastslow", "fast_ns": f, "slow_ns": s, "attempts": a},
        st.integers(0, 10**10),
        st.integers(0, 10**10),
        st.integers(0, 5),
    ),
    st.builds(
        lambda q, b: {"kind": "bucket", "qps": q, "burst": b},
        st.sampled_from([0.5, 1.0, 3.0, 10.0, 100.0, 1000.0]),
        st.integers(1, 20),
    ),
    st.just({"kind": "default"}),
)
SPECS = st.one_of(
    SIMPLE_SPECS, st.lists(SIMPLE_SPECS, min_size=1, max_size=3).map(lambda of: {"kind": "max", "of": of})
)
ITEMS = st.sampled_from(["a", "b", "c"])
OPS = st.lists(
    st.one_of(
        st.builds(lambda i: {"op": "when", "item": i}, ITEMS),
        st.builds(lambda i: {"op": "when", "item": i}, ITEMS),
        st.builds(lambda i: {"op": "forget", "item": i}, ITEMS),
        st.builds(lambda i: {"op": "num_requeues", "item": i}, ITEMS),
        st.builds(lambda n: {"op": "step", "ns": n}, st.sampled_from([0, 10**6, 5 * 10**7, 10**9, 10**11])),
    ),
    max_size=80,
)


def _ours(spec: dict[str, Any], clock: FakeClock) -> RateLimiter:
    kind = spec["kind"]
    if kind == "exponential":
        return ratelimit.ItemExponentialFailureRateLimiter(spec["base_ns"] / 1e9, spec["max_ns"] / 1e9)
    if kind == "fastslow":
        return ratelimit.ItemFastSlowRateLimiter(spec["fast_ns"] / 1e9, spec["slow_ns"] / 1e9, spec["attempts"])
    if kind == "bucket":
        return ratelimit.BucketRateLimiter(spec["qps"], spec["burst"], clock=clock)
    if kind == "max":
        return ratelimit.MaxOfRateLimiter(*(_ours(sub, clock) for sub in spec["of"]))
    assert kind == "default"
    return ratelimit.default_controller_rate_limiter(clock=clock)


def _run_ours(limiter: RateLimiter, clock: FakeClock, ops: list[dict[str, Any]]) -> list[Any]:
    results: list[Any] = []
    for op in ops:
        if op["op"] == "when":
            results.append(limiter.when(op["item"]))
        elif op["op"] == "forget":
            limiter.forget(op["item"])
            results.append(None)
        elif op["op"] == "num_requeues":
            results.append(limiter.num_requeues(op["item"]))
        else:
            clock.ns += op["ns"]
            results.append(None)
    return results


@given(spec=SPECS, ops=OPS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_rate_limiters_agree_with_client_go(oracle: GoOracle, spec: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    clock = FakeClock()
    ours = _run_ours(_ours(spec, clock), clock, ops)
    theirs = oracle.ask({"limiter": spec, "ops": ops}).get("results", [])
    assert len(ours) == len(theirs)
    for i, (op, mine, go) in enumerate(zip(ops, ours, theirs, strict=True)):
        where = f"op {i} {op} of {spec}"
        if op["op"] == "when":
            assert abs(mine * 1e9 - go) <= max(TOLERANCE_NS, abs(go) * 1e-12), f"{where}: {mine} s vs {go} ns"
        else:
            assert mine == go, where


def test_defaults_are_client_gos(oracle: GoOracle) -> None:
    answer = oracle.ask({"limiter": {"kind": "default"}, "ops": []})
    assert answer["default"] == {
        "base_ns": round(ratelimit.DEFAULT_BASE_DELAY * 1e9),
        "max_ns": round(ratelimit.DEFAULT_MAX_DELAY * 1e9),
        "qps": ratelimit.DEFAULT_QPS,
        "burst": ratelimit.DEFAULT_BURST,
    }


# -- the queue's dirty and processing sets ----------------------------------------------------------------------------

QUEUE_OPS = st.lists(
    st.one_of(
        st.builds(lambda i: ("add", i), ITEMS),
        st.builds(lambda i: ("add", i), ITEMS),
        st.just(("get", "")),
        st.just(("get", "")),
        st.builds(lambda n: ("done", n), st.integers(0, 2)),
        st.just(("len", "")),
        st.just(("shutdown", "")),
    ),
    max_size=60,
)


@given(steps=QUEUE_OPS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_queue_agrees_with_client_go(oracle: GoOracle, steps: list[tuple[str, Any]]) -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    held: list[str] = []
    ops: list[dict[str, Any]] = []
    ours: list[Any] = []
    for name, arg in steps:
        if name == "add":
            q.add(arg)
            ops.append({"op": "add", "item": arg})
            ours.append(None)
        elif name == "done":
            if not held:
                continue
            item = held.pop(arg % len(held))
            q.done(item)
            ops.append({"op": "done", "item": item})
            ours.append(None)
        elif name == "get":
            try:
                item = q.get(timeout=0)
            except TimeoutError:
                ours.append("<empty>")
            except ShutDown:
                ours.append("<shutdown>")
            else:
                held.append(item)
                ours.append(item)
            ops.append({"op": "get"})
        elif name == "len":
            ops.append({"op": "len"})
            ours.append(len(q))
        else:
            q.shutdown()
            ops.append({"op": "shutdown"})
            ours.append(None)
    assert ours == oracle.ask({"queue": ops}).get("results", [])
