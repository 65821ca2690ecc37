"""The need syntax, the rules and manifests made from needs, the access reviews asked for them, the informer
preflight's name, and ``incluster-sdk rbac``: checked without a cluster against Kubernetes 1.20.2's own code.

References (ported here, as test-side code, from the sources at /tmp/k8s-src/kubernetes-1.20.2):

- RBAC rule evaluation: pkg/apis/rbac/v1/evaluation_helpers.go (VerbMatches, APIGroupMatches,
  ResourceMatches, ResourceNameMatches, NonResourceURLMatches) and plugin/pkg/auth/authorizer/rbac/rbac.go
  (RuleAllows); the authorizer's binding scopes from pkg/registry/rbac/validation/rule.go (VisitRulesFor).
- What the authorizer is asked for a request: staging/src/k8s.io/apiserver/pkg/endpoints/request/
  requestinfo.go (NewRequestInfo), for bind/escalate pkg/registry/rbac/escalation_check.go, for use
  plugin/pkg/admission/security/podsecuritypolicy/admission.go, for impersonate
  staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go.
- Field selectors: staging/src/k8s.io/apimachinery/pkg/fields/selector.go (ParseSelector,
  RequiresExactMatch) and apimachinery/pkg/api/validation/path (IsValidPathSegmentName).
- kubectl create role (staging/src/k8s.io/kubectl/pkg/cmd/create/create_role{,_test}.go) and kubectl auth
  can-i (staging/src/k8s.io/kubectl/pkg/cmd/auth/cani{,_test}.go): their test cases, in our syntax.

Each port is first checked against the Go test cases of the code it ports, then used as the oracle of a
hypothesis property over generated needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
import re
import time
import urllib.parse
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from incluster_sdk.cli import attach_subresources, main
from incluster_sdk.discovery import APIResource, builtin_catalog
from incluster_sdk.rbac.access import access_review_body
from incluster_sdk.rbac.manifests import manifests, policy_rules, to_yaml
from incluster_sdk.rbac.needs import (
    NON_RESOURCE_VERBS,
    RBAC_GROUP,
    STANDARD_VERBS,
    Need,
    NeedError,
    NeedWarning,
    parse_need,
    parse_needs,
)
from incluster_sdk.rbac.preflight import needs_for, selected_name
from incluster_sdk.resource import Resource
from tests.support.fake_apiserver import FakeApiServer, Seen

from .test_clients import pod_mount
from .test_discovery_catalog import GVR, Group, drive, kubectl_resource_for, res, serve

FAST = settings(max_examples=50, deadline=None)
CATALOG = builtin_catalog()
Rule = dict[str, Any]


def quiet_parse(spec: str) -> Need:
    """parse_need with its NeedWarnings silenced (tests of warnings use pytest.warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeedWarning)
        return parse_need(spec)


def caught_warnings(spec: str) -> tuple[Need, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        need = parse_need(spec)
    return need, [str(w.message) for w in caught if issubclass(w.category, NeedWarning)]


# == the RBAC authorizer, ported =======================================================================================
@dataclass(frozen=True)
class Attrs:
    """authorizer.Attributes as RBAC reads them: a resource request, or a non-resource one when ``path`` is set."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str | None = None


def verb_matches(rule: Rule, verb: str) -> bool:
    return any(v in ("*", verb) for v in rule.get("verbs", []))


def api_group_matches(rule: Rule, group: str) -> bool:
    return any(g in ("*", group) for g in rule.get("apiGroups", []))


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    for resource in rule.get("resources", []):
        if resource in ("*", combined):
            return True
        # "*/subresource" matches that subresource of every resource; nothing else is a pattern in 1.20
        # ("pods/*" is the literal resource "pods/*", which never matches pods/log)
        if (
            subresource
            and len(resource) == len(subresource) + 2
            and resource.startswith("*/")
            and resource.endswith(subresource)
        ):
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in rule.get("nonResourceURLs", []):
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attrs, rule: Rule) -> bool:
    """RuleAllows."""
    if attrs.path is None:
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        return (
            verb_matches(rule, attrs.verb)
            and api_group_matches(rule, attrs.group)
            and resource_matches(rule, combined, attrs.subresource)
            and resource_name_matches(rule, attrs.name)
        )
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


def rules_allow(rules: Iterable[Rule], attrs: Attrs) -> bool:
    return any(rule_allows(attrs, rule) for rule in rules)


def authorize(docs: Sequence[dict[str, Any]], attrs: Attrs, namespace: str) -> bool:
    """RBACAuthorizer.Authorize over manifests: ClusterRoleBindings apply everywhere, RoleBindings only to
    requests in their namespace (VisitRulesFor), each granting the rules of the role it references."""
    roles = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d["rules"] for d in docs if "rules" in d
    }
    for doc in docs:
        if doc["kind"] == "ClusterRoleBinding":
            rules = roles[("ClusterRole", "", doc["roleRef"]["name"])]
        elif doc["kind"] == "RoleBinding" and namespace and doc["metadata"]["namespace"] == namespace:
            ref = doc["roleRef"]
            rules = roles[(ref["kind"], namespace if ref["kind"] == "Role" else "", ref["name"])]
        else:
            continue
        if rules_allow(rules, attrs):
            return True
    return False


def rule(verbs: str, groups: str, resources: str, urls: str = "", names: str = "") -> Rule:
    """rbac_test.go's newRule("verbs", "groups", "resources", "urls"), and resourceNames when ``names``."""
    out: Rule = {"verbs": verbs.split(","), "apiGroups": groups.split(","), "resources": resources.split(",")}
    if urls:
        out["nonResourceURLs"] = urls.split(",")
    if names:
        out["resourceNames"] = names.split(",")
    return out


def over_grid(expect: Any) -> dict[Attrs, bool]:
    """TestRuleMatches' requests on verb1/verb2 x group1/group2 x resource1/resource2, each expected as
    ``expect(verb, group, resource)`` says."""
    two = ("1", "2")
    return {Attrs(f"verb{v}", f"group{g}", f"resource{r}"): expect(v, g, r) for v in two for g in two for r in two}


FOO_PATHS = ("/foo", "/foo/bar", "/foo/baz", "/foo/bar/one", "/foo/baz/one")

# TestRuleMatches, as (rule, {request: expected})
RULE_MATCHES: list[tuple[str, Rule, dict[Attrs, bool]]] = [
    (
        "star verb, exact match other",
        rule("*", "group1", "resource1"),
        over_grid(lambda v, g, r: (g, r) == ("1", "1")),
    ),
    (
        "star group, exact match other",
        rule("verb1", "*", "resource1"),
        over_grid(lambda v, g, r: (v, r) == ("1", "1")),
    ),
    (
        "star resource, exact match other",
        rule("verb1", "group1", "*"),
        over_grid(lambda v, g, r: (v, g) == ("1", "1")),
    ),
    (
        "tuple expansion",
        rule("verb1,verb2", "group1,group2", "resource1,resource2"),
        over_grid(lambda v, g, r: True),
    ),
    (
        "subresource expansion",
        rule("*", "*", "resource1/subresource1"),
        {
            Attrs(v, g, r, s): (r, s) == ("resource1", "subresource1")
            for v in ("verb1", "verb2")
            for g, r, s in (
                ("group1", "resource1", "subresource1"),
                ("group2", "resource1", "subresource2"),
                ("group1", "resource2", "subresource1"),
                ("group2", "resource2", "subresource1"),
            )
        },
    ),
    (
        "star nonresource, exact match other",
        {"verbs": ["verb1"], "nonResourceURLs": ["*"]},
        {Attrs(v, path=p): v == "verb1" for v in ("verb1", "verb2") for p in FOO_PATHS},
    ),
    (
        "star nonresource subpath",
        {"verbs": ["verb1"], "nonResourceURLs": ["/foo/*"]},
        {Attrs("verb1", path=p): p.startswith("/foo/") for p in (*FOO_PATHS, "/notfoo", "/notfoo/bar")},
    ),
    (
        "star verb, exact nonresource",
        {"verbs": ["*"], "nonResourceURLs": ["/foo", "/foo/bar/one"]},
        {Attrs(v, path=p): p in ("/foo", "/foo/bar/one") for v in ("verb1", "verb2") for p in FOO_PATHS},
    ),
    # TestAuthorizer's subresource cases: "pods" is not "pods/status"; "*/scale" is scale of anything
    (
        "pods is not pods/status",
        rule("*", "*", "pods"),
        {Attrs("get", "", "pods"): True, Attrs("get", "", "pods", "status"): False},
    ),
    (
        "*/scale",
        rule("*", "*", "pods/status,*/scale"),
        {
            Attrs("get", "", "pods", "status"): True,
            Attrs("get", "", "pods", "scale"): True,
            Attrs("get", "", "deployments", "scale"): True,
            Attrs("get", "", "anything", "scale"): True,
            Attrs("get", "", "pods"): False,
        },
    ),
    # TestAuthorizer's non-resource URL cases
    (
        "non-resource-url-prefix",
        {"verbs": ["get"], "nonResourceURLs": ["/apis/*"]},
        {
            Attrs("get", path="/apis/v1"): True,
            Attrs("get", path="/apis/v1/foobar"): True,
            Attrs("get", path="/api/v1"): False,
        },
    ),
    (
        "pods/* is no pattern",
        rule("get", "", "pods/*"),
        {Attrs("get", "", "pods", "log"): False, Attrs("get", "", "pods", "*"): True},
    ),
    (
        "resourceNames",
        {**rule("get", "", "pods"), "resourceNames": ["a"]},
        {
            Attrs("get", "", "pods", "", "a"): True,
            Attrs("get", "", "pods", "", "b"): False,
            Attrs("get", "", "pods"): False,
        },
    ),
]


@pytest.mark.parametrize(("name", "the_rule", "cases"), RULE_MATCHES, ids=[c[0] for c in RULE_MATCHES])
def test_the_ported_evaluator_passes_rbac_test_go(name: str, the_rule: Rule, cases: dict[Attrs, bool]) -> None:
    for attrs, allowed in cases.items():
        assert rule_allows(attrs, the_rule) is allowed, attrs


def test_the_ported_authorizer_scopes_role_bindings_to_their_namespace() -> None:
    """TestAuthorizer's first case: a ClusterRole admin bound by a RoleBinding in ns1 allows ns1 only, and
    no cluster-scoped request."""
    docs: list[dict[str, Any]] = [
        {"kind": "ClusterRole", "metadata": {"name": "admin"}, "rules": [rule("*", "*", "*")]},
        {
            "kind": "RoleBinding",
            "metadata": {"name": "b", "namespace": "ns1"},
            "roleRef": {"kind": "ClusterRole", "name": "admin"},
        },
    ]
    assert authorize(docs, Attrs("get", "", "pods"), "ns1") and authorize(
        docs, Attrs("watch", "group1", "foobar"), "ns1"
    )
    assert not authorize(docs, Attrs("get", "", "pods"), "ns2") and not authorize(docs, Attrs("get", "", "nodes"), "")


# == generated needs ===================================================================================================
SERVED = [r for r in CATALOG.resources if r.verbs]
NAMES = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,6}[a-z0-9])?", fullmatch=True),  # what object names usually are
    st.text(alphabet="ab-.:=,@_~", min_size=1, max_size=5).filter(lambda n: n not in (".", "..")),  # what RBAC takes
)


