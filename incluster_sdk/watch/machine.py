"""The list+watch protocol as a sans-I/O state machine (the shape of kube-rs's ``watcher``): one explicit
state at a time, each carrying its own data.

A driver asks :meth:`WatchMachine.next_request` what to do, performs it, and feeds the outcome back
(:meth:`~WatchMachine.server_version`, :meth:`~WatchMachine.list_item`, :meth:`~WatchMachine.list_page`,
:meth:`~WatchMachine.watch_event`, :meth:`~WatchMachine.watch_ended`, :meth:`~WatchMachine.failed`). The
machine returns typed events for the cache. It does no I/O and reads no clock except its backoff's (which a
test can replace), so every rule below is unit-tested without a network. The informers are its drivers; a
driver of your own runs this loop:

    machine = WatchMachine()
    while True:
        request = machine.next_request()
        # Sleep: wait request.seconds.  VersionRequest: GET /version, then machine.server_version(...)
        #   (None if the server answers 401, 403 or 404).
        # ListRequest: GET one page, machine.list_item(item, kind, api_version) per item, then
        #   machine.list_page(header).  WatchRequest: machine.watch_event(event) per event while
        #   machine.reading, then machine.watch_ended() if the server ended the watch normally.
        # A request that failed (an HTTP error status, a connection error, a garbled response):
        #   machine.failed(status or None, retry_after=...).

:class:`~incluster_sdk.watch.endpoints.Endpoint` turns each request into a URL, headers and timeouts, and
:class:`~incluster_sdk.watch.wire.WatchDecoder` turns a watch response's bytes into events.

Rules:

- LIST in pages, then WATCH from the list's resourceVersion with bookmarks; every event and bookmark
  advances the resourceVersion.
- The first LIST asks for resourceVersion "0": the API server answers from its watch cache and spares
  etcd (measured here: ~10% faster than a consistent read for 10,000 pods). The snapshot may be slightly
  old; the watch that follows from its resourceVersion brings it up to date. (client-go does the same.)
- 410 Gone / Expired (HTTP status, or an ERROR event in the stream): relist with resourceVersion ""
  (a consistent read, so we never go back in time); never retry the same resourceVersion. An expired
  continue token restarts the list.
- Connection errors, timeouts, 429 and 5xx: back off (full jitter) and retry the same step; no relist.
- Streaming list (KEP-3157): where the server has it, the initial state comes as a WATCH with
  ``sendInitialEvents=true``: ADDED events for every object, then a BOOKMARK annotated
  ``k8s.io/initial-events-end``, then the live stream on the same connection; no LIST pages held in
  memory at once. Servers older than 1.27 silently ignore the parameter, so the machine first asks the
  driver for the server version; a 1.27+ server with the feature off answers 400/422, and a watch that ends
  without the end bookmark means the parameter was ignored: each falls back to paged LIST for good.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .backoff import Backoff
from .endpoints import ListRequest, Request, Sleep, VersionRequest, WatchRequest
from .options import InitialList
from .wire import WatchProtocolError

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 500
"""Objects per LIST page (the ``limit`` parameter): 500, client-go's pager default (``defaultPageSize``) and
kube-rs's. Bigger pages mean fewer round trips but more memory per response and longer etcd reads."""
WATCH_TIMEOUT_MIN = 240
"""Seconds: the least ``timeoutSeconds`` a watch asks for (see :data:`WATCH_TIMEOUT_MAX`)."""
WATCH_TIMEOUT_MAX = 290
"""Seconds: each watch's ``timeoutSeconds`` is drawn from [240, 290) so that many clients do not reconnect
in lockstep. Our choice, under 5 minutes (kube-rs asks 290 s) so that proxies with 5-minute idle limits never
cut a watch first; client-go draws from [5, 10) minutes (its ``minWatchTimeout``)."""
STREAMING_LIST_MIN_VERSION = (1, 27)
"""(major, minor): the first server version that knows ``sendInitialEvents`` (alpha in 1.27). Older servers
ignore it and would hand out a plain watch that never says the initial state is complete."""
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
"""The annotation (value ``"true"``) on the BOOKMARK that ends the initial events of a streaming list."""
STREAMING_UNSUPPORTED = frozenset({400, 422})
"""HTTP statuses that answer a streaming-list request with "not here": the feature gate is off (422 Invalid)
or a proxy in front of the server does not know the parameter (400)."""
FROM_WATCH_CACHE = "0"
"""The ``resourceVersion`` of the first LIST: the API server answers from its watch cache."""
CONSISTENT = ""
"""The ``resourceVersion`` of every LIST after a 410: a consistent read from etcd."""

