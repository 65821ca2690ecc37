"""The least-privilege RBAC manifests that grant a list of needs: a Role for what a Role can grant, a
ClusterRole for the rest, each bound to the app's ServiceAccount.

    needs = parse_needs(["list,watch:pods", "get,list,watch:configmaps/app-config", "list,watch:namespaces"])
    print(to_yaml(manifests(needs, namespace="shop", service_account="reloader")))

Namespaced needs go into a Role and RoleBinding in the app's namespace; cluster-scoped ones (namespaces,
nodes, non-resource URLs...) into a ClusterRole and ClusterRoleBinding, because a Role cannot grant them:
a Role that lists ``namespaces`` is accepted by the API server and then never matches a request.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from .needs import RBAC_GROUP, RBAC_V1, STANDARD_VERBS, Need, NeedError, NeedWarning


def _verb_order(verb: str) -> tuple[int, str]:
    return (STANDARD_VERBS.index(verb) if verb in STANDARD_VERBS else len(STANDARD_VERBS), verb)


def policy_rules(needs: Iterable[Need]) -> list[dict[str, Any]]:
    """Write the fewest RBAC PolicyRules that grant exactly ``needs``, whatever their scope.

    Verbs granted on a whole resource are dropped from its named grants, and so are verbs a wildcard grants
    (``*``, ``*.apps``, ``*/scale``, a URL prefix ``/logs/*``): a grant left with no verbs is no rule. Names
    with the same verbs share a rule (``resourceNames``); resources with the same verbs and names share a rule.
    A subresource is written as RBAC spells it (``pods/log``). Nothing is checked or warned about here:
    :func:`manifests` splits the needs by scope and checks the names.

    :param needs: the needs, usually from :func:`~incluster_sdk.rbac.needs.parse_needs`.
    :returns: the rules, in a stable order (by group, then resources): resource rules
        ``{"apiGroups": [GROUP], "resources": [...], "verbs": [...]}`` with ``"resourceNames": [...]`` for
        named grants (``""`` is the core group), then non-resource rules
        ``{"nonResourceURLs": [...], "verbs": [...]}``. Verbs are in ``kubectl create role``'s order (get,
        list, watch, create, update, patch, delete, deletecollection, then others alphabetically), or just
        ``["*"]``. Empty for no needs.
    """
    unnamed: dict[tuple[str, str], set[str]] = {}
    named: dict[tuple[str, str], dict[str, set[str]]] = {}
    urls: dict[str, set[str]] = {}
    for need in needs:
        if need.non_resource_url is not None:
            urls.setdefault(need.non_resource_url, set()).update(need.verbs)
        elif need.name:
            named.setdefault((need.group, need.rbac_resource), {}).setdefault(need.name, set()).update(need.verbs)
        else:
            unnamed.setdefault((need.group, need.rbac_resource), set()).update(need.verbs)
    grants: dict[tuple[str, tuple[str, ...], tuple[str, ...]], set[str]] = {}
    for (group, resource), verbs in unnamed.items():
        rest = _uncovered(verbs, _covering(unnamed, group, resource, itself=False))
        if rest:
            grants.setdefault((group, _ordered(rest), ()), set()).add(resource)
    for (group, resource), by_name in named.items():
        covered = _covering(unnamed, group, resource, itself=True)
        names_for: dict[tuple[str, ...], list[str]] = {}
        for name, verbs in by_name.items():
            same_name = {key: names[name] for key, names in named.items() if name in names}  # get:*/x
            rest = _uncovered(verbs, covered | _covering(same_name, group, resource, itself=False))
            if rest:
                names_for.setdefault(_ordered(rest), []).append(name)
        for verbs_key, name_list in names_for.items():
            grants.setdefault((group, verbs_key, tuple(sorted(name_list))), set()).add(resource)
    rules: list[dict[str, Any]] = []
    for (group, verbs_key, names), resources in sorted(grants.items(), key=lambda kv: (kv[0][0], sorted(kv[1]), kv[0])):
        rule: dict[str, Any] = {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs_key)}
        if names:
            rule["resourceNames"] = list(names)
        rules.append(rule)
    url_rules: dict[tuple[str, ...], list[str]] = {}
    for url, verbs in sorted(urls.items()):
        covering = [v for other, vs in urls.items() if other != url and _url_covers(other, url) for v in vs]
        rest = _uncovered(verbs, set(covering))
        if rest:
            url_rules.setdefault(_ordered(rest), []).append(url)
    rules += [{"nonResourceURLs": list(u), "verbs": list(v)} for v, u in url_rules.items()]
    return rules


