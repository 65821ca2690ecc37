"""What an app needs, as data, and the least-privilege RBAC manifests that grant exactly that.

    needs = parse_needs(["list,watch:pods", "get:configmaps/my-config", "get,create,update:leases.coordination.k8s.io"])
    print(to_yaml(manifests(needs, namespace="shop", service_account="pod-counter")))

A need is ``VERBS:RESOURCE[.GROUP][/NAME]``, like ``kubectl auth can-i`` and ``kubectl create role``:
core resources have no group (``pods``), others are ``plural.group`` (``deployments.apps``), and ``/NAME``
narrows the grant to one object (``resourceNames``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import InclusterSDKError

#: The verbs RBAC knows for resources ("*" is all of them; "use", "bind", "escalate", "impersonate",
#: "approve", "sign" exist for special resources and are accepted as they are).
STANDARD_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
RBAC_V1 = "rbac.authorization.k8s.io/v1"
_NAME = re.compile(r"^[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?$")


class NeedError(InclusterSDKError, ValueError):
    """A need that cannot be parsed; the message shows the expected form."""


@dataclass(frozen=True)
class Need:
    """``verbs`` on ``resource`` (plural; "pods/log" for a subresource) in API ``group`` ("" = core),
    optionally only the object called ``name``."""

    verbs: tuple[str, ...]
    resource: str
    group: str = ""
    name: str | None = None

    def __str__(self) -> str:
        target = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{','.join(self.verbs)}:{target}{'/' + self.name if self.name else ''}"


def parse_need(spec: str | Sequence[str] | Need) -> Need:
    """``"list,watch:pods"``, ``"get:configmaps/my-config"``, ``("get", "configmaps", "my-config")``."""
    if isinstance(spec, Need):
        return spec
    if not isinstance(spec, str):
        if not 2 <= len(spec) <= 3:
            raise NeedError(f"{tuple(spec)!r}: expected (verb, resource) or (verb, resource, name)")
        return parse_need(f"{spec[0]}:{spec[1]}" + (f"/{spec[2]}" if len(spec) == 3 else ""))
    verbs_part, sep, target = spec.partition(":")
    if not sep or not verbs_part or not target:
        raise NeedError(f"{spec!r}: expected VERBS:RESOURCE[.GROUP][/NAME], e.g. list,watch:pods")
    verbs = tuple(dict.fromkeys(v.strip().lower() for v in verbs_part.split(",") if v.strip()))
    target, _, name = target.partition("/")
    resource, _, group = target.partition(".")
    for label, value in (("resource", resource), ("group", group), ("name", name)):
        if value and not _NAME.match(value):
            raise NeedError(f"{spec!r}: {label} {value!r} is not a valid Kubernetes name")
    if not verbs or not resource:
        raise NeedError(f"{spec!r}: expected VERBS:RESOURCE[.GROUP][/NAME], e.g. list,watch:pods")
    if name and set(verbs) & {"list", "watch", "create", "deletecollection"}:
        # resourceNames cannot restrict these: RBAC would silently never match them
        bad = sorted(set(verbs) & {"list", "watch", "create", "deletecollection"})
        raise NeedError(
            f"{spec!r}: {', '.join(bad)} cannot be limited to one name (resourceNames does not apply to them);"
            f" grant them on {target} without /{name}, or use a fieldSelector on metadata.name when reading"
        )
    return Need(verbs, resource, group, name or None)


def parse_needs(specs: Iterable[str | Sequence[str] | Need]) -> list[Need]:
    return [parse_need(s) for s in specs]


def _verb_order(verb: str) -> tuple[int, str]:
    return (STANDARD_VERBS.index(verb) if verb in STANDARD_VERBS else len(STANDARD_VERBS), verb)


def policy_rules(needs: Iterable[Need]) -> list[dict[str, Any]]:
    """The fewest RBAC rules that grant exactly ``needs``: one rule per (group, verbs, names), resources merged."""
    verbs_for: dict[tuple[str, str, str | None], set[str]] = {}
    for need in needs:
        verbs_for.setdefault((need.group, need.resource, need.name), set()).update(need.verbs)
    grouped: dict[tuple[str, tuple[str, ...], str | None], list[str]] = {}
    for (group, resource, name), verb_set in sorted(verbs_for.items(), key=lambda kv: str(kv[0])):
        grouped.setdefault((group, tuple(sorted(verb_set, key=_verb_order)), name), []).append(resource)
    rules = []
    for (group, verbs, name), resources in grouped.items():
        rule: dict[str, Any] = {"apiGroups": [group], "resources": sorted(set(resources)), "verbs": list(verbs)}
        if name:
            rule["resourceNames"] = [name]
        rules.append(rule)
    return rules


def manifests(
    needs: Iterable[Need],
    *,
    namespace: str,
    service_account: str,
    name: str | None = None,
    cluster_wide: bool = False,
    subject_group: bool = False,
    subject: dict[str, Any] | None = None,
    include_service_account: bool = True,
) -> list[dict[str, Any]]:
    """ServiceAccount, Role (or ClusterRole) and RoleBinding (or ClusterRoleBinding) granting ``needs``.

    ``subject_group=True`` binds the group ``system:serviceaccounts:<namespace>`` (every ServiceAccount of
    the namespace) instead of the one ServiceAccount; ``subject`` binds any other RBAC subject.
    """
    role_name = name or service_account
    rules = policy_rules(needs)
    docs: list[dict[str, Any]] = []
    if include_service_account:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": service_account, "namespace": namespace},
            }
        )
    role_kind = "ClusterRole" if cluster_wide else "Role"
    role_meta: dict[str, Any] = {"name": f"{namespace}-{role_name}" if cluster_wide else role_name}
    if not cluster_wide:
        role_meta["namespace"] = namespace
    docs.append(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind, "metadata": role_meta, "rules": rules}
    )
    if subject is not None:
        pass
    elif subject_group:
        subject = {
            "kind": "Group",
            "name": f"system:serviceaccounts:{namespace}",
            "apiGroup": "rbac.authorization.k8s.io",
        }
    else:
        subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    docs.append(
        {
            "apiVersion": RBAC_V1,
            "kind": f"{role_kind}Binding",
            "metadata": dict(role_meta),
            "subjects": [subject],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_meta["name"]},
        }
    )
    return docs


def to_yaml(docs: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False, default_flow_style=False)