#: The object names kube-apiserver accepts, ported from the name functions ValidateObjectMeta is given
#: (pkg/apis/core/validation: ValidatePodName = NameIsDNSSubdomain ...; ValidateNamespaceName = NameIsDNSLabel,
#: ValidateServiceName = NameIsDNS1035Label; apps, batch and coordination likewise subdomains), with
#: apimachinery/pkg/util/validation's IsDNS1123Subdomain (253), IsDNS1123Label (63), IsDNS1035Label (63).
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAME_RULES: dict[str, tuple[str, int]] = {
    "subdomain": (rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*", 253),
    "label": (_DNS1123_LABEL, 63),
    "1035": (r"[a-z]([-a-z0-9]*[a-z0-9])?", 63),
}
#: The kinds each name function is given for, by kind (the test maps kinds to resources with the catalog);
#: every kind of apps, batch and coordination.k8s.io here is validated as a subdomain.
_NAME_RULE_KINDS = {
    "subdomain": "Pod ConfigMap Secret ServiceAccount Node PersistentVolume PersistentVolumeClaim Endpoints"
    " ReplicationController LimitRange ResourceQuota Deployment StatefulSet DaemonSet ReplicaSet ControllerRevision"
    " Job CronJob Lease",
    "label": "Namespace",
    "1035": "Service",
}
_NAME_RULE_OF: dict[tuple[str, str], str] = {
    (r.group, r.name): rule
    for rule, kinds in _NAME_RULE_KINDS.items()
    for r in CATALOG.resources
    if r.kind in kinds.split() and "/" not in r.name
}
assert len(_NAME_RULE_OF) == sum(len(kinds.split()) for kinds in _NAME_RULE_KINDS.values())  # one resource a kind


def impossible_name(group: str, resource: str, name: str | None) -> bool:
    """Whether the server would refuse ``name`` for an object of this resource (the need then warns)."""
    rule = _NAME_RULE_OF.get((group, resource))
    if rule is None or name is None:
        return False
    pattern, longest = _NAME_RULES[rule]
    return len(name) > longest or re.fullmatch(pattern, name) is None


def _groups_of_catalog() -> list[Group]:
    """The built-in table as discovery documents (for the kubectl resolution oracle of test_discovery_catalog)."""
    groups: dict[str, Group] = {}
    for r in CATALOG.resources:
        g = groups.setdefault(r.group, Group(r.group, [], r.version))
        if r.version not in g.versions:
            g.versions.append(r.version)
        item = {"name": r.name, "singularName": r.singular_name, "kind": r.kind, "shortNames": list(r.short_names)}
        g.lists.setdefault(r.version, []).append(item)
    return list(groups.values())


BUILTIN_GROUPS = _groups_of_catalog()


def spellings(r: APIResource) -> list[str]:
    """Every way kubectl spells ``r`` that kubectl resolves to ``r`` (bare names shared by two groups go to the
    first: those are tested with their warning below)."""
    return _spellings(r.group, r.name)


@functools.cache
def _spellings(group: str, name: str) -> list[str]:
    r = CATALOG.lookup(group, name)
    assert r is not None
    words = [r.name, r.singular_name, r.kind, *r.short_names]
    out = words + [f"{w}.{r.group}" for w in words if r.group]
    if r.group:
        out.append(f"{r.name}.{r.version}.{r.group}")
        out.append(f"{r.name}.{r.group.split('.')[0]}")  # a group prefix: deployments.apps, leases.coordination
    return [w for w in out if kubectl_resource_for(BUILTIN_GROUPS, w) == GVR(r.group, r.version, r.name)]


@dataclass(frozen=True)
class Case:
    """A need as written (``spec``), the Need it must parse to, and whether it must draw a NeedWarning."""

    spec: str
    need: Need
    warns: bool = False


def ambiguous(spelled: str) -> bool:
    """A bare TYPE naming resources of several groups (kubectl takes the first; we warn): by plural, singular
    or kind first, else by short name (the spellings generated with a group name one group)."""
    text = spelled.lower()
    if "." in text:
        return False
    for by_short_name in (False, True):
        groups = {
            r.group
            for r in CATALOG.resources
            if text in (r.short_names if by_short_name else (r.name, r.singular_name, r.kind.lower()))
        }
        if groups:
            return len(groups) > 1
    return False


def _spec(draw: st.DrawFn, verbs: Sequence[str], target: str, subresource: str | None) -> str:
    verb_text = ",".join(v.upper() if draw(st.integers(0, 5)) == 0 else v for v in verbs)
    form = draw(st.sampled_from(["colon", "space", "flag-word"]))
    sep = " " if form == "space" else ":"
    text = f"{verb_text}{sep}{target}"
    if subresource is None:
        return text
    return f"{text} --subresource {subresource}" if form == "flag-word" else f"{text} --subresource={subresource}"


def _verbs(draw: st.DrawFn, pool: Sequence[str]) -> tuple[str, ...]:
    return tuple(draw(st.lists(st.sampled_from(list(pool)), min_size=1, max_size=4, unique=True)))


@st.composite
def served_cases(draw: st.DrawFn) -> Case:
    """A standard resource, spelled any way kubectl spells it, its verbs, maybe a subresource and a name."""
    r = draw(st.sampled_from(SERVED))
    sub = draw(st.sampled_from([None, *sorted(r.subresources)]))
    supported = r.subresources[sub] if sub else r.verbs
    if not supported:
        sub, supported = None, r.verbs
    verbs = _verbs(draw, supported)
    name = draw(st.one_of(st.none(), NAMES))
    if name and not sub:
        verbs = tuple(v for v in verbs if v not in ("create", "deletecollection"))
        if not verbs:
            name = None
            verbs = _verbs(draw, supported)
    spelled = draw(st.sampled_from(spellings(r)))
    target = f"{spelled}/{name}" if name else spelled
    warns = ambiguous(spelled) or (name in r.subresources and not sub) or impossible_name(r.group, r.name, name)
    return Case(_spec(draw, verbs, target, sub), Need(verbs, r.name, r.group, name, sub, r.namespaced), warns)


#: The special verbs and their resources: (verbs, resource, group, a subresource it may take, whether a Role can
#: grant it, i.e. whether the server checks it in a namespace; test_special_verbs_are_asked_where... cites where)
SPECIAL_TARGETS: list[tuple[tuple[str, ...], str, str, str, bool]] = [
    (("bind",), "roles", RBAC_GROUP, "", True),  # checked in the binding's namespace
    (("bind",), "clusterroles", RBAC_GROUP, "", True),  # likewise: a RoleBinding to a ClusterRole
    (("escalate",), "roles", RBAC_GROUP, "", True),  # in the namespace of the Role written
    (("escalate",), "clusterroles", RBAC_GROUP, "", False),  # a ClusterRole is written cluster-wide
    (("use",), "podsecuritypolicies", "policy", "", True),  # in the namespace of the pod admitted
    (("impersonate",), "users", "", "", False),
    (("impersonate",), "groups", "", "", False),
    (("impersonate",), "serviceaccounts", "", "", True),
    (("impersonate",), "userextras", "authentication.k8s.io", "scopes", False),  # subresource: the extra's key
    (("approve", "sign"), "signers", "certificates.k8s.io", "", False),
]


@st.composite
def special_cases(draw: st.DrawFn) -> Case:
    verbs, resource, group, sub, namespaced = draw(st.sampled_from(SPECIAL_TARGETS))
    verbs = _verbs(draw, verbs)
    served = CATALOG.lookup(group, resource)
    if served is not None and namespaced == served.namespaced and draw(st.booleans()):
        verbs += _verbs(draw, [v for v in served.verbs if v not in ("create", "deletecollection")])
    name: str | None = draw(st.one_of(st.none(), NAMES))
    if resource == "signers":
        name = draw(st.sampled_from([None, "kubernetes.io/kube-apiserver-client", "example.com/*", "example.com/a/b"]))
    # a user extra is always KEY (its subresource) and VALUE (its name): without a key it is refused (below)
    subresource = sub if resource == "userextras" else draw(st.sampled_from([None, sub])) if sub else None
    words = [resource]
    if served is None:  # known to the authorizer only: users, user, User; userextras.authentication.k8s.io ...
        words += [
            resource[:-1],
            {"users": "User", "groups": "Group", "userextras": "UserExtra"}.get(resource, "Signer"),
        ]
    type_text = draw(st.sampled_from(words + [f"{w}.{group}" for w in words if group]))
    target = f"{type_text}/{name}" if name else type_text
    warns = served is not None and name in served.subresources and not subresource  # serviceaccounts/token
    warns = warns or impossible_name(group, resource, name)
    return Case(
        _spec(draw, verbs, target, subresource), Need(verbs, resource, group, name, subresource, namespaced), warns
    )


@st.composite
def wildcard_cases(draw: st.DrawFn) -> Case:
    group = draw(st.sampled_from(["*", "apps", "", "rbac.authorization.k8s.io"]))
    sub = draw(st.sampled_from([None, "scale", "status"]))
    verbs = ("*",) if draw(st.booleans()) else _verbs(draw, ["get", "list", "watch", "update"])
    if group == "":  # "*" alone means every group (kubectl auth can-i would ask the core group only)
        group = "*"
    type_text = "*" if group == "*" and draw(st.booleans()) else f"*.{group}"
    return Case(_spec(draw, verbs, type_text, sub), Need(verbs, "*", group, None, sub, namespaced=True), warns=True)


@st.composite
def star_verb_cases(draw: st.DrawFn) -> Case:
    r = draw(st.sampled_from(SERVED))
    sub = draw(st.sampled_from([None, *sorted(r.subresources)]))
    name = draw(st.one_of(st.none(), NAMES)) if sub else None  # "*" includes create: no name without a subresource
    target = f"{r.type_name}/{name}" if name else r.type_name
    return Case(_spec(draw, ("*",), target, sub), Need(("*",), r.name, r.group, name, sub, r.namespaced), warns=True)


@st.composite
def unchecked_cases(draw: st.DrawFn) -> Case:
    """A custom resource checked offline: accepted, of unknown scope, as written."""
    group = draw(st.sampled_from(["example.com", "stable.example.com", "widgets.acme.io"]))
    resource = draw(st.sampled_from(["widgets", "crontabs", "things"]))
    verbs = _verbs(draw, ["get", "list", "watch", "update", "patch", "delete"])
    name = draw(st.one_of(st.none(), NAMES))
    target = f"{resource}.{group}" + (f"/{name}" if name else "")
    return Case(_spec(draw, verbs, target, None), Need(verbs, resource, group, name, None, namespaced=None), warns=True)


URLS = ["/healthz", "/metrics", "/version", "/logs/*", "/logs/a", "/api*", "/readyz/etcd"]


@st.composite
def url_cases(draw: st.DrawFn) -> Case:
    verbs = _verbs(draw, [*NON_RESOURCE_VERBS, "*"])
    url = draw(st.sampled_from(URLS))
    need = Need(verbs, namespaced=False, non_resource_url=url)
    return Case(_spec(draw, verbs, url, None), need, warns="*" in verbs or url.endswith("*"))


ALL_CASES = st.one_of(
    served_cases(), served_cases(), special_cases(), wildcard_cases(), star_verb_cases(), unchecked_cases(), url_cases()
)


# == syntax ============================================================================================================
@FAST
@given(ALL_CASES)
def test_every_spelling_parses_to_the_need_and_str_round_trips(case: Case) -> None:
    """Aliases (singular, kind, short name, name.group, name.version.group, group prefix, as kubectl resolves
    them), verbs in any case, both --subresource forms and the can-i word order give the same Need, and
    ``parse_need(str(need)) == need``."""
    need = quiet_parse(case.spec)
    assert need == case.need, case.spec
    assert quiet_parse(str(need)) == need
    assert parse_need(need) is need  # a Need passes through


@FAST
@given(ALL_CASES)
def test_a_warning_comes_exactly_with_wildcards_unchecked_groups_shared_names_and_names_like_subresources(
    case: Case,
) -> None:
    _, notes = caught_warnings(case.spec)
    assert bool(notes) == case.warns, (case.spec, notes)
    assert all(note.startswith(repr(case.spec) + ": ") for note in notes)


# -- refusals: every one names the input and says what to write instead --------------------------------------------
def _typos(word: str) -> list[str]:
    out = {word[:i] + word[i + 1 :] for i in range(len(word))}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return sorted(out - {word})


KNOWN_VERBS = {*STANDARD_VERBS, "use", "bind", "escalate", "impersonate", "approve", "sign", "proxy", "*"}


@FAST
@given(st.sampled_from(STANDARD_VERBS).flatmap(lambda v: st.tuples(st.just(v), st.sampled_from(_typos(v)))))
def test_a_typo_in_a_verb_is_refused_with_the_verb_meant(typo: tuple[str, str]) -> None:
    meant, wrong = typo
    assume(wrong not in KNOWN_VERBS)
    spec = f"{wrong},list:pods"
    with pytest.raises(NeedError) as err:
        parse_need(spec)
    message = str(err.value)
    assert message.startswith(repr(spec)) and f"{wrong!r} is not a Kubernetes verb" in message
    assert "; did you mean" in message and meant in message.split("did you mean")[1]


@FAST
@given(
    st.sampled_from([r for r in SERVED if len(r.name) > 4]).flatmap(
        lambda r: st.tuples(st.just(r), st.sampled_from(_typos(r.name)))
    )
)
def test_a_typo_in_a_resource_is_refused_with_the_resource_meant(typo: tuple[APIResource, str]) -> None:
    meant, wrong = typo
    assume(not CATALOG.candidates(wrong))  # not another spelling (endpoint is endpoints' singular)
    spec = f"get:{wrong}"
    with pytest.raises(NeedError) as err:
        parse_need(spec)
    assert str(err.value).startswith(repr(spec)) and meant.type_name in str(err.value).split("did you mean")[1]


@FAST
@given(st.sampled_from([r for r in SERVED if r.subresources]), st.data())
def test_a_typo_in_a_subresource_is_refused_with_the_subresources(r: APIResource, data: st.DataObject) -> None:
    meant = data.draw(st.sampled_from(sorted(r.subresources)))
    wrong = data.draw(st.sampled_from([*_typos(meant), "nosuchthing"]))
    assume(wrong not in r.subresources)
    spec = f"get:{r.type_name} --subresource={wrong}"
    with pytest.raises(NeedError) as err:
        parse_need(spec)
    message = str(err.value)
    assert message.startswith(repr(spec)) and f"has no subresource {wrong!r}" in message
    assert "did you mean" in message or all(s in message for s in r.subresources)


@FAST
@given(st.sampled_from(SERVED), st.data())
def test_a_verb_the_resource_does_not_serve_is_refused_with_what_it_serves(r: APIResource, data: st.DataObject) -> None:
    sub = data.draw(st.sampled_from([None, *sorted(r.subresources)]))
    supported = r.subresources[sub] if sub else r.verbs
    missing = [v for v in STANDARD_VERBS if v not in supported]
    assume(missing)
    verb = data.draw(st.sampled_from(missing))
    spec = f"{verb}:{r.type_name}" + (f" --subresource={sub}" if sub else "")
    with pytest.raises(NeedError) as err:
        parse_need(spec)
    assert str(err.value) == (
        f"{spec!r}: {r.name}{'/' + sub if sub else ''}{'.' + r.group if r.group else ''} does not support"
        f" {verb!r}; it supports {', '.join(supported)}"
    )


@FAST
@given(st.sampled_from(SERVED), NAMES, st.data())
def test_a_name_on_a_request_that_carries_none_is_refused(r: APIResource, name: str, data: st.DataObject) -> None:
    """Deliberate difference from kubectl create role, which writes the rule: a create (of an object, not a
    subresource) or deletecollection request carries no name at authorization time (requestinfo.go), so
    resourceNames never matches it; the rule would be dead. ``*`` includes both."""
    verb = data.draw(st.sampled_from([v for v in ("create", "deletecollection") if v in r.verbs] + ["*"]))
    spec = f"{verb}:{r.type_name}/{name}"
    with pytest.raises(NeedError) as err:
        quiet_parse(spec)
    assert str(err.value).startswith(repr(spec))
    assert "cannot be limited to one name" in str(err.value) and f"without /{name}" in str(err.value)


REFUSED: list[tuple[str, str]] = [
    # (spec, what the message must say)
    ("pods", "expected VERBS:TYPE[/NAME] [--subresource=SUB]"),
    (":pods", "expected VERBS:TYPE"),
    ("get:", "expected VERBS:TYPE"),
    (",:pods", "no verbs"),
    ("get:pods extra", "expected VERBS:TYPE"),
    ("get:pods --namespace=x", "unknown option '--namespace=x'; the only option is --subresource=SUB"),
    ("get:pods --subresource=", "--subresource needs a value, e.g. --subresource=log"),
    ("get:pods --subresource=log --subresource=status", "--subresource given twice"),
    ("get:/healthz --subresource=log", "a non-resource URL has no subresources"),
    ("list:/healthz", "non-resource URLs take HTTP verbs"),
    ("get:/a*b", "is not a non-resource URL"),
    ("get:/a**", "is not a non-resource URL (a path such as /healthz, or a prefix ending in one *)"),
    ("get:/a b", "expected VERBS:TYPE"),
    ("get:pods/.", "'.' is not a valid object name"),
    ("get:pods/..", "'..' is not a valid object name"),
    ("get:pods/a%b", "'a%b' is not a valid object name"),
    ("use:pods", "'use' applies only to podsecuritypolicies.extensions, podsecuritypolicies.policy"),
    ("bind:rolebindings.rbac.authorization.k8s.io", "'bind' applies only to clusterroles.rbac"),
    ("impersonate:pods", "'impersonate' applies only to"),
    ("get:users", "no API serves users; RBAC checks only impersonate on it"),
    ("get:signers.certificates.k8s.io", "RBAC checks only approve, sign on it"),
    ("bind,get:clusterroles.rbac.authorization.k8s.io", "write them as two needs"),
    ("bind,escalate:clusterroles.rbac.authorization.k8s.io", "write them as two needs"),
    (
        "get:deployments.apps --subresource=log",
        "deployments.apps has no subresource 'log'; its subresources are scale, status",
    ),
    ("get:configmaps --subresource=status", "configmaps has no subresource 'status'; it has none"),
    ("get:replicasets.extensions", "did you mean"),
    ("get:.extensions", "'.extensions' is not a resource"),
    # names no request carries: empty (an unset $NAME), '*' (RBAC has no wildcard names), '*/SUB' for a
    # subresource, a user extra without its key
    ("get:configmaps/", "the name after 'configmaps/' is empty (an unset variable?)"),
    ("get:pods/*", "'*' is not a wildcard name: RBAC has none"),
    ("impersonate:users/*", "'*' is not a wildcard name"),
    ("get:*/scale", "not the scale subresource (deployments.apps,"),
    ("get:*/scale", "; for that write get:* --subresource=scale"),
    ("get:* --subresource=*", "RBAC has no wildcard subresource"),
    (
        "impersonate:userextras/scopes",
        "for the extra 'scopes' write impersonate:userextras.authentication.k8s.io/VALUE --subresource=scopes",
    ),
    ("impersonate:userextras.authentication.k8s.io", "--subresource=KEY (the extra's key)"),
    # TYPE syntax, on every path (unchecked groups included)
    ("get:*.", "'*.' ends with '.': the group is empty"),
    ("get:pods.", "write pods for the core group's pods"),
    ("get:.example.com", "the resource before '.' is empty"),
    ("get:widgets..example.com", "'.example.com' is not an API group"),
    ("get:foo:bar.example.com", "'foo:bar' is not a resource name"),
    ("get:wid_gets.example.com", "'wid_gets' is not a resource name"),
    ("get:widgets.Example_Com", "'example_com' is not an API group"),
    ("get:" + "w" * 64 + ".example.com", "is not a resource name"),
    ("get:widgets.example.com --subresource=a/b", "'a/b' is not a subresource"),
    # versions: any the group serves for the resource, nothing else
    ("get:deployments.v1beta1.apps", "apps serves v1; v1beta1 is not served by the built-in table"),
    ("get:pods.v2", "the core group serves v1; v2 is not served"),
    (
        "get:cronjobs.v1.batch",
        "cronjobs.batch is served in v1beta1, not v1 (RBAC ignores versions: write cronjobs.batch)",
    ),
    # what is not text
    ("get:pods/\x1b]0;pwned\x07x", "character 10 is the unprintable '\\x1b'; a need is printable text"),
    ("get:pods\u202e", "is the unprintable '\\u202e'"),
]


@pytest.mark.parametrize(("spec", "says"), REFUSED)
def test_refusals_name_the_input_and_the_fix(spec: str, says: str) -> None:
    with pytest.raises(NeedError) as err:
        quiet_parse(spec)
    assert str(err.value).startswith(repr(spec)) and says in str(err.value)


def test_refusals_echo_no_control_characters_and_no_megabytes() -> None:
    for spec in ("get:pods/\x1b]0;pwned\x07x", "get:\x1b[31mpods", "get:widgets." + "a." * 200_000 + "io"):
        with pytest.raises(NeedError) as err:
            quiet_parse(spec)
        message = str(err.value)
        assert message.isprintable() and len(message) < 2_000, message[:200]
    assert "TYPE is 400010 characters long; a resource is at most 63 characters and a group 253" in message


def test_resolving_a_long_type_is_linear() -> None:
    """Finding: 200 000 dots took 487 s (every split of name.group, each joined anew). The TYPE is capped before
    resolving, and the catalog splits once, as kubectl does."""
    started = time.monotonic()
    for text in ("a." * 200_000, "a" * 400_000, "a." * 190 + "io"):
        with pytest.raises(NeedError):
            quiet_parse(f"get:{text}")
        assert CATALOG.candidates(text) == []
    assert time.monotonic() - started < 5


ACCEPTED: list[tuple[str, Need]] = [
    # who is impersonated is free text: an OIDC user name has '/', '#' and '%'
    (
        "impersonate:users/https://issuer.example.com#a%20b",
        Need(("impersonate",), "users", "", "https://issuer.example.com#a%20b", namespaced=False),
    ),
    ("impersonate:groups/system:masters", Need(("impersonate",), "groups", "", "system:masters", namespaced=False)),
    (
        "impersonate:userextras.authentication.k8s.io/a/b --subresource=scopes",
        Need(("impersonate",), "userextras", "authentication.k8s.io", "a/b", "scopes", namespaced=False),
    ),
    (
        "impersonate:userextras --subresource=iam.example.com/role",  # an extra's key is free text too
        Need(("impersonate",), "userextras", "authentication.k8s.io", None, "iam.example.com/role", namespaced=False),
    ),
    # every version the group serves for the resource; pods.v1 is core's v1 (kubectl reads a group v1)
    ("get:pods.v1", Need(("get",), "pods")),
    ("get:hpa.v2beta2.autoscaling", Need(("get",), "horizontalpodautoscalers", "autoscaling")),
    ("get:cronjobs.v1beta1.batch", Need(("get",), "cronjobs", "batch")),
    ("get:roles.v1beta1.rbac.authorization.k8s.io", Need(("get",), "roles", RBAC_GROUP)),
]


@pytest.mark.parametrize(("spec", "need"), ACCEPTED, ids=[a[0][:40] for a in ACCEPTED])
def test_free_names_and_served_versions_are_accepted(spec: str, need: Need) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeedWarning)
        assert parse_need(spec) == need


