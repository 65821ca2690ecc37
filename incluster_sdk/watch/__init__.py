"""List + watch + local cache: a sans-I/O watch state machine, a store with indexers, and drivers."""

from .aio import AsyncInformer
from .cache import compact, strip_managed_fields
from .factory import AsyncInformerFactory, InformerFactory
from .informer import Informer
from .machine import Applied, Deleted, InitialList, Restarted, Watcher
from .resource import PODS, Resource
from .store import DeletedFinalStateUnknown, Store

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
