"""The readonly-default example against the real API server, "as if in a pod" with its own least-privilege RBAC:
converges on 200 namespaces (threads and asyncio), repairs, Events, no writes on a resync, an API server
restart, a token rotation, and two replicas handing over without one key reconciled twice at once."""

from __future__ import annotations

import itertools
import json
import re
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from incluster_sdk.cli import main as cli
from incluster_sdk.testing import LocalCluster

from ..support.example_app import ExampleApp

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "readonly-default"
NS = "readonly-default"
SA = "readonly-default"
BINDINGS = "/apis/rbac.authorization.k8s.io/v1/rolebindings?fieldSelector=metadata.name%3Dreadonly-default"
RBAC = (
    "get,list,watch:namespaces",
    "get,list,watch,create,update,delete:rolebindings.rbac.authorization.k8s.io",
    "bind:clusterroles.rbac.authorization.k8s.io/view",
    "create,patch:events",
)
LEADER = (
    "--name",
    "readonly-default-leader-election",
    "--no-service-account",
    "get,create,update:leases.coordination.k8s.io",
)
VIEW = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}


def manifest(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((EXAMPLE / "manifests" / name).read_text()))


def uncommented(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if not line.startswith("#"))


@pytest.mark.parametrize(
    ("name", "args"), [("rbac.yaml", ["--cluster-wide", *RBAC]), ("rbac-leader-election.yaml", LEADER)]
)
def test_rbac_manifests_are_what_the_rbac_tool_generates(
    name: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["rbac", "--namespace", NS, "--sa", SA, *args])
    assert uncommented((EXAMPLE / "manifests" / name).read_text()) == uncommented(capsys.readouterr().out)
    if name == "rbac.yaml":  # least privilege: bind on view only, no read of what view reads
        rules = manifest(name)[1]["rules"]
        bind = [r for r in rules if "bind" in r["verbs"]]
        assert bind == [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
                "resourceNames": ["view"],
            }
        ]


def test_dockerfile_copies_what_exists() -> None:
    text = (EXAMPLE / "Dockerfile").read_text()
    assert re.search(r"^USER 65532:65532$", text, re.M) and "[metrics]" in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (EXAMPLE.parents[1] / path).exists(), path


@pytest.fixture(scope="module")
def installed(local_cluster: LocalCluster) -> LocalCluster:
    for name in ("namespace.yaml", "rbac.yaml", "rbac-leader-election.yaml", "deployment.yaml"):
        for doc in manifest(name):
            local_cluster.apply(doc, dry_run=True)
            local_cluster.apply(doc)
    return local_cluster


class App(ExampleApp):
    """The example as a child process (tests/support/example_app.py) on a free port; its /metrics."""

    example = "readonly-default"

    def __init__(self, *args: str) -> None:
        super().__init__("--port", "0", *args)
        self._port = 0

    @property
    def seen(self) -> list[str]:
        """Every line it has printed so far, consumed or not."""
        return self.output.read

    @property
    def port(self) -> int:
        if not self._port:
            pattern = r"serving /healthz and /metrics on port (\d+)"
            self._port = int(self.output.first(lambda line: re.search(pattern, line), 30).group(1))  # type: ignore[union-attr]
        return self._port

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.seen[-20:]
        self.expect(r"stopped$", 5)  # the reader thread may lag behind the exit
        assert self.seen[-1].endswith("stopped"), self.seen[-5:]


def make_namespaces(cluster: LocalCluster, run: str, count: int, prefix: str = "ro") -> list[str]:
    names = [f"{prefix}-{run}-{i}" for i in range(count)]
    body = lambda n: {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"e2e-run": run}}}  # noqa: E731
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: cluster.create(body(n)), names))
    return names


def bindings(cluster: LocalCluster, names: list[str]) -> dict[str, dict[str, Any]]:
    wanted = set(names)
    items = cluster.request("GET", BINDINGS)["items"]
    return {b["metadata"]["namespace"]: b for b in items if b["metadata"]["namespace"] in wanted}


def until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)
    return time.monotonic() - began


def correct(binding: dict[str, Any] | None, ns: str) -> bool:
    return (
        binding is not None
        and binding["roleRef"] == VIEW
        and binding.get("subjects") == [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]
    )


def apiserver_writes(cluster: LocalCluster) -> float:
    """rolebinding writes kube-apiserver counted (all clients): an independent check of the app's own count."""
    text = cluster.request("GET", "/metrics", raw=True).decode()
    pattern = r"^apiserver_request_total\{([^}]*)\} (\S+)$"
    return sum(
        float(value)
        for labels, value in re.findall(pattern, text, re.M)
        if 'resource="rolebindings"' in labels and re.search(r'verb="(POST|PUT|PATCH|DELETE|CREATE|UPDATE)"', labels)
    )


