"""List + watch + local cache: informers (threads and asyncio) over one sans-I/O state, with a store and indexers."""

from typing import TYPE_CHECKING, Any

from .cache import compact, strip_managed_fields
from .driver import HandlerRegistration
from .factory import AsyncInformerFactory, InformerFactory
from .informer import Informer
from .machine import Applied, Deleted, ListDone, Listed, WatchMachine
from .options import InformerOptions, InitialList
from .resource import PODS, Resource
from .store import DeletedFinalStateUnknown, Store

if TYPE_CHECKING:
    from .aio import AsyncInformer


def __getattr__(name: str) -> Any:
    if name == "AsyncInformer":  # imported on first use: aiohttp only for apps that use asyncio
        from .aio import AsyncInformer

        globals()[name] = AsyncInformer
        return AsyncInformer
    if name == "Watcher":  # the old name of WatchMachine
        import warnings

        warnings.warn("incluster_sdk.watch.Watcher is now WatchMachine", DeprecationWarning, stacklevel=2)
        return WatchMachine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PODS",
    "Applied",
    "AsyncInformer",
    "AsyncInformerFactory",
    "Deleted",
    "DeletedFinalStateUnknown",
    "HandlerRegistration",
    "Informer",
    "InformerFactory",
    "InformerOptions",
    "InitialList",
    "ListDone",
    "Listed",
    "Resource",
    "Store",
    "WatchMachine",
    "compact",
    "strip_managed_fields",
]
