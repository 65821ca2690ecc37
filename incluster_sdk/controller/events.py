"""Recording core/v1 Events about objects, with client-go ``tools/record``'s de-duplication and spam filter.

    recorder = EventRecorder(client, "example.com/readonly-default")
    recorder.event(namespace_obj, "Normal", "Repaired", "re-created RoleBinding readonly-default")
    ...
    recorder.close()      # at shutdown: sends what is queued (bounded by a timeout)

What it does, as client-go's ``EventBroadcaster`` + ``EventCorrelator`` (events_cache.go, event.go):

- **De-duplication.** An event identical to one already sent (same source, object, type, reason and message)
  PATCHes that Event's ``count``, ``lastTimestamp`` (and message) instead of creating another. client-go
  remembers the last 4,096 distinct events (an LRU), with no time limit; if the server dropped the Event (the
  API server keeps Events for an hour by default), the PATCH gets 404 and a new Event is created.
- **Aggregation.** When 10 events about one object differ only in their message within 10 minutes of each
  other, further ones are folded into one Event whose message starts "(combined from similar events): ",
  counted like a duplicate.
- **Spam filter.** Per source + object (+ type), a token bucket of 25 events, refilled at 1 per 5 minutes:
  a reconcile loop stuck on one object cannot flood the API server; past the burst, events are dropped.

:class:`EventCorrelator` is all of that, sans-I/O: ``correlate(event, now)`` with the time passed in, so it
is tested with an injected clock. The write (POST, or PATCH then POST on 404) is one flow
(:func:`write_flow`) that both recorders drive.

**Never in the caller's way.** ``event()`` validates, builds the Event and puts it on a bounded queue
(1,000, client-go's ``maxQueuedEvents``); it does no I/O, never raises, and takes microseconds. One
background worker (a daemon thread for :class:`EventRecorder`, a task for :class:`AsyncEventRecorder`)
correlates and writes, in order. A full queue drops the event with a log line, as client-go's broadcaster
does (``DropIfChannelFull``). A write that fails without an answer (connection refused, reset, timeout) is
tried up to 12 times, 10 s apart (the first wait random), client-go's ``maxTriesPerEvent`` and
``defaultSleepDuration``; an answer that refuses it (403, 404 namespace gone, 422) drops it with a log line
that says what to fix. Why a background worker rather than a synchronous write with a short timeout: a
reconcile that records an event should not wait a round trip (about 1-3 ms locally, far more on a loaded
API server), and an API server outage must not slow every reconcile by a timeout.

Permissions: ``create`` and ``patch`` on ``events`` in the namespaces of the objects (``default`` for
cluster-scoped objects, as client-go). Events are written with the client's credentials; nothing here logs
or keeps a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import logging
import queue
import re
import threading
import time
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_chain,
    wait_fixed,
    wait_random,
)
from tenacity.stop import stop_base

from ..flows import async_drive, drive
from .objects import Answer, Call, ObjectError, async_send, send

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient
    from ..client import ApiClient

log = logging.getLogger(__name__)

__all__ = [
    "AGGREGATE_INTERVAL",
    "AGGREGATE_MAX_EVENTS",
    "AGGREGATE_MESSAGE_PREFIX",
    "LRU_CACHE_ENTRIES",
    "MAX_QUEUED_EVENTS",
    "MAX_TRIES_PER_EVENT",
    "NORMAL",
    "RETRY_SLEEP",
    "SPAM_BURST",
    "SPAM_QPS",
    "WARNING",
    "AsyncEventRecorder",
    "Correlation",
    "EventCorrelator",
    "EventRecorder",
    "RecorderStats",
    "Written",
    "make_event",
    "object_reference",
    "write_flow",
]

#: The two event types the API defines (client-go ``util.ValidateEventType``).
NORMAL = "Normal"
WARNING = "Warning"
EVENT_TYPES = frozenset({NORMAL, WARNING})

#: client-go ``maxLruCacheEntries``: how many distinct events (and objects, for the spam filter and the
#: aggregator) are remembered. Enough for a controller's working set; an LRU so memory stays bounded.
LRU_CACHE_ENTRIES = 4096
#: client-go ``defaultAggregateMaxEvents`` / ``defaultAggregateIntervalInSeconds``: "if we see the same event
#: that varies only by message more than 10 times in a 10 minute period, aggregate the event". A message that
#: embeds a changing detail (a count, a timestamp) would otherwise create one Event per reconcile.
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
#: client-go ``EventAggregatorByReasonMessageFunc``'s prefix for an aggregated event's message.
AGGREGATE_MESSAGE_PREFIX = "(combined from similar events): "
#: client-go ``defaultSpamBurst`` / ``defaultSpamQPS``: "allow a source to send 25 events about an object but
#: control the refill rate to 1 new event every 5 minutes; this helps control the long-tail of events for
#: things that are always unhealthy".
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
#: client-go ``maxTriesPerEvent`` and ``defaultSleepDuration``: a write that got no answer is tried 12 times,
#: 10 s apart (the first wait random in [0, 10 s) so clients do not all come back at once after an outage):
#: about 2 minutes of API server outage survived, per event, while later events wait in the queue.
MAX_TRIES_PER_EVENT = 12
RETRY_SLEEP = 10.0
#: client-go ``maxQueuedEvents``: events waiting to be written; past it, new events are dropped (logged).
MAX_QUEUED_EVENTS = 1000
#: How long ``close()`` gives the worker to send what is queued (each queued event is tried once then).
CLOSE_TIMEOUT = 5.0

EVENTS_API = "/api/v1"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """groupcache's ``lru.Cache``: ``get`` and ``add`` mark an entry recently used; the oldest goes past ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def add(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


