"""The one-command demo: a real local API server, the example's own RBAC manifests, a kubelet-style token
mount, and pod-counter running "in-cluster" while pods come and go and its token is rotated and the old one
invalidated.

    bash scripts/demo.sh
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import yaml

from incluster_sdk.testing import LocalCluster
from incluster_sdk.testing.app_process import AppProcess, run_demo, say

HERE = Path(__file__).resolve().parent
NAMESPACE = "pod-counter"
SA = "pod-counter"
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]}}


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def run(cluster: LocalCluster) -> None:
    for name in ("namespace.yaml", "rbac.yaml"):
        for doc in yaml.safe_load_all((HERE / "manifests" / name).read_text()):
            cluster.apply(doc)
    say(f"applied manifests/namespace.yaml and manifests/rbac.yaml: ServiceAccount {NAMESPACE}/{SA},")
    say("  a Role with get/list/watch on pods only, and its RoleBinding")
    with cluster.pod_environment(NAMESPACE, SA, bound_to_secret="token-1") as mount:
        say(f"kubelet-style token mount at {mount.path}; starting pod-counter as if in a pod")
        with AppProcess(HERE / "app.py", "--port", "0", label="pod-counter") as app:
            port = int(app.expect(r"serving /healthz and /metrics on port (\d+)").group(1))
            app.expect(rf"There are 0 pods in namespace {NAMESPACE}$")
            say(f"GET /healthz -> {http_get(port, '/healthz')}")
            for i in range(3):
                cluster.create({**POD, "metadata": {"name": f"web-{i}", "namespace": NAMESPACE}})
            say("created pods web-0, web-1, web-2")
            app.expect(rf"There are 3 pods in namespace {NAMESPACE}$")
            for round_ in (2, 3):
                token = cluster.mint_token(NAMESPACE, SA, bound_to_secret=f"token-{round_}")
                mount.rotate(token=token)
                cluster.invalidate(NAMESPACE, f"token-{round_ - 1}")
                say(f"rotated the token (kubelet's ..data swap) and invalidated the old one (token-{round_ - 1})")
                cluster.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/web-{round_ - 2}")
                say(f"deleted pod web-{round_ - 2}")
                left = 3 - (round_ - 1)
                app.expect(rf"There (are {left} pods|is 1 pod) in namespace {NAMESPACE}$")
            status, metrics = http_get(port, "/metrics")
            say(f"GET /metrics -> {status}:")
            for line in metrics.splitlines():
                if not line.startswith("#"):
                    print(f"    {line}", flush=True)
            say("sending SIGTERM")
            app.stop(10)


if __name__ == "__main__":
    sys.exit(
        run_demo(
            run, done="done: pod-counter followed every change through two token rotations; the cluster is cleaned up"
        )
    )
