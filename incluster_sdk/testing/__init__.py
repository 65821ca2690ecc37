"""Test kit: a kubelet-faithful fake service-account mount, a real local API server, and a fault proxy.

``FakeServiceAccountMount`` and ``FaultProxy`` need nothing beyond the SDK. ``LocalCluster`` needs
``cryptography`` (``pip install 'incluster-sdk[testing]'``) and etcd + kube-apiserver
(``bash scripts/install-kube-binaries.sh``). The pytest fixtures are opt-in:
``pytest_plugins = ["incluster_sdk.testing.pytest_plugin"]`` in your ``conftest.py``. See docs/testing.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .binaries import BinariesNotFound
from .errors import ClusterError
from .fake_mount import FakeServiceAccountMount
from .faultproxy import FaultProxy
from .observers import observe_tokens

if TYPE_CHECKING:
    from .cluster import LocalCluster

__all__ = [
    "BinariesNotFound",
    "ClusterError",
    "FakeServiceAccountMount",
    "FaultProxy",
    "LocalCluster",
    "observe_tokens",
]


def __getattr__(name: str) -> Any:  # LocalCluster pulls in cryptography: import it only when used
    if name == "LocalCluster":
        from .cluster import LocalCluster

        return LocalCluster
    raise AttributeError(name)
