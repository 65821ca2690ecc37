"""The rules kube-controller-manager's ClusterRoleAggregationController writes into aggregated ClusterRoles.

Pure functions over ClusterRole dicts as the API server returns them (no I/O);
:meth:`LocalCluster.aggregate_cluster_roles` reads, calls :func:`converge` and writes. The reference is
Kubernetes 1.20.2, pkg/controller/clusterroleaggregation (``syncClusterRole``), with
metav1.LabelSelectorAsSelector for the selectors and equality.Semantic.DeepEqual for comparing rules.

    aggregated_rules(view, all_roles)   # the rules syncClusterRole computes for ``view`` (None: not aggregated)
    pending_updates(all_roles)          # {name: rules} every aggregated role's sync would write, one snapshot
    converge(all_roles).updates         # {name: rules} once syncs have run until nothing changes
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InclusterSDKError

ClusterRole = Mapping[str, Any]
"""A ClusterRole as a dict, as the API server returns it (``{"metadata": {"name": ..., "labels": {...}},
"aggregationRule": {"clusterRoleSelectors": [...]}, "rules": [...]}``); only those fields are read."""
PolicyRule = dict[str, Any]
"""One rule of a ClusterRole as a dict (``{"verbs": [...], "apiGroups": [...], "resources": [...]}``)."""

POLICY_RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")
"""rbacv1.PolicyRule's fields, all ``[]string``: what equality.Semantic.DeepEqual compares (a field the Go
struct does not have is dropped when the API server decodes the object, so it cannot matter)."""

BOOTSTRAP_AGGREGATED = {
    "admin": "system:aggregate-to-admin",
    "edit": "system:aggregate-to-edit",
    "view": "system:aggregate-to-view",
}
"""The aggregated ClusterRoles of kube-apiserver's bootstrap policy (1.20 plugin/pkg/auth/authorizer/rbac/
bootstrappolicy/policy.go), each mapped to the role whose label feeds it. ``edit`` is labelled
aggregate-to-admin and ``view`` aggregate-to-edit, so admin includes edit includes view."""

# k8s.io/apimachinery/pkg/util/validation: what labels.NewRequirement accepts as a key and as a value.
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUALIFIED_NAME_MAX = 63  # the name part of a label key
_DNS1123_SUBDOMAIN_MAX = 253  # the prefix part of a label key
_LABEL_VALUE_MAX = 63


class SelectorError(InclusterSDKError, ValueError):
    """A clusterRoleSelector that metav1.LabelSelectorAsSelector refuses. The controller's sync of that role
    then fails (and is retried forever) without writing it; kube-apiserver refuses such a role on create."""


class AggregationDoesNotConverge(InclusterSDKError, ValueError):
    """Syncs keep changing some aggregated roles: their selectors form a cycle (A selects B, B selects A,
    ...) whose rules keep moving round it. A real controller would rewrite them for ever."""


@dataclass(frozen=True)
class Convergence:
    """The outcome of running syncs until none changes anything (:func:`converge`).

    :param updates: ``{name: rules}``: the rules to write, for each aggregated role whose final rules differ
        from its stored ones.
    :param rounds: how many passes over the aggregated roles changed something (0: all already aggregated).
    :param refused: ``{name: reason}``: the roles whose selector the controller refuses, and why (each is left
        as it is, as the controller leaves it); default: none.
    """

    updates: dict[str, list[PolicyRule]]
    rounds: int
    refused: dict[str, str] = field(default_factory=dict)


# -- metav1.LabelSelectorAsSelector ----------------------------------------------------------------------
def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise SelectorError(f"label key {key!r} is not a string")
    parts = key.split("/")
    if len(parts) > 2:
        raise SelectorError(f"label key {key!r}: a qualified name has at most one '/'")
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            raise SelectorError(f"label key {key!r}: prefix part must be non-empty")
        if len(prefix) > _DNS1123_SUBDOMAIN_MAX or not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            raise SelectorError(f"label key {key!r}: prefix part must be a DNS-1123 subdomain")
    if not name:
        raise SelectorError(f"label key {key!r}: name part must be non-empty")
    if len(name) > _QUALIFIED_NAME_MAX or not _QUALIFIED_NAME.fullmatch(name):
        raise SelectorError(f"label key {key!r}: name part must be a qualified name of at most 63 characters")


def _check_value(key: str, value: Any) -> None:
    if not isinstance(value, str) or len(value) > _LABEL_VALUE_MAX or not _LABEL_VALUE.fullmatch(value):
        raise SelectorError(f"label {key!r}: {value!r} is not a valid label value")


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist (matchLabels entries are In with one value: Equals)
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:  # labels.Requirement.Matches
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


def _requirements(selector: Mapping[str, Any] | None) -> list[_Requirement]:
    """The requirements of one clusterRoleSelector, all of which must hold; none: it selects everything.

    A null entry in clusterRoleSelectors decodes to Go's zero LabelSelector, which selects everything too.
    """
    selector = selector or {}
    match_labels: Mapping[str, Any] = selector.get("matchLabels") or {}
    expressions: Sequence[Mapping[str, Any]] = selector.get("matchExpressions") or []
    found: list[_Requirement] = []
    for key, value in match_labels.items():
        _check_key(key)
        _check_value(key, value)
        found.append(_Requirement(key, "In", (value,)))
    for expr in expressions:
        expr = expr or {}
        key, operator, values = expr.get("key", ""), expr.get("operator", ""), tuple(expr.get("values") or ())
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise SelectorError(f"{operator!r} is not a valid pod selector operator")
        _check_key(key)
        if operator in ("In", "NotIn") and not values:
            raise SelectorError(f"label {key!r}: for 'in', 'notin' operators, values set can't be empty")
        if operator in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"label {key!r}: values set must be empty for exists and does not exist")
        for value in values:
            _check_value(key, value)
        found.append(_Requirement(key, operator, values))
    return found


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a metav1.LabelSelector selects an object with ``labels``, as metav1.LabelSelectorAsSelector's
    selector decides.

    :param selector: a LabelSelector as a dict (``{"matchLabels": {...}, "matchExpressions": [{"key": ...,
        "operator": "In", "values": [...]}]}``); None or ``{}`` selects everything.
    :param labels: the object's labels; None: no labels.
    :returns: True if every requirement of the selector holds.
    :raises SelectorError: if the selector is invalid (a bad key, value or operator, or values where none
        belong), as LabelSelectorAsSelector refuses it.
    """
    requirements = _requirements(selector)
    return all(r.matches(labels or {}) for r in requirements)


