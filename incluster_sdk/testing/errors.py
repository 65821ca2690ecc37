"""The local cluster's one error type: a process that would not start, or a harness request that failed."""

from __future__ import annotations

from ..errors import InclusterSDKError


class ClusterError(InclusterSDKError, RuntimeError):
    """The local cluster failed to start or a harness request failed."""
