"""List + watch + local cache: a sans-I/O watch state machine, a store with indexers, and drivers."""

from typing import TYPE_CHECKING, Any

from .cache import compact, strip_managed_fields
from .factory import AsyncInformerFactory, InformerFactory
from .informer import Informer
from .machine import Applied, Deleted, InitialList, Restarted, Watcher
from .resource import PODS, Resource
from .store import DeletedFinalStateUnknown, Store

if TYPE_CHECKING:
    from .aio import AsyncInformer


def __getattr__(name: str) -> Any:
    if name == "AsyncInformer":  # imported on first use: aiohttp only for apps that use asyncio
        from .aio import AsyncInformer

        globals()[name] = AsyncInformer
        return AsyncInformer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PODS",
    "Applied",
    "AsyncInformer",
    "AsyncInformerFactory",
    "Deleted",
    "DeletedFinalStateUnknown",
    "Informer",
    "InformerFactory",
    "InitialList",
    "Resource",
    "Restarted",
    "Store",
    "Watcher",
    "compact",
    "strip_managed_fields",
]