# -- equality.Semantic.DeepEqual -------------------------------------------------------------------------
def _rule_key(rule: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    # A missing field, null and [] are one value to the semantic DeepEqual (nil and empty slices are equal);
    # order and repetition inside a list are kept, as DeepEqual compares element by element.
    return tuple(tuple(rule.get(name) or ()) for name in POLICY_RULE_FIELDS)


def rules_equal(a: Sequence[Mapping[str, Any]] | None, b: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether two rule lists are equal as equality.Semantic.DeepEqual compares two ``[]PolicyRule``.

    Only :data:`POLICY_RULE_FIELDS` count; a missing field, null and ``[]`` are equal; order and repetition
    matter, in the lists and in each field.

    :param a: a list of rules as dicts; None: no rules.
    :param b: the other list; None: no rules.
    :returns: True if equal.
    """
    return [_rule_key(r) for r in a or ()] == [_rule_key(r) for r in b or ()]


# -- syncClusterRole -------------------------------------------------------------------------------------
def _name(role: ClusterRole) -> str:
    return str((role.get("metadata") or {}).get("name", ""))


def _labels(role: ClusterRole) -> Mapping[str, str]:
    labels: Mapping[str, str] = (role.get("metadata") or {}).get("labels") or {}
    return labels


def aggregated_rules(role: ClusterRole, all_cluster_roles: Iterable[ClusterRole]) -> list[PolicyRule] | None:
    """The rules syncClusterRole computes for ``role`` from one snapshot of all ClusterRoles.

    For each clusterRoleSelector in order: the ClusterRoles it selects, by name, ``role`` itself skipped;
    each of their rules in order, unless a semantically equal rule is already there. The role's own rules
    play no part (they are replaced).

    :param role: the aggregated ClusterRole.
    :param all_cluster_roles: every ClusterRole (``role`` may be among them).
    :returns: the new rules (copies), or None when ``role`` has no ``aggregationRule``.
    :raises SelectorError: for a selector the controller cannot use.
    """
    aggregation = role.get("aggregationRule")
    if aggregation is None:
        return None
    name = _name(role)
    candidates = sorted(all_cluster_roles, key=_name)  # byName; names are unique, so the order is total
    rules: list[PolicyRule] = []
    seen: set[tuple[tuple[str, ...], ...]] = set()
    for selector in aggregation.get("clusterRoleSelectors") or ():
        requirements = _requirements(selector)
        for other in candidates:
            if _name(other) == name or not all(r.matches(_labels(other)) for r in requirements):
                continue
            for rule in other.get("rules") or ():
                key = _rule_key(rule)
                if key not in seen:  # ruleExists
                    seen.add(key)
                    rules.append(copy.deepcopy(dict(rule)))
    return rules


def _by_name(all_cluster_roles: Iterable[ClusterRole]) -> dict[str, ClusterRole]:
    roles: dict[str, ClusterRole] = {}
    for role in all_cluster_roles:
        name = _name(role)
        if name in roles:
            raise ValueError(f"two ClusterRoles named {name!r}: names are unique in a cluster")
        roles[name] = role
    return roles


def pending_updates(all_cluster_roles: Iterable[ClusterRole]) -> dict[str, list[PolicyRule]]:
    """The writes of one round of syncs, each against the same snapshot.

    A role whose selector is refused is left out, as the controller's failing sync writes nothing.

    :param all_cluster_roles: every ClusterRole.
    :returns: ``{name: new rules}`` for every aggregated role whose sync would write it.
    :raises ValueError: if two ClusterRoles have the same name.
    """
    roles = _by_name(all_cluster_roles)
    updates: dict[str, list[PolicyRule]] = {}
    for name, role in sorted(roles.items()):
        try:
            rules = aggregated_rules(role, roles.values())
        except SelectorError:
            continue
        if rules is not None and not rules_equal(rules, role.get("rules")):
            updates[name] = rules
    return updates


def converge(all_cluster_roles: Iterable[ClusterRole]) -> Convergence:
    """Sync every aggregated role, by name, each seeing the writes before it, until a pass changes nothing.

    That is where the controller ends up: every write is an event that requeues every aggregated role, and
    its syncs read the informer's cache, which holds the earlier writes. Roles fed by other aggregated roles
    need several passes (``admin`` takes ``edit``'s rules, which come from ``view``...).

    :param all_cluster_roles: every ClusterRole, as stored.
    :returns: the :class:`Convergence`: the updates from the stored rules to the final ones, the passes it
        took, and the roles whose selectors are refused.
    :raises AggregationDoesNotConverge: when pass n+1 (n: the number of aggregated roles) still changes
        something: a role's rules settle once those of every role it selects have, and without a cycle the
        longest chain of aggregated roles selecting each other has n links, so n passes settle them all.
    :raises ValueError: if two ClusterRoles have the same name.
    """
    original = _by_name(all_cluster_roles)
    current: dict[str, ClusterRole] = dict(original)
    aggregated = sorted(name for name, role in original.items() if role.get("aggregationRule") is not None)
    refused: dict[str, str] = {}
    rounds = 0
    changed: list[str] = []
    for _ in range(len(aggregated) + 1):
        changed = []
        for name in aggregated:
            if name in refused:
                continue
            try:
                rules = aggregated_rules(current[name], current.values())
            except SelectorError as exc:
                refused[name] = str(exc)
                continue
            if rules is not None and not rules_equal(rules, current[name].get("rules")):
                current[name] = {**current[name], "rules": rules}
                changed.append(name)
        if not changed:
            updates = {
                name: list(current[name]["rules"])
                for name in aggregated
                if not rules_equal(current[name].get("rules"), original[name].get("rules"))
            }
            return Convergence(updates, rounds, refused)
        rounds += 1
    raise AggregationDoesNotConverge(
        f"aggregated ClusterRoles {changed} still change after {rounds} passes: their clusterRoleSelectors "
        "select each other in a cycle"
    )
