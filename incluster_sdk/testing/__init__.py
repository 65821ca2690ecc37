"""Test kit: a kubelet-faithful fake service-account mount and a real local API server.

``FakeServiceAccountMount`` needs nothing beyond the SDK. ``LocalCluster`` needs ``cryptography``
(``pip install 'incluster-sdk[testing]'``) and etcd + kube-apiserver (``bash scripts/install-kube-binaries.sh``).
See docs/testing.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .fake_mount import FakeServiceAccountMount
from .faultproxy import FaultProxy

if TYPE_CHECKING:
    from .binaries import BinariesNotFound
    from .cluster import ClusterError, LocalCluster

__all__ = ["BinariesNotFound", "ClusterError", "FakeServiceAccountMount", "FaultProxy", "LocalCluster"]


def __getattr__(name: str) -> Any:  # LocalCluster pulls in cryptography: import it only when used
    if name in ("LocalCluster", "ClusterError"):
        from . import cluster

        return getattr(cluster, name)
    if name == "BinariesNotFound":
        from .binaries import BinariesNotFound

        return BinariesNotFound
    raise AttributeError(name)
