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


# -- a failed discovery re-read, and whoami failing after a denial --------------------------------------------
def _core_only() -> Any:
    from incluster_sdk.catalog import ResourceCatalog, builtin_catalog

    core = tuple(r for r in builtin_catalog().resources if r.group == "")
    return ResourceCatalog(core, "discovery from test", frozenset({""}))


def _answer(allowed: bool) -> tuple[int, bytes]:
    import orjson

    return 201, orjson.dumps({"kind": "SelfSubjectAccessReview", "status": {"allowed": allowed}})


def test_can_i_falls_back_to_the_builtin_table_when_the_re_read_fails(caplog: pytest.LogCaptureFixture) -> None:
    """Finding: a miss whose discovery re-read failed raised ApiError, though a failed first read resolves the
    standard kinds with the built-in table. Now the re-read falls back the same way."""
    from incluster_sdk.discovery import CatalogStep
    from incluster_sdk.errors import ApiError
    from incluster_sdk.flows import drive
    from incluster_sdk.rbac.access import ReviewStep, can_i_flow

    down = ApiError("GET /apis: HTTP 503: the server is currently unable to handle the request", 503)
    asked: list[Any] = []

    def perform(step: Any) -> Any:
        asked.append(step)
        if isinstance(step, CatalogStep):
            if step.refresh:
                raise down
            return _core_only()  # apps' discovery missing from the cached catalog
        assert isinstance(step, ReviewStep)
        return _answer(True)

    decision = drive(can_i_flow("list:deploy", "shop"), perform)
    assert str(decision) == "list deployments.apps in namespace shop: yes"
    assert [type(s).__name__ for s in asked] == ["CatalogStep", "CatalogStep", "ReviewStep"]
    assert "resolving 'list:deploy' with the built-in table" in caplog.text

    from incluster_sdk.rbac import NeedError

    with pytest.raises(NeedError) as err:  # unknown to the built-in table too: the server catalog's answer
        drive(can_i_flow("get:gadgets", "shop"), perform)
    assert str(err.value) == (
        "'get:gadgets': 'gadgets' is not a resource known to the discovery from test (discovery could not be"
        " read again to look for a resource created since: GET /apis: HTTP 503: the server is currently unable"
        " to handle the request)"
    )
    assert err.value.__cause__ is down


def _denying(whoami_answer: Any) -> Any:
    from incluster_sdk.rbac.preflight import WhoamiStep

    def perform(step: Any) -> Any:
        if isinstance(step, WhoamiStep):
            if isinstance(whoami_answer, Exception):
                raise whoami_answer
            return whoami_answer
        return _answer(step.body["spec"]["resourceAttributes"]["verb"] == "list")

    return perform


def test_a_denial_is_raised_even_when_whoami_fails_after_it(caplog: pytest.LogCaptureFixture) -> None:
    """Finding: a whoami failure after a denial made the preflight log and skip, so the informer started and
    met 403s. The denial is known whoever we are: PermissionDeniedError says what is missing, and that the
    identity could not be determined."""
    import asyncio

    from incluster_sdk import PermissionDeniedError
    from incluster_sdk.errors import ApiError
    from incluster_sdk.flows import async_drive, drive
    from incluster_sdk.rbac.preflight import check_access_flow, needs_for
    from incluster_sdk.resource import PODS

    broken = ApiError("POST /apis/authentication.k8s.io/v1/selfsubjectreviews: HTTP 500: etcd is down", 500)
    need = needs_for(PODS)
    with pytest.raises(PermissionDeniedError) as err:
        drive(check_access_flow(need, "shop", "pods"), _denying(broken))
    message = str(err.value)
    assert message.startswith(
        "this client (identity could not be determined: whoami failed: POST"
        " /apis/authentication.k8s.io/v1/selfsubjectreviews: HTTP 500: etcd is down) may not watch pods in"
        " namespace shop.\n"
    )
    assert err.value.missing == ["watch pods in namespace shop"]
    assert "kind: Role" in err.value.fix_yaml and "- watch" in err.value.fix_yaml
    assert "YOUR-SERVICE-ACCOUNT" in err.value.fix_yaml and err.value.__cause__ is broken
    assert "whoami failed" in caplog.text and "skipped" not in caplog.text

    async def perform(step: Any) -> Any:  # the asyncio driver runs the same flow
        return _denying(broken)(step)

    with pytest.raises(PermissionDeniedError, match="identity could not be determined"):
        asyncio.run(async_drive(check_access_flow(need, "shop", "pods"), perform))


def test_a_review_that_fails_still_skips_the_preflight(caplog: pytest.LogCaptureFixture) -> None:
    from incluster_sdk.errors import ApiError
    from incluster_sdk.flows import drive
    from incluster_sdk.rbac.preflight import check_access_flow, needs_for
    from incluster_sdk.resource import PODS

    def perform(step: Any) -> Any:
        raise ApiError("POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: HTTP 403", 403)

    assert drive(check_access_flow(needs_for(PODS), "shop", "pods"), perform) is None
    assert "RBAC preflight for pods skipped" in caplog.text
