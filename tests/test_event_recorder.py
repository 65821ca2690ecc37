"""The Event recorder: client-go tools/record's events_cache_test.go (correlator, aggregator, spam filter) and
event_test.go (Eventf, write errors, expired events) ported, with an injected clock and a fake sink; the
recorder never raises into the caller and does not block it."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import threading
import time
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incluster_sdk.controller import calls, events
from incluster_sdk.controller.events import (
    AGGREGATE_INTERVAL,
    AGGREGATE_MAX_EVENTS,
    AGGREGATE_MESSAGE_PREFIX,
    SPAM_BURST,
    AsyncEventRecorder,
    Correlation,
    EventCorrelator,
    EventRecorder,
    TokenBucket,
    aggregate_key,
    make_event,
    write_flow,
)
from incluster_sdk.controller.objects import Call, ObjectError
from incluster_sdk.flows import drive

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def reference(kind: str, name: str, namespace: str) -> dict[str, Any]:
    # events_cache_test.go makeObjectReference
    return {
        "kind": kind,
        "name": name,
        "namespace": namespace,
        "uid": "C934D34AFB20242",
        "apiVersion": "version",
        "fieldPath": "spec.containers{mycontainer}",
    }


def make(reason: str, message: str, ref: dict[str, Any], now: dt.datetime = T0) -> dict[str, Any]:
    event = make_event(ref, "Normal", reason, message, component="kubelet", host="kublet.node1", now=now)
    return event


def stamped(event: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    # as the client-go test does: each event made "now"
    return {**event, "firstTimestamp": events.rfc3339(now), "lastTimestamp": events.rfc3339(now)}


def replay(correlator: EventCorrelator, previous: list[dict[str, Any]], start: dt.datetime, step: float) -> dt.datetime:
    now = start
    for event in previous:
        result = correlator.correlate(stamped(event, now), now)
        if not result.skip:
            assert result.event is not None
            correlator.update_state(result.event)
        now += dt.timedelta(seconds=step)
    return now


FIRST = make("first", "i am first", reference("Pod", "my-pod", "my-ns"))
DUPLICATE = make("duplicate", "me again", reference("Pod", "my-pod", "my-ns"))
UNIQUE = make("unique", "snowflake", reference("Pod", "my-pod", "my-ns"))
SIMILAR = make(
    "similar", "similar message", {**reference("Pod", "my-pod", "my-ns"), "fieldPath": "spec.containers{container1}"}
)
SIMILAR_OTHER_CONTAINER = make(
    "similar", "similar message", {**reference("Pod", "my-pod", "my-ns"), "fieldPath": "spec.containers{container2}"}
)


def unique_events(n: int) -> list[dict[str, Any]]:
    return [make(f"reason-{i}", f"message-{i}", reference("Pod", f"pod-{i}", f"ns-{i}")) for i in range(n)]


def similar_events(n: int, template: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**template, "message": f"{template['message']}-{i}-{template['message']}"} for i in range(n)]


# (previous events, new event, expected message, expected count or None for skip, seconds between events).
# client-go's SimpleIntervalClock advances on every clock read (two or three per event); here the time is passed
# once per event, so the intervals are per event: "greater than the aggregate interval" is 601 s, not 600.
SCENARIOS = {
    "create-a-single-event": ([], FIRST, FIRST["message"], 1, 5),
    "the-same-event-should-just-count": ([DUPLICATE], DUPLICATE, DUPLICATE["message"], 2, 5),
    "the-same-event-should-just-count-even-if-more-than-aggregate": (
        [DUPLICATE] * AGGREGATE_MAX_EVENTS,
        DUPLICATE,
        DUPLICATE["message"],
        AGGREGATE_MAX_EVENTS + 1,
        30,
    ),
    "the-same-event-is-spam-if-happens-too-frequently": ([DUPLICATE] * (SPAM_BURST + 1), DUPLICATE, "", None, 1),
    "create-many-unique-events": (unique_events(30), UNIQUE, UNIQUE["message"], 1, 5),
    "similar-events-should-aggregate-event": (
        similar_events(AGGREGATE_MAX_EVENTS - 1, SIMILAR),
        SIMILAR,
        AGGREGATE_MESSAGE_PREFIX + SIMILAR["message"],
        1,
        5,
    ),
    "similar-events-many-times-should-count-the-aggregate": (
        similar_events(AGGREGATE_MAX_EVENTS, SIMILAR),
        SIMILAR,
        AGGREGATE_MESSAGE_PREFIX + SIMILAR["message"],
        2,
        5,
    ),
    "events-from-different-containers-do-not-aggregate": ([SIMILAR_OTHER_CONTAINER], SIMILAR, SIMILAR["message"], 1, 5),
    "similar-events-whose-interval-is-greater-than-aggregate-interval-do-not-aggregate": (
        similar_events(AGGREGATE_MAX_EVENTS - 1, SIMILAR),
        SIMILAR,
        SIMILAR["message"],
        1,
        AGGREGATE_INTERVAL + 1,
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_event_correlator(scenario: str) -> None:
    previous, new, message, count, step = SCENARIOS[scenario]
    correlator = EventCorrelator()
    now = replay(correlator, previous, T0, step)
    result = correlator.correlate(stamped(new, now), now)
    if count is None:
        assert result.skip
        return
    assert not result.skip and result.event is not None
    assert result.event["message"] == message and result.event["count"] == count
    assert (result.patch is not None) == (count > 1)
    if count > 1:  # compression: the first timestamp stays, the last moves
        assert result.event["firstTimestamp"] != result.event["lastTimestamp"]
        assert result.patch == {"count": count, "lastTimestamp": result.event["lastTimestamp"], "message": message}
    else:
        assert result.event["firstTimestamp"] == result.event["lastTimestamp"]


def test_aggregator_by_reason_func() -> None:
    event1 = make("end-of-world", "it was fun", reference("Pod", "pod1", "other"))
    event2 = make("end-of-world", "it was awful", reference("Pod", "pod1", "other"))
    event3 = make("nevermind", "it was a bug", reference("Pod", "pod1", "other"))
    (group1, local1), (group2, local2), (group3, _) = map(aggregate_key, (event1, event2, event3))
    assert group1 == group2 and local1 != local2 and group1 != group3


def test_spam_filter_default_key_and_custom_key() -> None:
    # events_cache_test.go TestEventSpamFilter: burst 1, one original event, then a second one
    original = make("original", "i am first", reference("Pod", "my-pod", "my-ns"))
    different_reason = make("duplicate", "me again", reference("Pod", "my-pod", "my-ns"))
    spam = make("original", "me again", reference("Pod", "my-pod", "my-ns"))

    def by_object_and_reason(event: Any) -> Any:
        return (*events.spam_key(event)[:-1], event["reason"])

    cases = [(different_reason, True, events.spam_key), (different_reason, False, by_object_and_reason)]
    cases.append((spam, True, by_object_and_reason))
    for new, skipped, key in cases:
        correlator = EventCorrelator(burst=1, spam_key_func=key)
        first = correlator.correlate(original, T0)
        assert first.event is not None
        correlator.update_state(first.event)
        assert correlator.correlate(new, T0 + dt.timedelta(seconds=1)).skip is skipped


def test_spam_filter_refills_one_event_every_five_minutes() -> None:
    correlator = EventCorrelator()
    objects = [make("r", f"m{i}", reference("Pod", "p", "ns")) for i in range(SPAM_BURST + 3)]
    results = [correlator.correlate(event, T0) for event in objects]
    assert [r.skip for r in results] == [False] * SPAM_BURST + [True] * 3
    assert correlator.correlate(objects[0], T0 + dt.timedelta(seconds=299)).skip
    assert not correlator.correlate(objects[0], T0 + dt.timedelta(seconds=300 * 2)).skip
    # another object from the same source has its own bucket
    assert not correlator.correlate(make("r", "m", reference("Pod", "q", "ns")), T0).skip


@given(st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=60))
def test_token_bucket_never_exceeds_burst_plus_refill(gaps: list[float]) -> None:
    bucket = TokenBucket(qps=1 / 300, burst=5, now=0.0)
    now, accepted = 0.0, 0
    for gap in gaps:
        now += gap
        accepted += bucket.try_accept(now)
    assert accepted <= 5 + now / 300 + 1e-9
    assert 0 <= bucket.tokens <= 5


# -- the write flow: event_test.go TestUpdateExpiredEvent, TestWriteEventError ----------------------------------
def answer(code: int, body: dict[str, Any]) -> tuple[int, bytes]:
    return code, orjson.dumps(body)


def test_expired_event_is_created_again_without_resource_version() -> None:
    correlator = EventCorrelator()
    event = make("r", "m", reference("Pod", "p", "ns"))
    event["metadata"]["resourceVersion"] = "updated-resource-version"
    event["count"] = 2
    sent: list[Call] = []

    def perform(call: Call) -> tuple[int, bytes]:
        sent.append(call)
        if call.method == "PATCH":
            return answer(404, {"kind": "Status", "reason": "NotFound"})
        return answer(201, {**call.body, "metadata": {**call.body["metadata"], "resourceVersion": "9"}})

    written = drive(write_flow(correlator, Correlation(event, {"count": 2})), perform)
    assert written.action == "created" and [c.method for c in sent] == ["PATCH", "POST"]
    assert "resourceVersion" not in sent[1].body["metadata"]
    assert sent[0].content_type == events.STRATEGIC_MERGE_PATCH


def test_a_refusal_ends_the_write_without_retry() -> None:
    correlator = EventCorrelator()
    event = make("r", "m", reference("Pod", "p", "ns"))
    written = drive(
        write_flow(correlator, Correlation(event)),
        lambda call: answer(403, {"reason": "Forbidden", "message": "events is forbidden"}),
    )
    assert (written.action, written.status, written.reason) == ("refused", 403, "Forbidden")


class FakeSink:
    """The recorder's send, replaced: records calls, stores Events, and fails ``failures`` times first."""

    def __init__(self, failures: int = 0, error: type[Exception] = ConnectionError) -> None:
        self.calls: list[Call] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.failures = failures
        self.error = error
        self.version = 0
        self.lock = threading.Lock()

    def __call__(self, client: Any, call: Call, retry: bool = True) -> tuple[int, bytes]:
        assert retry is False  # the recorder has its own loop (client-go's), not the client's
        with self.lock:
            self.calls.append(call)
            if self.failures:
                self.failures -= 1
                raise self.error("no answer")
            self.version += 1
            if call.method == "POST":
                body = {**call.body, "metadata": {**call.body["metadata"], "resourceVersion": str(self.version)}}
                self.stored[body["metadata"]["name"]] = body
                return answer(201, body)
            name = call.path.rsplit("/", 1)[1]
            if name not in self.stored:
                return answer(404, {"reason": "NotFound"})
            self.stored[name] = {**self.stored[name], **call.body}
            return answer(200, self.stored[name])


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> FakeSink:
    fake = FakeSink()
    monkeypatch.setattr(calls, "send", fake)

    async def async_send(client: Any, call: Call, retry: bool = True) -> tuple[int, bytes]:
        return fake(client, call, retry)

    monkeypatch.setattr(calls, "async_send", async_send)
    return fake


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "foo", "namespace": "baz", "uid": "bar"}}
POD2 = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "foo", "namespace": "baz", "uid": "differentUid"}}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)  # event_test.go: clock.Step(1 * time.Second) per event
        return self.now