Obj = dict[str, Any]


# -- states ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Probing:
    """Asking the server's version, to learn whether it may stream lists; carries nothing.

    The first state with ``initial_list=InitialList.AUTO`` (the default), and the step retried after a failed
    probe. Its request is a :class:`~incluster_sdk.watch.endpoints.VersionRequest`; the machine leaves it when
    the driver calls :meth:`WatchMachine.server_version`: for :class:`Streaming` on a 1.27+ server, else for
    :class:`Listing`.
    """


@dataclass(slots=True)
class Listing:
    """Paging through a LIST; each page's items go to the cache as they arrive.

    Entered at the start (``initial_list=InitialList.LIST``, or ``AUTO`` on a server that cannot stream
    lists), after a 410 Gone while not streaming, when a streaming list falls back to paged LIST, and again
    from the first page after a failed page. Its request is a
    :class:`~incluster_sdk.watch.endpoints.ListRequest`; after the last page (:meth:`WatchMachine.list_page`)
    the machine is :class:`Watching`.

    :param resource_version: the ``resourceVersion`` of the LIST: ``"0"`` for the first list (answered from
        the API server's watch cache, as client-go's first list is), ``""`` after any relist (a consistent
        read from etcd, so the cache never goes back in time).
    :param continue_token: the previous page's ``metadata.continue``, to ask the next page; None for the first
        page.
    """

    resource_version: str
    continue_token: str | None = None


@dataclass(slots=True)
class Streaming:
    """Receiving a streaming list's initial events (a watch with ``sendInitialEvents=true``) until the bookmark
    annotated ``k8s.io/initial-events-end``.

    Entered at the start with ``initial_list=InitialList.STREAM``, after :class:`Probing` finds a 1.27+
    server, after a 410 Gone while streaming, and from scratch after a failure. Its request is a
    :class:`~incluster_sdk.watch.endpoints.WatchRequest` with ``send_initial_events=True``. The end bookmark
    makes it :class:`Watching` on the same connection; a 400 or 422 answer, or a watch that ends before the
    end bookmark, makes the machine use paged LIST (:class:`Listing`) for good.

    :param resource_version: the ``resourceVersion`` of the last event received; default ``""`` (none yet).
    """

    resource_version: str = ""


@dataclass(slots=True)
class Watching:
    """Watching for changes after a complete list.

    Entered after the list is complete (:class:`ListDone`); it stays after the server ends a watch normally
    (the next :class:`~incluster_sdk.watch.endpoints.WatchRequest` resumes from the same
    ``resource_version``) and after a transient failure (after a :class:`BackingOff`). A 410 Gone leaves it
    for a relist.

    :param resource_version: where the next watch starts: the list's ``resourceVersion``, then that of every
        event and bookmark received.
    """

    resource_version: str


@dataclass(slots=True)
class BackingOff:
    """Waiting after a transient failure (connection error, timeout, 429, 5xx) before retrying the failed step.

    Entered by :meth:`WatchMachine.failed`. Its request is ``sleep``; handing it out moves the machine to
    ``then``.

    :param sleep: the wait to hand the driver, :class:`~incluster_sdk.watch.endpoints.Sleep` (its
        ``seconds`` drawn from the machine's :class:`~incluster_sdk.watch.backoff.Backoff`, at least the
        server's ``Retry-After``).
    :param then: the step to retry, from its start: :class:`Probing` again, :class:`Listing` from its first
        page, :class:`Streaming` from scratch, or :class:`Watching` from the same ``resource_version``.
    """

    sleep: Sleep
    then: Probing | Listing | Streaming | Watching


State = Probing | Listing | Streaming | Watching | BackingOff


# -- events (machine -> cache) ---------------------------------------------------------------------------
@dataclass(slots=True)
class Listed:
    """An object of the list being read (a LIST item, or a streaming list's initial ADDED or MODIFIED event):
    store it, and note that the list had its key.

    Returned by :meth:`WatchMachine.list_item` and, while :class:`Streaming`, by
    :meth:`WatchMachine.watch_event`.

    :param obj: the object as a dict, as the API server sends it
        (``{"kind": "Pod", "apiVersion": "v1", "metadata": {...}, ...}``); a LIST item has been given the
        list's ``kind`` and ``apiVersion``, as a watch event's object has them.
    """

    obj: Obj