CAN_I_REFUSED: list[tuple[dict[str, Any], str]] = [
    # (can_i's arguments after the client, the message's start); refused before any request
    ({"verb": "create,get", "resource": "rolebindings"}, "verb='create,get': can_i takes one verb; for several,"),
    ({"verb": "create,get", "resource": "rolebindings"}, "check_need(client, parse_need('create,get:rolebindings')"),
    ({"verb": "get list", "resource": "pods"}, "verb='get list': can_i takes one verb"),
    ({"verb": "get:x", "resource": "pods"}, "verb='get:x': can_i takes one verb"),
    ({"verb": b"get", "resource": "pods"}, "verb=b'get': verb is a str, not bytes"),
    ({"verb": "get", "resource": "/healthz", "group": "apps"}, "group='apps': '/healthz' is a non-resource URL"),
    ({"verb": "get", "resource": "pods", "group": "a/b"}, "group='a/b' is not an API group"),
    ({"verb": "get", "resource": "pods", "name": "a b"}, "name='a b' is not one word of printable text"),
    ({"verb": "get", "resource": "pods", "name": ""}, "name='' is empty (an unset variable?); pass name=None"),
    ({"verb": "get", "resource": "pods", "name": "x\x1b[2J"}, "name='x\\x1b[2J' is not one word"),
    ({"verb": "get", "resource": "pods", "subresource": ""}, "subresource='' is empty"),
    ({"verb": "get", "resource": "pods", "subresource": "log "}, "subresource='log ' is not one word"),
    ({"verb": "get", "resource": "pods log"}, "resource='pods log' is not one word"),
    ({"verb": "get", "resource": b"pods"}, "resource=b'pods': resource is a str, not bytes"),
]


