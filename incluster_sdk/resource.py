"""Which collection a request names, and the URL for it: shared by watch (informers) and rbac (the preflight)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A resource collection, e.g. ``Resource("v1", "pods")`` or ``Resource("apps/v1", "deployments")``."""

    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None) -> str:
        prefix = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if namespace and self.namespaced:
            return f"{prefix}/namespaces/{urllib.parse.quote(namespace)}/{self.plural}"
        return f"{prefix}/{self.plural}"


PODS = Resource("v1", "pods")
