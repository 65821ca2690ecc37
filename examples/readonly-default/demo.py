"""The readonly-default demo: a real local API server, the example's own least-privilege RBAC, a kubelet-style
token mount, and the controller running "in-cluster": it gives 20 namespaces their binding, repairs a deleted
one and an edited one (with Events), and a second replica takes over when the first stops.

    python examples/readonly-default/demo.py      (bash scripts/demo.sh runs it after pod-counter)
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from incluster_sdk.testing import LocalCluster

HERE = Path(__file__).resolve().parent
NS = SA = "readonly-default"
RB = "/apis/rbac.authorization.k8s.io/v1"
VIEW = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


class Failed(Exception):
    pass


class RunningApp:
    """The controller as a child process, its output echoed with a prefix and searchable."""

    def __init__(self, label: str, *args: str) -> None:
        self.label = label
        cmd = [sys.executable, str(HERE / "app.py"), "--port", "0", *args]
        self.proc = subprocess.Popen(
            cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout

        def pump() -> None:
            for line in stdout:
                self.lines.put(line.rstrip())

        threading.Thread(target=pump, daemon=True).start()

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if "INFO" in line or "WARNING" in line or "ERROR" in line:
                print(f"    {self.label}| {line.split(' ', 2)[-1]}", flush=True)
            if match := re.search(pattern, line):
                return match
        raise Failed(f"{self.label} never printed {pattern!r}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.expect(r"stopped$")
        if self.proc.wait(15) != 0:
            raise Failed(f"{self.label} exited with {self.proc.returncode}")


def binding(cluster: LocalCluster, ns: str) -> dict[str, Any] | None:
    items = cluster.request("GET", f"{RB}/namespaces/{ns}/rolebindings")["items"]
    return next((b for b in items if b["metadata"]["name"] == "readonly-default"), None)


def wait_for(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise Failed(f"not within {timeout}s: {what}")
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
    with cluster.pod_environment(NS, SA):
        first = RunningApp("replica-1", *args)
        second: RunningApp | None = None
        try:
            first.expect(r"started leading")
            began = time.monotonic()
            wait_for("20 bindings", lambda: all(binding(cluster, ns) for ns in names))
            took = time.monotonic() - began
            say(f"all 20 namespaces have RoleBinding readonly-default -> ClusterRole view ({took:.1f}s)")
            say(f"team-optout has none: {binding(cluster, 'team-optout') is None}")
            second = RunningApp("replica-2", *args)
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
        finally:
            for app in (first, second):
                if app is not None and app.proc.poll() is None:
                    app.proc.kill()


def main() -> int:
    say("starting a local kube-apiserver + etcd ...")
    try:
        with LocalCluster.start() as cluster:
            say(f"API server ready at {cluster.server}")
            run(cluster)
    except Failed as exc:
        say(f"FAILED: {exc}")
        return 1
    say("done: readonly-default kept every namespace read-only by default, across a hand-over; cleaned up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