@pytest.mark.parametrize(("kwargs", "says"), CAN_I_REFUSED)
def test_can_i_checks_each_argument_and_names_it(kwargs: dict[str, Any], says: str) -> None:
    """Findings: can_i("create,get", ...) asked about create only; group= with a URL built "/healthz.apps";
    name="a b" gave a syntax error about a need nobody wrote. The client is never used: no request is made."""
    from incluster_sdk.rbac.access import async_can_i, can_i

    with pytest.raises(NeedError) as err:
        can_i(None, **kwargs)  # type: ignore[arg-type]
    assert str(err.value).startswith(says) or says in str(err.value), str(err.value)
    assert str(err.value).isprintable()
    with pytest.raises(NeedError):
        asyncio.run(async_can_i(None, **kwargs))  # type: ignore[arg-type]


def test_only_strings_and_lists_of_them() -> None:
    with pytest.raises(NeedError, match="a need is a string"):
        parse_need(("list", "pods"))  # type: ignore[arg-type]
    with pytest.raises(NeedError, match="a need is a str, not bytes; decode it first"):
        parse_needs([b"get:pods"])  # type: ignore[list-item]
    with pytest.raises(NeedError, match="parse_needs takes a list of needs"):
        parse_needs(b"get:pods")  # type: ignore[arg-type]
    with pytest.raises(NeedError, match="parse_needs takes a list of needs; use parse_need for one"):
        parse_needs("list:pods")
    assert parse_needs(["list:pods", parse_need("get:configmaps")]) == [
        parse_need("list:pods"),
        parse_need("get:configmaps"),
    ]


# -- warnings -------------------------------------------------------------------------------------------------------
WARNED: list[tuple[str, str]] = [
    ("*:pods", "the verb '*' grants every verb, including delete, escalate and impersonate"),
    ("get:*", "the resource '*' grants every resource of every group"),
    ("get:*.*", "the resource '*' grants every resource of every group"),
    ("get:*.apps", "the resource '*' grants every resource"),
    ("get:pods/log", "/log means the Pod named 'log'; for the log subresource write get:pods --subresource=log"),
    ("get:deployments.apps/scale", "write get:deployments.apps --subresource=scale"),
    ("list:events", "events exists in the groups core, events.k8s.io; taking events (write events.events.k8s.io"),
    ("list:ev", "taking events"),
    ("get:ingresses", "taking ingresses.networking.k8s.io (write ingresses.extensions for the other)"),
    ("get:widgets.example.com", "group example.com is not in the built-in table (kube-apiserver v1.20.2 discovery),"),
    ("get:/logs/*", "/logs/* grants every URL under /logs/"),
    ("get:/*", "/* grants every URL under /"),
    # TYPE.* is the wildcard group: as loud as '*'
    ("get:secrets.*", "secrets.* grants secrets in every API group, including groups added later"),
    ("list:ev.*", "events.* grants events in every API group, including groups added later"),
    ("list:ev.*", "for these write events or events.events.k8s.io"),
    # names the server refuses for such objects (RBAC takes them, but no object has them)
    ("get:configmaps/Foo_Bar", "'Foo_Bar' is not a valid ConfigMap name (a DNS-1123 subdomain"),
    ("get:leases.coordination.k8s.io/-x", "is not a valid Lease name"),
    ("get:namespaces/a.b", "'a.b' is not a valid Namespace name (a DNS-1123 label"),
    ("get:services/1abc", "'1abc' is not a valid Service name (a DNS-1035 label"),
    ("get:pods/" + "a" * 254, "is not a valid Pod name"),
    # a version of an unknown group is dropped (RBAC ignores versions)
    ("get:widgets.v1.example.com", "so widgets.example.com is not checked"),
]


@pytest.mark.parametrize(("spec", "says"), WARNED)
def test_risky_or_ambiguous_needs_warn(spec: str, says: str) -> None:
    need, notes = caught_warnings(spec)
    assert any(says in note and note.startswith(repr(spec)) for note in notes), notes
    assert quiet_parse(str(need)) == need


def test_a_group_prefix_of_several_groups_warns_and_takes_the_first() -> None:
    """restmapper_test.go's "groups, with ambiguous group prefix": kubectl's priority mapper takes the first
    group in discovery order; we do too, and say so."""
    groups = [Group("", ["v1"], "v1", {"v1": []})]
    groups += [Group(g, ["v1"], "v1", {"v1": [res("my-kinds", "my-kind")]}) for g in ("first-group-1", "first-group")]
    catalog, _ = drive(groups)
    with pytest.warns(NeedWarning, match="my-kinds.first exists in the groups first-group, first-group-1; taking"):
        need = parse_need("get:my-kinds.first", catalog)
    assert (need.group, need.resource) == ("first-group-1", "my-kinds")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_need("get:my-kinds.first-group", catalog).group == "first-group"  # exact: no doubt


def test_a_group_the_offline_table_does_not_know_is_taken_as_written_and_unchecked() -> None:
    need, notes = caught_warnings("create:widgets.example.com")
    assert need == Need(("create",), "widgets", "example.com", namespaced=None)
    assert "scope assumed namespaced" in notes[0] and "connect to a server that serves it" in notes[0]
    with pytest.raises(NeedError, match="cannot be limited to one name"):
        quiet_parse("create:widgets.example.com/x")  # what is knowable offline is still checked
    with pytest.raises(NeedError, match="did you mean"):
        parse_need("get:deploymnets.apps")  # a group the table knows: its resources are checked


# == kubectl create role's cases, in our syntax ========================================================================
RS_SCALE = "replicasets/scale"
PODS_ALL = rule("*", "", "pods")
CREATE_ROLE_RULES: list[tuple[str, list[str], list[Rule]]] = [
    # (kubectl case, our needs, the rules); kubectl's test mapper serves replicasets and deployments in
    # extensions, 1.20 serves them in apps only; kubectl keeps the verbs in the order given, we sort them
    ("test-duplicate-resources", ["get,watch,list:pods"] * 2, [rule("get,list,watch", "", "pods")]),  # pods,pods
    # replicasets/scale; 1.20's scale serves get, patch, update: no watch or list
    (
        "test-subresources",
        ["get,patch,update:replicasets --subresource=scale"],
        [rule("get,update,patch", "apps", RS_SCALE)],
    ),
    ("test-subresources-with-apigroup", ["get:replicasets.apps --subresource=scale"], [rule("get", "apps", RS_SCALE)]),
    (
        "test-valid-case-with-multiple-apigroups",
        ["get,watch,list:pods", "get,watch,list:deployments.apps"],
        [rule("get,list,watch", "", "pods"), rule("get,list,watch", "apps", "deployments")],
    ),
    (
        "test-resource-name-with-multiple-resources",  # pods, deployments.apps, --resource-name=foo
        ["get:pods/foo", "get:deployments.apps/foo"],
        [rule("get", "", "pods", names="foo"), rule("get", "apps", "deployments", names="foo")],
    ),
    # role-binder: get,list,bind on roles named foo
    (
        "test-valid-case",
        [f"get,list,bind:roles.{RBAC_GROUP}/foo"],
        [rule("get,list,bind", RBAC_GROUP, "roles", names="foo")],
    ),
    # replicasets/scale named bar; get only, see test-subresources
    (
        "test-valid-case-with-subresource",
        ["get:replicasets/bar --subresource=scale"],
        [rule("get", "apps", RS_SCALE, names="bar")],
    ),
    (
        "test-valid-case-with-additional-resource",  # impersonate userextras/scopes
        ["impersonate:userextras.authentication.k8s.io --subresource=scopes"],
        [rule("impersonate", "authentication.k8s.io", "userextras/scopes")],
    ),
    (
        "test-duplicate-verbs",  # get,watch,list,get
        ["get,watch,list,get:pods", "get,watch,list,get:deployments.apps"],
        [rule("get,list,watch", "", "pods"), rule("get,list,watch", "apps", "deployments")],
    ),
    ("test-verball", ["get,watch,list,*:pods"], [rule("*", "", "pods")]),  # get,watch,list,* is *
    # *,pods is *; our * is every group, kubectl's bare * the core group only
    ("test-allresource", ["*:*", "*:pods"], [rule("*", "*", "*")]),
    ("test-allresource-subresource", ["*:* --subresource=scale", "*:pods"], [PODS_ALL, rule("*", "*", "*/scale")]),
    ("test-allresrouce-allgroup", ["*:*.*", "*:pods"], [rule("*", "*", "*")]),  # *.*,pods
    (
        "test-allresource-allgroup-subresource",
        ["*:*.* --subresource=scale", "*:pods"],
        [PODS_ALL, rule("*", "*", "*/scale")],
    ),
    ("test-allresource-specificgroup", ["*:*.extensions", "*:pods"], [PODS_ALL, rule("*", "extensions", "*")]),
    (
        "test-allresource-specificgroup-subresource",  # *.extensions/scale,pods
        ["*:*.extensions --subresource=scale", "*:pods"],
        [PODS_ALL, rule("*", "extensions", "*/scale")],
    ),
    # test-duplicate-resourcenames (foo,foo) and test-valid-complete-case (* on pods/foo: ours needs a subresource)
    (
        "test-duplicate-resourcenames",
        ["get:pods/foo", "get:pods/foo", "get:deployments.apps/foo"],
        [rule("get", "", "pods", names="foo"), rule("get", "apps", "deployments", names="foo")],
    ),
]


@pytest.mark.parametrize(
    ("name", "specs", "rules"), CREATE_ROLE_RULES, ids=[c[0].split(" ")[0] for c in CREATE_ROLE_RULES]
)
def test_kubectl_create_role_cases(name: str, specs: list[str], rules: list[Rule]) -> None:
    assert policy_rules([quiet_parse(s) for s in specs]) == rules