@dataclass(slots=True)
class ListDone:
    """The list is complete: every object the cache holds that the list did not have is gone (deleted while
    nobody was watching), and the machine is now :class:`Watching`.

    Returned by :meth:`WatchMachine.list_page` after a LIST's last page, and by
    :meth:`WatchMachine.watch_event` for a streaming list's end bookmark.

    :param resource_version: the list's ``resourceVersion``, from which the watch continues.
    """

    resource_version: str


@dataclass(slots=True)
class Applied:
    """An object was added or changed (an ADDED or MODIFIED watch event): store it in place of any old copy.

    Returned by :meth:`WatchMachine.watch_event` while :class:`Watching`.

    :param obj: the event's object as a dict, as the API server sends it
        (``{"kind": "Pod", "apiVersion": "v1", "metadata": {...}, ...}``).
    """

    obj: Obj


@dataclass(slots=True)
class Deleted:
    """An object was deleted (a DELETED watch event): remove it from the cache.

    Returned by :meth:`WatchMachine.watch_event`, while :class:`Watching` or :class:`Streaming`.

    :param obj: the object's last state as a dict, as the API server sends it
        (``{"kind": "Pod", "apiVersion": "v1", "metadata": {...}, ...}``).
    """

    obj: Obj


Event = Listed | ListDone | Applied | Deleted


def _is_metadata(meta: object) -> bool:
    """An object's metadata as the cache keys it: a dict whose name and namespace, if set, are strings."""
    if not isinstance(meta, dict):
        return False
    name, namespace = meta.get("name"), meta.get("namespace")
    return (name is None or isinstance(name, str)) and (namespace is None or isinstance(namespace, str))


