"""One watch per (resource, namespace, selectors), shared by every consumer in the process."""

from __future__ import annotations

import threading

from ..client import ApiClient
from .informer import Informer
from .resource import Resource

_Key = tuple[Resource, str | None, str | None, str | None]


class InformerFactory:
    """Hands out shared :class:`Informer` objects: ask twice for the same thing, get the same informer.

    factory = InformerFactory(api_client(cfg))
    pods = factory.informer(PODS, namespace="default")   # consumer A
    same = factory.informer(PODS, namespace="default")   # consumer B: one watch for both
    factory.start(); factory.wait_for_sync(30)
    """

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._informers: dict[_Key, Informer] = {}
        self._started: set[_Key] = set()
        self._lock = threading.Lock()

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        key = (resource, namespace, label_selector, field_selector)
        with self._lock:
            if key not in self._informers:
                self._informers[key] = Informer(
                    self.client,
                    resource,
                    namespace=namespace,
                    label_selector=label_selector,
                    field_selector=field_selector,
                )
            return self._informers[key]

    def start(self) -> None:
        """Start every informer handed out so far that is not running yet (safe to call again)."""
        with self._lock:
            for key, informer in self._informers.items():
                if key not in self._started:
                    informer.start()
                    self._started.add(key)

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return all(i.wait_for_sync(timeout) for i in list(self._informers.values()))

    def stop(self) -> None:
        with self._lock:
            informers = [self._informers[k] for k in self._started]
            self._started.clear()
        for informer in informers:
            informer.stop()