def replace_role_ref(cluster: LocalCluster, ns: str, role: str) -> dict[str, Any]:
    """Swap the binding for one bound to ``role``. The controller re-creates a deleted binding within
    milliseconds, and under load it won every race of a delete + create: the namespace opts out while the
    binding is swapped (the controller leaves it alone), then opts back in, which has the controller repair it."""
    opt_out = "incluster-sdk.example/readonly-default"
    cluster.patch(f"/api/v1/namespaces/{ns}", {"metadata": {"labels": {opt_out: "false"}}})
    try:
        return _swap(cluster, ns, role)
    finally:
        cluster.patch(f"/api/v1/namespaces/{ns}", {"metadata": {"labels": {opt_out: None}}})


def _swap(cluster: LocalCluster, ns: str, role: str) -> dict[str, Any]:
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/readonly-default"
    wrong = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "readonly-default", "namespace": ns},
        "roleRef": {**VIEW, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}],
    }
    for _ in range(50):  # until the controller's cache has seen the opt-out, it may still re-create it first
        cluster.delete(path)
        try:
            return cluster.create(wrong)
        except Exception:  # 409: the controller was quicker
            time.sleep(0.1)
    raise AssertionError("could not replace the binding")


@pytest.fixture
def pod(installed: LocalCluster) -> Iterator[Any]:
    with installed.pod_environment(NS, SA, bound_to_secret=f"tok-{uuid.uuid4().hex[:6]}") as mount:
        yield mount


