"""The asyncio informer: the same :class:`~.state.InformerState` as :class:`~.informer.Informer`, driven over
``kubernetes_asyncio``.

    async with AsyncInformer(await async_api_client(cfg), PODS, namespace=cfg.namespace) as informer:
        informer.add_handler(on_add=lambda pod, initial: ...)     # plain or async functions
        await informer.wait_for_sync(timeout=30)

One watch event, top to bottom: :meth:`AsyncInformer._watch` takes what aiohttp has read, the sans-I/O
:class:`~.wire.WatchDecoder` turns it into event dicts, :meth:`~.state.InformerState.watch_read` runs them
through the machine into the store and returns the handler calls, and each handler's
:class:`~.handlers.TaskRunner` gets them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

from ..flows import async_drive
from .driver import HandlerRegistration, InformerDriver
from .endpoints import LIST_READ_BYTES, READ_BYTES, HTTPStatusError, ListRequest, Sleep, VersionRequest, WatchRequest
from .handlers import Handler, HandlerCall, OnAdd, OnDelete, OnUpdate, TaskRunner
from .state import TRANSIENT
from .wire import ListDecoder, WatchDecoder

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient

_TRANSIENT: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, *TRANSIENT)


class AsyncInformer(InformerDriver["AsyncApiClient", TaskRunner]):
    """The asyncio twin of :class:`~.informer.Informer`: same options, same cache, same rules.

    Handlers may be plain functions or coroutines; each handler runs in its own task, in order.
    """

    client: AsyncApiClient
    _synced: asyncio.Event
    _tasks: tuple[asyncio.Task[None], ...] = ()  # the watch task first, then the resync task if any

    def _init_driver(self) -> None:
        self._synced = asyncio.Event()

    def add_handler(
        self, on_add: OnAdd | None = None, on_update: OnUpdate | None = None, on_delete: OnDelete | None = None
    ) -> HandlerRegistration:
        """Call these for every change, in order, in the handler's own task; plain or coroutine functions (see
        :mod:`~.handlers` for the signatures). Added after start, a handler first gets the cache as adds.
        Returns the registration: ``remove()`` it to stop the calls; ``has_synced`` once it has seen the
        initial state."""
        runner = TaskRunner(Handler(on_add, on_update, on_delete), self.resource.plural, self.store.codec.decode)
        return self._join(runner)

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """True once the cache is complete; False after ``timeout``. Raises
        :class:`~incluster_sdk.PermissionDeniedError` if the preflight check found permissions missing."""
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
        """Start watching (the preflight check runs in the watch task; :meth:`wait_for_sync` raises what it
        finds). An informer starts once."""
        self._check_not_started("`async with informer:` starts it")
        self.started = True
        self._tasks = (asyncio.create_task(self._run(), name=f"incluster-sdk-informer {self.resource.plural}"),)
        if self.resync_period is not None:
            self._tasks += (asyncio.create_task(self._resync_loop(self.resync_period)),)
        return self

    async def stop(self) -> None:
        """Cancel the watch (closing its connection), then let handlers finish their queued events."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = ()
        await asyncio.gather(*(runner.stop() for runner in self._runners))

    async def __aenter__(self) -> AsyncInformer:
        return self if self.started else self.start()

    async def __aexit__(self, *exc: object) -> None:
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
