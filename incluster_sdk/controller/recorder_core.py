"""What both event recorders share: one Event from their queue to the server (correlate, write it with one flow,
retry what got no answer, count and log the outcome) and their common constructor.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tenacity import RetryCallState, retry_if_exception_type, stop_after_attempt, wait_chain, wait_fixed, wait_random
from tenacity.stop import stop_base

from .calls import Answer, Call
from .correlator import Correlation, EventCorrelator
from .event_objects import make_event, wall_clock
from .object_errors import ObjectError

__all__ = [
    "CLOSE_TIMEOUT",
    "MAX_QUEUED_EVENTS",
    "MAX_TRIES_PER_EVENT",
    "RETRY_SLEEP",
    "STRATEGIC_MERGE_PATCH",
    "Item",
    "RecorderBase",
    "RecorderCore",
    "RecorderStats",
    "Written",
    "about",
    "write_flow",
]

log = logging.getLogger("incluster_sdk.controller.events")

MAX_TRIES_PER_EVENT = 12
"""Tries in all for an Event write that got no answer: 12, client-go's ``maxTriesPerEvent``. With
:data:`RETRY_SLEEP` between them, about 2 minutes of API server outage survived per event, while later events
wait in the queue."""
RETRY_SLEEP = 10.0
"""Seconds between two tries of an Event write: 10 s, client-go's ``defaultSleepDuration``; the first wait is
random in [0, 10 s) so that clients do not all come back at once after an outage."""
MAX_QUEUED_EVENTS = 1000
"""Events waiting to be written, at most: 1,000, client-go's ``maxQueuedEvents``; past it, new events are
dropped (logged), as client-go's broadcaster does (``DropIfChannelFull``)."""
CLOSE_TIMEOUT = 5.0
"""Seconds ``close()`` gives the worker to send what is queued: 5 s, our choice (several round trips, well within
a pod's default 30 s termination grace period; client-go's ``Shutdown`` has no deadline: it cancels the
writes)."""

EVENTS_API = "/api/v1"
"""The core/v1 API's path, where Events are written."""
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
"""The media type of the PATCH that updates a repeated Event's count (client-go's ``StrategicMergePatchType``)."""

ClientT = TypeVar("ClientT")


# -- writing one event (no I/O) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Written:
    """How one Event write ended.

    :param action: ``"created"``, ``"patched"``, ``"refused"`` (an answer that is not success; the event is
        dropped) or ``"dropped"`` (no answer after every try).
    :param status: the HTTP status of the last answer; 0 (default) when there was none.
    :param reason: the server's ``Status.reason`` for a refusal; "" (default) otherwise.
    :param message: the server's ``Status.message`` for a refusal; "" (default) otherwise.
    """

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
    """Write one correlated Event, as client-go's ``recordEvent``.

    PATCH a repeat (count > 1); create it when new, or when the PATCH found no Event (404: it expired); then
    remember what the server stored (``correlator.update_state``). An answer that refuses the write ends it
    (client-go does not retry a StatusError); what the driver's ``perform`` raises (no answer) propagates for the
    driver's retry loop.

    :param correlator: the correlator that produced ``correlation``; told what the server stored.
    :param correlation: what to write, from :meth:`EventCorrelator.correlate`; not a skipped one.
    :returns: a flow for :func:`~incluster_sdk.flows.drive`: yields :class:`~.calls.Call` s (PATCH
        ``/api/v1/namespaces/<ns>/events/<name>``, POST ``/api/v1/namespaces/<ns>/events``), returns the
        :class:`Written` outcome.
    """
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
    """What happened to the events a recorder was given, as counts since it was made.

    :param created: Events created on the server.
    :param patched: events written as a repeat: an existing Event's count raised.
    :param skipped: events the spam filter dropped.
    :param dropped: events dropped because the queue was full, the recorder was closed, no event loop was
        running (asyncio), or no answer came after every try.
    :param refused: events the server refused (403, 422, a namespace gone...), dropped without a retry.
    :param invalid: events refused before queueing: a bad type, an empty reason, an object without kind,
        apiVersion or name.
    """

    created: int = 0
    patched: int = 0
    skipped: int = 0
    dropped: int = 0
    refused: int = 0
    invalid: int = 0


