"""Controllers: a rate-limited work queue (client-go ``util/workqueue`` semantics) and a reconcile loop on informers.

    from incluster_sdk.controller import Controller, EventRecorder, Result, update_with_retry

The names below are re-exported from the modules that define them: the loop (:mod:`.reconciler`,
:mod:`.aio`, :mod:`.loop`), the object helpers (:mod:`.objects`), Events (:mod:`.events`) and the work
queue with its rate limiters (:mod:`.workqueue`, which re-exports :mod:`.ratelimit`'s).
See the Controllers page of the docs.
"""

from __future__ import annotations

from .aio import AsyncController
from .events import NORMAL, WARNING, AsyncEventRecorder, EventRecorder
from .loop import CacheSyncTimeout, Result, Stopped, owner_mapper
from .object_errors import AlreadyOwnedError, ConflictError, NotFoundError, ObjectApiError, ObjectError
from .objects import (
    add_finalizer,
    async_add_finalizer,
    async_get_or_create,
    async_remove_finalizer,
    async_server_side_apply,
    async_update_with_retry,
    get_or_create,
    remove_finalizer,
    server_side_apply,
    update_with_retry,
)
from .owners import set_owner_reference
from .reconciler import Controller
from .workqueue import (  # the queues, with the rate limiters they re-export from .ratelimit
    AsyncRateLimitingQueue,
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    RateLimitingQueue,
    ShutDown,
    default_controller_rate_limiter,
)

__all__ = [
    "NORMAL",
    "WARNING",
    "AlreadyOwnedError",
    "AsyncController",
    "AsyncEventRecorder",
    "AsyncRateLimitingQueue",
    "BucketRateLimiter",
    "CacheSyncTimeout",
    "ConflictError",
    "Controller",
    "EventRecorder",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "NotFoundError",
    "ObjectApiError",
    "ObjectError",
    "RateLimiter",
    "RateLimitingQueue",
    "Result",
    "ShutDown",
    "Stopped",
    "add_finalizer",
    "async_add_finalizer",
    "async_get_or_create",
    "async_remove_finalizer",
    "async_server_side_apply",
    "async_update_with_retry",
    "default_controller_rate_limiter",
    "get_or_create",
    "owner_mapper",
    "remove_finalizer",
    "server_side_apply",
    "set_owner_reference",
    "update_with_retry",
]
