"""Aggregated ClusterRoles against the real API server: the harness fills them as kube-controller-manager
would, so RBAC's escalation check refuses what a production cluster refuses."""

from __future__ import annotations

import functools
import http.client
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from incluster_sdk.testing import ClusterError, LocalCluster
from incluster_sdk.testing.aggregation import BOOTSTRAP_AGGREGATED, aggregated_rules, pending_updates

pytestmark = pytest.mark.e2e

RBAC = "rbac.authorization.k8s.io"
CLUSTER_ROLES = f"/apis/{RBAC}/v1/clusterroles"
# RBAC decisions follow role and binding changes through kube-apiserver's informers: milliseconds, seconds
# at worst on a loaded machine. 15 s makes a slow machine pass and still fails a grant that never works.
PROPAGATION_TIMEOUT = 15.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PROPAGATION_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {PROPAGATION_TIMEOUT:.0f}s: {what}")
        time.sleep(0.1)


def cluster_roles(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in cluster.request("GET", CLUSTER_ROLES)["items"]}


def bind(cluster: LocalCluster, namespace: str, name: str, role_ref: dict[str, str], subject: dict[str, str]) -> None:
    cluster.apply(
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": RBAC, **role_ref},
            "subjects": [subject],
        }
    )


def allowed(cluster: LocalCluster, user: str, verb: str, resource: str, namespace: str) -> bool:
    """The real authorizer's answer (SubjectAccessReview, asked by the admin); ``resource``: [group/]resource."""
    group, _, resource = resource.rpartition("/")
    attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": resource}
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": attributes},
    }
    answer = cluster.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer["status"].get("allowed"))


def test_start_fills_view_edit_and_admin(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    roles = cluster_roles(local_cluster)
    for name, source in BOOTSTRAP_AGGREGATED.items():
        assert roles[name]["rules"], f"{name} is still empty"
        # every rule of its system:aggregate-to-* is in it
        assert all(rule in roles[name]["rules"] for rule in roles[source]["rules"]), name
    # edit includes view, admin includes edit
    assert all(rule in roles["edit"]["rules"] for rule in roles["view"]["rules"])
    assert all(rule in roles["admin"]["rules"] for rule in roles["edit"]["rules"])
    # the stored roles are what the controller converges to: nothing left to do
    assert pending_updates(roles.values()) == {}
    assert roles["view"]["rules"] == aggregated_rules(roles["view"], roles.values())
    assert local_cluster.aggregate_cluster_roles() == []

    ns = cluster_namespace
    users = {"viewer": "view", "editor": "edit", "administrator": "admin"}
    for user, name in users.items():
        bind(
            local_cluster,
            ns,
            user,
            {"kind": "ClusterRole", "name": name},
            {"apiGroup": RBAC, "kind": "User", "name": user},
        )
    for user in users:
        eventually(functools.partial(allowed, local_cluster, user, "get", "pods", ns), f"{user} may get pods")
    assert not allowed(local_cluster, "viewer", "get", "secrets", ns)
    assert not allowed(local_cluster, "viewer", "create", "pods", ns)
    assert allowed(local_cluster, "editor", "get", "secrets", ns)
    assert allowed(local_cluster, "editor", "create", "pods", ns)
    assert allowed(local_cluster, "editor", "create", "apps/deployments", ns)
    assert not allowed(local_cluster, "editor", "create", f"{RBAC}/rolebindings", ns)
    assert allowed(local_cluster, "administrator", "create", f"{RBAC}/rolebindings", ns)
    assert allowed(local_cluster, "administrator", "get", "secrets", ns)
    assert not allowed(local_cluster, "administrator", "get", "pods", "default")  # a RoleBinding: its namespace only


class AsServiceAccount:
    """Plain HTTPS requests with a ServiceAccount's token (never shown: not in a repr, message or log)."""

    def __init__(self, cluster: LocalCluster, namespace: str, name: str) -> None:
        self._token = cluster.mint_token(namespace, name)
        self._port = cluster.api_port
        self._ssl = ssl.create_default_context(cafile=str(cluster.ca_file))

    def __repr__(self) -> str:
        return "<AsServiceAccount>"

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPSConnection("127.0.0.1", self._port, context=self._ssl, timeout=30)
        try:
            conn.request(
                "POST",
                path,
                body=orjson.dumps(body),
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
            resp = conn.getresponse()
            return resp.status, orjson.loads(resp.read() or b"{}")
        finally:
            conn.close()


def test_binding_view_needs_bind_as_in_production(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    ns = cluster_namespace
    local_cluster.create_service_account(ns, "binder")
    rules_role = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": "create-rolebindings", "namespace": ns},
        "rules": [{"apiGroups": [RBAC], "resources": ["rolebindings"], "verbs": ["create"]}],
    }
    local_cluster.apply(rules_role)
    binder = {"kind": "ServiceAccount", "name": "binder", "namespace": ns}
    bind(local_cluster, ns, "binder-creates", {"kind": "Role", "name": "create-rolebindings"}, binder)
    local_cluster.apply({"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "nothing", "namespace": ns}})
    sa = AsServiceAccount(local_cluster, ns, "binder")
    bindings = f"/apis/{RBAC}/v1/namespaces/{ns}/rolebindings"

    def binding_to(kind: str, role: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"to-{role}-{uuid.uuid4().hex[:6]}", "namespace": ns},
            "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
            "subjects": [{"apiGroup": RBAC, "kind": "User", "name": "someone"}],
        }

    # the create permission is live: binding a Role that grants nothing passes the escalation check
    eventually(lambda: sa.post(bindings, binding_to("Role", "nothing"))[0] == 201, "binder may create RoleBindings")

    # view grants what binder does not hold: refused, as on a real cluster (without aggregation view was
    # empty and this was a 201)
    status, answer = sa.post(bindings, binding_to("ClusterRole", "view"))
    assert status == 403, answer
    assert "attempting to grant RBAC permissions not currently held" in answer["message"], answer["message"]

    # bind on clusterroles/view in this namespace: now allowed without holding view's permissions
    local_cluster.apply(
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": "bind-view", "namespace": ns},
            "rules": [
                {"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["view"]}
            ],
        }
    )
    bind(local_cluster, ns, "binder-binds-view", {"kind": "Role", "name": "bind-view"}, binder)
    eventually(lambda: sa.post(bindings, binding_to("ClusterRole", "view"))[0] == 201, "binder may bind view")
    # only view: edit is still refused
    status, answer = sa.post(bindings, binding_to("ClusterRole", "edit"))
    assert status == 403, answer


RULE = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}


@pytest.fixture
def own_aggregated_role(local_cluster: LocalCluster, cluster_namespace: str) -> Iterator[tuple[str, str]]:
    """(combined, part): a test's own aggregated ClusterRole and the one role it selects (rules: [RULE])."""
    label = f"incluster-sdk.test/aggregate-to-{cluster_namespace}"  # name part: 13 + at most 47 characters
    combined, part = f"{cluster_namespace}-combined", f"{cluster_namespace}-part"
    try:
        local_cluster.apply(
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRole",
                "metadata": {"name": combined},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]},
            }
        )
        local_cluster.apply(
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRole",
                "metadata": {"name": part, "labels": {label: "true"}},
                "rules": [RULE],
            }
        )
        yield combined, part
    finally:  # cluster-scoped: the namespace's deletion does not take them
        local_cluster.delete(f"{CLUSTER_ROLES}/{combined}")
        local_cluster.delete(f"{CLUSTER_ROLES}/{part}")