CREATE_ROLE_REFUSED: list[tuple[str, str, str]] = [
    # (kubectl TestValidate case, our spec, what we say); kubectl errors unless noted
    ("test-missing-verb", ":pods", "expected VERBS:TYPE"),
    ("test-missing-resource", "get:", "expected VERBS:TYPE"),
    ("test-missing-resource-existing-apigroup", "get:.extensions", "is not a resource"),
    ("test-missing-resource-existing-subresource", "get: --subresource=scale", "expected VERBS:TYPE"),
    # kubectl only warns "'invalid-verb' is not a standard resource verb"; a verb RBAC never checks is a dead rule
    ("test-invalid-verb (kubectl: warning)", "invalid-verb:pods", "'invalid-verb' is not a Kubernetes verb"),
    # kubectl accepts post on pods; RBAC's resource verbs are never HTTP methods, so it is a dead rule too
    ("test-nonresource-verb (kubectl: accepted)", "post:pods", "'post' is not a Kubernetes verb"),
    ("test-special-verb", "use:pods", "'use' applies only to"),
    ("test-mix-verbs", "impersonate,use:userextras --subresource=scopes", "'use' applies only to"),
    (
        "test-special-verb-with-wrong-apigroup",
        "impersonate:userextras.extensions --subresource=scopes",
        "is not a resource",
    ),
    (
        "test-invalid-resource",
        "get:invalid-resource",
        "'invalid-resource' is not a resource known to the built-in table",
    ),
    # kubectl writes the rule (its test mapper serves list on scale); 1.20's scale does not serve list
    (
        "test-valid-case-with-subresource (kubectl: accepted)",
        "get,list:replicasets/bar --subresource=scale",
        "does not support 'list'",
    ),
    (
        "test-subresources-with-apigroup (1.20 has no extensions/replicasets)",
        "get:replicasets.extensions --subresource=scale",
        "did you mean ingresses.extensions or replicasets.apps?",
    ),
]


@pytest.mark.parametrize(
    ("name", "spec", "says"), CREATE_ROLE_REFUSED, ids=[c[0].split(" ")[0] for c in CREATE_ROLE_REFUSED]
)
def test_kubectl_create_role_validation_cases(name: str, spec: str, says: str) -> None:
    with pytest.raises(NeedError) as err:
        quiet_parse(spec)
    assert str(err.value).startswith(repr(spec)) and says in str(err.value)


# == kubectl auth can-i's cases: the SelfSubjectAccessReview bodies ====================================================
def _omit_empty(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v}  # Go's omitempty: kubectl leaves "group": "" out


CANI_CASES: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    # (kubectl case, can-i args as one need, verb, namespace (None: --all-namespaces), the spec it sends)
    (
        "restmapping for args (kubectl's test mapper: extensions)",
        "get:replicaset",
        "get",
        "test",
        {"resourceAttributes": {"namespace": "test", "verb": "get", "group": "apps", "resource": "replicasets"}},
    ),
    (
        "simple success",
        "get:deployments.apps/foo",
        "get",
        "test",
        {
            "resourceAttributes": {
                "namespace": "test",
                "verb": "get",
                "group": "apps",
                "resource": "deployments",
                "name": "foo",
            }
        },
    ),
    (
        "all namespaces",
        "get:deployments.apps/foo",
        "get",
        None,
        {"resourceAttributes": {"verb": "get", "group": "apps", "resource": "deployments", "name": "foo"}},
    ),
    (
        "sub resource",
        "get:pods --subresource=log",
        "get",
        None,
        {"resourceAttributes": {"verb": "get", "resource": "pods", "subresource": "log"}},
    ),
    (
        "sub resource, can-i word order",
        "get pods --subresource=log",
        "get",
        None,
        {"resourceAttributes": {"verb": "get", "resource": "pods", "subresource": "log"}},
    ),
    ("nonResourceURL", "get:/logs", "get", "test", {"nonResourceAttributes": {"path": "/logs", "verb": "get"}}),
    # kubectl warns "resource 'nodes' is not namespace scoped" and still asks in the namespace; we ask as the
    # server will check: cluster-wide
    (
        "not namespace scoped",
        "get:nodes/n1",
        "get",
        "test",
        {"resourceAttributes": {"verb": "get", "resource": "nodes", "name": "n1"}},
    ),
]


@pytest.mark.parametrize(
    ("name", "spec", "verb", "namespace", "sent"), CANI_CASES, ids=[c[0].split(" (")[0] for c in CANI_CASES]
)
def test_kubectl_can_i_cases(name: str, spec: str, verb: str, namespace: str | None, sent: dict[str, Any]) -> None:
    body = access_review_body(parse_need(spec), verb, namespace)
    assert body["apiVersion"] == "authorization.k8s.io/v1" and body["kind"] == "SelfSubjectAccessReview"
    got = {key: _omit_empty(value) for key, value in body["spec"].items()}
    assert got == sent


# == policy_rules: exactly the requests the needs describe, in the fewest rules ========================================
def describes(need: Need, attrs: Attrs) -> bool:
    """What a need means, read from its fields (independently of how rules spell it)."""
    if ("*" not in need.verbs) and attrs.verb not in need.verbs:
        return False
    if need.non_resource_url is not None:
        url = need.non_resource_url
        return attrs.path is not None and (attrs.path == url or (url.endswith("*") and attrs.path.startswith(url[:-1])))
    if attrs.path is not None or need.group not in ("*", attrs.group):
        return False
    if need.resource == "*":  # every resource; with a subresource, that subresource of every resource
        if need.subresource is not None and attrs.subresource != need.subresource:
            return False
    elif (attrs.resource, attrs.subresource or None) != (need.resource, need.subresource):
        return False
    return need.name is None or attrs.name == need.name


def request_pool(needs: Sequence[Need]) -> list[Attrs]:
    """Every request made of the needs' parts and one outsider of each kind: all the requests they describe,
    and the nearest ones they do not."""
    verbs = sorted({v for n in needs for v in n.verbs if v != "*"} | {"get", "bind"})
    groups = sorted({n.group for n in needs if n.group != "*" and n.non_resource_url is None} | {"other.io"})
    resources = sorted({n.resource for n in needs if n.resource not in ("*", "")} | {"others"})
    subresources = sorted({n.subresource or "" for n in needs} | {"", "othersub"})
    names = sorted({n.name or "" for n in needs} | {"", "other-name"})
    pool = [Attrs(*parts) for parts in itertools.product(verbs, groups, resources, subresources, names)]
    urls = {u for n in needs if (u := n.non_resource_url) is not None}
    paths = {p for u in urls for p in (u.rstrip("*"), u.rstrip("*") + "x/y", u.rstrip("*")[:-1] or "/z")} | {"/other"}
    pool += [Attrs(v, path=p) for v in verbs for p in sorted(paths)]
    return pool


#: Needs that overlap: the same resources with other verbs and names, and wildcards over them.
OVERLAPPING = st.lists(
    st.one_of(ALL_CASES, wildcard_cases(), star_verb_cases(), url_cases()), min_size=1, max_size=6
) | st.lists(served_cases().filter(lambda c: c.need.group in ("", "apps")), min_size=2, max_size=6)


@settings(max_examples=40, deadline=None)
@given(OVERLAPPING)
@example([Case("*:*", Need(("*",), "*", "*")), Case("get:pods", Need(("get",), "pods"))])
@example(
    [
        Case("get:*/x --subresource=scale", Need(("get",), "*", "*", "x", "scale")),
        Case("", Need(("get",), "pods", "", "x", "scale")),
    ]
)
@example(
    [
        Case("get:/logs/*", Need(("get",), non_resource_url="/logs/*")),
        Case("", Need(("get",), non_resource_url="/logs/a")),
    ]
)
def test_policy_rules_allow_exactly_what_the_needs_describe_and_no_rule_is_spare(cases: list[Case]) -> None:
    needs = [c.need for c in cases]
    rules = policy_rules(needs)
    pool = request_pool(needs)
    described = [a for a in pool if any(describes(n, a) for n in needs)]
    for attrs in pool:
        assert rules_allow(rules, attrs) == (attrs in described), (attrs, needs, rules)
    # minimal: every rule allows some request no other rule does, and no two rules could be one
    for i, r in enumerate(rules):
        others = rules[:i] + rules[i + 1 :]
        assert any(rule_allows(a, r) and not rules_allow(others, a) for a in described), (r, rules, needs)
    for a, b in itertools.combinations(rules, 2):
        differing = [
            k for k in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs") if a.get(k) != b.get(k)
        ]
        assert differing not in (["resources"], ["verbs"], ["resourceNames"], ["nonResourceURLs"]), (a, b)  # one rule
    # shapes: one group per resource rule, verbs in kubectl's order, no empty lists
    for r in rules:
        assert r["verbs"] and all(r[k] for k in r)
        assert ("nonResourceURLs" in r) != ("resources" in r)
        assert list(r.get("apiGroups", [""])) != [] and len(r.get("apiGroups", [""])) == 1


def test_named_grants_lose_the_verbs_granted_on_the_whole_resource() -> None:
    needs = [quiet_parse(s) for s in ("list,watch:configmaps", "get,list,watch:configmaps/a", "get:configmaps/b")]
    assert policy_rules(needs) == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a", "b"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]},
    ]


