"""RBAC against the real API server: whoami, can_i, rules, informer preflight, generated manifests applied
server-side, and `incluster-sdk doctor` run as if in a pod."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

import incluster_sdk
from incluster_sdk.rbac import NeedError, can_i, manifests, parse_needs, rules, whoami
from incluster_sdk.testing import LocalCluster
from incluster_sdk.watch import PODS, AsyncInformer, Informer
from tests.support.cli import doctor_cli as doctor

pytestmark = pytest.mark.e2e


def test_whoami_can_i_and_rules_match_the_role(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    in_pod(["get,list:pods"], bound_to_secret="tok")
    client = incluster_sdk.api_client()
    me = whoami(client)
    assert me.username == f"system:serviceaccount:{cluster_namespace}:app"
    assert f"system:serviceaccounts:{cluster_namespace}" in me.groups
    assert me.source == "token claims"  # 1.20 has no SelfSubjectReview: decoded from the token
    assert me.expires_at is not None and me.claims is not None and me.claims.bound_object == "Secret/tok"
    assert can_i(client, "list", "pods", namespace=cluster_namespace)
    assert can_i(client, "get", "pods", namespace=cluster_namespace, name="anything")
    assert not can_i(client, "watch", "pods", namespace=cluster_namespace)
    assert not can_i(client, "delete", "pods", namespace=cluster_namespace)
    assert not can_i(client, "list", "secrets", namespace=cluster_namespace)
    assert not can_i(client, "list", "pods", namespace="kube-system")
    assert not can_i(client, "list", "pods")  # cluster-wide
    summary = rules(client, cluster_namespace)
    pod_rules = [r for r in summary.resource_rules if "pods" in r.get("resources", [])]
    assert {v for r in pod_rules for v in r["verbs"]} == {"get", "list"}
    assert "list on pods (core)" in str(summary)


def test_informer_preflight_fails_fast_with_the_fix_and_the_fix_works(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    in_pod(["list:pods"])  # no watch
    client = incluster_sdk.api_client()
    with pytest.raises(incluster_sdk.PermissionDeniedError) as caught:
        Informer(client, PODS, namespace=cluster_namespace).start()
    message = str(caught.value)
    assert f"ServiceAccount {cluster_namespace}/app (system:serviceaccount:{cluster_namespace}:app)" in message
    assert f"may not watch pods in namespace {cluster_namespace}" in message
    assert caught.value.missing == [f"watch pods in namespace {cluster_namespace}"]
    for doc in __import__("yaml").safe_load_all(caught.value.fix_yaml):  # the admin applies the suggested fix
        local_cluster.apply(doc)
    with Informer(client, PODS, namespace=cluster_namespace) as informer:
        assert informer.wait_for_sync(15)


async def test_async_informer_preflight_raises_from_wait_for_sync(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    in_pod(["watch:pods"])  # no list
    async with (
        incluster_sdk.AsyncApiClient(incluster_sdk.load_config()) as client,
        AsyncInformer(client, PODS, namespace=cluster_namespace) as informer,
    ):
        with pytest.raises(incluster_sdk.PermissionDeniedError, match="may not list pods"):
            await informer.wait_for_sync(15)


VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
RESOURCES = (("pods", ""), ("configmaps", ""), ("secrets", ""), ("leases", "coordination.k8s.io"))


@pytest.mark.parametrize("cluster_wide", [False, True])
def test_generated_manifests_grant_exactly_what_was_declared(
    local_cluster: LocalCluster, cluster_namespace: str, cluster_wide: bool
) -> None:
    needs = parse_needs(["list,watch:pods", "get:configmaps/my-config", "get,create,update:leases.coordination.k8s.io"])
    docs = manifests(
        needs, namespace=cluster_namespace, service_account="gen", cluster_wide=cluster_wide, subject_group=cluster_wide
    )
    for doc in docs:
        local_cluster.apply(doc, dry_run=True)  # validated by the server first
        local_cluster.apply(doc)
    granted = {(v, n.resource, n.group, n.name) for n in needs for v in n.verbs}
    other_namespace = f"{cluster_namespace}-other"
    local_cluster.create_namespace(other_namespace)
    with local_cluster.pod_environment(cluster_namespace, "gen"):
        client = incluster_sdk.api_client()
        for (verb, (resource, group)), name in itertools.product(
            itertools.product(VERBS, RESOURCES), (None, "my-config")
        ):
            if name is not None and verb == "create":
                with pytest.raises(NeedError, match="cannot be limited to one name"):  # RBAC never matches it
                    can_i(client, verb, resource, namespace=cluster_namespace, name=name, group=group)
                continue
            expected = (verb, resource, group, None) in granted or (
                name is not None and (verb, resource, group, name) in granted
            )
            decision = can_i(client, verb, resource, namespace=cluster_namespace, name=name, group=group)
            assert decision.allowed == expected, decision
            elsewhere = can_i(client, verb, resource, namespace=other_namespace, name=name, group=group)
            assert elsewhere.allowed == (expected and cluster_wide), elsewhere
    local_cluster.delete(f"/api/v1/namespaces/{other_namespace}")


def test_doctor_in_a_pod_passes_and_fails_helpfully(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    mount = in_pod(["get,list,watch:pods"], bound_to_secret="tok")
    code, out = doctor("--can", "list,watch:pods")
    assert code == 0, out
    for line in (
        "[PASS] environment: in a pod",
        "[PASS] service account mount:",
        "[PASS] config: in-cluster",
        "[PASS] token: ServiceAccount",
        "projected (kubelet rotates it; the SDK reloads it), bound to Secret/tok",
        "[PASS] CA: ",  # the harness's CA lives 365 days: no expiry warning
        "ca.crt: 1 certificate(s), first expiry",
        "[PASS] API server:",
        "v1.20.2",
        f"[PASS] identity: system:serviceaccount:{cluster_namespace}:app",
        "[PASS] can list,watch:pods:",
        "all checks passed",
    ):
        assert line in out, out
    token = mount.path.joinpath("token").read_text()
    assert token not in out

    code, out = doctor("--can", "list,watch:pods", "--can", "delete:pods", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["can delete:pods"]
    assert "kind: Role" in failed[0]["hint"] and "- delete" in failed[0]["hint"]
    assert token not in out

    mount.remove("token")
    code, out = doctor()
    assert code == 1
    assert "[FAIL] service account mount:" in out and "missing token" in out
    assert "serviceAccountName" in out
    assert "[FAIL] config:" in out


def test_doctor_locally_with_a_kubeconfig(local_cluster: LocalCluster, isolated_env: Any) -> None:
    code, out = doctor("--kubeconfig", str(local_cluster.admin_kubeconfig), "--can", "*:pods")
    assert code == 0, out
    assert "[SKIP] environment: not in a pod" in out
    assert "[SKIP] service account mount:" in out
    assert "[PASS] config: kubeconfig" in out
    assert "[PASS] token: an opaque bearer token" in out
    assert "[PASS] identity: admin (groups: system:masters, system:authenticated) [TokenReview]" in out
