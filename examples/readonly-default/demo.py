"""The readonly-default demo: a real local API server, the example's own least-privilege RBAC, a kubelet-style
token mount, and the controller running "in-cluster": it gives 20 namespaces their binding, repairs a deleted
one and an edited one (with Events), and a second replica takes over when the first stops.

    python examples/readonly-default/demo.py      (bash scripts/demo.sh runs it after pod-counter)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import yaml

from incluster_sdk.testing import LocalCluster
from incluster_sdk.testing.app_process import AppFailed, AppProcess, run_demo, say

HERE = Path(__file__).resolve().parent
NS = SA = "readonly-default"
RB = "/apis/rbac.authorization.k8s.io/v1"
VIEW = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}


def replica(label: str, *args: str) -> AppProcess:
    """The controller as a child process; echoes its log lines (INFO and up) without their time and level."""

    def show(line: str) -> str | None:
        return line.split(" ", 2)[-1] if "INFO" in line or "WARNING" in line or "ERROR" in line else None

    return AppProcess(HERE / "app.py", "--port", "0", *args, label=label, show=show)


def binding(cluster: LocalCluster, ns: str) -> dict[str, Any] | None:
    items = cluster.request("GET", f"{RB}/namespaces/{ns}/rolebindings")["items"]
    return next((b for b in items if b["metadata"]["name"] == "readonly-default"), None)


def wait_for(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AppFailed(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def run(cluster: LocalCluster) -> None:
    for name in ("namespace.yaml", "rbac.yaml", "rbac-leader-election.yaml"):
        for doc in yaml.safe_load_all((HERE / "manifests" / name).read_text()):
            cluster.apply(doc)
    say("applied manifests/: a ClusterRole with list/watch on namespaces and rolebindings, create/update/delete")
    say("  on rolebindings, bind on ClusterRole view only, create/patch on events; a Lease Role")
    names = [f"team-{i}" for i in range(20)]
    for ns in names:
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"demo": "yes"}}})
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-optout", "labels": {
        "demo": "yes", "incluster-sdk.example/readonly-default": "false"}}})  # fmt: skip
    say("created namespaces team-0 .. team-19, and team-optout (label incluster-sdk.example/readonly-default=false)")
    timings = ("--lease-duration", "6", "--renew-deadline", "4", "--retry-period", "1")
    args = ("--leader-elect", "--selector", "demo=yes", "--workers", "4", *timings)
    with cluster.pod_environment(NS, SA), replica("replica-1", *args) as first:
        first.expect(r"started leading")
        began = time.monotonic()
        wait_for("20 bindings", lambda: all(binding(cluster, ns) for ns in names))
        took = time.monotonic() - began
        say(f"all 20 namespaces have RoleBinding readonly-default -> ClusterRole view ({took:.1f}s)")
        say(f"team-optout has none: {binding(cluster, 'team-optout') is None}")
        with replica("replica-2", *args) as second:
            second.expect(r"running: ")
            say("a second replica runs too: warm caches, no reconciles while the first leads")
            cluster.delete(f"{RB}/namespaces/team-3/rolebindings/readonly-default")
            say("deleted team-3's binding")
            first.expect(r"recreated: create RoleBinding team-3/readonly-default")
            cluster.patch(f"{RB}/namespaces/team-4/rolebindings/readonly-default",
                          {"subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "team-4"}]})  # fmt: skip
            say("edited team-4's binding: subjects -> ServiceAccount ci")
            first.expect(r"repaired: update RoleBinding team-4/readonly-default")
            events = cluster.request("GET", "/api/v1/namespaces/team-4/events")["items"]
            for event in events:
                say(f"  Event in team-4: {event['type']} {event['reason']}: {event['message']}")
            say("sending SIGTERM to replica-1: in-flight reconciles finish, then it hands the Lease back")
            first.stop()
            second.expect(r"started leading", timeout=15)
            cluster.delete(f"{RB}/namespaces/team-5/rolebindings/readonly-default")
            say("deleted team-5's binding")
            second.expect(r"recreated: create RoleBinding team-5/readonly-default")
            say("replica-2 repaired it")
            second.stop()


if __name__ == "__main__":
    sys.exit(
        run_demo(
            run, done="done: readonly-default kept every namespace read-only by default, across a hand-over; cleaned up"
        )
    )
