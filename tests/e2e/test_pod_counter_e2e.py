"""The pod-counter example: its manifests against the real API server, and the app "as if in a pod"."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from incluster_sdk.cli import main as cli
from incluster_sdk.testing import LocalCluster
from tests.support.example_app import ExampleApp

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pod-counter"
NAMESPACE = "pod-counter"
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]}}


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for name in ("namespace.yaml", "rbac.yaml", "rbac-leader-election.yaml", "deployment.yaml")
        for doc in yaml.safe_load_all((EXAMPLE / "manifests" / name).read_text())
    ]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("rbac.yaml", ["get,list,watch:pods"]),
        (
            "rbac-leader-election.yaml",
            [
                "--name",
                "pod-counter-leader-election",
                "--no-service-account",
                "get,create,update:leases.coordination.k8s.io",
            ],
        ),
    ],
)
def test_rbac_manifests_are_what_the_rbac_tool_generates(
    name: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's RBAC stays minimal: each file must equal the tool's output for what the app does."""
    cli(["rbac", "--namespace", NAMESPACE, "--sa", "pod-counter", *args])
    generated = capsys.readouterr().out
    on_disk = "".join(
        line for line in (EXAMPLE / "manifests" / name).read_text().splitlines(True) if not line.startswith("#")
    )
    assert on_disk == generated


def test_dockerfile_is_pinned_and_non_root() -> None:
    text = (EXAMPLE / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert bases and all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", b) for b in bases), bases
    assert re.search(r"^USER 65532:65532$", text, re.M)
    deployment = yaml.safe_load((EXAMPLE / "manifests" / "deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532
    root = EXAMPLE.parents[1]
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (root / path).exists(), f"Dockerfile copies {path}, which does not exist"


def test_manifests_are_accepted_by_the_api_server(local_cluster: LocalCluster) -> None:
    for doc in manifests():  # in order: a namespaced object's dry run needs its namespace to exist
        local_cluster.apply(doc, dry_run=True)
        local_cluster.apply(doc)
    deployment = local_cluster.request("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/pod-counter")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "pod-counter"


class App(ExampleApp):
    example = "pod-counter"
    timeout = 20


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_app_counts_pods_in_a_pod_and_survives_rotation(local_cluster: LocalCluster) -> None:
    for doc in manifests()[:6]:  # namespace, ServiceAccount, Roles and RoleBindings
        local_cluster.apply(doc)
    with local_cluster.pod_environment(NAMESPACE, "pod-counter", bound_to_secret="tok-1") as mount:
        app = App("--port", "0")
        try:
            port = int(app.expect(r"serving /healthz and /metrics on port (\d+)").group(1))
            app.expect(r"There are 0 pods in namespace pod-counter$")
            assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
            for i in range(3):
                local_cluster.create({**POD, "metadata": {"name": f"web-{i}", "namespace": NAMESPACE}})
            app.expect(r"There are 3 pods in namespace pod-counter$")
            token = local_cluster.mint_token(NAMESPACE, "pod-counter", bound_to_secret="tok-2")
            mount.rotate(token=token)
            local_cluster.invalidate(NAMESPACE, "tok-1")  # the old token now gets 401
            local_cluster.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/web-0")
            app.expect(r"There are 2 pods in namespace pod-counter$")
            status, metrics = get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert 'pod_counter_pods{namespace="pod-counter",phase="Pending"} 2' in metrics
            assert "pod_counter_synced 1" in metrics
            expiry = re.search(r"^pod_counter_token_expiry_seconds (\d+)$", metrics, re.M)
            assert expiry and 3000 < int(expiry.group(1)) <= 3600
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            app.proc.send_signal(signal.SIGTERM)
            app.expect(r"stopped$")
            assert app.proc.wait(10) == 0
        finally:
            app.proc.kill()
            for i in range(3):
                local_cluster.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/web-{i}")
    assert token not in "\n".join(app.seen)


def test_app_without_permission_exits_with_the_fix(local_cluster: LocalCluster, cluster_namespace: str) -> None:
    local_cluster.create_service_account(cluster_namespace, "nobody")
    with local_cluster.pod_environment(cluster_namespace, "nobody"):
        app = App("--port", "0")
        app.expect(r"may not list, watch pods in namespace")
        assert app.proc.wait(20) == 3


def test_two_replicas_with_leader_election_one_reports(local_cluster: LocalCluster) -> None:
    for doc in manifests()[:6]:
        local_cluster.apply(doc)
    count_line = r"There (are \d+ pods|is 1 pod) in namespace pod-counter$"
    with local_cluster.pod_environment(NAMESPACE, "pod-counter"):
        first = App("--port", "0", "--leader-elect")
        first.expect(count_line)  # alone: it leads and reports
        second = App("--port", "0", "--leader-elect")
        try:
            port = int(second.expect(r"serving /healthz and /metrics on port (\d+)").group(1))
            second.expect(r"leader is now ")
            assert "pod_counter_leader 0" in get(f"http://127.0.0.1:{port}/metrics")[1]
            local_cluster.create({**POD, "metadata": {"name": "solo", "namespace": NAMESPACE}})
            first.expect(count_line)
            first.proc.send_signal(signal.SIGTERM)  # graceful: releases the Lease
            assert first.proc.wait(15) == 0
            second.expect(r"leading: this replica reports now", timeout=10)
            assert not [line for line in second.seen if line.startswith("There ")], "a follower reported"
            second.expect(count_line)
            assert "pod_counter_leader 1" in get(f"http://127.0.0.1:{port}/metrics")[1]
        finally:
            for app in (first, second):
                app.proc.kill()
            local_cluster.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/solo")