def test_eventf_creates_then_patches_counts(sink: FakeSink) -> None:
    # event_test.go TestEventf: (object, field path, reason, expected count, patched?)
    table = [
        (POD, "spec.containers[2]", "Started", 1, False),
        (POD, None, "Killed", 1, False),
        (POD, "spec.containers[2]", "Started", 2, True),
        (POD2, "spec.containers[3]", "Started", 1, False),
        (POD, "spec.containers[2]", "Started", 3, True),
        (POD2, "spec.containers[4]", "Stopped", 1, False),
        (POD2, "spec.containers[4]", "Stopped", 2, True),
    ]
    with EventRecorder(None, "eventTest", clock=Clock()) as recorder:  # type: ignore[arg-type]
        for obj, field_path, reason, _, _ in table:
            recorder.event(obj, "Normal", reason, "some verbose message: 1", field_path=field_path)
        assert recorder.flush(timeout=10)
    assert [call.method for call in sink.calls] == ["PATCH" if patched else "POST" for *_, patched in table]
    for call, (obj, field_path, reason, count, patched) in zip(sink.calls, table, strict=True):
        if patched:
            assert call.body["count"] == count
            continue
        assert call.path == "/api/v1/namespaces/baz/events"
        body = call.body
        expected_ref = {
            "kind": "Pod",
            "name": "foo",
            "namespace": "baz",
            "uid": obj["metadata"]["uid"],
            "apiVersion": "v1",
        }
        if field_path:
            expected_ref["fieldPath"] = field_path
        assert body["involvedObject"] == expected_ref
        assert body["metadata"]["name"].startswith("foo.")
        assert (body["reason"], body["type"], body["count"]) == (reason, "Normal", 1)
        assert body["source"] == {"component": "eventTest"} and body["reportingComponent"] == "eventTest"
        assert body["firstTimestamp"] == body["lastTimestamp"]
    assert recorder.stats.created == 4 and recorder.stats.patched == 3