# -- times ----------------------------------------------------------------------------------------------------
def wall_clock() -> dt.datetime:
    """Now, in UTC: what Events' timestamps are written in."""
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(when: dt.datetime) -> str:
    """``metav1.Time``'s wire form: RFC 3339 in UTC, whole seconds."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix_nano(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000) * 1000


# -- building an Event (no I/O) -------------------------------------------------------------------------------
def object_reference(obj: Mapping[str, Any], field_path: str | None = None) -> dict[str, Any]:
    """The ``involvedObject`` for ``obj``: an object as the API server sends it (apiVersion, kind, metadata), or
    already an ObjectReference (kind, name, namespace, uid, apiVersion, fieldPath); client-go ``GetReference``.
    Raises :class:`~incluster_sdk.controller.objects.ObjectError` when kind, apiVersion or name is missing."""
    if not isinstance(obj, Mapping):
        raise ObjectError(f"event: the object is a {type(obj).__name__}; pass the object (a dict) the event is about")
    if "metadata" in obj:
        metadata = obj.get("metadata") or {}
        ref = {
            "kind": obj.get("kind"),
            "apiVersion": obj.get("apiVersion"),
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        }
    else:
        keys = ("kind", "apiVersion", "name", "namespace", "uid", "resourceVersion", "fieldPath")
        ref = {key: obj.get(key) for key in keys}
    if field_path:
        ref["fieldPath"] = field_path
    missing = [key for key in ("kind", "apiVersion", "name") if not ref.get(key)]
    if missing:
        raise ObjectError(
            f"event about {ref.get('kind') or 'an object'} {ref.get('name')!r}: it has no {', '.join(missing)};"
            " pass the object as the API server or an informer gives it (list items lack kind/apiVersion: set them)"
        )
    return {key: value for key, value in ref.items() if value}


def event_name(ref_name: str, now: dt.datetime) -> str:
    """client-go ``GenerateEventName``: ``<name>.<unix nanoseconds in hex>``, or a UUID when that is not a valid
    object name (a long or odd referenced name: issues.k8s.io/127594)."""
    name = f"{ref_name}.{_unix_nano(now):x}"
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        name = str(uuid.uuid4())
    return name


def make_event(
    obj: Mapping[str, Any],
    event_type: str,
    reason: str,
    message: str,
    *,
    component: str,
    host: str | None = None,
    now: dt.datetime,
    field_path: str | None = None,
) -> dict[str, Any]:
    """The core/v1 Event client-go's recorder would send (``makeEvent``): in the object's namespace (``default``
    for a cluster-scoped object), count 1, first and last timestamp ``now``, source and reporting component.
    Raises :class:`~incluster_sdk.controller.objects.ObjectError` for a bad type, reason or object."""
    if event_type not in EVENT_TYPES:
        raise ObjectError(f"event type {event_type!r}: must be {NORMAL!r} or {WARNING!r} (client-go ValidateEventType)")
    if not isinstance(reason, str) or not reason:
        raise ObjectError(f"event reason {reason!r}: give a short UpperCamelCase reason, e.g. 'Repaired'")
    if not isinstance(message, str):
        raise ObjectError(f"event message {message!r}: a str, not {type(message).__name__}")
    ref = object_reference(obj, field_path)
    stamp = rfc3339(now)
    source = {"component": component, **({"host": host} if host else {})}
    event: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(ref["name"], now), "namespace": ref.get("namespace") or "default"},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": event_type,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }
    return event


# -- the correlator (sans-I/O) --------------------------------------------------------------------------------
def _source(event: Mapping[str, Any]) -> tuple[str, str]:
    source = event.get("source") or {}
    return str(source.get("component") or ""), str(source.get("host") or "")


def _involved(event: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    ref = event.get("involvedObject") or {}
    return tuple(str(ref.get(key) or "") for key in ("kind", "namespace", "name", "uid", "apiVersion"))  # type: ignore[return-value]


def event_key(event: Mapping[str, Any]) -> tuple[str, ...]:
    """client-go ``getEventKey``: source, involved object (with fieldPath), type, reason, message. A tuple, not
    client-go's concatenation without separators (where "ab"+"c" and "a"+"bc" collide)."""
    field_path = str((event.get("involvedObject") or {}).get("fieldPath") or "")
    kind, namespace, name, uid, api_version = _involved(event)
    return (
        *_source(event),
        kind,
        namespace,
        name,
        field_path,
        uid,
        api_version,
        str(event.get("type") or ""),
        str(event.get("reason") or ""),
        str(event.get("message") or ""),
    )


