"""The asyncio informer: the same sans-I/O :class:`~.machine.Watcher` and cache logic as :class:`Informer`,
driven over ``kubernetes_asyncio``.

    async with AsyncInformer(await async_api_client(cfg), PODS, namespace=cfg.namespace) as informer:
        informer.add_handler(on_add=lambda pod, initial: ...)     # plain or async functions
        await informer.wait_for_sync(timeout=30)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from .cache import Transform, strip_managed_fields
from .core import (
    CONNECT_TIMEOUT,
    DECODE_ERRORS,
    READ_BYTES,
    VERSION_READ_TIMEOUT,
    VERSION_UNAVAILABLE,
    InformerCore,
)
from .handlers import HandlerCall
from .machine import InitialList, ListRequest, Sleep, VersionRequest, WatchRequest
from .requests import HTTPStatusError, WatchStreamDecoder
from .resource import Resource
from .store import Indexer

if TYPE_CHECKING:
    from ..aio_client import AsyncApiClient

log = logging.getLogger(__name__)

_STOP = object()
_TRANSIENT: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, *DECODE_ERRORS)


class _AsyncHandler:
    def __init__(self, callbacks: dict[str, Callable[..., Any] | None]) -> None:
        self.callbacks = callbacks
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while (batch := await self.queue.get()) is not _STOP:
            await self._call(batch)
            batch = None  # the replaced objects go now, not when the next read comes

    async def _call(self, batch: list[HandlerCall]) -> None:
        callbacks = self.callbacks
        for call in batch:
            callback = callbacks[call[0]]
            if callback is None:
                continue
            try:
                result = callback(*call[1:])
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception:  # logged, never silently dropped; the next event still comes
                log.exception("informer handler on_%s failed", call[0])


class AsyncInformer(InformerCore):
    """The asyncio twin of :class:`~.informer.Informer`: same options, same cache, same rules.

    Handlers may be plain functions or coroutines; each handler runs in its own task, in order.
    """

    def __init__(
        self,
        client: AsyncApiClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, Indexer] | None = None,
        transform: Transform | None = strip_managed_fields,
        metadata_only: bool = False,
        initial_list: InitialList | str = InitialList.AUTO,
        resync_period: float | None = None,
        preflight: bool = True,
    ) -> None:
        super().__init__(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            indexers=indexers,
            transform=transform,
            metadata_only=metadata_only,
            initial_list=initial_list,
            resync_period=resync_period,
        )
        self.client = client
        self.preflight = preflight
        self._handlers: list[_AsyncHandler] = []
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def add_handler(
        self,
        on_add: Callable[..., Any] | None = None,
        on_update: Callable[..., Any] | None = None,
        on_delete: Callable[..., Any] | None = None,
    ) -> None:
        handler = _AsyncHandler({"add": on_add, "update": on_update, "delete": on_delete})
        if self._synced.is_set():
            handler.queue.put_nowait(self._cached_as("add"))
        self._handlers.append(handler)
        self._has_handlers = True

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

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
        self._check_not_started()
        self._started = True
        self._tasks.append(asyncio.create_task(self._run(), name=f"incluster-sdk-informer {self.resource.plural}"))
        if self.resync_period is not None:
            self._tasks.append(asyncio.create_task(self._resync_loop(self.resync_period)))
        return self

    async def stop(self) -> None:
        """Cancel the watch (closing its connection), then let handlers finish their queued events."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for handler in self._handlers:
            handler.queue.put_nowait(_STOP)
        await asyncio.gather(*(h.task for h in self._handlers), return_exceptions=True)

    async def __aenter__(self) -> AsyncInformer:
        return self if self._started else self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the loop --------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        if self.preflight:
            from ..rbac.preflight import async_check_access  # rbac builds on watch: imported late

            await async_check_access(
                self.client, self.resource, self.namespace, field_selector=self.field_selector
            )  # ends the task if denied
        while True:
            request = self.watcher.next_request()
            try:
                if isinstance(request, Sleep):
                    self._log_sleep(request)
                    await asyncio.sleep(request.seconds)
                elif isinstance(request, VersionRequest):
                    await self._version()
                elif isinstance(request, ListRequest):
                    self._list_page(await self._list(request))
                else:
                    async for events in self._watch(request):
                        if not self._consume(events):
                            break  # 410 in the stream: relist now
                        if self._has_handlers:
                            await asyncio.sleep(0)  # see READ_BYTES
                    else:
                        self.watcher.watch_ended()
            except Exception as exc:
                self._failed(exc, _TRANSIENT)

    async def _call(self, url: str, headers: dict[str, str], read_timeout: float) -> Any:
        response = await self.client.request(
            "GET",
            url,
            headers=headers,
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, read_timeout),
            _incluster_retry=False,  # the watch machine retries, with its own state
        )
        if not 200 <= response.status <= 299:
            response.release()
            raise HTTPStatusError(response.status, response.headers.get("Retry-After"))
        return response

    async def _get(self, request: ListRequest | WatchRequest) -> Any:
        host = str(self.client.configuration.host)
        return await self._call(self._url(host, request), self._headers(request), self._read_timeout(request))

    async def _read(self, response: Any) -> bytes:
        try:
            data: bytes = await response.read()
            return data
        finally:
            response.release()

    async def _version(self) -> None:
        try:
            url = f"{self.client.configuration.host}/version"
            response = await self._call(url, {"Accept": "application/json"}, VERSION_READ_TIMEOUT)
        except HTTPStatusError as exc:
            if exc.status not in VERSION_UNAVAILABLE:
                raise  # a 5xx: back off and ask again
            self._version_answer(None)
            return
        self._version_answer(await self._read(response))

    async def _list(self, request: ListRequest) -> dict[str, Any]:
        return self._list_body(await self._read(await self._get(request)))

    async def _watch(self, request: WatchRequest) -> AsyncIterator[Iterator[dict[str, Any]]]:
        """The events of each network read (everything that had arrived, up to READ_BYTES)."""
        response = await self._get(request)
        try:
            decoder = WatchStreamDecoder()
            async for data in response.content.iter_any():
                # A busy stream arrives in larger pieces. (A piece that fits is not copied: a whole-bytes slice
                # is the same object.)
                for start in range(0, len(data), READ_BYTES):
                    yield decoder.feed(data[start : start + READ_BYTES])
            decoder.end()
        finally:
            response.close()

    async def _resync_loop(self, period: float) -> None:
        """Replay the cache as on_update(obj, obj) every period: from memory, never a relist."""
        while True:
            await asyncio.sleep(period)
            if self._synced.is_set():
                self._deliver(self._cached_as("update"))

    def _deliver(self, batch: list[HandlerCall]) -> None:
        for handler in self._handlers:
            handler.queue.put_nowait(batch)

    def _signal_synced(self) -> None:
        self._synced.set()
