"""List + watch + local cache: a sans-I/O watch state machine, a store with indexers, and drivers."""

from .aio import AsyncInformer
from .cache import strip_managed_fields
from .factory import InformerFactory
from .informer import Informer
from .machine import Applied, Deleted, Restarted, Watcher
from .resource import PODS, Resource
from .store import DeletedFinalStateUnknown, Store

__all__ = [
    "PODS",
    "Applied",
    "AsyncInformer",
    "Deleted",
    "DeletedFinalStateUnknown",
    "Informer",
    "InformerFactory",
    "Resource",
    "Restarted",
    "Store",
    "Watcher",
    "strip_managed_fields",
]