def test_eventf_no_namespace_goes_to_default(sink: FakeSink) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "foo", "uid": "bar"}}
    with EventRecorder(None, "eventTest") as recorder:  # type: ignore[arg-type]
        recorder.event(node, "Normal", "Started", "m")
        assert recorder.flush(timeout=10)
    (call,) = sink.calls
    assert call.path == "/api/v1/namespaces/default/events" and "namespace" not in call.body["involvedObject"]


@pytest.mark.parametrize(("failures", "tries"), [(1000, 12), (2, 3)])
def test_write_errors_without_an_answer_are_retried_12_times(
    monkeypatch: pytest.MonkeyPatch, failures: int, tries: int
) -> None:
    # event_test.go TestWriteEventError retry1/retry2 (12 tries) and succeedEventually
    fake = FakeSink(failures=failures)
    monkeypatch.setattr(calls, "send", fake)
    with EventRecorder(None, "c", retry_sleep=0.0) as recorder:  # type: ignore[arg-type]
        recorder.event(POD, "Normal", "R", "m")
        assert recorder.flush(timeout=10)
    assert len(fake.calls) == tries
    assert (recorder.stats.dropped, recorder.stats.created) == ((1, 0) if failures > tries else (0, 1))


def test_close_cuts_a_retry_wait_short(monkeypatch: pytest.MonkeyPatch) -> None:
    # event_test.go TestCancelEvent: once shut down, no more sleeping
    fake = FakeSink(failures=1000)
    monkeypatch.setattr(calls, "send", fake)
    recorder = EventRecorder(None, "c", retry_sleep=60.0)  # type: ignore[arg-type]
    recorder.event(POD, "Normal", "R", "m")
    time.sleep(0.2)
    started = time.monotonic()
    recorder.close(timeout=2)
    assert time.monotonic() - started < 2.5 and len(fake.calls) <= 2


