"""ClusterRole aggregation as kube-controller-manager does it: the cases of Kubernetes 1.20.2's
clusterroleaggregation_controller_test.go, the selector and equality rules it relies on, convergence through
chains of aggregated roles, and hypothesis properties. No cluster needed."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incluster_sdk.testing.aggregation import (
    AggregationDoesNotConverge,
    SelectorError,
    aggregated_rules,
    converge,
    pending_updates,
    rules_equal,
    selector_matches,
)

Role = dict[str, Any]
Rule = dict[str, Any]


# -- the Go test's fixtures ------------------------------------------------------------------------------
def hammer_rules() -> list[Rule]:
    return [{"verbs": ["hammer"], "resources": ["nails"]}, {"verbs": ["hammer"], "resources": ["wedges"]}]


def chisel_rules() -> list[Rule]:
    return [{"verbs": ["chisel"], "resources": ["mortises"]}]


def saw_rules() -> list[Rule]:
    return [{"verbs": ["saw"], "resources": ["boards"]}]


def role(name: str, labels: Mapping[str, str], rules: list[Rule]) -> Role:
    return {"metadata": {"name": name, "labels": dict(labels)}, "rules": rules}


def combined_role(selectors: Sequence[Mapping[str, str]], *rules: list[Rule]) -> Role:
    return {
        "metadata": {"name": "combined"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": dict(s)} for s in selectors]},
        "rules": [rule for some in rules for rule in some] or None,  # Go: nil unless rules were appended
    }


# name, starting cluster roles, expected "combined" after its sync (None: no update at all)
BAR, NOT_BAR = {"foo": "bar"}, {"foo": "not-bar"}


def hammer(labels: Mapping[str, str]) -> Role:
    return role("hammer", labels, hammer_rules())


def chisel(labels: Mapping[str, str]) -> Role:
    return role("chisel", labels, chisel_rules())


def saw(labels: Mapping[str, str]) -> Role:
    return role("saw", labels, saw_rules())


GO_CASES: list[tuple[str, list[Role], Role | None]] = [
    (
        "remove dead rules",
        [hammer(BAR), combined_role([BAR], saw_rules())],
        combined_role([BAR], hammer_rules()),
    ),
    (
        "strip rules",
        [hammer(NOT_BAR), combined_role([BAR], hammer_rules())],
        combined_role([BAR]),
    ),
    (
        "select properly and put in order",
        [hammer(BAR), chisel(BAR), saw(NOT_BAR), combined_role([BAR])],
        combined_role([BAR], chisel_rules(), hammer_rules()),
    ),
    (
        "select properly with multiple selectors",
        [hammer(BAR), chisel(BAR), saw(NOT_BAR), combined_role([BAR, NOT_BAR])],
        combined_role([BAR, NOT_BAR], chisel_rules(), hammer_rules(), saw_rules()),
    ),
    (
        "select properly remove duplicates",
        [hammer(BAR), chisel(BAR), saw(BAR), role("other-saw", NOT_BAR, saw_rules()), combined_role([BAR, NOT_BAR])],
        combined_role([BAR, NOT_BAR], chisel_rules(), hammer_rules(), saw_rules()),
    ),
    (
        "no diff skip",
        [hammer(BAR), combined_role([BAR], hammer_rules())],
        None,
    ),
]


@pytest.mark.parametrize(("starting", "expected"), [c[1:] for c in GO_CASES], ids=[c[0] for c in GO_CASES])
def test_sync_cluster_role_go_cases(starting: list[Role], expected: Role | None) -> None:
    combined = next(r for r in starting if r["metadata"]["name"] == "combined")
    updates = pending_updates(starting)
    if expected is None:
        assert updates == {}
        assert rules_equal(aggregated_rules(combined, starting), combined["rules"])
        return
    assert list(updates) == ["combined"]  # one update, of the role synced
    assert updates["combined"] == (expected["rules"] or [])  # exactly, in order
    assert aggregated_rules(combined, starting) == updates["combined"]
    # the Go test compares the whole object: only the rules change
    assert {**combined, "rules": expected["rules"]} == expected


# -- syncClusterRole's details ----------------------------------------------------------------------------
def aggregating(name: str, *selectors: Mapping[str, Any] | None, rules: list[Rule] | None = None) -> Role:
    return {"metadata": {"name": name}, "aggregationRule": {"clusterRoleSelectors": list(selectors)}, "rules": rules}


def test_no_aggregation_rule_means_none_and_no_update() -> None:
    plain = role("plain", {"foo": "bar"}, hammer_rules())
    assert aggregated_rules(plain, [plain]) is None
    assert aggregated_rules({"metadata": {"name": "x"}, "aggregationRule": None}, [plain]) is None
    assert pending_updates([plain]) == {}


def test_an_aggregation_rule_without_selectors_strips_the_rules() -> None:
    # Go: AggregationRule non-nil, no selectors -> newPolicyRules is empty -> the stored rules go
    empty = {"metadata": {"name": "e"}, "aggregationRule": {}, "rules": saw_rules()}
    assert aggregated_rules(empty, [empty]) == []
    assert pending_updates([empty]) == {"e": []}


def test_the_role_itself_is_skipped_even_when_it_matches() -> None:
    me = {**aggregating("me", {"matchLabels": {"foo": "bar"}}, rules=saw_rules()), "metadata": {"name": "me"}}
    me["metadata"]["labels"] = {"foo": "bar"}
    other = role("other", {"foo": "bar"}, hammer_rules())
    assert aggregated_rules(me, [me, other]) == hammer_rules()


def test_an_empty_selector_selects_every_role() -> None:
    # LabelSelectorAsSelector: no matchLabels and no matchExpressions -> labels.Everything(); a null entry in the
    # list decodes to the zero LabelSelector, which is the same
    a, b = role("a", {}, chisel_rules()), role("b", {"x": "y"}, saw_rules())
    selectors: list[dict[str, Any] | None] = [{}, None, {"matchLabels": {}, "matchExpressions": []}]
    for selector in selectors:
        agg = aggregating("agg", selector)
        assert aggregated_rules(agg, [agg, b, a]) == chisel_rules() + saw_rules()


def test_null_and_empty_rules_are_equal_so_nothing_to_update() -> None:
    stored_rules: list[list[Rule] | None] = [None, []]
    for stored in stored_rules:
        agg = aggregating("agg", {"matchLabels": {"foo": "bar"}}, rules=stored)
        assert pending_updates([agg, role("a", {"foo": "other"}, hammer_rules())]) == {}
    without = {"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"f": "b"}}]}}
    assert pending_updates([without]) == {}


def test_semantic_equality_missing_null_and_empty_lists_are_one_rule_but_order_matters() -> None:
    same: list[Rule] = [
        {"verbs": ["get"], "resources": ["pods"]},
        {"verbs": ["get"], "resources": ["pods"], "apiGroups": []},
        {"verbs": ["get"], "resources": ["pods"], "resourceNames": None, "nonResourceURLs": []},
    ]
    different: list[Rule] = [
        {"verbs": ["get"], "resources": ["pods"], "apiGroups": [""]},  # [""] is the core group, not "no group"
        {"verbs": ["list", "get"], "resources": ["pods"]},
        {"verbs": ["get", "list"], "resources": ["pods"]},  # DeepEqual is ordered: a different rule
        {"verbs": ["get", "get"], "resources": ["pods"]},
    ]
    sources = [role(f"s{i}", {"foo": "bar"}, [rule]) for i, rule in enumerate(same + different)]
    agg = aggregating("agg", {"matchLabels": {"foo": "bar"}})
    result = aggregated_rules(agg, [agg, *sources])
    assert result == [same[0], *different]  # the first of the equal ones, as the controller keeps it
    assert rules_equal(same[:1], same[2:])
    assert not rules_equal(same[:1], [])
    assert not rules_equal(same[:1], same[:2])  # lists compare element by element, length included


def test_duplicate_rules_inside_one_role_are_kept_once() -> None:
    src = role("src", {"foo": "bar"}, [*saw_rules(), *hammer_rules(), *saw_rules()])
    agg = aggregating("agg", {"matchLabels": {"foo": "bar"}})
    assert aggregated_rules(agg, [src, agg]) == saw_rules() + hammer_rules()


def test_results_are_copies() -> None:
    src = role("src", {"foo": "bar"}, saw_rules())
    agg = aggregating("agg", {"matchLabels": {"foo": "bar"}})
    result = aggregated_rules(agg, [src, agg])
    assert result is not None
    result[0]["verbs"].append("mutated")
    assert src["rules"] == saw_rules()


LABELS = {"tier": "gold", "team": "a"}
EXPRESSION_CASES = [
    ({"key": "tier", "operator": "In", "values": ["gold", "silver"]}, True),
    ({"key": "tier", "operator": "In", "values": ["silver"]}, False),
    ({"key": "missing", "operator": "In", "values": ["gold"]}, False),
    ({"key": "tier", "operator": "NotIn", "values": ["silver"]}, True),
    ({"key": "tier", "operator": "NotIn", "values": ["gold"]}, False),
    ({"key": "missing", "operator": "NotIn", "values": ["gold"]}, True),  # absent label: NotIn holds
    ({"key": "tier", "operator": "Exists"}, True),
    ({"key": "missing", "operator": "Exists"}, False),
    ({"key": "tier", "operator": "DoesNotExist"}, False),
    ({"key": "missing", "operator": "DoesNotExist", "values": []}, True),
]


@pytest.mark.parametrize(("expression", "matches"), EXPRESSION_CASES)
def test_match_expressions(expression: dict[str, Any], matches: bool) -> None:
    assert selector_matches({"matchExpressions": [expression]}, LABELS) is matches


def test_match_labels_and_match_expressions_are_anded() -> None:
    exists = {"key": "team", "operator": "Exists"}
    assert selector_matches({"matchLabels": {"tier": "gold"}, "matchExpressions": [exists]}, LABELS)
    assert not selector_matches({"matchLabels": {"tier": "silver"}, "matchExpressions": [exists]}, LABELS)
    assert not selector_matches({"matchLabels": {"tier": "gold", "team": "b"}}, LABELS)
    assert not selector_matches({"matchLabels": {"tier": "gold"}}, None)
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, None)


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]},  # not a LabelSelector operator
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "tier", "operator": "NotIn"}]},
        {"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["gold"]}]},
        {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist", "values": ["gold"]}]},
        {"matchLabels": {"bad key": "x"}},
        {"matchLabels": {"a/b/c": "x"}},
        {"matchLabels": {"/name": "x"}},
        {"matchLabels": {"Upper.Case/name": "x"}},  # the prefix is a DNS-1123 subdomain: lower case
        {"matchLabels": {"x" * 64: "x"}},
        {"matchLabels": {"tier": "-leading-dash"}},
        {"matchLabels": {"tier": "v" * 64}},
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["ok", "not ok"]}]},
    ],
)
def test_selectors_label_selector_as_selector_refuses(selector: dict[str, Any]) -> None:
    with pytest.raises(SelectorError):
        selector_matches(selector, LABELS)
    # the controller's sync fails and writes nothing: the role is left as it is, and converge says why
    agg = aggregating("agg", selector, rules=saw_rules())
    roles = [agg, role("src", LABELS, hammer_rules())]
    with pytest.raises(SelectorError):
        aggregated_rules(agg, roles)
    assert pending_updates(roles) == {}
    result = converge(roles)
    assert result.updates == {}
    assert list(result.refused) == ["agg"]


def test_valid_keys_and_values() -> None:
    labels = {"example.com/name_1.x": "", "rbac.authorization.k8s.io/aggregate-to-view": "true", "A": "Z-9"}
    assert selector_matches({"matchLabels": labels}, labels)
    assert selector_matches({"matchLabels": {"x" * 63: "v" * 63}}, {"x" * 63: "v" * 63})


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="two ClusterRoles named 'a'"):
        pending_updates([role("a", {}, []), role("a", {}, [])])


# -- convergence --------------------------------------------------------------------------------------------
def bootstrap_chain() -> list[Role]:
    """kube-apiserver 1.20's aggregated bootstrap roles, with one rule in each system:aggregate-to-*."""

    def label(to: str) -> dict[str, str]:
        return {f"rbac.authorization.k8s.io/aggregate-to-{to}": "true"}

    def aggregated(name: str, labels: dict[str, str]) -> Role:
        selector = {"matchLabels": label(name)}
        return {"metadata": {"name": name, "labels": labels}, "aggregationRule": {"clusterRoleSelectors": [selector]}}

    def source(to: str, verb: str) -> Role:
        return role(f"system:aggregate-to-{to}", label(to), [{"verbs": [verb], "apiGroups": [""], "resources": ["x"]}])

    return [
        aggregated("admin", {}),
        aggregated("edit", label("admin")),
        aggregated("view", label("edit")),
        source("admin", "administer"),
        source("edit", "edit"),
        source("view", "view"),
    ]