def _covering(grants: dict[tuple[str, str], set[str]], group: str, resource: str, *, itself: bool) -> set[str]:
    """The verbs ``grants`` (by group and RBAC resource) give on what ``group``/``resource`` names (RBAC's
    matching: group ``*``, resource ``*``, ``*/SUB`` for a subresource SUB), that very grant only if ``itself``."""
    subresource = resource.partition("/")[2]
    verbs: set[str] = set()
    for (g, r), granted in grants.items():
        if (g, r) == (group, resource) and not itself:
            continue
        if g in (group, "*") and (r in (resource, "*") or (subresource and r == f"*/{subresource}")):
            verbs |= granted
    return verbs


def _uncovered(verbs: set[str], covered: set[str]) -> set[str]:
    """``verbs`` less those ``covered`` grants already (all of them if it grants ``*``)."""
    if "*" in covered:
        return set()
    return verbs if "*" in verbs else verbs - covered


def _url_covers(pattern: str, url: str) -> bool:
    """Whether the non-resource URL rule ``pattern`` matches every path ``url`` does (``/logs/*`` covers
    ``/logs/x`` and ``/logs/x*``; a need's URL has at most one ``*``, at its end)."""
    return pattern.endswith("*") and url.startswith(pattern[:-1])


def _ordered(verbs: Iterable[str]) -> tuple[str, ...]:
    verbs = set(verbs)
    return ("*",) if "*" in verbs else tuple(sorted(verbs, key=_verb_order))


def manifests(
    needs: Sequence[Need],
    *,
    namespace: str,
    service_account: str,
    name: str | None = None,
    cluster_wide: bool = False,
    subject_group: bool = False,
    subject: dict[str, Any] | None = None,
    include_service_account: bool = True,
) -> list[dict[str, Any]]:
    """Write the least-privilege RBAC manifests that grant ``needs``: the ServiceAccount, and the roles and
    bindings that grant the needs to it.

    - Namespaced needs, and needs of unknown scope (``namespaced`` None): a Role and RoleBinding named
      ``name`` in ``namespace``.
    - Cluster-scoped needs and non-resource URLs (and, with ``cluster_wide``, every need): a ClusterRole and
      ClusterRoleBinding named ``<namespace>:<name>`` (cluster-wide names must not clash between namespaces,
      and no namespace contains ``:``, so ``a-b:c`` and ``a:b-c`` stay apart). A Role cannot grant these: a
      Role that lists ``namespaces`` is accepted by the API server and never matches a request.
    - ``bind`` on ClusterRoles (or on ``*``), when the needs write ClusterRoleBindings: the ClusterRole too,
      because the server checks ``bind`` for a ClusterRoleBinding in no namespace (BindingAuthorized with
      metav1.NamespaceNone), where a Role never applies. A ClusterRoleBinding's grant applies in every
      namespace, so it also covers the RoleBindings the needs write; ``bind`` on Roles stays in the Role (a
      ClusterRoleBinding cannot reference a Role).

    A role or binding with no needs is not written. Needs that write RoleBindings, ClusterRoleBindings, Roles or
    ClusterRoles without the matching ``bind`` or ``escalate`` need issue a
    :class:`~incluster_sdk.rbac.vocabulary.NeedWarning`: the API server's escalation check would refuse those
    writes with 403 unless the app already holds every permission they grant.

    :param needs: the needs to grant, usually from :func:`~incluster_sdk.rbac.needs.parse_needs`.
    :param namespace: the app's namespace: of the ServiceAccount, the Role and the RoleBinding, and the
        prefix of the cluster-wide names. A DNS-1123 label.
    :param service_account: the ServiceAccount's name (a DNS-1123 subdomain): the subject of the bindings,
        and the default role name.
    :param name: the name of the Role and RoleBinding (``<namespace>:<name>`` for the cluster-wide ones);
        None (the default): ``service_account``. Any valid object name (no ``/``, ``%``, not ``.`` or ``..``).
    :param cluster_wide: True: grant the namespaced needs in every namespace too, with a ClusterRole and
        ClusterRoleBinding and no Role; False (the default): in ``namespace`` only.
    :param subject_group: True: bind the group ``system:serviceaccounts:<namespace>`` (every ServiceAccount
        of the namespace) instead of the one ServiceAccount; False (the default): the ServiceAccount.
    :param subject: any other RBAC subject to bind, as a binding's ``subjects`` entry
        (``{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}``); it wins over
        ``subject_group``. None (the default): the ServiceAccount (or its namespace's group).
    :param include_service_account: True (the default): the first document is the ServiceAccount
        ``service_account`` in ``namespace``; False: leave it out (it exists already, or ``subject`` is
        another kind). With ``subject`` given and False, ``service_account`` is not checked.
    :returns: the manifests as plain dicts, in order: ServiceAccount, Role, RoleBinding, ClusterRole,
        ClusterRoleBinding (each only when needed), each as ``kubectl apply`` takes it
        (``{"apiVersion": ..., "kind": ..., "metadata": {...}, "rules": [...]}``); :func:`to_yaml` prints them.
    :raises ~incluster_sdk.rbac.vocabulary.NeedError: if ``namespace`` is not a DNS-1123 label,
        ``service_account`` not a DNS-1123 subdomain, or ``name`` not a valid object name.
    """
    _check_names(namespace, service_account if subject is None or include_service_account else None, name)
    _warn_escalation(needs)
    role_name = name or service_account
    if subject is None:
        subject = (
            {"kind": "Group", "name": f"system:serviceaccounts:{namespace}", "apiGroup": RBAC_GROUP}
            if subject_group
            else {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
        )
    in_role, in_cluster_role = _split_by_scope(needs, cluster_wide)
    docs: list[dict[str, Any]] = []
    if include_service_account:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": service_account, "namespace": namespace},
            }
        )
    if in_role:
        docs += _role_and_binding("Role", {"name": role_name, "namespace": namespace}, policy_rules(in_role), subject)
    if in_cluster_role:
        meta = {"name": cluster_role_name(namespace, role_name)}
        docs += _role_and_binding("ClusterRole", meta, policy_rules(in_cluster_role), subject)
    return docs


