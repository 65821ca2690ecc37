"""What the thread and asyncio informers share, with no I/O: how one is built from its options, and its attributes.

:class:`InformerDriver` is the base of :class:`~.informer.Informer` and :class:`~.aio.AsyncInformer`: their
constructor, their read-only attributes and how a handler joins. Each driver's loop, connection and handler
runners stay in its own module; the base calls down only once, for the driver's own synchronisation objects.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ..resource import Resource
from .endpoints import Endpoint
from .handlers import TaskRunner, ThreadRunner
from .options import InformerKeywords, InformerOptions, OptionAttributes
from .state import InformerState
from .store import Store

if TYPE_CHECKING:
    from typing_extensions import Unpack

ClientT = TypeVar("ClientT")
RunnerT = TypeVar("RunnerT", "ThreadRunner", "TaskRunner")


class Flag(Protocol):
    """``threading.Event`` or ``asyncio.Event``: set once the cache is complete and its calls are queued."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class HandlerRegistration:
    """The handle to one handler: remove it, or ask whether it has seen the initial state (client-go's
    ``ResourceEventHandlerRegistration``).

    ``add_handler`` (:meth:`Informer.add_handler <incluster_sdk.watch.informer.Informer.add_handler>`,
    :meth:`AsyncInformer.add_handler <incluster_sdk.watch.aio.AsyncInformer.add_handler>`) makes it; apps never
    construct one. Keep it to remove the handler later: ``registration = informer.add_handler(on_add=...)``,
    then ``registration.remove()``.
    """

    def __init__(self, _informer: InformerDriver[Any, Any], _runner: ThreadRunner | TaskRunner) -> None:
        self._informer = _informer
        self._runner = _runner

    @property
    def has_synced(self) -> bool:
        """True once the informer has synced and this handler has run every call of the initial state (the
        first list, or the cache it was given when added later): client-go's registration ``HasSynced``."""
        return self._runner.synced

    def remove(self) -> None:
        """Stop calling this handler, without waiting. Calls already queued for it still run (on its own thread
        or task, which then ends); later changes are not given to it. Removing twice does nothing."""
        if self._informer._leave(self._runner):
            self._runner.close()


class InformerDriver(OptionAttributes, Generic[ClientT, RunnerT]):
    """One constructor for both drivers: ``options`` with the keyword ``overrides`` (its fields) applied and
    validated once, the store, the sans-I/O :class:`~.state.InformerState` over it, and the
    :class:`~.endpoints.Endpoint` the requests go to."""

    _synced: Flag

    def __init__(
        self,
        client: ClientT,
        resource: Resource,
        options: InformerOptions | None = None,
        **overrides: Unpack[InformerKeywords],
    ) -> None:
        self.options = options = InformerOptions.of(options, overrides)
        """The validated options the informer runs with (``options`` with the keyword overrides applied)."""
        self.client = client
        """The API client the informer's requests go through (the constructor's ``client``)."""
        self.resource = resource
        """The collection watched (the constructor's ``resource``)."""
        self.store = Store(options.indexers, compress=options.compress)
        """The cache: every object of the collection as last seen, by key (``namespace/name``, or ``name``),
        with the ``indexers``. Read it from any thread; each read returns fresh copies."""
        self.state = InformerState(resource, options, self.store)
        """The sans-I/O state (the watch machine and the store): internal, for tests and diagnostics."""
        self.endpoint = Endpoint(
            resource, options.namespace, options.label_selector, options.field_selector, options.metadata_only
        )
        """Where the list and watch requests go, and with which parameters: internal, for tests and
        diagnostics."""
        self._runners: list[RunnerT] = []
        #: Held while a handler joins (and, in the thread driver, while a network read is applied and
        #: delivered): a late handler's snapshot of the cache and the batches it then gets neither overlap
        #: nor leave a gap.
        self._lock = threading.Lock()
        self.started = False
        """True once ``start()`` has run, and still True after ``stop()`` (an informer starts once)."""
        self.stopped = False
        """True once ``stop()`` has been called, even before a start: the informer cannot start after it."""
        self._init_driver()

    def _init_driver(self) -> None:
        """Make the driver's own synchronisation objects (``_synced`` and what its loop needs)."""
        raise NotImplementedError

    @property
    def has_synced(self) -> bool:
        """True once the cache is complete (``wait_for_sync`` would return True at once)."""
        return self._synced.is_set()

    def _join(self, runner: RunnerT) -> HandlerRegistration:
        """Give a new handler's runner the cache so far (as adds), then every later batch."""
        with self._lock:
            if snapshot := self.state.snapshot():
                runner.put(snapshot)
            if self.state.synced:
                runner.mark_synced()
            self._runners.append(runner)
            self.state.has_handlers = True
        return HandlerRegistration(self, runner)

    def _leave(self, runner: RunnerT) -> bool:
        """Stop giving ``runner`` batches; False if it had left already."""
        with self._lock:
            if runner not in self._runners:
                return False
            self._runners.remove(runner)
            self.state.has_handlers = bool(self._runners)
            return True

    def _mark_synced(self) -> None:
        """The cache is complete and its calls are queued: each handler is synced once it has run them."""
        for runner in self._runners:
            runner.mark_synced()
        self._synced.set()

    @property
    def watcher(self) -> Any:
        """The watch machine (:class:`~.machine.WatchMachine`): its counters are metrics."""
        return self.state.machine

    def _check_not_started(self, how: str) -> None:
        """An informer starts once: a second start is an error (``how``: the ways to start it)."""
        if self.started or self.stopped:
            state = "was stopped" if self.stopped else "is already started"
            raise RuntimeError(
                f"this {type(self).__name__} for {self.resource.plural} {state}: an informer runs once "
                f"({how}; to watch again, create a new one)"
            )
