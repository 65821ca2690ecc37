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
"""The type of a factory's client: :class:`~incluster_sdk.client.ApiClient` or
:class:`~incluster_sdk.aio_client.AsyncApiClient` (a type variable, for the type checker)."""


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
"""The type of the informers a factory hands out: :class:`~incluster_sdk.watch.informer.Informer` or
:class:`~incluster_sdk.watch.aio.AsyncInformer` (a type variable, for the type checker)."""


class SharedInformers(Generic[ClientT, InformerT]):
    """What both factories do: one informer per collection, made on first request, started by :meth:`start`.

    :param client: the API client every informer uses (:class:`~incluster_sdk.client.ApiClient` for
        :class:`InformerFactory`, :class:`~incluster_sdk.aio_client.AsyncApiClient` for
        :class:`AsyncInformerFactory`).
    :param options: the options of every informer the factory makes, an
        :class:`~incluster_sdk.watch.options.InformerOptions`; default None: its defaults. Its ``namespace``,
        ``label_selector``, ``field_selector`` and ``metadata_only`` are not used: each informer's come from
        :meth:`informer`'s arguments.
    :param overrides: keyword arguments, the fields of :class:`~incluster_sdk.watch.options.InformerOptions`
        (typed by :class:`~incluster_sdk.watch.options.InformerKeywords`), applied over ``options``, e.g.
        ``resync_period=600``; the same four are not used.
    :raises ValueError: for a bad ``initial_list`` or a ``resync_period`` under 1 s.
    :raises TypeError: for an unknown keyword argument.
    """

    def __init__(
        self, client: ClientT, options: InformerOptions | None = None, **overrides: Unpack[InformerKeywords]
    ) -> None:
        self.client = client
        """The API client every informer uses (the constructor's ``client``)."""
        self.options = InformerOptions.of(options, overrides)
        """The validated options of every informer made (``options`` with the keyword overrides applied)."""
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
        """The shared informer for one collection: made (not started) on the first request, the same object
        on every later one with equal arguments. Safe to call from any thread.

        Each consumer may add its handlers (``add_handler``) and indexes (``store.add_indexer``) to it.

        :param resource: the collection to watch, e.g. ``PODS``.
        :param namespace: the namespace to watch; default None: all namespaces.
        :param label_selector: a label selector the server filters by; default None: no filter.
        :param field_selector: a field selector the server filters by; default None: no filter.
        :param metadata_only: watch ``PartialObjectMetadata`` only (no ``spec``, no ``status``); default False.
        :returns: the informer for ``(resource, namespace, label_selector, field_selector, metadata_only)``, with
            the factory's other options; started by the factory's next :meth:`start`.
        """
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
        """Start every informer handed out so far that is not started yet (safe to call again, e.g. after
        asking for more informers).

        :raises ~incluster_sdk.PermissionDeniedError: (:class:`InformerFactory`) if an informer's preflight
            finds that this identity may not list or watch its collection; the informers after it in the
            order they were asked for are not started. (:class:`AsyncInformerFactory` reports it from
            ``wait_for_sync``.)
        :raises RuntimeError: (:class:`AsyncInformerFactory`) if no event loop is running.
        """
        with self._lock:
            for key, informer in self._informers.items():
                if key not in self._started:
                    if not informer.started:  # its consumer may have started it already
                        informer.start()
                    self._started.add(key)


