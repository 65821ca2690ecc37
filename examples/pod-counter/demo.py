"""The one-command demo: a real local API server, RBAC, a kubelet-style token mount, and pod-counter running
"in-cluster" while pods come and go and its token is rotated and the old one invalidated.

    bash scripts/demo.sh
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from incluster_sdk.testing import LocalCluster

NAMESPACE = "pod-counter"
SA = "pod-counter"
APP = Path(__file__).with_name("app.py")
POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]}}


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def main() -> int:
    say("starting a local kube-apiserver + etcd ...")
    with LocalCluster.start() as cluster:
        say(f"API server ready at {cluster.server}")
        cluster.create_service_account(NAMESPACE, SA)
        cluster.grant(NAMESPACE, SA, [("get", "pods"), ("list", "pods"), ("watch", "pods")])
        say(f"ServiceAccount {NAMESPACE}/{SA} with a Role allowing get/list/watch on pods")
        with cluster.pod_environment(NAMESPACE, SA, bound_to_secret="token-1") as mount:
            say(f"kubelet-style token mount at {mount.path}; starting pod-counter as if in a pod")
            app = subprocess.Popen(
                [sys.executable, str(APP), "--interval", "0.5"],
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            lines: queue.Queue[str] = queue.Queue()
            assert app.stdout is not None
            stdout = app.stdout
            threading.Thread(target=lambda: [lines.put(line.rstrip()) for line in stdout], daemon=True).start()

            def expect(count: int, timeout: float = 20.0) -> None:
                want = f"There are {count} pods in namespace {NAMESPACE}"
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    try:
                        line = lines.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    print(f"    app| {line}", flush=True)
                    if line.endswith(want):
                        return
                raise SystemExit(f"[demo] FAILED: pod-counter never said {want!r}")

            try:
                expect(0)
                for i in range(3):
                    cluster.create({**POD, "metadata": {"name": f"web-{i}", "namespace": NAMESPACE}})
                say("created 3 pods")
                expect(3)
                for round_ in (2, 3):
                    token = cluster.mint_token(NAMESPACE, SA, bound_to_secret=f"token-{round_}")
                    mount.rotate(token=token)
                    cluster.invalidate(NAMESPACE, f"token-{round_ - 1}")
                    say(f"rotated the token (kubelet-style ..data swap) and invalidated the old one ({round_ - 1})")
                    cluster.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/web-{round_ - 2}")
                    say(f"deleted pod web-{round_ - 2}")
                    expect(3 - (round_ - 1))
            finally:
                app.terminate()
                code = app.wait(10)
                while not lines.empty():
                    print(f"    app| {lines.get()}", flush=True)
            if code != 0:
                say(f"FAILED: pod-counter exited with {code}")
                return 1
    say("done: pod-counter followed every change and survived two token rotations; cluster cleaned up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