class WatchMachine:
    """The list+watch protocol for one collection, as a state machine that does no I/O.

    A driver loops: :meth:`next_request` says what to do; the driver does it and feeds the outcome back
    (:meth:`server_version`, :meth:`list_item` and :meth:`list_page`, :meth:`watch_event` and
    :meth:`watch_ended`, :meth:`failed`); the returned events (:class:`Listed`, :class:`ListDone`,
    :class:`Applied`, :class:`Deleted`) are what the cache must do. The module docstring shows the loop.
    The machine is not thread-safe: one driver feeds it.

    :param page_size: objects per LIST page (the ``limit`` parameter); default :data:`LIST_PAGE_SIZE`, 500,
        client-go's pager default.
    :param initial_list: how the initial state is read: ``InitialList.AUTO`` (default) asks the server's
        version first (:class:`Probing`) and streams the list on 1.27+, ``STREAM`` streams it from the start,
        ``LIST`` uses paged LIST only. Streaming falls back to paged LIST for good where the server refuses it.
    :param backoff: the delays after failures; None (default) means
        ``Backoff()``: 0.8 s doubling to 30 s with full jitter, reset after 2 min without failure (client-go's
        reflector values).
    :param rng: called as ``rng()`` for a float in [0, 1) that picks each watch's ``timeoutSeconds`` in
        [:data:`WATCH_TIMEOUT_MIN`, :data:`WATCH_TIMEOUT_MAX`) seconds; default :func:`random.random`.
    """

    def __init__(
        self,
        *,
        page_size: int = LIST_PAGE_SIZE,
        initial_list: InitialList = InitialList.AUTO,
        backoff: Backoff | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.page_size = page_size
        """Objects per LIST page, as given: the ``limit`` of every
        :class:`~incluster_sdk.watch.endpoints.ListRequest`."""
        self.streaming = initial_list is InitialList.STREAM
        """Whether the initial state (and every relist) comes as a streaming list: True with
        ``InitialList.STREAM``, set by :meth:`server_version` with ``AUTO``, and False for good once the server
        has refused a streaming list."""
        self.backoff = backoff or Backoff()
        """The :class:`~incluster_sdk.watch.backoff.Backoff` that draws each :class:`BackingOff` delay: the one
        given, or a new one."""
        self._rng = rng
        self.relists = 0
        """Relists after a 410 Gone / Expired so far (a metric). Once it is not 0, every LIST is a consistent
        read (``resourceVersion=""``)."""
        self.watch_starts = 0
        """Watch requests handed out so far, first watch and reconnects (a metric)."""
        self.failures = 0
        """Failures backed off so far (a metric): each call of :meth:`failed`, or ERROR event, that led to
        :class:`BackingOff`; 410s and streaming fallbacks are not counted."""
        self.state: State = Probing() if initial_list is InitialList.AUTO else self._from_scratch()
        """The current state: :class:`Probing`, :class:`Listing`, :class:`Streaming`, :class:`Watching` or
        :class:`BackingOff`. Read it; only the machine's methods change it."""

    @property
    def resource_version(self) -> str:
        """The ``resourceVersion`` reached: that of the :class:`Watching` or :class:`Streaming` state (also while
        :class:`BackingOff` before retrying it); ``""`` while probing or listing."""
        state = self.state.then if isinstance(self.state, BackingOff) else self.state
        return state.resource_version if isinstance(state, (Watching, Streaming)) else ""

    def _from_scratch(self) -> Listing | Streaming:
        return Streaming() if self.streaming else Listing(CONSISTENT if self.relists else FROM_WATCH_CACHE)

    # -- what to do next ---------------------------------------------------------------------------------
    def next_request(self) -> Request:
        """What the driver must do next, from the current state.

        Asking again without feeding an outcome back returns the same request (a new watch timeout each time),
        except after a :class:`~incluster_sdk.watch.endpoints.Sleep`: handing it out moves the machine from
        :class:`BackingOff` to the step it retries.

        :returns: :class:`~incluster_sdk.watch.endpoints.Sleep` (:class:`BackingOff`: wait its ``seconds``),
            :class:`~incluster_sdk.watch.endpoints.VersionRequest` (:class:`Probing`),
            :class:`~incluster_sdk.watch.endpoints.ListRequest` (:class:`Listing`: the page after
            ``continue_token``, :attr:`page_size` objects), or :class:`~incluster_sdk.watch.endpoints.WatchRequest`
            (:class:`Watching`: from its ``resource_version``; :class:`Streaming`: ``resourceVersion=""`` with
            ``send_initial_events=True``), whose ``timeout_seconds`` is drawn in [:data:`WATCH_TIMEOUT_MIN`,
            :data:`WATCH_TIMEOUT_MAX`) seconds; each watch request counts in :attr:`watch_starts`.
        """
        state = self.state
        if isinstance(state, BackingOff):
            self.state = state.then
            return state.sleep
        if isinstance(state, Probing):
            return VersionRequest()
        if isinstance(state, Listing):
            return ListRequest(state.resource_version, state.continue_token, self.page_size)
        self.watch_starts += 1
        timeout = WATCH_TIMEOUT_MIN + int(self._rng() * (WATCH_TIMEOUT_MAX - WATCH_TIMEOUT_MIN))
        if isinstance(state, Streaming):
            # resourceVersion "" + NotOlderThan: the initial events are at least as new as a consistent read.
            return WatchRequest("", timeout, send_initial_events=True)
        return WatchRequest(state.resource_version, timeout)

    def server_version(self, version: tuple[int, int] | None) -> None:
        """Take the answer to a :class:`~incluster_sdk.watch.endpoints.VersionRequest` and start reading the list.

        The machine becomes :class:`Streaming` for a server at least :data:`STREAMING_LIST_MIN_VERSION` (1.27),
        else :class:`Listing` (paged LIST).

        :param version: ``(major, minor)`` as :func:`~incluster_sdk.watch.endpoints.server_version` reads
            ``GET /version`` (``(1, 27)`` for ``{"major": "1", "minor": "27+"}``); None if the server would not
            say (401, 403, 404) or the answer could not be read: paged LIST.
        """
        self.streaming = version is not None and version >= STREAMING_LIST_MIN_VERSION
        if not self.streaming:
            log.info("server version %s: no streaming list; using paged LIST", version or "unknown")
        self.state = self._from_scratch()

    # -- outcomes ----------------------------------------------------------------------------------------
    def list_item(self, item: Any, kind: str, api_version: Any) -> Listed:
        """Take one item of the LIST page being read, and say what the cache must do with it.

        LIST items omit ``kind`` and ``apiVersion`` (watch events' objects carry them): the item gets the
        list's, in place, unless it has its own. The state does not change; call :meth:`list_page` after the
        page's last item.

        :param item: one element of the response's ``items``, as decoded (an object as a dict,
            ``{"metadata": {"name": ..., "namespace": ...}, ...}``).
        :param kind: the list's ``kind`` without its ``List`` suffix (``Pod`` for ``PodList``); ``""`` if not
            known yet (nothing is added).
        :param api_version: the list's ``apiVersion`` (``v1``, ``apps/v1``); None or ``""`` if not known yet.
        :returns: :class:`Listed` with ``item`` itself (the same dict, completed).
        :raises ~incluster_sdk.watch.wire.WatchProtocolError: if the item is not a dict, or its metadata is not
            a dict whose ``name`` and ``namespace``, where set, are strings.
        """
        if type(item) is not dict or not _is_metadata(item.get("metadata") or {}):
            raise WatchProtocolError("LIST response has an item that is not an object with string name/namespace")
        # list items omit kind/apiVersion; watch events carry them: make both look the same
        if kind and "kind" not in item:
            item["kind"] = kind
        if api_version and "apiVersion" not in item:
            item["apiVersion"] = api_version
        return Listed(item)

    def list_page(self, header: Obj) -> ListDone | None:
        """End a LIST page whose items have been given to :meth:`list_item`; after the last page, the list.

        A page with a ``metadata.continue`` token keeps the machine :class:`Listing` and makes the next request
        the following page; the last page makes it :class:`Watching` from the list's ``resourceVersion``. A
        page read counts as a success for the backoff.

        :param header: the response without its ``items``:
            ``{"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "...", "continue": "..."}}``
            (:attr:`~incluster_sdk.watch.wire.ListDecoder.header`).
        :returns: None while more pages follow; :class:`ListDone` with the list's ``resourceVersion`` after the
            last.
        :raises RuntimeError: if the machine is not :class:`Listing` (a driver bug).
        :raises ~incluster_sdk.watch.wire.WatchProtocolError: if ``metadata`` is not a dict.
        """
        state = self.state
        if not isinstance(state, Listing):
            raise RuntimeError(f"list_page() while {type(state).__name__}")
        meta = header.get("metadata") or {}
        if not isinstance(meta, dict):
            raise WatchProtocolError("LIST response has no metadata")
        self.backoff.succeeded()
        if continue_token := meta.get("continue"):
            state.continue_token = str(continue_token)
            return None
        resource_version = str(meta.get("resourceVersion") or "")
        self.state = Watching(resource_version)
        return ListDone(resource_version)

    def watch_event(self, event: Obj) -> Event | None:
        """Take one decoded watch event, and say what the cache must do with it.

        Every event and bookmark but ERROR advances :attr:`resource_version`. An ERROR event ends the stream for the
        machine (:attr:`reading` becomes False: stop reading it): a 410 or 409 status, or reason ``Expired`` or
        ``Gone``, starts a relist (:class:`Listing` with ``resourceVersion=""``, or :class:`Streaming`); any
        other is handled as :meth:`failed` with its ``code``.

        :param event: ``{"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR", "object": {...}}``,
            one line of the watch response as decoded (:meth:`~incluster_sdk.watch.wire.WatchDecoder.events`);
            an ERROR event's object is a ``Status`` (``{"code": 410, "reason": "Expired", ...}``).
        :returns: while :class:`Watching`: :class:`Applied` (ADDED, MODIFIED), :class:`Deleted` (DELETED), None
            (BOOKMARK, ERROR). While :class:`Streaming`: :class:`Listed` (ADDED, MODIFIED), :class:`Deleted`,
            :class:`ListDone` for the end bookmark (the machine is then :class:`Watching` on the same
            connection), None for other bookmarks and ERROR.
        :raises ~incluster_sdk.watch.wire.WatchProtocolError: if the event's ``object`` is not a dict, its
            metadata is not a dict with string ``name`` and ``namespace`` where set, or its type is unknown.
        :raises RuntimeError: for an event that is not ERROR while the machine is neither :class:`Watching` nor
            :class:`Streaming` (a driver bug).
        """
        kind, obj = event.get("type"), event.get("object")
        if type(obj) is not dict:
            raise WatchProtocolError(f"watch event {kind!r} has no object")
        if kind == "ERROR":
            code = obj.get("code")
            if code in (410, 409) or obj.get("reason") in ("Expired", "Gone"):  # 409 "too old" on some servers
                self._relist()
            else:
                self.failed(code if isinstance(code, int) else None)
            return None
        self.backoff.succeeded()
        meta = obj.get("metadata") or {}
        if not _is_metadata(meta):
            raise WatchProtocolError(f"watch event {kind!r}: metadata is not an object with string name/namespace")
        state = self.state
        if type(state) is not Watching:
            if type(state) is not Streaming:
                raise RuntimeError(f"watch_event() while {type(state).__name__}")
            if rv := meta.get("resourceVersion"):
                state.resource_version = str(rv)
            return self._initial_event(state, kind, obj, meta)
        if rv := meta.get("resourceVersion"):
            state.resource_version = str(rv)
        if kind == "ADDED" or kind == "MODIFIED":
            return Applied(obj)
        if kind == "DELETED":
            return Deleted(obj)
        if kind == "BOOKMARK":
            return None
        raise WatchProtocolError(f"unknown watch event type {kind!r}")

    def _initial_event(self, state: Streaming, kind: Any, obj: Obj, meta: dict[str, Any]) -> Event | None:
        if kind in ("ADDED", "MODIFIED"):
            return Listed(obj)
        if kind == "DELETED":
            return Deleted(obj)
        if kind == "BOOKMARK":
            annotations = meta.get("annotations")
            if isinstance(annotations, dict) and annotations.get(INITIAL_EVENTS_END) == "true":
                self.state = Watching(state.resource_version)  # the same connection now carries the live stream
                return ListDone(state.resource_version)
            return None
        raise WatchProtocolError(f"unknown watch event type {kind!r}")

    @property
    def reading(self) -> bool:
        """Whether the watch being read still matters: False once an ERROR event (a 410 or another) has moved
        the machine on; then drop the connection and ask :meth:`next_request`."""
        return isinstance(self.state, (Watching, Streaming))

    def watch_ended(self) -> None:
        """Note that the server ended the watch normally (its ``timeoutSeconds`` ran out, the response's last
        chunk came): the next request re-watches from the same ``resourceVersion``.

        A streaming list that ends before its end bookmark came from a server that ignored
        ``sendInitialEvents`` (or a proxy that dropped it): the machine uses paged LIST (:class:`Listing`) from
        now on. In any other state nothing changes.
        """
        if isinstance(self.state, Streaming):
            self._stop_streaming("the watch ended without the initial-events-end bookmark")

    def failed(self, status: int | None, *, retry_after: float | None = None) -> None:
        """Note that the request of the current state failed, and choose what comes next.

        410 Gone: relist (:class:`Listing` with ``resourceVersion=""``, or :class:`Streaming`), no backoff.
        400 or 422 while :class:`Streaming`: paged LIST for good. Anything else (connection errors, timeouts,
        429, 5xx, other statuses): :class:`BackingOff`, then the same step from its start (a LIST from its
        first page), counted in :attr:`failures`.

        :param status: the HTTP status of the answer; None for a failure without one (connection error,
            timeout, a garbled or truncated stream).
        :param retry_after: seconds the server asked to wait (its ``Retry-After`` header), the least the backoff
            sleeps; None (default) when it sent none.
        """
        state = self.state
        if status == 410:
            self._relist()
            return
        if isinstance(state, Streaming) and status in STREAMING_UNSUPPORTED:
            self._stop_streaming(f"HTTP {status}")
            return
        self.failures += 1
        retry: Probing | Listing | Streaming | Watching
        if isinstance(state, BackingOff):
            retry = state.then
        elif isinstance(state, Listing):
            retry = Listing(state.resource_version)  # from its first page: its snapshot may be gone
        elif isinstance(state, Streaming):
            retry = Streaming()  # the next request restarts the stream from scratch
        else:
            retry = state
        delay = self.backoff.next_delay()
        if retry_after is not None:
            delay = max(delay, retry_after)
        self.state = BackingOff(Sleep(delay, f"HTTP {status}" if status else "connection error"), retry)

    def _stop_streaming(self, why: str) -> None:
        log.warning("streaming list unavailable (%s); falling back to paged LIST", why)
        self.streaming = False
        self.state = self._from_scratch()

    def _relist(self) -> None:
        self.relists += 1  # from now on every LIST is a consistent read: never older than what we had
        self.state = self._from_scratch()


def __getattr__(name: str) -> Any:
    if name == "Watcher":  # the old name, kept for a while
        import warnings

        warnings.warn("Watcher is now WatchMachine", DeprecationWarning, stacklevel=2)
        return WatchMachine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