def test_event_never_raises_and_logs_what_to_fix(sink: FakeSink, caplog: pytest.LogCaptureFixture) -> None:
    with EventRecorder(None, "c") as recorder:  # type: ignore[arg-type]
        recorder.event(POD, "Info", "R", "m")  # not a type
        recorder.event({"metadata": {"name": "x"}}, "Normal", "R", "m")  # no kind: a list item?
        recorder.event("not an object", "Normal", "R", "m")  # type: ignore[arg-type]
        recorder.event(POD, "Normal", "", "m")
        assert recorder.flush(timeout=5)
    assert recorder.stats.invalid == 4 and sink.calls == []
    assert "'Normal' or 'Warning'" in caplog.text and "no kind, apiVersion" in caplog.text


def test_full_queue_drops_and_event_does_not_block(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()

    def slow(client: Any, call: Call, retry: bool = True) -> tuple[int, bytes]:
        gate.wait(10)
        return answer(201, call.body)

    monkeypatch.setattr(calls, "send", slow)
    recorder = EventRecorder(None, "c", queue_size=10)  # type: ignore[arg-type]
    timings = []
    for i in range(200):
        started = time.perf_counter()
        recorder.event({**POD, "metadata": {**POD["metadata"], "name": f"p{i}"}}, "Normal", "R", "m")
        timings.append(time.perf_counter() - started)
    assert recorder.stats.dropped >= 200 - 11
    gate.set()
    recorder.close(timeout=5)
    # measured on the 2-core development machine: median about 20-40 microseconds per event() call
    assert statistics.median(timings) < 0.005, statistics.median(timings)


def test_the_recorder_component_is_required_and_repr_has_no_client() -> None:
    with pytest.raises(ObjectError, match="component"):
        EventRecorder(None, "")  # type: ignore[arg-type]
    recorder = EventRecorder(object(), "example.com/c")  # type: ignore[arg-type]
    assert repr(recorder) == "EventRecorder(component='example.com/c', host=None)"


async def test_async_recorder_counts_duplicates(sink: FakeSink) -> None:
    async with AsyncEventRecorder(None, "c") as recorder:  # type: ignore[arg-type]
        for _ in range(4):
            recorder.event(POD, "Warning", "Failed", "boom")
        assert await recorder.flush(timeout=5)
        assert (recorder.stats.created, recorder.stats.patched) == (1, 3)
    assert [call.method for call in sink.calls] == ["POST", "PATCH", "PATCH", "PATCH"]
    assert sink.calls[-1].body["count"] == 4


async def test_async_recorder_retries_and_aclose_stops_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSink(failures=1000)

    async def async_send(client: Any, call: Call, retry: bool = True) -> tuple[int, bytes]:
        return fake(client, call, retry)

    monkeypatch.setattr(calls, "async_send", async_send)
    recorder = AsyncEventRecorder(None, "c", retry_sleep=60.0)  # type: ignore[arg-type]
    recorder.event(POD, "Normal", "R", "m")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await recorder.aclose(timeout=2)
    assert time.monotonic() - started < 2.5


def test_async_recorder_without_a_loop_drops(caplog: pytest.LogCaptureFixture) -> None:
    recorder = AsyncEventRecorder(None, "c")  # type: ignore[arg-type]
    recorder.event(POD, "Normal", "R", "m")
    assert recorder.stats.dropped == 1 and "running loop" in caplog.text