def verbs(rules: Sequence[Rule]) -> list[str]:
    return [v for r in rules for v in r["verbs"]]


def test_converge_follows_the_chain_view_edit_admin() -> None:
    roles = bootstrap_chain()
    # one snapshot: each sync sees the others still empty
    assert {name: verbs(rules) for name, rules in pending_updates(roles).items()} == {
        "admin": ["administer"],
        "edit": ["edit"],
        "view": ["view"],
    }
    result = converge(roles)
    # byName: admin selects edit before system:aggregate-to-admin; edit selects system:aggregate-to-edit before view
    assert {name: verbs(rules) for name, rules in result.updates.items()} == {
        "admin": ["edit", "view", "administer"],
        "edit": ["edit", "view"],
        "view": ["view"],
    }
    assert result.rounds == 3  # by name admin syncs before edit before view: one pass per link of the chain
    applied = [{**r, "rules": result.updates.get(r["metadata"]["name"], r.get("rules"))} for r in roles]
    assert pending_updates(applied) == {}
    again = converge(applied)
    assert (again.updates, again.rounds) == ({}, 0)


def test_a_two_cycle_settles() -> None:
    a = {**aggregating("a", {"matchLabels": {"to": "a"}}, rules=saw_rules()), "metadata": {"name": "a"}}
    b = {**aggregating("b", {"matchLabels": {"to": "b"}}, rules=hammer_rules()), "metadata": {"name": "b"}}
    a["metadata"]["labels"] = {"to": "b"}
    b["metadata"]["labels"] = {"to": "a"}
    result = converge([b, a])
    assert result.updates == {"a": hammer_rules()}  # a takes b's rules, then b takes a's: the same
    assert result.rounds == 1