def cluster_role_name(namespace: str, name: str) -> str:
    """The name of the ClusterRole (and its binding) :func:`manifests` writes for ``name`` of ``namespace``:
    ``<namespace>:<name>``. A namespace is a DNS-1123 label, so it has no ``:`` and the name is unique; RBAC
    names may contain ``:`` (``system:auth-delegator``)."""
    return f"{namespace}:{name}"


def _split_by_scope(needs: Sequence[Need], cluster_wide: bool) -> tuple[list[Need], list[Need]]:
    """(what a Role grants, what a ClusterRole grants): see :func:`manifests`."""
    if cluster_wide:
        return [], list(needs)
    cluster_bind = _writes(needs, "clusterrolebindings")
    in_role: list[Need] = []
    in_cluster_role: list[Need] = []
    for need in needs:
        if need.namespaced is False:
            in_cluster_role.append(need)
        elif cluster_bind and "bind" in need.verbs and _on(need, "clusterroles"):
            in_cluster_role.append(dataclasses.replace(need, verbs=("bind",)))
            rest = tuple(v for v in need.verbs if v != "bind")
            in_role += [dataclasses.replace(need, verbs=rest)] if rest else []
        else:
            in_role.append(need)
    return in_role, in_cluster_role


def _on(need: Need, resource: str) -> bool:
    """Whether ``need`` is on the RBAC ``resource`` itself (not a subresource), wildcards included."""
    return need.group in (RBAC_GROUP, "*") and need.resource in (resource, "*") and need.subresource is None


def _writes(needs: Sequence[Need], resource: str) -> bool:
    """Whether some need writes the RBAC ``resource`` (create, update, patch or ``*``)."""
    return any(_on(n, resource) and _WRITE_VERBS & set(n.verbs) for n in needs)


#: Writing these is checked for escalation (kube-apiserver's rbac registry): a binding needs ``bind`` on the
#: role it references, a role needs ``escalate``, unless the writer already holds every permission granted.
_ESCALATION_CHECKED = {
    "rolebindings": "bind",
    "clusterrolebindings": "bind",
    "roles": "escalate",
    "clusterroles": "escalate",
}
#: The roles whose ``bind``/``escalate`` lets the app write each: a RoleBinding may reference a Role or a
#: ClusterRole, a ClusterRoleBinding only a ClusterRole; a Role write checks ``escalate`` on roles, a
#: ClusterRole write on clusterroles (pkg/registry/rbac/escalation_check.go).
_ESCALATION_TARGETS = {
    "rolebindings": ("roles", "clusterroles"),
    "clusterrolebindings": ("clusterroles",),
    "roles": ("roles",),
    "clusterroles": ("clusterroles",),
}
_WRITE_VERBS = {"create", "update", "patch", "*"}


