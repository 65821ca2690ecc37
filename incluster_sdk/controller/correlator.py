"""client-go ``tools/record``'s ``EventCorrelator``, sans-I/O: aggregate similar events, de-duplicate into a
count, and filter spam with a token bucket per object; the time is passed in, so it is tested with a clock.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .event_objects import event_name, rfc3339
from .object_errors import ObjectError

__all__ = [
    "AGGREGATE_INTERVAL",
    "AGGREGATE_MAX_EVENTS",
    "AGGREGATE_MESSAGE_PREFIX",
    "LRU_CACHE_ENTRIES",
    "SPAM_BURST",
    "SPAM_QPS",
    "Correlation",
    "EventCorrelator",
    "TokenBucket",
    "aggregate_key",
    "event_key",
    "spam_key",
]

LRU_CACHE_ENTRIES = 4096
"""How many distinct events (and objects, for the spam filter and the aggregator) are remembered, each in an
LRU: 4,096, client-go's ``maxLruCacheEntries``. Enough for a controller's working set; memory stays bounded."""
AGGREGATE_MAX_EVENTS = 10
"""Distinct messages about one object (same source, type and reason) within :data:`AGGREGATE_INTERVAL` from
which events are aggregated: 10, client-go's ``defaultAggregateMaxEvents`` ("if we see the same event that
varies only by message more than 10 times in a 10 minute period, aggregate the event"). The 10th distinct
message and later ones become one Event counted like a duplicate. A message that embeds a changing detail (a
count, a timestamp) would otherwise create one Event per reconcile."""
AGGREGATE_INTERVAL = 600.0
"""Seconds: the aggregation window, 600 s (10 minutes), client-go's ``defaultAggregateIntervalInSeconds``; a
gap longer than this between two similar events starts the count of distinct messages again."""
AGGREGATE_MESSAGE_PREFIX = "(combined from similar events): "
"""The prefix of an aggregated event's message (client-go ``EventAggregatorByReasonMessageFunc``)."""
SPAM_BURST = 25
"""Events one source may send about one object (and type) at once: 25, client-go's ``defaultSpamBurst`` ("allow
a source to send 25 events about an object but control the refill rate to 1 new event every 5 minutes; this
helps control the long-tail of events for things that are always unhealthy"). Past it, events are dropped."""
SPAM_QPS = 1.0 / 300.0
"""Events per second the spam filter's bucket refills at: 1/300 (one every 5 minutes), client-go's
``defaultSpamQPS``."""

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


def _source(event: Mapping[str, Any]) -> tuple[str, str]:
    source = event.get("source") or {}
    return str(source.get("component") or ""), str(source.get("host") or "")


def _involved(event: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    ref = event.get("involvedObject") or {}
    return tuple(str(ref.get(key) or "") for key in ("kind", "namespace", "name", "uid", "apiVersion"))  # type: ignore[return-value]


def event_key(event: Mapping[str, Any]) -> tuple[str, ...]:
    """Key an event for de-duplication, as client-go's ``getEventKey``: identical keys are one Event with a count.

    :param event: a core/v1 Event as a dict.
    :returns: a tuple of str: source (component, host), involved object (kind, namespace, name, fieldPath, uid,
        apiVersion), type, reason and message. A tuple, not client-go's concatenation without separators (where
        "ab"+"c" and "a"+"bc" collide).
    """
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
    """Key an event for the spam filter, as client-go's ``getSpamKey``: one token bucket per key.

    :param event: a core/v1 Event as a dict.
    :returns: a tuple of str: source (component, host), involved object (kind, namespace, name, uid, apiVersion;
        no fieldPath) and type.
    """
    return (*_source(event), *_involved(event), str(event.get("type") or ""))


def aggregate_key(event: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
    """Key an event for aggregation, as client-go's ``EventAggregatorByReasonFunc``.

    :param event: a core/v1 Event as a dict.
    :returns: ``(group, message)``: the group of events that differ only in their message (a tuple of str: source,
        involved object, type, reason, reportingComponent, reportingInstance), and the message.
    """
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
    """A token bucket that is only ever asked, never waited on: client-go's
    ``NewTokenBucketPassiveRateLimiterWithClock`` (x/time/rate). Starts full; time is passed in.

    :param qps: tokens added per second, up to ``burst``.
    :param burst: the bucket's size, in tokens; it starts full.
    :param now: the time it is created, in seconds (any epoch, as long as :meth:`try_accept` uses the same).
    """

    def __init__(self, qps: float, burst: int, now: float) -> None:
        self.qps, self.burst = qps, burst
        self.tokens = float(burst)
        self.last = now

    def try_accept(self, now: float) -> bool:
        """Take one token if there is one, after refilling for the time since the last call.

        :param now: the time, in seconds (same epoch as the constructor's); a time earlier than the last one adds
            nothing.
        :returns: True if a token was taken (the event passes), False if the bucket is empty.
        """
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
    repeat: count > 1), else create it.

    :param event: the Event to write (a dict), None when skipped.
    :param patch: for a repeat, the strategic-merge patch of the stored Event (``{"count": ..., "lastTimestamp":
        ..., "message": ...}``); None (default) for a new Event.
    :param skip: True when the spam filter dropped the event; default False.
    """

    event: dict[str, Any] | None
    patch: dict[str, Any] | None = None
    skip: bool = False


class EventCorrelator:
    """client-go ``EventCorrelator``: aggregate, de-duplicate into a count, and filter spam; sans-I/O.

    Call :meth:`correlate` for each new event with the time, then :meth:`update_state` with the Event the server
    stored. Not thread-safe: the recorders use it from their one worker. The defaults are client-go's
    ``NewEventCorrelator`` ones (the module constants).

    :param cache_size: entries in each of its three LRU caches (de-duplication, aggregation, spam buckets);
        default 4,096, client-go's ``maxLruCacheEntries``.
    :param burst: the spam filter's bucket size per key, in events; default 25, client-go's ``defaultSpamBurst``.
    :param qps: the spam filter's refill rate, in events per second; default 1/300 (one per 5 minutes),
        client-go's ``defaultSpamQPS``.
    :param max_events: distinct messages per aggregation group from which events are aggregated; default 10,
        client-go's ``defaultAggregateMaxEvents``.
    :param max_interval: the aggregation window, in seconds; default 600 s, client-go's
        ``defaultAggregateIntervalInSeconds``.
    :param spam_key_func: called as ``spam_key_func(event) -> Hashable`` to pick an event's token bucket;
        default :func:`spam_key` (source, object and type), as client-go's ``CorrelatorOptions.SpamKeyFunc``.
    :raises ~incluster_sdk.controller.object_errors.ObjectError: when a size, rate or interval is not positive.
    """

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
        """Decide what to write for a new event, as client-go's ``EventCorrelate``: aggregate, count, then filter.

        :param event: the new core/v1 Event as a dict (count 1); not modified.
        :param now: the event's time, a timezone-aware datetime (the aggregation window and the spam buckets
            count with it).
        :returns: the :class:`Correlation`: skip, create, or patch a repeat with its count.
        """
        aggregated, key = self._aggregate(copy.deepcopy(dict(event)), now)
        observed, patch = self._observe(aggregated, key)
        if self._filtered(observed, now):
            return Correlation(None, skip=True)
        return Correlation(observed, patch)

    def update_state(self, event: Mapping[str, Any]) -> None:
        """Remember the Event as the server stored it (its name, resourceVersion, count), as client-go's
        ``UpdateState``.

        :param event: the Event as the server answered a create or a patch, a dict.
        """
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