def test_a_three_cycle_never_settles() -> None:
    # a <- b <- c <- a: the rules move round the cycle for ever, as a real controller would keep moving them
    roles = []
    for name, feeds, rules in (("a", "c", saw_rules()), ("b", "a", hammer_rules()), ("c", "b", chisel_rules())):
        r = aggregating(name, {"matchLabels": {"to": name}}, rules=rules)
        r["metadata"]["labels"] = {"to": feeds}
        roles.append(r)
    with pytest.raises(AggregationDoesNotConverge, match="select each other in a cycle"):
        converge(roles)


# -- properties ----------------------------------------------------------------------------------------------
NAMES = ("a", "b", "c", "d", "e", "f")
KEYS = ("k1", "k2")
VALUES = ("x", "y")

rules_strategy = st.fixed_dictionaries(
    {"verbs": st.lists(st.sampled_from(("get", "list")), min_size=1, max_size=2)},
    optional={
        "resources": st.lists(st.sampled_from(("pods", "secrets")), max_size=2),
        "apiGroups": st.one_of(st.none(), st.lists(st.sampled_from(("", "apps")), max_size=1)),
    },
)
expression_strategy = st.one_of(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(KEYS),
            "operator": st.sampled_from(("In", "NotIn")),
            "values": st.lists(st.sampled_from(VALUES), min_size=1, max_size=2),
        }
    ),
    st.fixed_dictionaries({"key": st.sampled_from(KEYS), "operator": st.sampled_from(("Exists", "DoesNotExist"))}),
)
selector_strategy = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2),
        "matchExpressions": st.lists(expression_strategy, max_size=2),
    },
)


