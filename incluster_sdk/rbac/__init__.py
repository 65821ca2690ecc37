"""RBAC made visible: who am I, may I, what do I need (and the manifests that grant it)."""

from .needs import Need, NeedError, manifests, parse_need, parse_needs, policy_rules, to_yaml
from .preflight import async_check_access, check_access
from .review import (
    Decision,
    Identity,
    Rules,
    async_can_i,
    async_rules,
    async_whoami,
    can_i,
    rules,
    whoami,
)

__all__ = [
    "Decision",
    "Identity",
    "Need",
    "NeedError",
    "Rules",
    "async_can_i",
    "async_check_access",
    "async_rules",
    "async_whoami",
    "can_i",
    "check_access",
    "manifests",
    "parse_need",
    "parse_needs",
    "policy_rules",
    "rules",
    "to_yaml",
    "whoami",
]
