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
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from ..client import AsyncApiClient
from .cache import CacheApplier, Transform, strip_managed_fields
from .informer import CONNECT_TIMEOUT, LIST_READ_TIMEOUT
from .machine import Event, ListRequest, Phase, Sleep, Watcher, WatchProtocolError, WatchRequest
from .requests import (
    HTTPStatusError,
    WatchStreamDecoder,
    collection_url,
    list_params,
    selector_params,
    watch_params,
)
from .resource import Resource
from .store import Indexer, Store

log = logging.getLogger(__name__)

_STOP = object()


class _AsyncHandler:
    def __init__(self, callbacks: dict[str, Callable[..., Any] | None]) -> None:
        self.callbacks = callbacks
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while (item := await self.queue.get()) is not _STOP:
            kind, args = item
            callback = self.callbacks.get(kind)
            if callback is None:
                continue
            try:
                result = callback(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # logged, never silently dropped; the next event still comes
                log.exception("informer handler on_%s failed", kind)


class AsyncInformer:
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
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self._selectors = selector_params(label_selector, field_selector)
        self.store = Store(indexers)
        self.watcher = Watcher()
        self._handlers: list[_AsyncHandler] = []
        self._cache = CacheApplier(self.store, transform, self._dispatch)
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_handler(
        self,
        on_add: Callable[..., Any] | None = None,
        on_update: Callable[..., Any] | None = None,
        on_delete: Callable[..., Any] | None = None,
    ) -> None:
        handler = _AsyncHandler({"add": on_add, "update": on_update, "delete": on_delete})
        if self._synced.is_set():
            for obj in self.store.list():
                handler.queue.put_nowait(("add", (obj, True)))
        self._handlers.append(handler)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def start(self) -> AsyncInformer:
        self._task = asyncio.create_task(self._run(), name=f"incluster-sdk-informer {self.resource.plural}")
        return self

    async def stop(self) -> None:
        """Cancel the watch (closing its connection), then let handlers finish their queued events."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for handler in self._handlers:
            handler.queue.put_nowait(_STOP)
        await asyncio.gather(*(h.task for h in self._handlers), return_exceptions=True)

    async def __aenter__(self) -> AsyncInformer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the loop --------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            request = self.watcher.next_request()
            try:
                if isinstance(request, Sleep):
                    log.info(
                        "informer %s: retrying in %.1fs after %s", self.resource.plural, request.seconds, request.reason
                    )
                    await asyncio.sleep(request.seconds)
                elif isinstance(request, ListRequest):
                    self._apply(self.watcher.list_page(await self._list(request)))
                else:
                    async for event in self._watch(request):
                        self._apply(self.watcher.watch_event(event))
                        if self.watcher.phase is Phase.LIST:
                            break  # 410 in the stream: relist now
                    else:
                        self.watcher.watch_ended()
            except HTTPStatusError as exc:
                log.warning("informer %s: HTTP %s", self.resource.plural, exc.status)
                self.watcher.failed(exc.status, retry_after=exc.retry_after)
            except (
                aiohttp.ClientError,
                asyncio.TimeoutError,
                OSError,
                WatchProtocolError,
                orjson.JSONDecodeError,
            ) as exc:
                log.warning("informer %s: %s: %s", self.resource.plural, type(exc).__name__, exc)
                self.watcher.failed(None)
            except Exception:  # a bug here must not blind the app: log it and back off like any failure
                log.exception("informer %s: unexpected error; retrying", self.resource.plural)
                self.watcher.failed(None)

    def _url(self, params: dict[str, Any]) -> str:
        host = str(self.client.configuration.host)
        return collection_url(host, self.resource, self.namespace, {**self._selectors, **params})

    async def _get(self, params: dict[str, Any], read_timeout: float) -> Any:
        response = await self.client.request(
            "GET",
            self._url(params),
            headers={"Accept": "application/json"},
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, read_timeout),
        )
        if not 200 <= response.status <= 299:
            response.release()
            raise HTTPStatusError(response.status, response.headers.get("Retry-After"))
        return response

    async def _list(self, request: ListRequest) -> dict[str, Any]:
        response = await self._get(list_params(request), LIST_READ_TIMEOUT)
        try:
            body = orjson.loads(await response.read())
        finally:
            response.release()
        if not isinstance(body, dict):
            raise WatchProtocolError("LIST response is not an object")
        return body

    async def _watch(self, request: WatchRequest) -> AsyncIterator[dict[str, Any]]:
        response = await self._get(watch_params(request), request.read_timeout)
        try:
            decoder = WatchStreamDecoder()
            async for chunk in response.content.iter_any():
                for event in decoder.feed(chunk):
                    yield event
            decoder.end()
        finally:
            response.close()

    def _apply(self, events: list[Event]) -> None:
        if self._cache.apply(events):
            self._synced.set()

    def _dispatch(self, kind: str, *args: Any) -> None:
        for handler in self._handlers:
            handler.queue.put_nowait((kind, args))