# == manifests: a Role for what a Role can grant, a ClusterRole for the rest ===========================================
@FAST
@given(st.lists(ALL_CASES, min_size=1, max_size=5), st.sampled_from([None, "custom"]), st.booleans())
def test_manifests_split_by_scope_and_grant_each_need_where_it_is_checked(
    cases: list[Case], name: str | None, cluster_wide: bool
) -> None:
    needs = [c.need for c in cases]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeedWarning)
        docs = manifests(needs, namespace="app", service_account="sa", name=name, cluster_wide=cluster_wide)
    kinds = {d["kind"]: d for d in docs}
    base = name or "sa"
    assert docs[0] == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "app"}}
    in_role = [n for n in needs if n.namespaced is not False and not cluster_wide]
    in_cluster_role = [n for n in needs if n.namespaced is False or cluster_wide]
    bound_cluster_wide = [n for n in in_role if binds_cluster_roles_for_cluster_role_bindings(needs, n)]
    in_role = [n for n in in_role if n not in bound_cluster_wide]
    in_role += [dataclasses.replace(n, verbs=tuple(v for v in n.verbs if v != "bind")) for n in bound_cluster_wide]
    in_role = [n for n in in_role if n.verbs]
    in_cluster_role += [dataclasses.replace(n, verbs=("bind",)) for n in bound_cluster_wide]
    if in_role:
        assert kinds["Role"]["metadata"] == {"name": base, "namespace": "app"} == kinds["RoleBinding"]["metadata"]
        assert kinds["Role"]["rules"] == policy_rules(in_role)
        assert kinds["RoleBinding"]["roleRef"] == {"apiGroup": RBAC_GROUP, "kind": "Role", "name": base}
    else:
        assert "Role" not in kinds and "RoleBinding" not in kinds
    if in_cluster_role:
        assert kinds["ClusterRole"]["metadata"] == {"name": f"app:{base}"} == kinds["ClusterRoleBinding"]["metadata"]
        assert kinds["ClusterRole"]["rules"] == policy_rules(in_cluster_role)
        assert kinds["ClusterRoleBinding"]["roleRef"] == {
            "apiGroup": RBAC_GROUP,
            "kind": "ClusterRole",
            "name": f"app:{base}",
        }
    else:
        assert "ClusterRole" not in kinds
    for binding in (d for d in docs if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sa", "namespace": "app"}]
    # every request a need describes is allowed in the namespace the server checks it in, and a namespaced
    # need is not allowed in another namespace (unless granted cluster-wide)
    for attrs in request_pool(needs):
        for need in (n for n in needs if describes(n, attrs)):
            where = need.review_namespace(attrs.verb, "app") or ""
            assert authorize(docs, attrs, where), (need, attrs, where, docs)
            if attrs.verb == "bind" and need in bound_cluster_wide:  # for a ClusterRoleBinding: no namespace
                assert authorize(docs, attrs, ""), (need, attrs, docs)
        elsewhere = any(
            describes(n, attrs)
            and (n.namespaced is False or cluster_wide or (n in bound_cluster_wide and attrs.verb == "bind"))
            for n in needs
        )
        assert authorize(docs, attrs, "other") == elsewhere


def binds_cluster_roles_for_cluster_role_bindings(needs: Sequence[Need], need: Need) -> bool:
    """Whether ``need``'s ``bind`` must be granted cluster-wide: the needs write ClusterRoleBindings, whose
    ``bind`` check has no namespace (clusterrolebinding/policybased/storage.go: BindingAuthorized with
    metav1.NamespaceNone), and ``need`` binds ClusterRoles (a ClusterRoleBinding cannot reference a Role)."""

    def on(n: Need, resource: str) -> bool:
        return n.group in (RBAC_GROUP, "*") and n.resource in (resource, "*") and n.subresource is None

    writes = any(on(n, "clusterrolebindings") and {"create", "update", "patch", "*"} & set(n.verbs) for n in needs)
    return writes and "bind" in need.verbs and on(need, "clusterroles") and need.namespaced is not False


BIND = f"bind:clusterroles.{RBAC_GROUP}/view"
CREATE_RB = f"create:rolebindings.{RBAC_GROUP}"
CREATE_CRB = f"create:clusterrolebindings.{RBAC_GROUP}"


@pytest.mark.parametrize(
    ("specs", "in_role", "in_cluster_role"),
    [
        ([CREATE_RB, BIND], {"create rolebindings", "bind clusterroles view"}, set()),
        ([CREATE_CRB, BIND], set(), {"create clusterrolebindings", "bind clusterroles view"}),
        (  # both: the ClusterRoleBinding's grant applies in every namespace, RoleBindings in app included
            [CREATE_RB, CREATE_CRB, BIND],
            {"create rolebindings"},
            {"create clusterrolebindings", "bind clusterroles view"},
        ),
        (  # bind on a Role is for RoleBindings only; get stays in the namespace
            [CREATE_CRB, BIND, f"get,bind:roles.{RBAC_GROUP}/r", f"bind:clusterroles.{RBAC_GROUP}/edit"],
            {"get,bind roles r"},
            {"create clusterrolebindings", "bind clusterroles edit,view"},
        ),
        (
            [f"update,patch:clusterrolebindings.{RBAC_GROUP}/x", f"bind:*.{RBAC_GROUP}"],
            set(),
            {"bind *", "update,patch clusterrolebindings x"},
        ),
    ],
)
def test_bind_for_cluster_role_bindings_is_granted_cluster_wide(
    specs: list[str], in_role: set[str], in_cluster_role: set[str]
) -> None:
    """Finding: ``-n app create:clusterrolebindings bind:clusterroles/view`` put bind in a Role, which the
    server never consults for a ClusterRoleBinding; the real request got 403 (tests/e2e: the same needs)."""
    needs = [quiet_parse(s) for s in specs]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeedWarning)  # bind is granted: no escalation warning either
        docs = manifests(needs, namespace="app", service_account="binder")

    def rules_of(kind: str) -> set[str]:
        return {
            f"{','.join(r['verbs'])} {','.join(r['resources'])}"
            + (f" {','.join(r['resourceNames'])}" if "resourceNames" in r else "")
            for d in docs
            if d["kind"] == kind
            for r in d["rules"]
        }

    assert (rules_of("Role"), rules_of("ClusterRole")) == (in_role, in_cluster_role)
    view = Attrs("bind", RBAC_GROUP, "clusterroles", name="view")
    assert authorize(docs, view, "app") and authorize(docs, view, "") == any(
        CREATE_CRB in s or "clusterrolebindings" in s for s in specs
    )


def test_the_escalation_warning_for_cluster_role_bindings_asks_for_bind_on_cluster_roles() -> None:
    """bind on Roles does not let the app write ClusterRoleBindings (they reference ClusterRoles only); the
    warning's example is the need that works, and it is granted where the server checks it."""
    needs = [quiet_parse(CREATE_CRB), quiet_parse(f"bind:roles.{RBAC_GROUP}")]
    with pytest.warns(NeedWarning) as caught:
        manifests(needs, namespace="app", service_account="binder")
    (note,) = [str(w.message) for w in caught]
    assert f"e.g. {BIND})" in note and "checks bind for a ClusterRoleBinding in no namespace" in note
    fixed = [*needs, quiet_parse(BIND)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeedWarning)
        docs = manifests(fixed, namespace="app", service_account="binder")
    assert authorize(docs, Attrs("bind", RBAC_GROUP, "clusterroles", name="view"), "")


def test_manifests_for_group_and_custom_subjects() -> None:
    needs = [parse_need("list:pods"), parse_need("list:nodes")]
    docs = manifests(needs, namespace="ns", service_account="a", subject_group=True, include_service_account=False)
    assert [d["kind"] for d in docs] == ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]
    group = {"kind": "Group", "name": "system:serviceaccounts:ns", "apiGroup": RBAC_GROUP}
    assert docs[1]["subjects"] == [group] == docs[3]["subjects"]
    user = {"kind": "User", "name": "alice", "apiGroup": RBAC_GROUP}
    assert manifests(needs, namespace="ns", service_account="a", subject=user)[2]["subjects"] == [user]
    assert list(yaml.safe_load_all(to_yaml(docs))) == docs


def escalation_check(written: str) -> tuple[str, tuple[str, ...]] | None:
    """What writing the RBAC resource ``written`` checks (escalation_check.go): BindingAuthorized checks
    ``bind`` on the kinds a roleRef may name (a RoleBinding's a Role or a ClusterRole, a ClusterRoleBinding's
    only a ClusterRole); RoleEscalationAuthorized checks ``escalate`` on the written role's own resource."""
    if written.endswith("rolebindings"):
        return "bind", ("clusterroles",) if written.startswith("cluster") else ("roles", "clusterroles")
    if written in ("roles", "clusterroles"):
        return "escalate", (written,)
    return None


ESCALATION_CHECKED = ("rolebindings", "clusterrolebindings", "roles", "clusterroles")


def needs_escalation_warning(needs: Sequence[Need]) -> bool:
    """Writing a (Cluster)Role(Binding) is checked for escalation (pkg/registry/rbac/{role,clusterrole,...}/
    policybased): unless the app holds every permission it grants, it needs ``bind`` (bindings) or
    ``escalate`` (roles) on the roles they reference."""

    def grants(special: str, targets: tuple[str, ...]) -> bool:
        return any(
            n.group in (RBAC_GROUP, "*")
            and n.resource in (*targets, "*")
            and n.subresource is None
            and (special in n.verbs or "*" in n.verbs)
            for n in needs
        )

    for n in needs:
        if (
            n.group not in (RBAC_GROUP, "*")
            or n.subresource is not None
            or not {"create", "update", "patch", "*"} & set(n.verbs)
        ):
            continue
        written = ESCALATION_CHECKED if n.resource == "*" else (n.resource,)
        checks = [check for check in map(escalation_check, written) if check is not None]
        if any(not grants(special, targets) for special, targets in checks):
            return True
    return False


RBAC_SPECS = [
    "create:rolebindings.rbac.authorization.k8s.io",
    "update,patch:clusterrolebindings.rbac.authorization.k8s.io/x",
    "create:roles.rbac.authorization.k8s.io",
    "create,update:clusterroles.rbac.authorization.k8s.io",
    "get,list:roles.rbac.authorization.k8s.io",
    "bind:clusterroles.rbac.authorization.k8s.io/view",
    "bind:roles.rbac.authorization.k8s.io",
    "escalate:roles.rbac.authorization.k8s.io",
    "escalate:clusterroles.rbac.authorization.k8s.io",
    "*:rolebindings.rbac.authorization.k8s.io",
    "*:roles.rbac.authorization.k8s.io",
    "create:*.rbac.authorization.k8s.io",
    "*:*",
    "list:pods",
]


@FAST
@given(st.lists(st.sampled_from(RBAC_SPECS), min_size=1, max_size=4, unique=True))
def test_the_escalation_warning_appears_exactly_when_writing_rbac_without_bind_or_escalate(specs: list[str]) -> None:
    needs = [quiet_parse(s) for s in specs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifests(needs, namespace="app", service_account="sa")
    notes = [str(w.message) for w in caught if issubclass(w.category, NeedWarning)]
    assert bool(notes) == needs_escalation_warning(needs), (specs, notes)
    for note in notes:
        assert "privilege escalation" in note and "or the API server will refuse with 403" in note


# == review_namespace: the scope the authorizer checks, from kube-apiserver's RequestInfo ==============================
@dataclass
class RequestInfo:
    is_resource_request: bool
    verb: str
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()


SPECIAL_PATH_VERBS = {"proxy", "watch"}
NAMESPACE_SUBRESOURCES = {"status", "finalize"}
METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def request_info(method: str, url: str) -> RequestInfo:
    """RequestInfoFactory.NewRequestInfo (APIPrefixes api and apis, api groupless)."""
    split = urllib.parse.urlsplit(url)
    info = RequestInfo(False, method.lower())
    trimmed = urllib.parse.unquote(split.path).strip("/")
    parts = trimmed.split("/") if trimmed else []
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return info
    prefix, parts = parts[0], parts[1:]
    if prefix == "apis":
        if len(parts) < 3:
            return info
        info.api_group, parts = parts[0], parts[1:]
    info.is_resource_request = True
    info.api_version, parts = parts[0], parts[1:]
    if parts[0] in SPECIAL_PATH_VERBS:
        info.verb, parts = parts[0], parts[1:]
    else:
        info.verb = METHOD_VERBS.get(method, "")
    if parts[0] == "namespaces" and len(parts) > 1:
        info.namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    info.parts = tuple(parts)
    if len(parts) >= 3 and info.verb != "proxy":
        info.subresource = parts[2]
    if len(parts) >= 2:
        info.name = parts[1]
    info.resource = parts[0]
    if not info.name and info.verb == "get":
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        watch = query.get("watch", [])
        info.verb = "watch" if watch and watch[0] != "0" and watch[0].lower() != "false" else "list"
        name = selector_name(query.get("fieldSelector", [""])[0])
        if name is not None:
            info.name = name
    if not info.name and info.verb == "delete":
        info.verb = "deletecollection"
    return info


# TestGetAPIRequestInfo's success cases:
# method, url, verb, group/version, namespace, resource, subresource, name, parts joined by "/" ("-" is empty)
REQUEST_INFO_CASES = [
    tuple("" if field == "-" else field for field in row.split())
    for row in """
GET    /api/v1/namespaces                                                list             v1                 -     namespaces -        -     namespaces
GET    /api/v1/namespaces/other                                          get              v1                 other namespaces -        other namespaces/other
GET    /api/v1/namespaces/other/pods                                     list             v1                 other pods       -        -     pods
GET    /api/v1/namespaces/other/pods/foo                                 get              v1                 other pods       -        foo   pods/foo
HEAD   /api/v1/namespaces/other/pods/foo                                 get              v1                 other pods       -        foo   pods/foo
GET    /api/v1/pods                                                      list             v1                 -     pods       -        -     pods
HEAD   /api/v1/pods                                                      list             v1                 -     pods       -        -     pods
GET    /api/v1/proxy/namespaces/other/pods/foo                           proxy            v1                 other pods       -        foo   pods/foo
GET    /api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource proxy            v1                 other pods       -        foo   pods/foo/subpath/not/a/subresource
GET    /api/v1/watch/pods                                                watch            v1                 -     pods       -        -     pods
GET    /api/v1/pods?watch=true                                           watch            v1                 -     pods       -        -     pods
GET    /api/v1/pods?watch=false                                          list             v1                 -     pods       -        -     pods
GET    /api/v1/watch/namespaces/other/pods                               watch            v1                 other pods       -        -     pods
GET    /api/v1/namespaces/other/pods?watch=1                             watch            v1                 other pods       -        -     pods
GET    /api/v1/namespaces/other/pods?watch=0                             list             v1                 other pods       -        -     pods
GET    /api/v1/namespaces/other/pods/foo/status                          get              v1                 other pods       status   foo   pods/foo/status
GET    /api/v1/namespaces/other/pods/foo/proxy/subpath                   get              v1                 other pods       proxy    foo   pods/foo/proxy/subpath
PUT    /api/v1/namespaces/other/finalize                                 update           v1                 other namespaces finalize other namespaces/other/finalize
PUT    /api/v1/namespaces/other/status                                   update           v1                 other namespaces status   other namespaces/other/status
PATCH  /api/v1/namespaces/other/pods/foo                                 patch            v1                 other pods       -        foo   pods/foo
DELETE /api/v1/namespaces/other/pods/foo                                 delete           v1                 other pods       -        foo   pods/foo
POST   /api/v1/namespaces/other/pods                                     create           v1                 other pods       -        -     pods
DELETE /api/v1/nodes                                                     deletecollection v1                 -     nodes      -        -     nodes
DELETE /api/v1/namespaces                                                deletecollection v1                 -     namespaces -        -     namespaces
DELETE /api/v1/namespaces/other/pods                                     deletecollection v1                 other pods       -        -     pods
DELETE /apis/extensions/v1/namespaces/other/pods                         deletecollection extensions/v1      other pods       -        -     pods
POST   /apis/extensions/v1/namespaces/other/pods                         create           extensions/v1      other pods       -        -     pods
POST   /apis/extensions/v1beta3/namespaces/other/pods                    create           extensions/v1beta3 other pods       -        -     pods
""".strip().splitlines()  # noqa: E501 (a table of requestinfo_test.go's cases, one a line)
]


@pytest.mark.parametrize("case", REQUEST_INFO_CASES, ids=[f"{c[0]} {c[1]}" for c in REQUEST_INFO_CASES])
def test_the_ported_request_info_passes_requestinfo_test_go(case: tuple[Any, ...]) -> None:
    method, url, verb, group_version, namespace, resource, subresource, name, parts = case
    group, _, version = group_version.rpartition("/")
    info = request_info(method, url)
    expected = RequestInfo(True, verb, group, version, namespace, resource, subresource, name, tuple(parts.split("/")))
    assert info == expected


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/api/version/",
        "/apis/group/version/",
        "/badprefix/version/resource",
        "/apis/version/resource",
        "/apis/extensions/v1beta1",
        "/api/version",
        "/api",
        "",
    ],
)
def test_the_ported_request_info_knows_non_resource_requests(url: str) -> None:
    assert not request_info("GET", url).is_resource_request