def _warn_escalation(needs: Sequence[Need]) -> None:
    # bind/escalate count on the roles only (a "*" verb on rolebindings grants no bind on any role)
    def granted(special: str, targets: tuple[str, ...]) -> bool:
        return any(_on(n, t) and {special, "*"} & set(n.verbs) for n in needs for t in targets)

    for need in needs:
        if need.group not in (RBAC_GROUP, "*") or need.subresource is not None:
            continue
        written: dict[str, str | None] = (
            dict(_ESCALATION_CHECKED)
            if need.resource == "*"
            else {need.resource: _ESCALATION_CHECKED.get(need.resource)}
        )
        missing = [(r, v) for r, v in written.items() if v and not granted(v, _ESCALATION_TARGETS[r])]
        if missing and _WRITE_VERBS & set(need.verbs):
            resource, special = missing[0]
            target = "clusterroles" if resource.startswith("cluster") else "roles"
            example = (
                f"{special}:clusterroles.{RBAC_GROUP}/view" if special == "bind" else f"{special}:{target}.{RBAC_GROUP}"
            )
            where = (
                " (manifests grant it with the ClusterRole: the server checks bind for a ClusterRoleBinding in no"
                " namespace)"
                if resource == "clusterrolebindings"
                else ""
            )
            warnings.warn(
                f"{need}: writing {resource} is checked for privilege escalation: the app must hold every"
                f" permission the {resource[:-1]} grants, or be granted {special!r} on the"
                f" {'ClusterRoles' if target == 'clusterroles' and resource != 'rolebindings' else 'roles'} it"
                f" references (e.g. {example}){where}; add that need, or the API server will refuse with 403",
                NeedWarning,
                stacklevel=3,
            )


#: Kubernetes' name rules (apimachinery validation): a namespace is a DNS-1123 label, a ServiceAccount a
#: DNS-1123 subdomain; RBAC object names only need to be valid path segments.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_names(namespace: str, service_account: str | None, name: str | None) -> None:
    if not _DNS_LABEL.match(namespace):
        raise NeedError(f"namespace {namespace!r} is not a valid namespace name (a DNS-1123 label: a-z, 0-9, '-')")
    if service_account is not None and not _DNS_SUBDOMAIN.match(service_account):
        raise NeedError(
            f"ServiceAccount name {service_account!r} is not valid (a DNS-1123 subdomain: a-z, 0-9, '-', '.')"
        )
    if name is not None and (not name or name in (".", "..") or any(c in name for c in "/%") or not name.isprintable()):
        raise NeedError(f"role name {name!r} is not a valid Kubernetes object name (no '/', '%', '.' or '..')")


def _role_and_binding(
    kind: str, meta: dict[str, str], rules: list[dict[str, Any]], subject: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        {"apiVersion": RBAC_V1, "kind": kind, "metadata": dict(meta), "rules": rules},
        {
            "apiVersion": RBAC_V1,
            "kind": f"{kind}Binding",
            "metadata": dict(meta),
            "subjects": [subject],
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": meta["name"]},
        },
    ]


#: Strings written without quotes: ones that every YAML reader takes as a string. PyYAML quotes by YAML 1.1
#: rules, but kubectl reads with go-yaml v2, which also takes ``y``/``n`` as booleans, ``1e3`` as a float and
#: ``0o17`` as an integer: a ServiceAccount named ``y`` would reach the API server as ``true``. So anything
#: that does not start with a letter, or spells a YAML keyword, is quoted.
_PLAIN = re.compile(r"^[A-Za-z][-A-Za-z0-9_./:]*$")
_KEYWORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _KubectlSafeDumper(yaml.SafeDumper):
    """PyYAML's safe dumper that quotes every string value go-yaml v2 could read as something else."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _PLAIN.match(value) and value.lower() not in _KEYWORDS:
        return dumper.represent_str(value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")


_KubectlSafeDumper.add_representer(str, _represent_str)


def to_yaml(docs: Iterable[dict[str, Any]]) -> str:
    """Print manifests as one multi-document YAML string, for ``kubectl apply -f -``.

    Strings are quoted so that kubectl (go-yaml v2, which reads ``y``, ``n``, ``1e3`` and ``0o17`` as
    booleans and numbers where PyYAML would not) reads every string as the string it is: any string that
    does not start with a letter, or spells a YAML keyword (``yes``, ``off``, ``null``...), is single-quoted.
    Keys keep their order.

    :param docs: the manifests, as dicts (such as :func:`manifests` returns).
    :returns: the YAML: the documents separated by ``---`` lines, ending with a newline (``""`` for none).
    """
    return yaml.dump_all(list(docs), Dumper=_KubectlSafeDumper, sort_keys=False, default_flow_style=False)
