"""whoami against kube-apiserver 1.20, which has no SelfSubjectReview: each fallback answers for the identity it
fits (token claims, TokenReview, client certificate), the reasons show when none can, and the CLI end to end."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

import incluster_sdk
from incluster_sdk.rbac import Identity, async_whoami, whoami
from incluster_sdk.testing import LocalCluster
from tests.support.cli import run_cli

pytestmark = pytest.mark.e2e

SSR_404 = "SelfSubjectReview: not served by this server (Kubernetes < 1.26)"
SSR_403 = "SelfSubjectReview: not served by this server (Kubernetes < 1.26) or not allowed (HTTP 403)"


def cli(*args: str) -> tuple[int, str, str]:
    proc = run_cli("whoami", *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_a_serviceaccount_is_named_by_its_token_claims(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    mount = in_pod()
    me = whoami(incluster_sdk.api_client())
    assert me.username == f"system:serviceaccount:{cluster_namespace}:app" and me.source == "token claims"
    assert me.reasons == (SSR_403,)  # RBAC answers before routing: for the account, the missing API is a 403
    code, out, err = cli("--json")
    doc = json.loads(out)
    assert code == 0, err
    assert (doc["username"], doc["source"], doc["reasons"]) == (me.username, "token claims", [SSR_403])
    token = mount.path.joinpath("token").read_text()
    assert token not in out + err


async def test_the_admin_static_token_is_named_by_a_tokenreview(local_cluster: LocalCluster) -> None:
    cfg = local_cluster.admin_config()
    try:
        me = whoami(incluster_sdk.api_client(cfg))
        async with incluster_sdk.AsyncApiClient(cfg) as client:
            again = await async_whoami(client)
    finally:
        cfg.close()
    for who in (me, again):
        assert (who.username, who.uid, who.source) == ("admin", "admin-uid", "TokenReview")
        assert who.groups == ("system:masters", "system:authenticated")
        assert who.reasons == (SSR_404, "token: not a ServiceAccount JWT (an opaque token)")


def test_the_cli_as_the_admin(local_cluster: LocalCluster, isolated_env: Path) -> None:
    code, out, err = cli("--kubeconfig", str(local_cluster.admin_kubeconfig), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["username"], doc["source"], doc["uid"]) == ("admin", "TokenReview", "admin-uid")
    assert doc["reasons"] == [SSR_404, "token: not a ServiceAccount JWT (an opaque token)"]
    admin_token = yaml.safe_load(local_cluster.admin_kubeconfig.read_text())["users"][0]["user"]["token"]
    assert admin_token not in out + err


def certificate_kubeconfig(local_cluster: LocalCluster, path: Path, user: str, group: str) -> Path:
    pair = local_cluster.ca.issue(user, client=True, organization=group)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "cert",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": local_cluster.server, "certificate-authority": str(local_cluster.ca_file)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
                    "client-key-data": base64.b64encode(pair.key_pem).decode(),
                },
            }
        ],
        "contexts": [{"name": "cert", "context": {"cluster": "local", "user": user}}],
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def test_a_client_certificate_is_named_by_its_subject_and_the_server_agrees(
    local_cluster: LocalCluster, cluster_namespace: str, isolated_env: Path, tmp_path: Path
) -> None:
    path = certificate_kubeconfig(local_cluster, tmp_path / "kubeconfig", "alice", "devs")
    cfg = incluster_sdk.load_config(kubeconfig=path)
    try:
        client = incluster_sdk.api_client(cfg)
        me = whoami(client)
        assert (me.username, me.groups, me.source) == ("alice", ("devs", "system:authenticated"), "client certificate")
        assert me.reasons == (SSR_403,)
        with pytest.raises(kubernetes.client.ApiException) as denied:  # the server's own word on who this is
            kubernetes.client.CoreV1Api(client).list_namespaced_pod(cluster_namespace)
        assert denied.value.status == 403
        assert 'User "alice" cannot list resource "pods"' in json.loads(denied.value.body)["message"]
    finally:
        cfg.close()
    code, out, err = cli("--kubeconfig", str(path))
    assert code == 0, err
    assert out.splitlines()[:3] == ["alice", "  groups: devs, system:authenticated", "  source: client certificate"]


def test_an_identity_nothing_can_name_says_why_until_a_tokenreview_may_tell(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_pod()
    cfg = incluster_sdk.load_config()
    monkeypatch.setattr(cfg.credentials, "claims", lambda: None)  # as if the token were opaque
    client = incluster_sdk.api_client(cfg)
    me = whoami(client)
    forbidden = (
        "TokenReview: forbidden (needs create on tokenreviews.authentication.k8s.io, e.g. the ClusterRole"
        " system:auth-delegator)"
    )
    assert me.username is None and me.source is None
    assert me.reasons == (SSR_403, "token: not a ServiceAccount JWT (an opaque token)", forbidden)
    assert str(me).startswith("unknown identity (SelfSubjectReview: ")

    name = f"{cluster_namespace}-auth-delegator"
    local_cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": cluster_namespace}],
        }
    )
    try:
        deadline = time.monotonic() + 15  # the authorizer's cache takes the binding in within moments
        while (me := whoami(client)).source is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert isinstance(me, Identity)
        assert (me.username, me.source) == (f"system:serviceaccount:{cluster_namespace}:app", "TokenReview")
        assert f"system:serviceaccounts:{cluster_namespace}" in me.groups
    finally:
        local_cluster.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}")
        cfg.close()