def test_threads_converge_repair_resync_restart_and_rotation(installed: LocalCluster, pod: Any) -> None:
    cluster, run = installed, uuid.uuid4().hex[:6]
    names = make_namespaces(cluster, run, 200)
    opted_out = f"ro-{run}-out"
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": opted_out, "labels": {
        "e2e-run": run, "incluster-sdk.example/readonly-default": "false"}}})  # fmt: skip
    began = time.monotonic()
    app = App("--selector", f"e2e-run={run}", "--workers", "4", "--resync", "1")
    try:
        took = until(lambda: len(bindings(cluster, names)) == 200, 60, "200 bindings")
        print(f"threads: 200 namespaces converged {took:.1f}s after start-up ({time.monotonic() - began:.1f}s in all)")
        assert all(correct(b, ns) for ns, b in bindings(cluster, names).items())
        assert opted_out not in bindings(cluster, [opted_out])
        until(lambda: app.metric("readonly_default_writes_total") == 200, 10, "one write per namespace")

        # a resync replays the cache every second: nothing changed, so nothing is written
        quiet_app, quiet_server = app.metric("readonly_default_writes_total"), apiserver_writes(cluster)
        time.sleep(2.5)
        assert app.metric("readonly_default_writes_total") == quiet_app == 200
        assert apiserver_writes(cluster) == quiet_server

        # repairs: deleted -> re-created; roleRef edited (immutable) -> delete + create; subjects edited -> update
        a, b, c = names[0], names[1], names[2]
        cluster.delete(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{a}/rolebindings/readonly-default")
        edited = replace_role_ref(cluster, b, "edit")  # roleRef is immutable: delete + create, as a user would
        cluster.patch(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{c}/rolebindings/readonly-default",
                      {"subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": c}]})  # fmt: skip
        until(lambda: all(correct(x, ns) for ns, x in bindings(cluster, [a, b, c]).items())
              and len(bindings(cluster, [a, b, c])) == 3, 15, "three repairs")  # fmt: skip
        assert bindings(cluster, [b])[b]["metadata"]["uid"] != edited["metadata"]["uid"]  # replaced, not edited
        for ns, reason in ((a, "Recreated"), (b, "Repaired"), (c, "Repaired")):
            until(lambda ns=ns, reason=reason: any(  # type: ignore[misc]
                e["reason"] == reason and e["source"].get("component") == "incluster-sdk.example/readonly-default"
                for e in cluster.request("GET", f"/api/v1/namespaces/{ns}/events")["items"]
            ), 10, f"event {reason} in {ns}")  # fmt: skip

        # the token rotates and the old one is invalidated, then the API server restarts (which also drops its
        # cache of good authentications): the informers relist with the new token, and a deletion is repaired
        token = cluster.mint_token(NS, SA, bound_to_secret=f"tok-{run}-2")
        pod.rotate(token=token)
        for secret in cluster.request("GET", f"/api/v1/namespaces/{NS}/secrets")["items"]:
            if secret["metadata"]["name"].startswith("tok-") and secret["metadata"]["name"] != f"tok-{run}-2":
                cluster.invalidate(NS, secret["metadata"]["name"])
        cluster.stop_apiserver()
        time.sleep(1)
        cluster.start_apiserver()
        cluster.delete(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{names[3]}/rolebindings/readonly-default")
        took = until(lambda: names[3] in bindings(cluster, [names[3]]), 40, "repair after restart and rotation")
        print(f"threads: repaired {took:.1f}s after the API server came back (new token, old one invalid)")
        assert app.metric("workqueue_adds_total") >= 200
        app.stop()
    finally:
        app.proc.kill()
    assert token not in "\n".join(app.seen)


def test_asyncio_converges_and_repairs(installed: LocalCluster, pod: Any) -> None:
    cluster, run = installed, uuid.uuid4().hex[:6]
    names = make_namespaces(cluster, run, 200)
    began = time.monotonic()
    app = App("--asyncio", "--selector", f"e2e-run={run}", "--workers", "4")
    try:
        took = until(lambda: len(bindings(cluster, names)) == 200, 60, "200 bindings")
        print(f"asyncio: 200 namespaces converged {took:.1f}s after start-up ({time.monotonic() - began:.1f}s in all)")
        cluster.patch(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{names[7]}/rolebindings/readonly-default",
                      {"subjects": []})  # fmt: skip
        until(lambda: correct(bindings(cluster, [names[7]]).get(names[7]), names[7]), 15, "asyncio repair")
        until(lambda: app.metric("readonly_default_writes_total") == 201, 10, "200 creates + 1 update")
        app.stop()
    finally:
        app.proc.kill()


def overlaps(trace: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Pairs of reconciles of one key whose [start, end] intervals intersect (across or within replicas)."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for entry in trace:
        by_key.setdefault(entry["key"], []).append(entry)
    found = []
    for key, runs in by_key.items():
        runs.sort(key=lambda e: e["start"])
        for first, second in itertools.pairwise(runs):
            if second["start"] < first["end"]:
                found.append((key, first["replica"], second["replica"]))
    return found


def leading(apps: list[App], timeout: float) -> int:
    """The index of the app that printed "started leading" first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, app in enumerate(apps):
            if app.output.first(lambda line: "started leading" in line or None, 0.1):
                return index
    raise AssertionError(f"no replica leads after {timeout}s: {[app.seen[-10:] for app in apps]}")


def test_two_replicas_hand_over_without_a_key_reconciled_twice_at_once(
    installed: LocalCluster, pod: Any, tmp_path: Path
) -> None:
    cluster, run = installed, uuid.uuid4().hex[:6]
    names = make_namespaces(cluster, run, 80)
    timings = ("--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "0.5")
    common = ("--leader-elect", "--selector", f"e2e-run={run}", "--workers", "4", "--slow", "0.1", *timings)
    # both start at once (their start-ups overlap); whichever takes the Lease is "first"
    apps = [App(*common, "--trace", str(tmp_path / f"{i}.jsonl")) for i in (0, 1)]
    try:
        leader = leading(apps, 30)
        first, second = apps[leader], apps[1 - leader]
        second.expect(r"running: ", timeout=20)
        until(lambda: len(bindings(cluster, names)) >= 10, 20, "the first leader at work")
        handover = time.monotonic()
        first.stop()  # in-flight reconciles finish, then the Lease is released
        second.expect(r"started leading", timeout=10)
        print(f"hand-over: the second replica leads {time.monotonic() - handover:.1f}s after SIGTERM to the first")
        until(lambda: len(bindings(cluster, names)) == 80, 40, "80 bindings after the hand-over")
        until(lambda: second.metric("workqueue_depth") == 0, 20, "the new leader's queue drained")
        second.stop()
    finally:
        for app in apps:
            app.proc.kill()
    trace = [json.loads(line) for i in (0, 1) for line in (tmp_path / f"{i}.jsonl").read_text().splitlines()]
    assert len({e["replica"] for e in trace}) == 2, "both replicas reconciled"
    second_keys = {json.loads(line)["key"] for line in (tmp_path / f"{1 - leader}.jsonl").read_text().splitlines()}
    assert second_keys >= set(names), "the new leader re-queued every key from its warm cache"
    assert overlaps(trace) == []
    assert all(correct(b, ns) for ns, b in bindings(cluster, names).items())
