"""One watch per (resource, namespace, selectors, metadata_only), shared by every consumer in the process."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import TYPE_CHECKING, Generic, TypeVar

from ..client import ApiClient
from ..resource import Resource
from .informer import Informer
from .options import InformerKeywords, InformerOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..aio_client import AsyncApiClient
    from .aio import AsyncInformer

_Key = tuple[Resource, str | None, str | None, str | None, bool]
ClientT = TypeVar("ClientT")


def _for_one(
    options: InformerOptions,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
    metadata_only: bool,
) -> InformerOptions:
    """The factory's options for one collection (validated again, once per new informer)."""
    return dataclasses.replace(
        options,
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        metadata_only=metadata_only,
    )


InformerT = TypeVar("InformerT", Informer, "AsyncInformer")


class SharedInformers(Generic[ClientT, InformerT]):
    """What both factories do: one informer per collection, made on first request, started by :meth:`start`."""

    def __init__(
        self, client: ClientT, options: InformerOptions | None = None, **overrides: Unpack[InformerKeywords]
    ) -> None:
        self.client = client
        self.options = InformerOptions.of(options, overrides)
        self._informers: dict[_Key, InformerT] = {}
        self._started: set[_Key] = set()
        self._lock = threading.Lock()  # the thread factory's consumers may ask from any thread

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
    ) -> InformerT:
        key = (resource, namespace, label_selector, field_selector, metadata_only)
        with self._lock:
            if key not in self._informers:
                options = _for_one(self.options, namespace, label_selector, field_selector, metadata_only)
                self._informers[key] = self._new(resource, options)
            return self._informers[key]

    def _new(self, resource: Resource, options: InformerOptions) -> InformerT:
        """A new informer of this factory's kind."""
        raise NotImplementedError

    def start(self) -> None:
        """Start every informer handed out so far that is not running yet (safe to call again)."""
        with self._lock:
            for key, informer in self._informers.items():
                if key not in self._started:
                    if not informer.started:  # its consumer may have started it already
                        informer.start()
                    self._started.add(key)


class InformerFactory(SharedInformers[ApiClient, Informer]):
    """Hands out shared :class:`Informer` objects: ask twice for the same thing, get the same informer.

    factory = InformerFactory(api_client(cfg), resync_period=600)
    pods = factory.informer(PODS, namespace="default")   # consumer A
    same = factory.informer(PODS, namespace="default")   # consumer B: one watch for both
    factory.start(); factory.wait_for_sync(30)

    The options (an :class:`~.options.InformerOptions`, and/or its fields as keyword arguments, e.g.
    ``resync_period``, ``initial_list``, ``transform``) apply to every informer the factory creates;
    per-consumer indexes go on the shared store with ``store.add_indexer``.
    """

    def _new(self, resource: Resource, options: InformerOptions) -> Informer:
        return Informer(self.client, resource, options)

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return all(i.wait_for_sync(timeout) for i in list(self._informers.values()))

    def stop(self) -> None:
        with self._lock:
            informers = [self._informers[k] for k in self._started]
            self._started.clear()
        for informer in informers:
            informer.stop()


class AsyncInformerFactory(SharedInformers["AsyncApiClient", "AsyncInformer"]):
    """The asyncio twin of :class:`InformerFactory` (use it from one event loop)."""

    client: AsyncApiClient

    def _new(self, resource: Resource, options: InformerOptions) -> AsyncInformer:
        from .aio import AsyncInformer  # aiohttp only for apps that use asyncio

        return AsyncInformer(self.client, resource, options)

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        informers = [self._informers[k] for k in self._started]
        self._started.clear()
        await asyncio.gather(*(i.stop() for i in informers))

    async def __aenter__(self) -> AsyncInformerFactory:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
