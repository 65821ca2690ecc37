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

ClientT = TypeVar("ClientT")


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
class Item:
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
    """What both recorders share: building events, the correlator, the outcome accounting and its log lines."""

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
        """The Event to queue, built now; None when it is invalid or the recorder is ``closed`` (logged, counted)."""
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
        correlation = self.correlator.correlate(item.event, item.now)
        if correlation.skip:
            self.stats.skipped += 1
            log.debug("event %s skipped by the spam filter", about(item.event))
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

    def account(self, item: Item, written: Written) -> None:
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
    """How the log names an event: its reason, and the kind and name of its object."""
    ref = event.get("involvedObject") or {}
    where = f"{ref.get('namespace')}/" if ref.get("namespace") else ""
    return f"{event.get('reason')!s} about {ref.get('kind')} {where}{ref.get('name')}"


class RecorderBase(Generic[ClientT]):
    """The constructor and the read-only views both recorders share; each adds its queue and its worker."""

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
        return f"{type(self).__name__}(component={self._core.component!r}, host={self._core.host!r})"

    @property
    def correlator(self) -> EventCorrelator:
        """The :class:`~.correlator.EventCorrelator` the worker uses."""
        return self._core.correlator