def spam_key(event: Mapping[str, Any]) -> tuple[str, ...]:
    """client-go ``getSpamKey``: source, involved object (without fieldPath) and type."""
    return (*_source(event), *_involved(event), str(event.get("type") or ""))


def aggregate_key(event: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
    """client-go ``EventAggregatorByReasonFunc``: (events that differ only in message, the message)."""
    group = (
        *_source(event),
        *_involved(event),
        str(event.get("type") or ""),
        str(event.get("reason") or ""),
        str(event.get("reportingComponent") or ""),
        str(event.get("reportingInstance") or ""),
    )
    return group, str(event.get("message") or "")


class TokenBucket:
    """client-go ``NewTokenBucketPassiveRateLimiterWithClock`` (x/time/rate): starts full with ``burst`` tokens,
    refills ``qps`` per second up to ``burst``; ``try_accept(now)`` takes one if there is one. ``now`` in seconds."""

    def __init__(self, qps: float, burst: int, now: float) -> None:
        self.qps, self.burst = qps, burst
        self.tokens = float(burst)
        self.last = now

    def try_accept(self, now: float) -> bool:
        if now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Aggregate:
    local_keys: set[str]
    last: dt.datetime


@dataclass
class _Observation:
    count: int
    first_timestamp: Any
    name: str
    resource_version: str


@dataclass(frozen=True)
class Correlation:
    """What to do with one event: ``skip`` it (spam), or write ``event``: PATCH with ``patch`` when it is set (a
    repeat: count > 1), else create it."""

    event: dict[str, Any] | None
    patch: dict[str, Any] | None = None
    skip: bool = False


class EventCorrelator:
    """client-go ``EventCorrelator``: aggregate, de-duplicate into a count, and filter spam; sans-I/O.

    Call :meth:`correlate` for each new event with the time, then :meth:`update_state` with the Event the server
    stored. Not thread-safe: the recorders use it from their one worker. Defaults: client-go's (see the
    module constants); ``spam_key_func`` as client-go's ``CorrelatorOptions.SpamKeyFunc``."""

    def __init__(
        self,
        *,
        cache_size: int = LRU_CACHE_ENTRIES,
        burst: int = SPAM_BURST,
        qps: float = SPAM_QPS,
        max_events: int = AGGREGATE_MAX_EVENTS,
        max_interval: float = AGGREGATE_INTERVAL,
        spam_key_func: Callable[[Mapping[str, Any]], Hashable] = spam_key,
    ) -> None:
        if cache_size < 1 or burst < 1 or qps <= 0 or max_events < 1 or max_interval <= 0:
            raise ObjectError(
                f"EventCorrelator(cache_size={cache_size}, burst={burst}, qps={qps}, max_events={max_events},"
                f" max_interval={max_interval}): each must be positive (client-go's defaults: {LRU_CACHE_ENTRIES},"
                f" {SPAM_BURST}, 1/300, {AGGREGATE_MAX_EVENTS}, {AGGREGATE_INTERVAL:.0f})"
            )
        self.burst, self.qps = burst, qps
        self.max_events, self.max_interval = max_events, max_interval
        self.spam_key_func = spam_key_func
        self._spam: _LRU[Hashable, TokenBucket] = _LRU(cache_size)
        self._aggregates: _LRU[Hashable, _Aggregate] = _LRU(cache_size)
        self._observed: _LRU[Hashable, _Observation] = _LRU(cache_size)

    def _aggregate(self, event: dict[str, Any], now: dt.datetime) -> tuple[dict[str, Any], Hashable]:
        """client-go ``EventAggregate``: the event to write and its cache key."""
        key = event_key(event)
        group, local = aggregate_key(event)
        record = self._aggregates.get(group)
        if record is None or (now - record.last).total_seconds() > self.max_interval:
            record = _Aggregate(set(), now)
        record.local_keys.add(local)
        record.last = now
        self._aggregates.add(group, record)
        if len(record.local_keys) < self.max_events:
            return event, key
        record.local_keys.pop()  # do not grow the set past max
        stamp = rfc3339(now)
        aggregated = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": event_name(str(event["involvedObject"].get("name", "")), now),
                "namespace": event["metadata"]["namespace"],
            },
            "involvedObject": event["involvedObject"],
            "reason": event.get("reason"),
            "message": AGGREGATE_MESSAGE_PREFIX + str(event.get("message") or ""),
            "source": event.get("source"),
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": event.get("type"),
            # client-go leaves these out of the aggregate; kept, as they say who reported it
            "reportingComponent": event.get("reportingComponent", ""),
            "reportingInstance": event.get("reportingInstance", ""),
        }
        return aggregated, group

    def _observe(self, event: dict[str, Any], key: Hashable) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """client-go ``eventObserve``: a repeat takes the first one's name, resourceVersion, firstTimestamp and
        count + 1, and gets a patch of what changed (count, lastTimestamp, message)."""
        event = copy.deepcopy(event)
        patch = None
        last = self._observed.get(key)
        if last is not None and last.count > 0:
            event["metadata"]["name"] = last.name
            if last.resource_version:
                event["metadata"]["resourceVersion"] = last.resource_version
            event["firstTimestamp"] = last.first_timestamp
            event["count"] = last.count + 1
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        self._observed.add(
            key,
            _Observation(
                int(event["count"]),
                event["firstTimestamp"],
                event["metadata"]["name"],
                event["metadata"].get("resourceVersion", ""),
            ),
        )
        return event, patch

    def _filtered(self, event: Mapping[str, Any], now: dt.datetime) -> bool:
        """client-go ``EventSourceObjectSpamFilter.Filter``: True when the source + object is over its rate."""
        key = self.spam_key_func(event)
        bucket = self._spam.get(key) or TokenBucket(self.qps, self.burst, now.timestamp())
        accepted = bucket.try_accept(now.timestamp())
        self._spam.add(key, bucket)
        return not accepted

    def correlate(self, event: Mapping[str, Any], now: dt.datetime) -> Correlation:
        """client-go ``EventCorrelate``: aggregate, observe (count), then filter; ``now`` is the event's time."""
        aggregated, key = self._aggregate(copy.deepcopy(dict(event)), now)
        observed, patch = self._observe(aggregated, key)
        if self._filtered(observed, now):
            return Correlation(None, skip=True)
        return Correlation(observed, patch)

    def update_state(self, event: Mapping[str, Any]) -> None:
        """client-go ``UpdateState``: remember the Event as the server stored it (its name, resourceVersion, count)."""
        metadata = event.get("metadata") or {}
        self._observed.add(
            event_key(event),
            _Observation(
                int(event.get("count") or 0),
                event.get("firstTimestamp"),
                str(metadata.get("name") or ""),
                str(metadata.get("resourceVersion") or ""),
            ),
        )