@st.composite
def cluster_roles(draw: st.DrawFn) -> list[Role]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1))
    roles = []
    for name in names:
        r: Role = {
            "metadata": {"name": name, "labels": draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES)))},
            "rules": draw(st.one_of(st.none(), st.lists(rules_strategy, max_size=3))),
        }
        if draw(st.booleans()):
            r["aggregationRule"] = {"clusterRoleSelectors": draw(st.lists(selector_strategy, min_size=1, max_size=2))}
        roles.append(r)
    return roles


def selected_by(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """An independent reading of a LabelSelector, for the properties below."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or ())
        has = key in labels
        ok = {
            "In": has and labels.get(key) in values,
            "NotIn": not has or labels.get(key) not in values,
            "Exists": has,
            "DoesNotExist": not has,
        }[op]
        if not ok:
            return False
    return True


def key(rule: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    fields = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")
    return tuple(tuple(rule.get(f) or ()) for f in fields)


@given(cluster_roles(), st.randoms(use_true_random=False))
def test_property_one_sync(roles: list[Role], rnd: random.Random) -> None:
    shuffled = roles[:]
    rnd.shuffle(shuffled)
    for r in roles:
        result = aggregated_rules(r, roles)
        assert result == aggregated_rules(r, shuffled)  # the input order of the cluster roles does not matter
        if "aggregationRule" not in r:
            assert result is None
            continue
        assert result is not None
        keys = [key(x) for x in result]
        assert len(keys) == len(set(keys))  # a rule appears once
        name = r["metadata"]["name"]
        selected = [
            o
            for o in roles
            if o["metadata"]["name"] != name
            and any(selected_by(s, o["metadata"]["labels"]) for s in r["aggregationRule"]["clusterRoleSelectors"])
        ]
        # exactly the rules of the selected roles: none from a role not selected, none of its own, none lost
        assert set(keys) == {key(x) for o in selected for x in o["rules"] or ()}


@given(cluster_roles(), st.randoms(use_true_random=False))
def test_property_converge(roles: list[Role], rnd: random.Random) -> None:
    shuffled = roles[:]
    rnd.shuffle(shuffled)
    try:
        result = converge(roles)
    except AggregationDoesNotConverge:
        with pytest.raises(AggregationDoesNotConverge):
            converge(shuffled)
        return
    assert converge(shuffled) == result  # independent of the input order
    aggregated = {r["metadata"]["name"] for r in roles if "aggregationRule" in r}
    assert set(result.updates) <= aggregated  # only aggregated roles are ever written
    applied = [{**r, "rules": result.updates.get(r["metadata"]["name"], r["rules"])} for r in roles]
    # a fixpoint: every sync agrees with what is stored, and converging again is a no-op
    assert pending_updates(applied) == {}
    for r in applied:
        if r["metadata"]["name"] in aggregated:
            assert rules_equal(aggregated_rules(r, applied), r["rules"])
    again = converge(applied)
    assert (again.updates, again.rounds) == ({}, 0)
    assert result.rounds <= len(aggregated)


@given(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES)), selector_strategy)
def test_property_selector_matches_agrees_with_an_independent_reading(
    labels: dict[str, str], selector: dict[str, Any]
) -> None:
    assert selector_matches(selector, labels) == selected_by(selector, labels)