#: TestFieldSelectorParsing, as {query on /apis/group/version/resource: (name, verb)}
FIELD_SELECTOR_PARSING = {
    "": ("", "list"),
    "?fieldSelector=metadata.name=name1": ("name1", "list"),
    "?watch=true&fieldSelector=metadata.name=name1": ("name1", "watch"),
    "?fieldSelector=foo=bar": ("", "list"),
    "?fieldSelector=metadata.name=name1,foo": ("", "list"),
    "?fieldSelector=metadata.name=name1,foo&watch=true": ("", "watch"),
    "?fieldSelector=metadata.name=name1,foo&watch=false": ("", "list"),
}


@pytest.mark.parametrize(
    ("url", "name", "verb"),
    [(f"/apis/group/version/resource{query}", *expected) for query, expected in FIELD_SELECTOR_PARSING.items()],
)
def test_the_ported_request_info_reads_field_selectors(url: str, name: str, verb: str) -> None:
    info = request_info("GET", url)
    assert (info.name, info.verb) == (name, verb)


def escape_value(value: str) -> str:
    """fields.EscapeValue."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def client_request(need: Need, verb: str, namespace: str | None, other_name: str = "some-object") -> tuple[str, str]:
    """The (method, URL) a client sends for ``verb`` on ``need`` in ``namespace``: what the SelfSubjectAccessReview
    stands for. A need without a name stands for a request on any object (``other_name``)."""
    served = CATALOG.lookup(need.group, need.resource)
    assert served is not None
    prefix = f"/api/{served.version}" if not need.group else f"/apis/{need.group}/{served.version}"
    in_namespace = f"/namespaces/{namespace}" if served.namespaced and namespace else ""
    collection = f"{prefix}{in_namespace}/{need.resource}"
    if verb in ("list", "watch"):
        query = {"watch": "1"} if verb == "watch" else {}
        if need.name:
            query["fieldSelector"] = f"metadata.name={escape_value(need.name)}"
        return "GET", collection + ("?" + urllib.parse.urlencode(query) if query else "")
    if verb == "deletecollection":
        return "DELETE", collection
    if verb == "create" and not need.subresource:
        return "POST", collection
    obj = f"{collection}/{urllib.parse.quote(need.name or other_name, safe='')}"
    method = {"get": "GET", "create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE"}[verb]
    return method, obj + (f"/{need.subresource}" if need.subresource else "")


@FAST
@given(served_cases(), st.sampled_from(["app", None]), st.data())
def test_the_review_asks_what_the_server_checks_for_the_real_request(
    case: Case, namespace: str | None, data: st.DataObject
) -> None:
    """For every HTTP verb of a generated need, the SelfSubjectAccessReview's resourceAttributes (verb, group,
    resource, subresource, name, namespace) are those kube-apiserver's RequestInfo finds in the request the
    client will send; a need without a name is asked for every name (the request has one), and the namespace
    is the app's for namespaced resources, none for cluster-scoped ones, and a namespace object's own name
    for get/update/patch/delete of it."""
    need = case.need
    verb = data.draw(st.sampled_from(need.verbs))
    served = CATALOG.lookup(need.group, need.resource)
    assert served is not None
    if namespace is None and served.namespaced and verb not in ("list", "watch"):
        return  # one object of a namespaced resource is always in a namespace
    method, url = client_request(need, verb, namespace)
    info = request_info(method, url)
    attributes = access_review_body(need, verb, namespace)["spec"]["resourceAttributes"]
    assert info.is_resource_request and info.verb == attributes["verb"] == verb
    assert (info.api_group, info.resource, info.subresource) == (
        need.group,
        need.resource,
        attributes.get("subresource", ""),
    )
    if need.name:
        assert info.name == attributes["name"] == need.name
    else:
        assert "name" not in attributes
    expected_namespace = info.namespace
    if not need.name and need.resource == "namespaces" and info.name:
        expected_namespace = ""  # asked for every namespace object: only a cluster-wide grant covers them all
    assert attributes.get("namespace", "") == expected_namespace
    assert need.review_namespace(verb, namespace) == (expected_namespace or None)


@pytest.mark.parametrize(
    ("spec", "verb", "checked_in"),
    [
        # bind: BindingAuthorized uses the namespace of the RoleBinding being written (escalation_check.go)
        ("bind:clusterroles.rbac.authorization.k8s.io/view", "bind", "app"),
        ("bind:roles.rbac.authorization.k8s.io/r", "bind", "app"),
        # escalate: RoleEscalationAuthorized uses the RequestInfo of the role write: a Role is written in its
        # namespace, a ClusterRole in none
        ("escalate:roles.rbac.authorization.k8s.io", "escalate", "app"),
        ("escalate:clusterroles.rbac.authorization.k8s.io", "escalate", None),
        # use: the PodSecurityPolicy admission asks in the namespace of the pod (podsecuritypolicy/admission.go)
        ("use:podsecuritypolicies.policy/restricted", "use", "app"),
        # impersonate: the impersonation filter asks cluster-wide, except for a ServiceAccount (its namespace)
        ("impersonate:users", "impersonate", None),
        ("impersonate:groups/devs", "impersonate", None),
        ("impersonate:userextras.authentication.k8s.io/x --subresource=scopes", "impersonate", None),
        ("impersonate:serviceaccounts/builder", "impersonate", "app"),
        # approve and sign: certificates admission asks cluster-wide
        ("approve:signers.certificates.k8s.io/example.com/*", "approve", None),
        ("get:/healthz", "get", None),
    ],
)
def test_special_verbs_are_asked_where_the_server_checks_them(spec: str, verb: str, checked_in: str | None) -> None:
    need = quiet_parse(spec)
    assert need.review_namespace(verb, "app") == checked_in
    assert need.namespaced is (checked_in is not None)  # a Role can grant exactly what is checked in a namespace
    attributes = access_review_body(need, verb, "app")["spec"].get("resourceAttributes", {})
    assert attributes.get("namespace") == checked_in


# == selected_name: RequiresExactMatch("metadata.name"), ported ========================================================
class InvalidSelector(ValueError):
    pass


#: One term of a field selector: anything up to an unescaped comma (a backslash escapes the next character,
#: whatever it is; a trailing one stands for itself).
_TERM = re.compile(r"(?:[^\\,]|\\[\s\S]?)*")


def split_terms(selector: str) -> list[str]:
    """fields.splitTerms: split on unescaped commas (stated as a pattern, where Go walks the characters)."""
    if not selector:
        return []
    terms, pos = [], 0
    while True:
        term = _TERM.match(selector, pos)
        assert term is not None  # the pattern matches the empty string too
        terms.append(term.group())
        if term.end() == len(selector):
            return terms
        pos = term.end() + 1  # past the comma


def split_term(term: str) -> tuple[str, str, str, bool]:
    """fields.splitTerm: the first operator (!=, ==, =) from the left."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :], True
    return "", "", "", False


