"""RBAC made visible: who am I, may I, what do I need (and the manifests that grant it)."""

from .access import Decision, async_can_i, async_check_need, can_i, check_need
from .manifests import manifests, policy_rules, to_yaml
from .needs import Need, NeedError, NeedWarning, parse_need, parse_needs
from .preflight import async_check_access, check_access
from .review import Identity, Rules, async_rules, async_whoami, rules, whoami

__all__ = [
    "Decision",
    "Identity",
    "Need",
    "NeedError",
    "NeedWarning",
    "Rules",
    "async_can_i",
    "async_check_access",
    "async_check_need",
    "async_rules",
    "async_whoami",
    "can_i",
    "check_access",
    "check_need",
    "manifests",
    "parse_need",
    "parse_needs",
    "policy_rules",
    "rules",
    "to_yaml",
    "whoami",
]