# -- writing one event (no I/O) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Written:
    """How one write ended: ``action`` is "created", "patched" or "refused" (an answer that is not success:
    ``status`` and the server's ``reason`` and ``message`` say why; the event is dropped)."""

    action: str
    status: int = 0
    reason: str = ""
    message: str = ""


def _events_path(namespace: str, name: str | None = None) -> str:
    path = f"{EVENTS_API}/namespaces/{urllib.parse.quote(namespace, safe='')}/events"
    return f"{path}/{urllib.parse.quote(name, safe='')}" if name else path


def _decode(data: bytes) -> dict[str, Any]:
    import orjson

    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def write_flow(correlator: EventCorrelator, correlation: Correlation) -> Generator[Call, Answer, Written]:
    """client-go ``recordEvent``: PATCH a repeat (count > 1); create it when new, or when the PATCH found no
    Event (404: it expired); then remember what the server stored. An answer that refuses the write ends it
    (client-go does not retry a StatusError); what ``perform`` raises (no answer) propagates for the driver's
    retry loop."""
    event = correlation.event
    assert event is not None
    namespace = event["metadata"]["namespace"]
    if correlation.patch is not None and int(event.get("count") or 0) > 1:
        call = Call(
            "PATCH", _events_path(namespace, event["metadata"]["name"]), correlation.patch, STRATEGIC_MERGE_PATCH
        )
        status, data = yield call
        if 200 <= status <= 299:
            correlator.update_state(_decode(data) or event)
            return Written("patched", status)
        if status != 404:
            body = _decode(data)
            return Written("refused", status, str(body.get("reason") or ""), str(body.get("message") or ""))
    body = copy.deepcopy(event)
    body["metadata"].pop("resourceVersion", None)  # a create carries none
    status, data = yield Call("POST", _events_path(namespace), body)
    if 200 <= status <= 299:
        correlator.update_state(_decode(data) or body)
        return Written("created", status)
    answer = _decode(data)
    return Written("refused", status, str(answer.get("reason") or ""), str(answer.get("message") or ""))