def unescape_value(value: str) -> str:
    """fields.UnescapeValue."""
    if not any(c in value for c in "\\,="):
        return value
    out, in_slash = [], False
    for c in value:
        if in_slash:
            if c not in "\\,=":
                raise InvalidSelector(f"invalid escape sequence \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            raise InvalidSelector(f"unescaped {c}")
        else:
            out.append(c)
    if in_slash:
        raise InvalidSelector("invalid escape sequence \\")
    return "".join(out)


def parse_selector(selector: str) -> list[tuple[str, str, str]]:
    """fields.ParseSelector: (field, operator, value) terms, in the order Go sorts them."""
    items = []
    for part in sorted(split_terms(selector)):
        if part == "":
            continue
        lhs, op, rhs, ok = split_term(part)
        if not ok:
            raise InvalidSelector(f"can't understand {part!r}")
        items.append((lhs, op, unescape_value(rhs)))
    return items


def requires_exact_match(items: list[tuple[str, str, str]], field: str) -> str | None:
    """Selector.RequiresExactMatch: the value of the first = or == term on ``field``."""
    return next((value for lhs, op, value in items if lhs == field and op != "!="), None)


def selector_name(selector: str) -> str | None:
    """The name NewRequestInfo authorizes a list/watch against (None: none): a selector that does not parse
    gives none, and the name must be a valid path segment (IsValidPathSegmentName)."""
    try:
        name = requires_exact_match(parse_selector(selector), "metadata.name")
    except InvalidSelector:
        return None
    if not name or name in (".", "..") or "/" in name or "%" in name:
        return None
    return name


@pytest.mark.parametrize(
    ("selector", "terms"),
    [  # TestSplitTerms
        ("a", ["a"]),
        ("a=avalue", ["a=avalue"]),
        ("a=avalue,b=bvalue", ["a=avalue", "b=bvalue"]),
        ("a=avalue,b==bvalue,c!=cvalue", ["a=avalue", "b==bvalue", "c!=cvalue"]),
        ("", []),
        ("a=a,", ["a=a", ""]),
        (",a=a", ["", "a=a"]),
        ("k=\\,,k2=v2", ["k=\\,", "k2=v2"]),
        ("k=\\\\,k2=v2", ["k=\\\\", "k2=v2"]),
        ("k=\\\\\\,,k2=v2", ["k=\\\\\\,", "k2=v2"]),
        ("k=\\a\\b\\", ["k=\\a\\b\\"]),
        ("k=\\", ["k=\\"]),
        ("함=수,목=록", ["함=수", "목=록"]),
    ],
)
def test_the_ported_split_terms(selector: str, terms: list[str]) -> None:
    assert split_terms(selector) == terms


@pytest.mark.parametrize(
    ("term", "split"),
    [  # TestSplitTerm
        ("a=value", ("a", "=", "value", True)),
        ("b==value", ("b", "==", "value", True)),
        ("c!=value", ("c", "!=", "value", True)),
        ("", ("", "", "", False)),
        ("a", ("", "", "", False)),
        ("k=\\,", ("k", "=", "\\,", True)),
        ("k=\\=", ("k", "=", "\\=", True)),
        ("k=\\\\\\a\\b\\=\\,\\", ("k", "=", "\\\\\\a\\b\\=\\,\\", True)),
        ("함=수", ("함", "=", "수", True)),
    ],
)
def test_the_ported_split_term(term: str, split: tuple[str, str, str, bool]) -> None:
    assert split_term(term) == split


def test_the_ported_escaping_and_parsing() -> None:
    for raw, escaped in {
        "": "",
        "a": "a",
        "=": "\\=",
        ",": "\\,",
        "\\": "\\\\",
        "\\=\\,\\": "\\\\\\=\\\\\\,\\\\",
    }.items():
        assert escape_value(raw) == escaped and unescape_value(escaped) == raw  # TestEscapeValue
    for bad in ("\\", "\\\\\\", "\\a"):
        with pytest.raises(InvalidSelector):
            unescape_value(bad)
    for good in ("x=a,y=b,z=c", "", "x!=a,y=b", "x=a||y\\=b", "x=a\\=\\=b"):  # TestSelectorParse
        parse_selector(good)
    for bad in ("x=a||y=b", "x==a==b", "x=a,b", "x in (a)", "x in (a,b,c)", "x"):
        with pytest.raises(InvalidSelector):
            parse_selector(bad)
    # TestRequiresExactMatch, as selectors
    assert requires_exact_match(parse_selector(""), "test") is None
    assert requires_exact_match(parse_selector("a=b"), "test") is None
    assert requires_exact_match(parse_selector("test=b"), "test") == "b"
    assert requires_exact_match(parse_selector("test="), "test") == ""
    assert requires_exact_match(parse_selector("test!=b"), "test") is None
    assert requires_exact_match(parse_selector("a=,test=b"), "test") == "b"


FIELDS = ["metadata.name", "metadata.namespace", "spec.nodeName", " metadata.name", "metadata.name "]
SELECTOR_TERMS = st.builds(
    lambda field, op, value: f"{field}{op}{value}",
    st.sampled_from(FIELDS),
    st.sampled_from(["=", "==", "!=", "", "==="]),
    st.text(alphabet="ab.-\\,=/% ", max_size=5),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(SELECTOR_TERMS, max_size=4).map(",".join))
def test_selected_name_is_the_name_the_server_authorizes(selector: str) -> None:
    """Escapes, ==, !=, several terms (the server sorts them and takes the first), terms that do not parse
    (then the server sees no name at all), and names that are not path segments."""
    assert selected_name(selector) == selector_name(selector), selector


@pytest.mark.parametrize(
    ("selector", "name"),
    [
        ("metadata.name=app-config", "app-config"),
        ("metadata.name==app-config", "app-config"),
        ("metadata.name!=app-config", None),
        ("spec.nodeName=n1,metadata.name=web", "web"),
        ("metadata.name=a\\,b", "a,b"),
        ("metadata.name=a\\=b", "a=b"),
        ("metadata.name=name1,foo", None),  # "foo" does not parse: the server ignores the whole selector
        ("metadata.name=a=b", None),  # an unescaped = in a value does not parse either
        ("metadata.name=b,metadata.name=a", "a"),  # the sorted first
        (" metadata.name=x", None),  # no trimming: the field is " metadata.name"
        ("metadata.name=a/b", None),  # not a path segment
        ("metadata.name=..", None),
        ("metadata.name=", None),
        (None, None),
        ("", None),
    ],
)
def test_selected_name_cases(selector: str | None, name: str | None) -> None:
    assert selected_name(selector) == name
    if selector is not None:
        assert selector_name(selector) == name


def test_needs_for_an_informer() -> None:
    assert needs_for(Resource("v1", "pods")) == Need(("list", "watch"), "pods", "", namespaced=True)
    assert needs_for(Resource("apps/v1", "deployments"), field_selector="metadata.name=web") == Need(
        ("list", "watch"), "deployments", "apps", "web", namespaced=True
    )
    ns = needs_for(Resource("v1", "namespaces", namespaced=False), ("get",), "metadata.name=a\\,b")
    assert ns == Need(("get",), "namespaces", "", "a,b", namespaced=False)
    assert quiet_parse(str(needs_for(Resource("v1", "configmaps"), field_selector="metadata.name=x"))).name == "x"


# == the CLI ===========================================================================================================
def rbac(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["rbac", "-n", "shop", "--sa", "app", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # capsys: read whole
@given(st.lists(ALL_CASES, min_size=1, max_size=4))
def test_cli_yaml_and_json_are_the_same_manifests(capsys: pytest.CaptureFixture[str], cases: list[Case]) -> None:
    specs = [str(c.need) for c in cases]
    code, out, err = rbac(capsys, *specs)
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeedWarning)
        assert docs == manifests(parse_needs(specs), namespace="shop", service_account="app")
    notes = [line.removeprefix("incluster-sdk rbac: WARNING: ") for line in err.splitlines()]
    assert [line for line in out.splitlines() if line.startswith("#")] == [f"# WARNING: {n}" for n in notes]
    assert out.startswith("".join(f"# WARNING: {n}\n" for n in notes))  # at the top, before any document
    code, json_out, json_err = rbac(capsys, "--json", *specs)
    assert code == 0 and json_err == err
    assert json.loads(json_out) == {"apiVersion": "v1", "kind": "List", "items": docs}


def test_cli_takes_subresource_as_kubectl_does(capsys: pytest.CaptureFixture[str]) -> None:
    expected = [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]
    for argv in (
        ["get:pods", "--subresource", "log"],
        ["get:pods", "--subresource=log"],
        ["get:pods --subresource=log"],
        ["get:pods --subresource log"],
    ):
        code, out, _ = rbac(capsys, *argv)
        assert code == 0, argv
        assert list(yaml.safe_load_all(out))[1]["rules"] == expected, argv
    assert attach_subresources(["rbac", "get:pods", "--subresource", "log", "list:nodes", "--subresource=status"]) == [
        "rbac",
        "get:pods --subresource=log",
        "list:nodes --subresource=status",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["rbac", "--subresource", "log", "-n", "shop", "--sa", "app", "get:pods"],
        ["rbac", "-n", "shop", "--sa", "app", "--subresource=log", "get:pods"],
        ["rbac", "-n", "shop", "--sa", "app", "get:pods", "--subresource"],
    ],
)
def test_cli_subresource_without_a_need_before_it_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize(("spec", "says"), REFUSED[:10])
def test_cli_a_refused_need_exits_2_with_the_reason(capsys: pytest.CaptureFixture[str], spec: str, says: str) -> None:
    code, out, err = rbac(capsys, "list:pods", spec)
    assert code == 2 and out == ""
    assert err.startswith(f"incluster-sdk rbac: {spec!r}: ") and says in err


def test_cli_cluster_scoped_needs_get_a_cluster_role_in_the_same_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = rbac(capsys, "list,watch:pods", "list,watch:ns", "get:/healthz", "get:namespaces/shop")
    assert code == 0 and err == ""
    docs = list(yaml.safe_load_all(out))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ServiceAccount", "app"),
        ("Role", "app"),
        ("RoleBinding", "app"),
        ("ClusterRole", "shop:app"),
        ("ClusterRoleBinding", "shop:app"),
    ]
    assert docs[3]["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"], "resourceNames": ["shop"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    ]


def test_cli_warnings_go_to_stderr_and_the_top_of_the_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = rbac(capsys, "get:pods/log", "create:rolebindings.rbac.authorization.k8s.io")
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("incluster-sdk rbac: WARNING: ") for line in lines)
    assert "--subresource=log" in lines[0] and "privilege escalation" in lines[1]
    assert out.splitlines()[:2] == [line.replace("incluster-sdk rbac: WARNING:", "# WARNING:") for line in lines]


def test_cli_discover_checks_needs_against_the_servers_discovery(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--discover`` resolves TYPEs in the server's resources: a custom resource by its short name, checked
    (verbs, scope), where the offline table could only warn; an unknown one is refused with the server named."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    crontabs = res("crontabs", "CronTab", singular="crontab", short=["ct"], verbs=["get", "list", "watch", "create"])
    nodes = res("nodes", "Node", namespaced=False, singular="node", short=["no"])
    documents = serve(
        [Group("", ["v1"], "v1", {"v1": [nodes]}), Group("stable.example.com", ["v1"], "v1", {"v1": [crontabs]})]
    )

    documents["/version"] = {"gitVersion": "v1.20.2"}  # --discover first checks that the server answers

    def respond(seen: Seen) -> tuple[int, Any]:
        body = documents.get(urllib.parse.urlsplit(seen.path).path)
        return (200, body) if body is not None else (404, {"kind": "Status", "code": 404})

    fake_apiserver.respond = respond
    code, out, err = rbac(capsys, "--discover", "list,watch:ct", "get:crontabs.stable/x", "list:no")
    assert (code, err) == (0, "")
    docs = list(yaml.safe_load_all(out))
    assert docs[1]["rules"] == [
        {"apiGroups": ["stable.example.com"], "resources": ["crontabs"], "verbs": ["get"], "resourceNames": ["x"]},
        {"apiGroups": ["stable.example.com"], "resources": ["crontabs"], "verbs": ["list", "watch"]},
    ]
    assert docs[3]["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]
    code, out, err = rbac(capsys, "--discover", "update:crontabs.stable.example.com")
    assert code == 2 and "does not support 'update'; it supports get, list, watch, create" in err
    code, out, err = rbac(capsys, "--discover", "list:crontab.stable.example.co")  # a group prefix, as kubectl
    assert code == 0 and yaml.safe_load_all(out)
    code, out, err = rbac(capsys, "--discover", "list:crontabz")
    assert code == 2 and f"discovery from https://127.0.0.1:{fake_apiserver.port}" in err
    assert "did you mean crontabs.stable.example.com?" in err


def test_cli_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = rbac(capsys, "--cluster-wide", "--group", "--no-service-account", "--name", "r", "list:pods")
    docs = list(yaml.safe_load_all(out))
    assert code == 0 and [(d["kind"], d["metadata"]) for d in docs] == [
        ("ClusterRole", {"name": "shop:r"}),
        ("ClusterRoleBinding", {"name": "shop:r"}),
    ]
    assert docs[1]["subjects"][0]["name"] == "system:serviceaccounts:shop"