class InformerFactory(SharedInformers[ApiClient, Informer]):
    """Hands out shared :class:`~incluster_sdk.watch.informer.Informer` objects: ask twice for the same thing,
    get the same informer (one watch), as client-go's ``SharedInformerFactory``.

        factory = InformerFactory(api_client(cfg), resync_period=600)
        pods = factory.informer(PODS, namespace="default")   # consumer A
        same = factory.informer(PODS, namespace="default")   # consumer B: one watch for both
        factory.start(); factory.wait_for_sync(30)

    The options (an :class:`~incluster_sdk.watch.options.InformerOptions`, and/or its fields as keyword
    arguments, e.g. ``resync_period``, ``initial_list``, ``transform``) apply to every informer the factory
    creates; per-consumer indexes go on the shared store with ``store.add_indexer``.

    :param client: the API client every informer uses, from :func:`~incluster_sdk.client.api_client`.
    :param options: the options of every informer the factory makes, an
        :class:`~incluster_sdk.watch.options.InformerOptions`; default None: its defaults. Its ``namespace``,
        ``label_selector``, ``field_selector`` and ``metadata_only`` are not used: each informer's come from
        :meth:`informer`'s arguments.
    :param overrides: keyword arguments, the fields of :class:`~incluster_sdk.watch.options.InformerOptions`
        (typed by :class:`~incluster_sdk.watch.options.InformerKeywords`), applied over ``options``, e.g.
        ``resync_period=600``; the same four are not used.
    :raises ValueError: for a bad ``initial_list`` or a ``resync_period`` under 1 s.
    :raises TypeError: for an unknown keyword argument.
    """

    def _new(self, resource: Resource, options: InformerOptions) -> Informer:
        return Informer(self.client, resource, options)

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Block until every informer handed out so far has synced (see ``Informer.wait_for_sync``).

        The informers are waited for one after the other, and every informer handed out counts, started or
        not: call :meth:`start` after the last :meth:`informer` call, or an unstarted one waits the whole
        timeout.

        :param timeout: seconds to wait for each informer in turn (at most ``timeout`` times the number of informers
            in all); default None: no limit.
        :returns: True if all synced; False as soon as one has not within ``timeout`` seconds (the rest are then
            not waited for).
        """
        return all(i.wait_for_sync(timeout) for i in list(self._informers.values()))

    def stop(self) -> None:
        """Stop every informer the factory's :meth:`start` started (each ``Informer.stop()``, up to 10 s per
        thread). Informers handed out after the last :meth:`start` were never started and are left alone. A
        later :meth:`start` does not restart the stopped ones (an informer starts once)."""
        with self._lock:
            informers = [self._informers[k] for k in self._started]
            self._started.clear()
        for informer in informers:
            informer.stop()


class AsyncInformerFactory(SharedInformers["AsyncApiClient", "AsyncInformer"]):
    """The asyncio twin of :class:`InformerFactory`, handing out shared
    :class:`~incluster_sdk.watch.aio.AsyncInformer` objects (use it from one event loop).

    ``async with factory:`` calls :meth:`start` and, at the end, :meth:`stop`.

    :param client: the asyncio API client every informer uses, from
        :func:`~incluster_sdk.aio_client.async_api_client`.
    :param options: the options of every informer the factory makes, an
        :class:`~incluster_sdk.watch.options.InformerOptions`; default None: its defaults. Its ``namespace``,
        ``label_selector``, ``field_selector`` and ``metadata_only`` are not used: each informer's come from
        :meth:`informer`'s arguments.
    :param overrides: keyword arguments, the fields of :class:`~incluster_sdk.watch.options.InformerOptions`
        (typed by :class:`~incluster_sdk.watch.options.InformerKeywords`), applied over ``options``, e.g.
        ``resync_period=600``; the same four are not used.
    :raises ValueError: for a bad ``initial_list`` or a ``resync_period`` under 1 s.
    :raises TypeError: for an unknown keyword argument.
    """

    client: AsyncApiClient
    """The asyncio API client every informer uses (the constructor's ``client``)."""

    def _new(self, resource: Resource, options: InformerOptions) -> AsyncInformer:
        from .aio import AsyncInformer  # aiohttp only for apps that use asyncio

        return AsyncInformer(self.client, resource, options)

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until every informer handed out so far has synced (see ``AsyncInformer.wait_for_sync``).

        The informers are waited for concurrently, and every informer handed out counts, started or not: call
        :meth:`start` after the last :meth:`informer` call.

        :param timeout: seconds to wait at most (for all of them together); default None: no limit.
        :returns: True if all synced within ``timeout``, else False.
        :raises ~incluster_sdk.PermissionDeniedError: if an informer's preflight found that this identity may
            not list or watch its collection.
        """
        results = await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        """Stop every informer the factory's :meth:`start` started, concurrently (each ``AsyncInformer.stop()``:
        no time limit). Informers handed out after the last :meth:`start` are left alone."""
        informers = [self._informers[k] for k in self._started]
        self._started.clear()
        await asyncio.gather(*(i.stop() for i in informers))

    async def __aenter__(self) -> AsyncInformerFactory:
        """:meth:`start` the informers handed out so far; returns the factory."""
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """:meth:`stop` them."""
        await self.stop()