# -- the recorders --------------------------------------------------------------------------------------------
@dataclass
class RecorderStats:
    """Counts since the recorder started: events ``created`` and ``patched`` (de-duplicated into a count) on the
    server, ``skipped`` by the spam filter, ``dropped`` (queue full, closed, invalid, or no answer after every
    try) and ``refused`` by the server."""

    created: int = 0
    patched: int = 0
    skipped: int = 0
    dropped: int = 0
    refused: int = 0
    invalid: int = 0


@dataclass
class _Item:
    event: dict[str, Any]
    now: dt.datetime


def _check_component(component: Any) -> str:
    if not isinstance(component, str) or not component.strip() or not component.isprintable():
        raise ObjectError(
            f"component={component!r}: name the controller that reports the events (source.component), e.g."
            " 'example.com/my-controller'"
        )
    return component


def _retry_wait(sleep: float) -> Any:
    # client-go recordToSink: the first wait random in [0, sleep), then sleep each time
    return wait_chain(wait_random(0, sleep), wait_fixed(sleep))


def _retry_logged(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "event not written (try %d of at most %d): %s; trying again",
        state.attempt_number,
        MAX_TRIES_PER_EVENT,
        type(error).__name__ if error is not None else "?",
    )


@dataclass
class _Core:
    """What both recorders share: building events, the correlator, the outcome accounting and its log lines."""

    component: str
    host: str | None
    correlator: EventCorrelator
    clock: Callable[[], dt.datetime]
    max_tries: int
    retry_sleep: float
    stats: RecorderStats = field(default_factory=RecorderStats)
    warned: set[tuple[int, str]] = field(default_factory=set)

    def build(
        self, obj: Mapping[str, Any], event_type: str, reason: str, message: str, field_path: str | None
    ) -> _Item | None:
        now = self.clock()
        try:
            event = make_event(
                obj,
                event_type,
                reason,
                message,
                component=self.component,
                host=self.host,
                now=now,
                field_path=field_path,
            )
        except ObjectError as exc:
            self.stats.invalid += 1
            log.error("event not recorded: %s", exc)  # client-go logs and drops it too
            return None
        return _Item(event, now)

    def queue_full(self, item: _Item, size: int) -> None:
        self.stats.dropped += 1
        # a hot loop fills the queue fast: the first drop and every 100th at ERROR, the rest at DEBUG
        level = logging.ERROR if self.stats.dropped % 100 == 1 else logging.DEBUG
        log.log(
            level,
            "event %s dropped: %d events already queued (%d dropped so far)",
            _about(item.event),
            size,
            self.stats.dropped,
        )

    def correlate(self, item: _Item) -> Correlation:
        correlation = self.correlator.correlate(item.event, item.now)
        if correlation.skip:
            self.stats.skipped += 1
            log.debug("event %s skipped by the spam filter", _about(item.event))
        return correlation

    def tenacity(self, stop: stop_base) -> dict[str, Any]:
        """tenacity's arguments for one event's write loop: retry what got no answer, ``max_tries`` in all or
        until ``stop`` (closing), client-go's waits between; giving up logs and drops it."""
        return {
            "retry": retry_if_exception_type(Exception),
            "stop": stop_after_attempt(self.max_tries) | stop,
            "wait": _retry_wait(self.retry_sleep),
            "before_sleep": _retry_logged,
            "retry_error_callback": self.gave_up,
        }

    def gave_up(self, state: RetryCallState) -> Written:
        error = state.outcome.exception() if state.outcome is not None else None
        log.error(
            "event not written after %d tries (no answer from the API server: %s); dropped",
            state.attempt_number,
            type(error).__name__ if error is not None else "?",
        )
        return Written("dropped")

    def account(self, item: _Item, written: Written) -> None:
        if written.action == "created":
            self.stats.created += 1
        elif written.action == "patched":
            self.stats.patched += 1
        elif written.action == "dropped":
            self.stats.dropped += 1
        else:
            self.stats.refused += 1
            namespace = item.event["metadata"]["namespace"]
            key = (written.status, namespace)
            level = logging.ERROR if key not in self.warned else logging.DEBUG
            self.warned.add(key)
            if written.reason == "AlreadyExists" or "being terminated" in written.message:
                level = logging.DEBUG  # client-go: V(5), expected during namespace deletion
            fix = ""
            if written.status == 403:
                fix = f"; grant the need 'create,patch:events' in namespace {namespace!r}"
            log.log(
                level,
                "event %s refused by the API server: HTTP %d %s: %s%s (dropped, not retried)",
                _about(item.event),
                written.status,
                written.reason,
                written.message,
                fix,
            )


