"""Work-queue metrics: client-go's ``workqueue_*`` series, exported with prometheus_client (the ``metrics`` extra).

A queue reports four events to its :class:`QueueMetrics`: an item became dirty (``add``), a worker took it
(``get``), the worker finished it (``done``), and an ``add_after`` call (``retry``); each with the time in
seconds from the queue's clock. :class:`PrometheusMetricsProvider` turns them into client-go's series
(``k8s.io/component-base/metrics/prometheus/workqueue``), each with a ``name`` label per queue:

- ``<prefix>_depth`` (gauge, items): items that need processing and no worker holds yet (dirty items, including
  one re-added while its worker still holds it);
- ``<prefix>_adds_total`` (counter, items): items that became dirty;
- ``<prefix>_queue_duration_seconds`` (histogram, seconds): from becoming dirty to a worker taking the item;
- ``<prefix>_work_duration_seconds`` (histogram, seconds): from a worker taking the item to ``done``;
- ``<prefix>_unfinished_work_seconds`` (gauge, seconds): the summed age of the items being processed now;
- ``<prefix>_longest_running_processor_seconds`` (gauge, seconds): the age of the oldest item being processed now;
- ``<prefix>_retries_total`` (counter, calls): ``add_after`` and ``add_rate_limited`` calls accepted (not after a
  shutdown).

With the default prefix these are client-go's names exactly (``workqueue_depth``, ``workqueue_adds_total``, ...),
with client-go's help texts and histogram buckets (:data:`DURATION_BUCKETS`).

The two "now" gauges are computed when the registry is collected (client-go recomputes them on a 500 ms
ticker; computing at scrape time needs no thread and is never stale). prometheus_client is imported only when
a provider is created: without it, :class:`PrometheusMetricsProvider` raises ``MetricsUnavailable``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InclusterSDKError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "DEFAULT_PREFIX",
    "DURATION_BUCKETS",
    "MetricsUnavailable",
    "NoMetrics",
    "PrometheusMetricsProvider",
    "PrometheusQueueMetrics",
    "QueueMetrics",
]

DEFAULT_PREFIX = "workqueue"
"""The series' name prefix: ``workqueue``, client-go's ``WorkQueueSubsystem``. The series are
``workqueue_depth``, ``workqueue_adds_total``, ... so dashboards and alerts written for Go controllers work
unchanged."""

DURATION_BUCKETS: tuple[float, ...] = tuple(10e-9 * 10**i for i in range(10))
"""The upper bounds, in seconds, of both histograms' buckets: client-go's ``ExponentialBuckets(10e-9, 10, 10)``,
i.e. 10 ns to 10 s by decades (ten buckets, plus prometheus_client's ``+Inf``)."""


class MetricsUnavailable(InclusterSDKError, ImportError):
    """Queue metrics were asked for, but prometheus_client is not installed (install the ``metrics`` extra)."""


class QueueMetrics(Protocol):
    """What the queue reports (client-go's ``queueMetrics`` and ``retryMetrics``); ``now`` is in seconds.

    A structural protocol: any object with these methods will do. The queue calls them under its own lock, so
    they must be quick and must not call the queue back.
    """

    def add(self, item: Hashable, now: float) -> None:
        """``item`` became dirty (queued, or marked for another run after the current one).

        :param item: the queue item.
        :param now: when, in seconds of the queue's clock (for a delayed item, the time it became ready).
        """

    def get(self, item: Hashable, now: float) -> None:
        """A worker took ``item``.

        :param item: the queue item.
        :param now: when, in seconds of the queue's clock.
        """

    def done(self, item: Hashable, now: float) -> None:
        """The worker finished ``item``.

        :param item: the queue item.
        :param now: when, in seconds of the queue's clock.
        """

    def retry(self) -> None:
        """An ``add_after`` (or ``add_rate_limited``) call was accepted."""


class NoMetrics:
    """Records nothing: the queue's default (a queue without ``metrics`` does not even call it on its hot path)."""

    def add(self, item: Hashable, now: float) -> None:
        """Record nothing.

        :param item: the queue item (ignored).
        :param now: when, in seconds (ignored).
        """
        return None

    def get(self, item: Hashable, now: float) -> None:
        """Record nothing.

        :param item: the queue item (ignored).
        :param now: when, in seconds (ignored).
        """
        return None

    def done(self, item: Hashable, now: float) -> None:
        """Record nothing.

        :param item: the queue item (ignored).
        :param now: when, in seconds (ignored).
        """
        return None

    def retry(self) -> None:
        """Record nothing."""
        return None


class _Families:
    """The seven labelled metric families of one (registry, prefix), registered once and shared by its queues."""

    def __init__(self, prefix: str, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        label = ["name"]
        self.depth = Gauge(f"{prefix}_depth", "Current depth of workqueue", label, registry=registry)
        self.adds = Counter(f"{prefix}_adds", "Total number of adds handled by workqueue", label, registry=registry)
        self.latency = Histogram(
            f"{prefix}_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            label,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.work_duration = Histogram(
            f"{prefix}_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            label,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.unfinished = Gauge(
            f"{prefix}_unfinished_work_seconds",
            "How many seconds of work has done that is in progress and hasn't been observed by work_duration. "
            "Large values indicate stuck threads. One can deduce the number of stuck threads by observing the "
            "rate at which this increases.",
            label,
            registry=registry,
        )
        self.longest = Gauge(
            f"{prefix}_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            label,
            registry=registry,
        )
        self.retries = Counter(
            f"{prefix}_retries", "Total number of retries handled by workqueue", label, registry=registry
        )


_families_lock = threading.Lock()
_families: weakref.WeakKeyDictionary[Any, dict[str, _Families]] = weakref.WeakKeyDictionary()


class PrometheusMetricsProvider:
    """Creates each queue's metrics in ``registry`` under ``prefix`` (client-go's ``MetricsProvider``).

    Pass it to a queue as ``metrics=`` (the queue then needs a ``name``). The seven families (see the module's
    list) are registered once per (registry, prefix) and shared by every provider and queue that uses them:
    queues are told apart by their ``name`` label, and a new queue with the name of an earlier one takes the
    label over (its counters continue; the two "now" gauges follow the new queue).

        provider = PrometheusMetricsProvider()
        queue: RateLimitingQueue[str] = RateLimitingQueue(name="bindings", metrics=provider)

    :param prefix: the series' name prefix; default :data:`DEFAULT_PREFIX` (``workqueue``, client-go's subsystem).
    :param registry: the ``prometheus_client`` ``CollectorRegistry`` to register in; None (the default) means
        prometheus_client's global ``REGISTRY``, the one its ``start_http_server`` serves.
    :raises MetricsUnavailable: if prometheus_client is not installed.
    :raises ValueError: from prometheus_client (its ``DuplicateTimeseries``), if ``registry`` already has a series
        of one of these names that something else registered (e.g. ``workqueue_depth``): pick another ``prefix``.
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX, registry: CollectorRegistry | None = None) -> None:
        try:
            import prometheus_client
        except ImportError as exc:
            raise MetricsUnavailable(
                "work-queue metrics need prometheus_client: pip install 'incluster-sdk[metrics]'"
            ) from exc
        self.prefix = prefix
        self.registry: CollectorRegistry = prometheus_client.REGISTRY if registry is None else registry
        with _families_lock:
            by_prefix = _families.setdefault(self.registry, {})
            if prefix not in by_prefix:
                by_prefix[prefix] = _Families(prefix, self.registry)
            self._families = by_prefix[prefix]

    def new_queue_metrics(self, name: str, clock: Callable[[], float]) -> PrometheusQueueMetrics:
        """Make the metrics of one queue (the queue's constructor calls this; you need not).

        :param name: the queue's name, the value of every series' ``name`` label.
        :param clock: the queue's clock, called as ``clock() -> float`` in monotonic seconds; it dates the two
            "now" gauges when the registry is collected.
        :returns: the queue's series, labelled ``name``.
        :raises ValueError: if ``name`` is empty.
        """
        if not name:
            raise ValueError("a queue with metrics needs a name: it is the value of the 'name' label")
        return PrometheusQueueMetrics(self._families, name, clock)


class PrometheusQueueMetrics:
    """One queue's series (client-go's ``defaultQueueMetrics``); thread-safe, the queue calls it under its lock.

    Made by :meth:`PrometheusMetricsProvider.new_queue_metrics`, not constructed directly. It is a
    :class:`QueueMetrics`: the queue reports its events to it.

    :param families: the provider's shared metric families (internal).
    :param name: the value of the series' ``name`` label.
    :param clock: the queue's clock, called as ``clock() -> float`` in monotonic seconds.
    """

    def __init__(self, families: _Families, name: str, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._add_times: dict[Hashable, float] = {}
        self._start_times: dict[Hashable, float] = {}
        self._depth = families.depth.labels(name)
        self._adds = families.adds.labels(name)
        self._latency = families.latency.labels(name)
        self._work_duration = families.work_duration.labels(name)
        self._retries = families.retries.labels(name)
        families.unfinished.labels(name).set_function(self.unfinished_work_seconds)
        families.longest.labels(name).set_function(self.longest_running_processor_seconds)

    def add(self, item: Hashable, now: float) -> None:
        """Count one add and one more in depth; remember when ``item`` became dirty (the first time, if twice).

        :param item: the queue item.
        :param now: when, in seconds of the queue's clock.
        """
        self._adds.inc()
        self._depth.inc()
        with self._lock:
            self._add_times.setdefault(item, now)

    def get(self, item: Hashable, now: float) -> None:
        """One less in depth; observe the time ``item`` waited in the queue; remember when its work started.

        :param item: the queue item.
        :param now: when, in seconds of the queue's clock.
        """
        self._depth.dec()
        with self._lock:
            self._start_times[item] = now
            added = self._add_times.pop(item, None)
        if added is not None:
            self._latency.observe(now - added)

    def done(self, item: Hashable, now: float) -> None:
        """Observe how long ``item``'s work took.

        :param item: the queue item.
        :param now: when, in seconds of the queue's clock.
        """
        with self._lock:
            started = self._start_times.pop(item, None)
        if started is not None:
            self._work_duration.observe(now - started)

    def retry(self) -> None:
        """Count one retry (an ``add_after`` or ``add_rate_limited`` call)."""
        self._retries.inc()

    def unfinished_work_seconds(self) -> float:
        """The ``unfinished_work_seconds`` gauge's value, computed when the registry is collected.

        :returns: the summed age, in seconds, of the items being processed now (0 when none is).
        """
        now = self._clock()
        with self._lock:
            starts = list(self._start_times.values())
        return sum(now - start for start in starts)

    def longest_running_processor_seconds(self) -> float:
        """The ``longest_running_processor_seconds`` gauge's value, computed when the registry is collected.

        :returns: the age, in seconds, of the oldest item being processed now (0 when none is).
        """
        now = self._clock()
        with self._lock:
            starts = list(self._start_times.values())
        return max((now - start for start in starts), default=0.0)