@dataclass
class Item:
    """One queued event: the Event built by ``event()`` and the time it was recorded."""

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
class RecorderCore:
    """What both recorders share: building events, the correlator, the outcome accounting and its log lines.

    :param component: source.component and reportingComponent.
    :param host: source.host and reportingInstance, or None.
    :param correlator: the correlator the worker uses.
    :param clock: called as ``clock() -> datetime`` for each event.
    :param max_tries: tries in all for a write that gets no answer.
    :param retry_sleep: seconds between those tries.
    :param stats: the counts; default a new :class:`RecorderStats`.
    :param warned: the (status, namespace) pairs whose refusal was already logged at ERROR; default empty.
    """

    component: str
    host: str | None
    correlator: EventCorrelator
    clock: Callable[[], dt.datetime]
    max_tries: int
    retry_sleep: float
    stats: RecorderStats = field(default_factory=RecorderStats)
    warned: set[tuple[int, str]] = field(default_factory=set)

    def accept(
        self, obj: Mapping[str, Any], event_type: str, reason: str, message: str, field_path: str | None, closed: bool
    ) -> Item | None:
        """Build the Event to queue, at the clock's time now; logged and counted when it is not queued.

        :param obj: the object the event is about.
        :param event_type: ``Normal`` or ``Warning``.
        :param reason: the event's reason.
        :param message: the event's message.
        :param field_path: the part of the object the event is about, or None.
        :param closed: whether the recorder is closed (then the event is dropped).
        :returns: the item to queue; None when the event is invalid or the recorder closed.
        """
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
        if closed:
            self.stats.dropped += 1
            log.error("event %s not recorded: the recorder is closed", about(event))
            return None
        return Item(event, now)

    def queue_full(self, item: Item, size: int) -> None:
        """Count and log an event dropped because the queue is full (the first drop and every 100th at ERROR).

        :param item: the dropped event.
        :param size: the queue's size, in events, for the log line.
        """
        self.stats.dropped += 1
        # a hot loop fills the queue fast: the first drop and every 100th at ERROR, the rest at DEBUG
        level = logging.ERROR if self.stats.dropped % 100 == 1 else logging.DEBUG
        log.log(
            level,
            "event %s dropped: %d events already queued (%d dropped so far)",
            about(item.event),
            size,
            self.stats.dropped,
        )

    def correlate(self, item: Item) -> Correlation:
        """Correlate a queued event at its recorded time; count it when the spam filter skips it.

        :param item: the queued event.
        :returns: what to write (see :class:`~.correlator.Correlation`).
        """
        correlation = self.correlator.correlate(item.event, item.now)
        if correlation.skip:
            self.stats.skipped += 1
            log.debug("event %s skipped by the spam filter", about(item.event))
        return correlation

    def tenacity(self, stop: stop_base) -> dict[str, Any]:
        """Build tenacity's arguments for one event's write loop.

        Retry what got no answer, ``max_tries`` in all or until ``stop`` (closing), ``retry_sleep`` apart (the first
        wait random); giving up logs and drops it (:meth:`gave_up`).

        :param stop: the extra stop condition, true once the recorder is closing.
        :returns: keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``.
        """
        return {
            "retry": retry_if_exception_type(Exception),
            "stop": stop_after_attempt(self.max_tries) | stop,
            "wait": _retry_wait(self.retry_sleep),
            "before_sleep": _retry_logged,
            "retry_error_callback": self.gave_up,
        }

    def gave_up(self, state: RetryCallState) -> Written:
        """Log an event that got no answer after every try (tenacity's ``retry_error_callback``).

        :param state: tenacity's state of the last try.
        :returns: ``Written("dropped")``.
        """
        error = state.outcome.exception() if state.outcome is not None else None
        log.error(
            "event not written after %d tries (no answer from the API server: %s); dropped",
            state.attempt_number,
            type(error).__name__ if error is not None else "?",
        )
        return Written("dropped")

    def account(self, item: Item, written: Written) -> None:
        """Count a write's outcome; log a refusal (at ERROR the first time per status and namespace).

        :param item: the event written.
        :param written: how the write ended.
        """
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
                about(item.event),
                written.status,
                written.reason,
                written.message,
                fix,
            )


def about(event: Mapping[str, Any]) -> str:
    """Name an event in a log line.

    :param event: a core/v1 Event as a dict.
    :returns: e.g. ``"Repaired about Namespace shop"`` (reason, then the object's kind, namespace/ and name).
    """
    ref = event.get("involvedObject") or {}
    where = f"{ref.get('namespace')}/" if ref.get("namespace") else ""
    return f"{event.get('reason')!s} about {ref.get('kind')} {where}{ref.get('name')}"


class RecorderBase(Generic[ClientT]):
    """The constructor and the read-only views both recorders share; each adds its queue and its worker.

    The parameters are documented on :class:`~incluster_sdk.controller.events.EventRecorder`.

    :param client: the SDK's sync or asyncio client.
    :param component: the reporting controller's name.
    :param host: the reporting instance, e.g. the pod name; None (default): none.
    :param queue_size: events waiting to be written, at most; default 1,000, client-go's ``maxQueuedEvents``.
    :param correlator: the correlator; None (default): a new one with client-go's defaults.
    :param clock: called as ``clock() -> datetime``; default UTC now.
    :param max_tries: tries in all for a write that gets no answer; default 12, client-go's ``maxTriesPerEvent``.
    :param retry_sleep: seconds between those tries; default 10 s, client-go's ``defaultSleepDuration``.
    :raises ~incluster_sdk.controller.object_errors.ObjectError: for an empty or non-printable ``component``.
    """

    def __init__(
        self,
        client: ClientT,
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
        self._core = RecorderCore(
            _check_component(component), host, correlator or EventCorrelator(), clock, max_tries, retry_sleep
        )
        self._queue_size = queue_size
        self._setup()

    def _setup(self) -> None:
        """The recorder's own queue and worker state (no thread or task starts before the first event)."""

    @property
    def stats(self) -> RecorderStats:
        """What happened to the events recorded so far (see :class:`RecorderStats`)."""
        return self._core.stats

    def __repr__(self) -> str:
        """``EventRecorder(component=..., host=...)``: no client, no credential."""
        return f"{type(self).__name__}(component={self._core.component!r}, host={self._core.host!r})"

    @property
    def correlator(self) -> EventCorrelator:
        """The :class:`~.correlator.EventCorrelator` the worker uses."""
        return self._core.correlator