def test_a_tests_own_aggregated_role_needs_another_call(
    local_cluster: LocalCluster, own_aggregated_role: tuple[str, str]
) -> None:
    combined, part = own_aggregated_role
    assert not cluster_roles(local_cluster)[combined].get("rules")  # nothing watches
    assert local_cluster.aggregate_cluster_roles() == [combined]
    assert cluster_roles(local_cluster)[combined]["rules"] == [RULE]
    assert local_cluster.aggregate_cluster_roles() == []
    local_cluster.delete(f"{CLUSTER_ROLES}/{part}")  # the source goes: its rules go at the next call
    assert local_cluster.aggregate_cluster_roles() == [combined]
    assert not cluster_roles(local_cluster)[combined].get("rules")


def test_a_conflict_is_reread_and_retried(
    local_cluster: LocalCluster, own_aggregated_role: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    combined, _ = own_aggregated_role
    request = local_cluster.request
    puts: list[int] = []

    def racing(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if method == "PUT":
            if not puts:  # another writer gets in between the read and the first write: a real 409
                local_cluster.patch(path, {"metadata": {"annotations": {"racer": "was-here"}}})
            answer = request(method, path, body, **kwargs)
            puts.append(409 if answer.get("kind") == "Status" else 200)
            return answer
        return request(method, path, body, **kwargs)

    monkeypatch.setattr(local_cluster, "request", racing)
    assert local_cluster.aggregate_cluster_roles() == [combined]
    assert puts == [409, 200]
    stored = cluster_roles(local_cluster)[combined]
    assert stored["rules"] == [RULE]
    assert stored["metadata"]["annotations"] == {"racer": "was-here"}  # the other writer's change is kept


def test_missing_bootstrap_roles_end_in_a_clear_error(
    local_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = local_cluster.request

    def without_view(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        answer = request(method, path, body, **kwargs)
        if method == "GET" and path == CLUSTER_ROLES:
            answer["items"] = [r for r in answer["items"] if r["metadata"]["name"] != "view"]
        return answer

    monkeypatch.setattr(local_cluster, "request", without_view)
    monkeypatch.setattr("incluster_sdk.testing.cluster.READY_TIMEOUT", 1.0)
    with pytest.raises(ClusterError, match=r"RBAC bootstrap ClusterRoles \['view'\] still missing after 1s"):
        local_cluster.aggregate_cluster_roles()
