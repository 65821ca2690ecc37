"""The asyncio informer: the same :class:`~.state.InformerState` as :class:`~.informer.Informer`, driven over
``kubernetes_asyncio``.

```python
async with AsyncInformer(await async_api_client(cfg), PODS, namespace=cfg.namespace) as informer:
    informer.add_handler(on_add=lambda pod, initial: ...)     # plain or async functions
    await informer.wait_for_sync(timeout=30)
```

One watch event, top to bottom: the informer's task takes what aiohttp has read, the sans-I/O
:class:`~.wire.WatchDecoder` turns it into event dicts, :meth:`~.state.InformerState.watch_read` runs them
through the machine into the store and returns the handler calls, and each handler's own task gets them, in
order.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

from ..flows import async_drive
from ..resource import Resource
from .driver import HandlerRegistration, InformerDriver
from .endpoints import LIST_READ_BYTES, READ_BYTES, HTTPStatusError, ListRequest, Sleep, VersionRequest, WatchRequest
from .handlers import Handler, HandlerCall, OnAdd, OnDelete, OnUpdate, TaskRunner
from .options import InformerKeywords, InformerOptions
from .state import TRANSIENT
from .wire import ListDecoder, WatchDecoder

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..aio_client import AsyncApiClient

_TRANSIENT: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, *TRANSIENT)


class AsyncInformer(InformerDriver["AsyncApiClient", TaskRunner]):
    """The asyncio twin of :class:`~incluster_sdk.watch.informer.Informer`: same options, same cache, same rules.

    The watch runs in its own task (``incluster-sdk-informer <plural>``), each handler in another, on the
    event loop that starts it; use it from that loop only. Handlers may be plain functions or coroutine
    functions. Use it as an async context manager (``async with informer:`` starts it and stops it) or call
    :meth:`start` and :meth:`stop`.

    :param client: the asyncio API client the requests go through, from
        :func:`~incluster_sdk.aio_client.async_api_client`.
    :param resource: the collection to watch, e.g. ``PODS``, a constant of :mod:`incluster_sdk.resource`, or
        :func:`~incluster_sdk.discovery.async_resource_for`'s answer for any other kind.
    :param options: what to watch and how, an :class:`~incluster_sdk.watch.options.InformerOptions`; default
        None: its defaults.
    :param overrides: keyword arguments, the fields of
        :class:`~incluster_sdk.watch.options.InformerOptions` (typed by
        :class:`~incluster_sdk.watch.options.InformerKeywords`), applied over ``options``, e.g.
        ``AsyncInformer(client, PODS, namespace="default", resync_period=300)``.
    :raises ValueError: for a bad ``initial_list`` or a ``resync_period`` under 1 s.
    :raises TypeError: for an unknown keyword argument.
    """

    def __init__(
        self, client: AsyncApiClient, resource: Resource, options: InformerOptions | None = None,
        **overrides: Unpack[InformerKeywords],
    ) -> None:  # fmt: skip
        # the base is generic in its client: this signature names the real one, for the reference and mypy
        super().__init__(client, resource, options, **overrides)

    client: AsyncApiClient
    """The asyncio API client the informer's requests go through (the constructor's ``client``)."""
    _synced: asyncio.Event
    _tasks: tuple[asyncio.Task[None], ...] = ()  # the watch task first, then the resync task if any

    def _init_driver(self) -> None:
        self._synced = asyncio.Event()

    def add_handler(
        self, on_add: OnAdd | None = None, on_update: OnUpdate | None = None, on_delete: OnDelete | None = None
    ) -> HandlerRegistration:
        """Call these for every change, in order, in a new task of their own (one handler).

        Call it from a running event loop (the informer's). The callbacks may be plain or coroutine functions:
        a coroutine is awaited before the handler's next call. A slow or failing handler holds up neither the
        watch nor the other handlers; an exception is logged and the next call still comes. Each handler gets
        its own copies of the objects. Added after the informer synced, a handler first gets the cache as adds
        (``initial=True``), then every change after it. Add handlers before the watch task runs (before the
        first ``await`` after :meth:`start`) or once :meth:`wait_for_sync` has returned True: one added while
        the first list is being read does not get the objects listed before it joined.

        :param on_add: called as ``on_add(obj, initial)`` for each object that enters the cache
            (:data:`~incluster_sdk.watch.handlers.OnAdd`); None: no add calls.
        :param on_update: called as ``on_update(old, new)`` for each change and resync
            (:data:`~incluster_sdk.watch.handlers.OnUpdate`); None: no update calls.
        :param on_delete: called as ``on_delete(obj)`` for each object that leaves the cache, ``obj`` possibly a
            :class:`~incluster_sdk.watch.store.DeletedFinalStateUnknown`
            (:data:`~incluster_sdk.watch.handlers.OnDelete`); None: no delete calls.
        :returns: the handler's registration: ``remove()`` it to stop the calls; its ``has_synced`` is True
            once the handler has run the initial state.
        :raises RuntimeError: if no event loop is running.
        """
        runner = TaskRunner(Handler(on_add, on_update, on_delete), self.resource.plural, self.store.codec.decode)
        return self._join(runner)

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until the cache is complete: the first list applied and its handler calls queued.

        Handlers may still be running the initial adds: each registration's ``has_synced`` says when one has.
        A watch that keeps failing (403, server down) is retried inside: this then returns False at the
        timeout (with no timeout, it keeps waiting). Before :meth:`start`, it waits as well.

        :param timeout: seconds to wait at most; default None: no limit.
        :returns: True once synced (at once if already), False if ``timeout`` seconds passed first.
        :raises ~incluster_sdk.PermissionDeniedError: if the preflight (which runs in the watch task) found that
            this identity may not list or watch the resource; the watch task has then ended.
        """
        waiter = asyncio.ensure_future(self._synced.wait())
        watched = {waiter, *self._tasks[:1]}
        try:
            done, _ = await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        for task in done - {waiter}:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return self._synced.is_set()

    def start(self) -> AsyncInformer:
        """Start watching, in a new task; returns at once.

        With ``preflight`` (the default), the watch task first checks that this identity may list and watch
        the resource; :meth:`wait_for_sync` raises what it finds. An informer starts once, and does not restart
        after :meth:`stop`: create a new one. ``async with informer:`` starts an informer that was never
        started and enters a running one as it is.

        :returns: the informer itself.
        :raises RuntimeError: if the informer was started before, or stopped (even if it never ran), or if no
            event loop is running (the informer can then still be started, from a coroutine).
        """
        self._check_not_started("`async with informer:` starts it")
        asyncio.get_running_loop()  # raises with no running loop, and the informer stays startable
        self._tasks = (asyncio.create_task(self._run(), name=f"incluster-sdk-informer {self.resource.plural}"),)
        self.started = True
        if self.resync_period is not None:
            self._tasks += (asyncio.create_task(self._resync_loop(self.resync_period)),)
        return self

    async def stop(self) -> None:
        """Cancel the watch task (closing its connection) and the resync task, then wait until every handler has
        run its queued calls and ended.

        It takes no timeout and waits with no limit: a handler stuck in a call keeps it waiting. To bound it,
        wrap it, e.g. ``await asyncio.wait_for(informer.stop(), 10)`` (10 seconds): at the deadline the handler
        tasks still running are cancelled. Calling it again, or before :meth:`start`, is harmless.
        """
        self.stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = ()
        await asyncio.gather(*(runner.stop() for runner in self._runners))

    async def __aenter__(self) -> AsyncInformer:
        """:meth:`start` the informer unless it is running; returns it.

        :raises RuntimeError: if it was stopped (an informer runs once), or as :meth:`start` raises.
        """
        return self if self.started and not self.stopped else self.start()

    async def __aexit__(self, *exc: object) -> None:
        """:meth:`stop` it."""
        await self.stop()

    # -- the loop --------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        if self.preflight:
            # rbac sits below watch (the layer table in tests/test_import_graph.py); imported on first use
            # only because it loads RBAC and discovery tables (~0.2 s) that preflight=False never needs.
            from ..rbac.preflight import async_check_access

            await async_check_access(
                self.client, self.resource, self.namespace, field_selector=self.field_selector
            )  # ends the task if denied
        machine = self.state.machine
        while True:
            request = self.state.next_request()
            try:
                if isinstance(request, Sleep):
                    self.state.sleeping(request.seconds, request.reason)
                    await asyncio.sleep(request.seconds)
                elif isinstance(request, VersionRequest):
                    await async_drive(self.state.version(request), self._data)
                elif isinstance(request, ListRequest):
                    await self._list(request)
                elif await self._watch(request):
                    machine.watch_ended()
            except Exception as exc:
                self.state.failed(exc, _TRANSIENT)

    async def _list(self, request: ListRequest) -> None:
        """Apply a LIST page's items as they arrive, at most LIST_READ_BYTES at a time, then the page's end."""
        response = await self._get(request)
        try:
            decoder = ListDecoder()  # aiohttp has removed the chunked framing
            async for data in response.content.iter_chunked(LIST_READ_BYTES):
                decoder.receive_data(data)
                self._deliver(self.state.list_read(decoder.items(), decoder.header))
                if self._runners:
                    await asyncio.sleep(0)
            decoder.receive_data(b"")
            self._deliver(self.state.list_read(decoder.items(), decoder.header))
            self._deliver(self.state.list_page(decoder.header))
        finally:
            response.close()

    async def _watch(self, request: WatchRequest) -> bool:
        """Apply the watch's events, at most READ_BYTES at a time; True if the server ended it normally."""
        response = await self._get(request)
        try:
            decoder = WatchDecoder()  # aiohttp has removed the chunked framing
            async for data in response.content.iter_any():
                # A busy stream arrives in larger pieces: applied READ_BYTES at a time, with a turn for the
                # handler tasks in between (see READ_BYTES). A piece that fits is not copied.
                for start in range(0, len(data), READ_BYTES):
                    decoder.receive_data(data[start : start + READ_BYTES])
                    if not self._read(decoder):
                        return False  # 410 in the stream: relist now
                    if self._runners:
                        await asyncio.sleep(0)
            decoder.receive_data(b"")
            self._read(decoder)  # raises if the stream ended mid-event
            return True
        finally:
            response.close()

    def _read(self, decoder: WatchDecoder) -> bool:
        """Apply the events ``decoder`` holds and queue their calls; False if the machine is done with this
        stream."""
        self._deliver(self.state.watch_read(decoder.events()))
        return self.state.machine.reading

    async def _resync_loop(self, period: float) -> None:
        """Replay the cache as on_update(obj, obj) every period: from memory, never a relist."""
        while True:
            await asyncio.sleep(period)
            self._deliver(self.state.resync())

    def _deliver(self, calls: list[HandlerCall]) -> None:
        """Queue a read's calls to every handler task (they run when the watch loop yields: no hand-off to wait
        for, unlike threads); then, the first time the cache is complete, say so."""
        if calls:
            for index, runner in enumerate(self._runners):
                runner.put(calls, index == 0)  # the first handler has the decoded objects; the others copies
        if self.state.synced and not self._synced.is_set():
            self._mark_synced()

    # -- HTTP ------------------------------------------------------------------------------------------------
    async def _get(self, request: ListRequest | WatchRequest | VersionRequest) -> Any:
        endpoint, host = self.endpoint, str(self.client.configuration.host)
        response = await self.client.request(
            "GET",
            endpoint.url(host, request),
            headers=endpoint.headers(request),
            _preload_content=False,
            _request_timeout=endpoint.timeouts(request),
            _incluster_retry=False,  # the watch machine retries, with its own state
        )
        if not 200 <= response.status <= 299:
            response.release()
            raise HTTPStatusError(response.status, response.headers.get("Retry-After"))
        return response

    async def _data(self, request: ListRequest | VersionRequest) -> bytes:
        response = await self._get(request)
        try:
            data: bytes = await response.read()
            return data
        finally:
            response.release()
