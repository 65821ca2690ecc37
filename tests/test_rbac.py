"""RBAC helpers without a cluster: needs, rules, manifests, the CLI's YAML, and whoami's two sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import incluster_sdk
from incluster_sdk.cli import main
from incluster_sdk.rbac import can_i, manifests, parse_need, policy_rules, whoami
from incluster_sdk.rbac.review import identity_from_claims
from incluster_sdk.tokens import TokenClaims
from tests.support.fake_apiserver import FakeApiServer, Seen

from .test_clients import pod_mount


def test_policy_rules_are_merged_and_minimal() -> None:
    needs = [
        parse_need(s)
        for s in (
            "list,watch:pods",
            "get:pods",
            "list,watch:services",
            "get:configmaps/a",
            "get:leases.coordination.k8s.io",
        )
    ]
    assert policy_rules(needs) == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
    ]


def test_manifests_namespaced_cluster_wide_and_group() -> None:
    needs = [parse_need("list,watch:pods")]
    sa, role, binding = manifests(needs, namespace="shop", service_account="app")
    assert (sa["kind"], role["kind"], binding["kind"]) == ("ServiceAccount", "Role", "RoleBinding")
    assert role["metadata"] == {"name": "app", "namespace": "shop"} == binding["metadata"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app"}
    role, binding = manifests(
        needs,
        namespace="shop",
        service_account="app",
        cluster_wide=True,
        subject_group=True,
        include_service_account=False,
    )
    assert role["kind"] == "ClusterRole" and "namespace" not in role["metadata"]
    assert (
        binding["kind"] == "ClusterRoleBinding" and binding["roleRef"]["name"] == role["metadata"]["name"] == "shop:app"
    )
    assert binding["subjects"] == [
        {"kind": "Group", "name": "system:serviceaccounts:shop", "apiGroup": "rbac.authorization.k8s.io"}
    ]


def test_cli_rbac_prints_valid_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rbac", "--namespace", "shop", "--sa", "pod-counter", "list,watch:pods", "get:configmaps/cfg"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    assert docs[1]["rules"][0] == {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["get"],
        "resourceNames": ["cfg"],
    }


def test_cli_bad_need_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rbac", "-n", "shop", "--sa", "a", "pods"]) == 2
    assert "expected VERBS:TYPE[/NAME]" in capsys.readouterr().err


def review_server(ssr_status: int) -> Any:
    def respond(seen: Seen) -> tuple[int, Any]:
        if "selfsubjectreviews" in seen.path:
            if ssr_status != 200:
                return ssr_status, {"kind": "Status", "code": ssr_status}
            user = {"username": "system:serviceaccount:ns:app", "groups": ["system:serviceaccounts"], "uid": "u1"}
            return 200, {"kind": "SelfSubjectReview", "status": {"userInfo": user}}
        if "selfsubjectaccessreviews" in seen.path:
            return 201, {"kind": "SelfSubjectAccessReview", "status": {"allowed": True, "reason": "RBAC: allowed"}}
        return 404, {}

    return respond


def test_whoami_asks_the_server_where_it_can(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)
    fake_apiserver.respond = review_server(200)
    me = whoami(incluster_sdk.api_client())
    assert me.username == "system:serviceaccount:ns:app" and me.source == "SelfSubjectReview"
    assert me.service_account == ("ns", "app") and me.uid == "u1"
    assert fake_apiserver.seen[-1].path == "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    decision = can_i(incluster_sdk.api_client(), "watch", "pods", namespace="ns")
    assert decision and str(decision) == "watch pods in namespace ns: yes"


def test_whoami_falls_back_to_the_token_on_servers_without_selfsubjectreview(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch)  # the token "token-a" is not a JWT
    fake_apiserver.respond = review_server(404)
    me = whoami(incluster_sdk.api_client())
    assert me.username is None and me.source is None  # nothing could tell: tests/test_whoami.py has the chain
    assert [s.path for s in fake_apiserver.seen] == [
        *(f"/apis/authentication.k8s.io/{v}/selfsubjectreviews" for v in ("v1", "v1beta1", "v1alpha1")),
        "/apis/authentication.k8s.io/v1/tokenreviews",
    ]


def test_identity_from_service_account_claims() -> None:
    me = identity_from_claims(
        TokenClaims(subject="system:serviceaccount:ns:app", namespace="ns", service_account="app")
    )
    assert me.username == "system:serviceaccount:ns:app"
    assert me.groups == ("system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated")


def test_the_walkthrough_in_docs_shows_what_the_cli_prints(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "rbac.md").read_text()
    shown = re.search(r"```yaml\n(apiVersion: v1\nkind: ServiceAccount.*?)```", doc, re.S)
    assert shown is not None
    main(["rbac", "--namespace", "shop", "--sa", "pod-counter", "list,watch:pods", "get:configmaps/my-config"])
    assert capsys.readouterr().out == shown.group(1)


def test_every_rbac_command_in_the_docs_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import re
    import shlex

    doc = (Path(__file__).resolve().parents[1] / "docs" / "rbac.md").read_text()
    commands = re.findall(r"^\$ incluster-sdk (rbac .*)$", doc, re.M)
    assert len(commands) >= 3
    for command in commands:
        assert main(shlex.split(command)) == 0, command
        out = capsys.readouterr()
        docs = list(yaml.safe_load_all(out.out))
        assert docs and all(d["apiVersion"] for d in docs), command
        assert "WARNING" not in out.err, (command, out.err)  # the docs show needs that are right as written
