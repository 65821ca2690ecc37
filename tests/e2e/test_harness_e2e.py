"""The local-cluster harness itself: client certificates, admin access, collections found by discovery, tokens
reaching the observers (the run's leak check), and no orphan processes."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kubernetes.client
import pytest
import yaml

import incluster_sdk
from incluster_sdk.testing import ClusterError, LocalCluster, observe_tokens

from ..support.secrets_seen import issued

pytestmark = pytest.mark.e2e


def test_admin_config(local_cluster: LocalCluster) -> None:
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(local_cluster.admin_config()))
    assert any(ns.metadata.name == "kube-system" for ns in api.list_namespace().items)


def test_kubeconfig_client_certificate_data_against_real_server(
    local_cluster: LocalCluster, cluster_namespace: str, tmp_path: Path
) -> None:
    # The server trusts client certs from the cluster CA; CN is the user name.
    pair = local_cluster.ca.issue("cert-user", client=True)
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": local_cluster.server,
                    "certificate-authority-data": b64(local_cluster.ca.cert_pem),
                },
            }
        ],
        "users": [
            {"name": "u", "user": {"client-certificate-data": b64(pair.cert_pem), "client-key-data": b64(pair.key_pem)}}
        ],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": cluster_namespace}}],
    }
    (tmp_path / "config").write_text(yaml.safe_dump(doc))
    # An explicit Role, so the test states exactly what the certificate's user may do.
    rbac = "rbac.authorization.k8s.io"
    meta = {"name": "cert-user-pods", "namespace": cluster_namespace}
    local_cluster.apply(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        }
    )
    local_cluster.apply(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "cert-user-pods"},
            "subjects": [{"apiGroup": rbac, "kind": "User", "name": "cert-user"}],
        }
    )
    cfg = incluster_sdk.load_config(kubeconfig=tmp_path / "config")
    api = kubernetes.client.CoreV1Api(incluster_sdk.api_client(cfg))
    api.list_namespaced_pod(cfg.namespace)  # authenticated as cert-user, authorized by the binding
    with pytest.raises(kubernetes.client.ApiException) as info:
        api.list_namespaced_secret(cfg.namespace)
    assert info.value.status == 403


def test_no_orphans_when_the_test_process_is_killed(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from incluster_sdk.testing import LocalCluster\n"
        "c = LocalCluster.start()\n"
        "print(c.control_plane.etcd.proc.pid, c.control_plane.apiserver.proc.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    for pid in pids:
        os.kill(pid, 0)  # running
    proc.send_signal(signal.SIGKILL)  # no atexit, no finalizers: only PR_SET_PDEATHSIG can help
    proc.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.1)
    assert alive == []


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def test_create_and_apply_find_the_collection_in_discovery(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    # Kinds whose collection no spelling rule finds: an irregular plural, a cluster-scoped kind, a version
    # other than the group's preferred one.
    local_cluster.create(
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ep", "namespace": cluster_namespace}}
    )
    assert local_cluster.request("GET", f"/api/v1/namespaces/{cluster_namespace}/endpoints/ep")["kind"] == "Endpoints"
    webhooks = f"{cluster_namespace}-hooks"
    path = f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{webhooks}"
    local_cluster.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": webhooks},
        }
    )
    try:
        assert local_cluster.request("GET", path)["metadata"]["name"] == webhooks
    finally:
        local_cluster.delete(path)
    role = local_cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1beta1",
            "kind": "Role",
            "metadata": {"name": "old-api", "namespace": cluster_namespace},
            "rules": [],
        }
    )
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1beta1"
    with pytest.raises(ClusterError, match="serves no resource of kind 'Gadget'"):
        local_cluster.create({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}})


def test_every_token_handed_out_reaches_the_observers(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    # Assertions on booleans only: pytest's report of a failed "token in seen" would print the token.
    seen: list[str] = []
    stop = observe_tokens(seen.append)
    try:
        local_cluster.create_service_account(cluster_namespace, "observed")
        minted = local_cluster.mint_token(cluster_namespace, "observed")
        with local_cluster.pod_environment(cluster_namespace, "observed", ttl=1200) as mount:
            mounted = (mount.path / "token").read_text()
    finally:
        stop()
    observed, in_leak_check = minted in seen and mounted in seen, {minted, mounted} <= issued()
    assert observed
    assert in_leak_check  # this run's leak check (tests/conftest.py) got them too
    stop()  # twice is harmless
    after = local_cluster.mint_token(cluster_namespace, "observed", ttl=2400)  # other claims: another token
    observed_after_stop = after in seen
    assert not observed_after_stop
    shown = any(token in repr(local_cluster) + repr(local_cluster.admin) for token in (minted, after))
    assert not shown
