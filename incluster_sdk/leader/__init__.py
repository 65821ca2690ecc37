"""Lease-based leader election (client-go semantics) for running several replicas with one acting."""

from .aio import AsyncLeaderElector
from .elector import LeaderElector, default_identity
from .lease import LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD, LeaderElection, LeaseRecord

__all__ = [
    "LEASE_DURATION",
    "RENEW_DEADLINE",
    "RETRY_PERIOD",
    "AsyncLeaderElector",
    "LeaderElection",
    "LeaderElector",
    "LeaseRecord",
    "default_identity",
]