def _about(event: Mapping[str, Any]) -> str:
    ref = event.get("involvedObject") or {}
    where = f"{ref.get('namespace')}/" if ref.get("namespace") else ""
    return f"{event.get('reason')!s} about {ref.get('kind')} {where}{ref.get('name')}"


class EventRecorder:
    """Records core/v1 Events through the sync client, from any thread; writes happen on one daemon thread.

    ``component``: source.component and reportingComponent, the controller's name (e.g.
    ``"example.com/readonly-default"``). ``host``: source.host and reportingInstance (e.g. the pod name), optional.
    ``queue_size``: events waiting to be written before new ones are dropped (client-go: 1,000).
    ``correlator``: an :class:`EventCorrelator` (default: client-go's numbers). ``clock``: the wall clock written
    into the Events (default: UTC now). ``max_tries`` / ``retry_sleep``: for writes that get no answer (client-go:
    12 tries, 10 s apart). Raises :class:`~incluster_sdk.controller.objects.ObjectError` for an empty component.

    :meth:`event` never raises and never blocks; :meth:`flush` waits for the queue to drain (tests, shutdown);
    :meth:`close` (or ``with``) sends what is queued within a timeout and stops the thread."""

    def __init__(
        self,
        client: ApiClient,
        component: str,
        *,
        host: str | None = None,
        queue_size: int = MAX_QUEUED_EVENTS,
        correlator: EventCorrelator | None = None,
        clock: Callable[[], dt.datetime] = wall_clock,
        max_tries: int = MAX_TRIES_PER_EVENT,
        retry_sleep: float = RETRY_SLEEP,
    ) -> None:
        self._client = client
        self._core = _Core(
            _check_component(component), host, correlator or EventCorrelator(), clock, max_tries, retry_sleep
        )
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"EventRecorder(component={self._core.component!r}, host={self._core.host!r})"

    @property
    def stats(self) -> RecorderStats:
        """What happened to the events recorded so far (see :class:`RecorderStats`)."""
        return self._core.stats

    @property
    def correlator(self) -> EventCorrelator:
        return self._core.correlator

    def event(
        self, obj: Mapping[str, Any], event_type: str, reason: str, message: str, *, field_path: str | None = None
    ) -> None:
        """Record an event about ``obj`` (an object from the API server or an informer, or an ObjectReference).

        ``event_type``: ``"Normal"`` or ``"Warning"``; ``reason``: short, UpperCamelCase (e.g. ``Repaired``);
        ``message``: for humans. Returns at once: the event is queued for the background thread. An invalid event
        (bad type, object without kind/name) is logged and dropped, as client-go does; so is an event that finds
        the queue full or the recorder closed. Never raises."""
        try:
            item = self._core.build(obj, event_type, reason, message, field_path)
            if item is None:
                return
            if self._closed.is_set():
                self._core.stats.dropped += 1
                log.error("event %s not recorded: the recorder is closed", _about(item.event))
                return
            with self._lock:
                self._start()
                try:
                    self._queue.put_nowait(item)
                except queue.Full:
                    self._core.queue_full(item, self._queue.maxsize)
                    return
                self._pending += 1
        except Exception:  # recording must never fail a reconcile
            log.exception("event not recorded")

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"events-{self._core.component}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._record(item)
            except Exception:
                log.exception("event %s not recorded", _about(item.event))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _record(self, item: _Item) -> None:
        correlation = self._core.correlate(item)
        if correlation.skip:
            return

        def perform(call: Call) -> Answer:
            return send(self._client, call, retry=False)

        # once closing, each event is tried once more (client-go: the broadcaster's context is cancelled)
        retrying = Retrying(sleep=self._sleep, **self._core.tenacity(stop_when_event_set(self._closed)))
        written: Written = retrying(lambda: drive(write_flow(self._core.correlator, correlation), perform))
        self._core.account(item, written)

    def _sleep(self, seconds: float) -> None:
        self._closed.wait(seconds)  # close() cuts a retry wait short

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been written (or dropped); False if ``timeout`` (seconds) passed."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop accepting events, send what is queued (each tried once more at most), and stop the thread, within
        ``timeout`` seconds (default 5); events still queued then are dropped. Idempotent."""
        with self._lock:
            thread = self._thread
            if self._closed.is_set() and thread is None:
                return
        deadline = time.monotonic() + timeout
        self.flush(timeout=max(0.0, timeout / 2))  # first, a normal drain
        self._closed.set()
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.error("event recorder: %d events not written before close's %.1f s timeout", self._pending, timeout)
        with self._lock:
            self._thread = None

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _StopWhenClosing(stop_base):
    """tenacity stop condition: the asyncio recorder is closing (tenacity's stop_when_event_set is for threads)."""

    def __init__(self, closing: asyncio.Event) -> None:
        self.closing = closing

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.closing.is_set()


class AsyncEventRecorder:
    """:class:`EventRecorder` for asyncio: :meth:`event` is a plain method (call it from the event loop's thread,
    from coroutines or callbacks), and one task writes. Close with ``await aclose()`` or ``async with``."""

    def __init__(
        self,
        client: AsyncApiClient,
        component: str,
        *,
        host: str | None = None,
        queue_size: int = MAX_QUEUED_EVENTS,
        correlator: EventCorrelator | None = None,
        clock: Callable[[], dt.datetime] = wall_clock,
        max_tries: int = MAX_TRIES_PER_EVENT,
        retry_sleep: float = RETRY_SLEEP,
    ) -> None:
        self._client = client
        self._core = _Core(
            _check_component(component), host, correlator or EventCorrelator(), clock, max_tries, retry_sleep
        )
        self._queue_size = queue_size
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"AsyncEventRecorder(component={self._core.component!r}, host={self._core.host!r})"

    @property
    def stats(self) -> RecorderStats:
        return self._core.stats

    @property
    def correlator(self) -> EventCorrelator:
        return self._core.correlator

    def event(
        self, obj: Mapping[str, Any], event_type: str, reason: str, message: str, *, field_path: str | None = None
    ) -> None:
        """:meth:`EventRecorder.event`; needs a running event loop (without one the event is logged and dropped)."""
        try:
            item = self._core.build(obj, event_type, reason, message, field_path)
            if item is None:
                return
            if self._closed:
                self._core.stats.dropped += 1
                log.error("event %s not recorded: the recorder is closed", _about(item.event))
                return
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                self._core.stats.dropped += 1
                log.error("event %s not recorded: AsyncEventRecorder.event needs a running loop", _about(item.event))
                return
            events = self._start()
            try:
                events.put_nowait(item)
            except asyncio.QueueFull:
                self._core.queue_full(item, self._queue_size)
        except Exception:
            log.exception("event not recorded")

    def _start(self) -> asyncio.Queue[_Item | None]:
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self._queue_size)
            self._closing = asyncio.Event()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue), name="event-recorder")
        return self._queue

    async def _run(self, events: asyncio.Queue[_Item | None]) -> None:
        while True:
            item = await events.get()
            try:
                if item is None:
                    return
                await self._record(item)
            except Exception:
                log.exception("event %s not recorded", _about(item.event) if item else "")
            finally:
                events.task_done()

    async def _sleep(self, seconds: float) -> None:
        assert self._closing is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _record(self, item: _Item) -> None:
        correlation = self._core.correlate(item)
        if correlation.skip:
            return
        closing = self._closing
        assert closing is not None

        async def perform(call: Call) -> Answer:
            return await async_send(self._client, call, retry=False)

        retrying = AsyncRetrying(sleep=self._sleep, **self._core.tenacity(_StopWhenClosing(closing)))

        async def attempt() -> Written:  # a coroutine function: tenacity awaits it (a lambda would not be)
            return await async_drive(write_flow(self._core.correlator, correlation), perform)

        written: Written = await retrying(attempt)
        self._core.account(item, written)

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been written (or dropped); False if ``timeout`` (seconds) passed."""
        if self._queue is None:
            return True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """:meth:`EventRecorder.close`: send what is queued within ``timeout`` seconds, then stop the task."""
        self._closed = True
        task, events = self._task, self._queue
        if task is None or events is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.flush(timeout / 2)
        assert self._closing is not None
        self._closing.set()
        with contextlib.suppress(asyncio.QueueFull):
            events.put_nowait(None)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if not done:
            log.error("event recorder: %d events not written before aclose's %.1f s timeout", events.qsize(), timeout)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._task = None

    async def __aenter__(self) -> AsyncEventRecorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
