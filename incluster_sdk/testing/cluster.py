"""A real local Kubernetes API server (etcd + kube-apiserver) for tests and demos, like Go's envtest.

    with LocalCluster.start() as cluster:
        cluster.create_service_account("demo", "app")
        cluster.grant("demo", "app", ["get,list:pods", "get:configmaps/app-config"])
        with cluster.pod_environment("demo", "app") as pod:   # a kubelet-style mount + env vars
            cfg = incluster_sdk.load_config()                  # takes the in-cluster path for real

No scheduler, controller manager or kubelet: pods stay Pending, and ServiceAccounts and their tokens are
made by these helpers (TokenRequest API) instead of by controllers.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from .._secret import Secret
from ..config import Config
from ..discovery import ResourceCatalog, discovery_flow
from ..rbac.needs import Need
from .binaries import Binaries, find_binaries
from .fake_mount import FakeServiceAccountMount
from .pki import CertificateAuthority, rsa_signing_key
from .secrets_seen import remember

AUDIENCE = "https://kubernetes.default.svc"
# kube-apiserver 1.20 is ready in ~10 s on 2 cores; allow for a loaded CI machine.
READY_TIMEOUT = 90.0
# kube-apiserver enforces expirationSeconds >= 600 for TokenRequest.
MIN_TOKEN_TTL = 600


class ClusterError(RuntimeError):
    """The local cluster failed to start or a harness request failed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # PR_SET_PDEATHSIG: the server dies with the test process even on SIGKILL: no orphans.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


@dataclass
class _Process:
    name: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if os.name == "posix" else None,
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0, *, kill: bool = False) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; ``kill``: SIGKILL at once (a crash, no graceful close)."""
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
            self.proc.wait()
        elif self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class LocalCluster:
    """etcd + kube-apiserver on free loopback ports, RBAC on, service-account tokens enabled."""

    workdir: Path
    binaries: Binaries
    ca: CertificateAuthority
    api_port: int
    etcd_port: int
    _admin_token: Secret
    _etcd: _Process
    _apiserver: _Process
    _owns_workdir: bool = True
    _ssl: ssl.SSLContext = field(init=False)
    _catalog: ResourceCatalog | None = field(init=False, default=None)

    # -- lifecycle -----------------------------------------------------------------------------------
    @classmethod
    def start(cls, workdir: str | os.PathLike[str] | None = None, binaries: Binaries | None = None) -> LocalCluster:
        binaries = binaries or find_binaries()
        owns = workdir is None
        root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="incluster-sdk-cluster-"))
        pki = root / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority.create()
        serving = ca.issue(
            "kube-apiserver",
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=("127.0.0.1", "::1", "10.0.0.1"),
        )
        sa_key = rsa_signing_key()
        admin_token = remember(secrets.token_urlsafe(32))
        for name, data in {
            "ca.crt": ca.cert_pem,
            "ca.key": ca.key_pem,
            "apiserver.crt": serving.cert_pem,
            "apiserver.key": serving.key_pem,
            "sa.pub": sa_key.cert_pem,
            "sa.key": sa_key.key_pem,
            "tokens.csv": f"{admin_token},admin,admin-uid,system:masters\n".encode(),
        }.items():
            (pki / name).write_bytes(data)
            (pki / name).chmod(0o600)
        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        etcd = _Process(
            "etcd",
            [
                str(binaries.etcd),
                "--data-dir",
                str(root / "etcd"),
                "--name",
                "incluster-sdk",
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster",
                f"incluster-sdk=http://127.0.0.1:{etcd_peer}",
                "--log-level",
                "warn",
                "--logger",
                "zap",
            ],
            root / "etcd.log",
        )
        apiserver = _Process(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={api_port}",
                "--advertise-address=127.0.0.1",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={AUDIENCE}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--api-audiences={AUDIENCE}",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--cert-dir={root / 'certs'}",
                "--endpoint-reconciler-type=none",
                "--enable-admission-plugins=NamespaceLifecycle",
                "--disable-admission-plugins=ServiceAccount",
                "--insecure-port=0",
                "--profiling=false",
                "--v=1",
            ],
            root / "kube-apiserver.log",
        )
        cluster = cls(root, binaries, ca, api_port, etcd_port, Secret(admin_token), etcd, apiserver, owns)
        atexit.register(cluster.stop)
        try:
            etcd.start()
            cluster._wait(lambda: cluster._etcd_healthy(), etcd, "etcd")
            cluster.start_apiserver()
            cluster._write_admin_kubeconfig()
            cluster.aggregate_cluster_roles()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __post_init__(self) -> None:
        self._ssl = ssl.create_default_context(cadata=self.ca.cert_pem.decode())

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop both processes and remove the work dir (idempotent)."""
        self._apiserver.stop()
        self._etcd.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_apiserver(self, *, kill: bool = False) -> None:
        """Stop kube-apiserver alone (SIGTERM and wait, or SIGKILL with ``kill``); etcd keeps the data."""
        self._apiserver.stop(kill=kill)

    def start_apiserver(self) -> None:
        """(Re)start kube-apiserver on the same port and wait until it is healthy."""
        if not self._apiserver.alive():
            self._apiserver.start()
        self._wait(self.healthy, self._apiserver, "kube-apiserver")

    def _wait(self, check: Any, proc: _Process, name: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if not proc.alive():
                raise ClusterError(f"{name} exited during start-up. Last log lines:\n{proc.log_tail()}")
            if check():
                return
            time.sleep(0.2)
        raise ClusterError(f"{name} not healthy after {READY_TIMEOUT:.0f}s. Last log lines:\n{proc.log_tail()}")

    def aggregate_cluster_roles(self) -> list[str]:
        """Fill the aggregated ClusterRoles as kube-controller-manager would; returns the names updated.

        There is no controller manager here, so without this ``view``, ``edit``, ``admin`` (and any ClusterRole
        with an ``aggregationRule``) keep empty rules, and binding them needs no ``bind`` permission, which a
        real cluster's escalation check refuses. This reads every ClusterRole, computes what the
        ClusterRoleAggregationController converges to (:func:`incluster_sdk.testing.aggregation.converge`) and
        PUTs each role that differs, with the resourceVersion it read.

        :meth:`start` calls it once. Nothing watches afterwards: a test that creates its own aggregated
        ClusterRole, labels a ClusterRole to be aggregated, or changes the rules of one that is, must call it
        again before relying on the result.

        The bootstrap roles (``view``, ``edit``, ``admin``, ``system:aggregate-to-*``) must exist: they come
        from kube-apiserver's rbac/bootstrap-roles post-start hook, which /healthz waits for, so they are
        normally there at once; this still waits for them, up to READY_TIMEOUT as the hook belongs to start-up.
        """
        from .aggregation import BOOTSTRAP_AGGREGATED, AggregationDoesNotConverge, converge

        collection = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
        needed = set(BOOTSTRAP_AGGREGATED) | set(BOOTSTRAP_AGGREGATED.values())
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                roles: list[dict[str, Any]] = self.request("GET", collection)["items"]
            except OSError:  # not listening (yet, or any more): the checks below tell which
                roles = []
            missing = needed - {role["metadata"]["name"] for role in roles}
            if not missing:
                break
            if not self._apiserver.alive():
                raise ClusterError(f"kube-apiserver exited. Last log lines:\n{self._apiserver.log_tail()}")
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"RBAC bootstrap ClusterRoles {sorted(missing)} still missing after {READY_TIMEOUT:.0f}s "
                    f"(kube-apiserver's rbac/bootstrap-roles hook creates them). Last log lines:\n"
                    f"{self._apiserver.log_tail()}"
                )
            time.sleep(0.2)  # _wait's poll interval: start-up steps take seconds, a request ~1 ms
        # A 409 means a ClusterRole changed between the read and the write: another writer, which here can only
        # be a test's own set-up running alongside. Re-read everything and recompute, as the controller's requeue
        # does. 5 attempts: each one loses only to a write that landed in the milliseconds between its read and
        # its PUTs, so a handful settles any finite burst; one that keeps losing is a writer that never stops.
        attempts = 5
        updated: set[str] = set()
        for _ in range(attempts):
            try:
                result = converge(roles)
            except AggregationDoesNotConverge as exc:
                raise ClusterError(str(exc)) from exc
            by_name = {role["metadata"]["name"]: role for role in roles}
            conflict = False
            for name, rules in sorted(result.updates.items()):
                body = {
                    **by_name[name],
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "rules": rules,
                }
                path = f"{collection}/{urllib.parse.quote(name, safe=':')}"
                answer = self.request("PUT", path, body, ok=(200, 409))
                if answer.get("kind") == "Status":  # 409 Conflict: the resourceVersion read is stale
                    conflict = True
                    break
                updated.add(name)
            if not conflict:
                return sorted(updated)
            roles = self.request("GET", collection)["items"]
        raise ClusterError(f"ClusterRoles kept changing under aggregation: {attempts} attempts ended in 409 Conflict")

    def _etcd_healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.etcd_port, timeout=2)
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def healthy(self) -> bool:
        try:
            return bool(self.request("GET", "/healthz", timeout=2, raw=True) == b"ok")
        except (OSError, ClusterError):
            return False

    # -- addresses and admin access ------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def admin_config(self) -> Config:
        """An incluster_sdk Config for the cluster admin (group system:masters)."""
        from ..config import load_config

        return load_config(kubeconfig=self.admin_kubeconfig)

    def _write_admin_kubeconfig(self) -> None:
        self.write_kubeconfig(self.admin_kubeconfig, token=self._admin_token.reveal(), user="admin")

    def write_kubeconfig(
        self,
        path: str | os.PathLike[str],
        *,
        token: str | None = None,
        token_file: Path | None = None,
        user: str = "user",
        context: str = "local",
        namespace: str | None = None,
    ) -> Path:
        """A kubeconfig for this cluster authenticating with ``token`` or ``token_file``."""
        user_entry: dict[str, Any] = {}
        if token is not None:
            user_entry["token"] = token
        if token_file is not None:
            user_entry["tokenFile"] = str(token_file)
        ctx: dict[str, Any] = {"cluster": "local", "user": user}
        if namespace:
            ctx["namespace"] = namespace
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": user_entry}],
            "contexts": [{"name": context, "context": ctx}],
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(doc))
        target.chmod(0o600)
        return target

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        timeout: float = 30,
        raw: bool = False,
        ok: Sequence[int] = (200, 201, 202),
        content_type: str = "application/json",
    ) -> Any:
        """One admin (or ``token``) request to the API server; JSON in and out. For harness use."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.api_port, context=self._ssl, timeout=timeout)
        headers = {
            "Authorization": f"Bearer {token or self._admin_token.reveal()}",
            "Accept": "application/json",
        }
        payload = None
        if body is not None:
            payload = orjson.dumps(body)
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status not in ok:
            raise ClusterError(f"{method} {path} -> HTTP {resp.status}: {data[:500].decode(errors='replace')}")
        if raw:
            return data
        return orjson.loads(data) if data else None

    # -- objects -------------------------------------------------------------------------------------
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create any object given as a manifest dict (core or grouped API, namespaced or not)."""
        return self.request("POST", _collection_path(obj), obj)  # type: ignore[no-any-return]

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of one manifest (field manager ``incluster-sdk-testing``)."""
        name = obj["metadata"]["name"]
        query = "fieldManager=incluster-sdk-testing&force=true" + ("&dryRun=All" if dry_run else "")
        conn = http.client.HTTPSConnection("127.0.0.1", self.api_port, context=self._ssl, timeout=30)
        try:
            conn.request(
                "PATCH",
                f"{_collection_path(obj)}/{name}?{query}",
                body=orjson.dumps(obj),
                headers={
                    "Authorization": f"Bearer {self._admin_token.reveal()}",
                    "Content-Type": "application/apply-patch+yaml",
                    "Accept": "application/json",
                },
            )
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status not in (200, 201):
            raise ClusterError(f"apply {obj.get('kind')}/{name} -> HTTP {resp.status}: {data[:500]!r}")
        return orjson.loads(data)  # type: ignore[no-any-return]

    def patch(self, api_path: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) of one object."""
        return self.request("PATCH", api_path, patch, content_type="application/merge-patch+json")  # type: ignore[no-any-return]

    def delete(self, api_path: str) -> None:
        self.request("DELETE", api_path, ok=(200, 202, 404))

    def create_namespace(self, name: str) -> None:
        self.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}}, ok=(201, 409))

    def create_service_account(self, namespace: str, name: str) -> None:
        self.create_namespace(namespace)
        self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"metadata": {"name": name}},
            ok=(201, 409),
        )

    def catalog(self, *, refresh: bool = False) -> ResourceCatalog:
        """The server's resources (discovery as the admin), read once and again with ``refresh``."""
        if self._catalog is None or refresh:
            flow = discovery_flow(f"discovery from {self.server}")
            try:
                path = next(flow)
                while True:
                    body = self.request("GET", path, ok=(200, 404))
                    path = flow.send(None if body.get("kind") == "Status" else body)
            except StopIteration as done:
                self._catalog = done.value
        assert self._catalog is not None
        return self._catalog

    def grant(
        self,
        namespace: str,
        service_account: str,
        needs: Sequence[str | Need],
        *,
        cluster_wide: bool = False,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Grant ``needs`` to a ServiceAccount: the manifests ``incluster-sdk rbac`` prints, applied as the admin.

        ``needs`` use the SDK's one syntax (``"list,watch:pods"``, ``"get:configmaps/app-config"``,
        ``"get:pods --subresource=log"``; see :mod:`incluster_sdk.rbac.needs`) and are checked against this
        server's discovery: a typo is a :class:`~incluster_sdk.rbac.NeedError`, never a grant of nothing.
        Namespaced needs go into a Role + RoleBinding named ``name`` (default ``<sa>-grant``), cluster-scoped
        ones into a ClusterRole + ClusterRoleBinding; ``cluster_wide=True`` grants everything in every
        namespace. Returns the applied manifests.
        """
        from ..rbac.manifests import manifests
        from ..rbac.needs import NeedError, parse_needs

        try:
            parsed = parse_needs(needs, self.catalog())
        except NeedError:
            parsed = parse_needs(needs, self.catalog(refresh=True))  # a resource created since (a CRD)
        docs = manifests(
            parsed,
            namespace=namespace,
            service_account=service_account,
            name=name or f"{service_account}-{'cluster-' if cluster_wide else ''}grant",
            cluster_wide=cluster_wide,
            include_service_account=False,
        )
        return [self.apply(doc) for doc in docs]

    # -- tokens --------------------------------------------------------------------------------------
    def mint_token(
        self, namespace: str, service_account: str, *, ttl: int = 3600, bound_to_secret: str | None = None
    ) -> str:
        """A ServiceAccount token from the TokenRequest API, as kubelet would get for a pod.

        With ``bound_to_secret`` the token is bound to that Secret (created if missing): deleting the
        Secret with :meth:`invalidate` makes the token fail with 401.
        """
        spec: dict[str, Any] = {"audiences": [AUDIENCE], "expirationSeconds": max(ttl, MIN_TOKEN_TTL)}
        if bound_to_secret:
            secret = self.request(
                "POST",
                f"/api/v1/namespaces/{namespace}/secrets",
                {"metadata": {"name": bound_to_secret}},
                ok=(201, 409),
            )
            if secret.get("kind") == "Status":
                secret = self.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{bound_to_secret}")
            spec["boundObjectRef"] = {
                "kind": "Secret",
                "apiVersion": "v1",
                "name": bound_to_secret,
                "uid": secret["metadata"]["uid"],
            }
        result = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return remember(str(result["status"]["token"]))

    def invalidate(self, namespace: str, secret: str) -> None:
        """Delete the Secret a token is bound to: the token gets 401 from now on (cached auths: ~10 s)."""
        self.delete(f"/api/v1/namespaces/{namespace}/secrets/{secret}")

    @contextlib.contextmanager
    def pod_environment(
        self,
        namespace: str,
        service_account: str,
        *,
        directory: Path | None = None,
        bound_to_secret: str | None = None,
        ttl: int = 3600,
        api_port: int | None = None,
    ) -> Iterator[FakeServiceAccountMount]:
        """Run "as if in a pod": a kubelet-style mount with a fresh token for the ServiceAccount, this
        cluster's CA and the namespace, and the env vars pointing at this server, set for the duration.

        ``api_port`` sends the pod's traffic to another loopback port instead (e.g. a :class:`FaultProxy`).
        """
        own_dir = directory is None
        path = Path(tempfile.mkdtemp(prefix="incluster-sdk-sa-")) if directory is None else directory
        mount = FakeServiceAccountMount(
            path,
            token=self.mint_token(namespace, service_account, ttl=ttl, bound_to_secret=bound_to_secret),
            ca=self.ca.cert_pem,
            namespace=namespace,
            host="127.0.0.1",
            port=api_port or self.api_port,
        )
        try:
            with mount.activated():
                yield mount
        finally:
            if own_dir:
                shutil.rmtree(path, ignore_errors=True)

    def compact_etcd(self) -> int:
        """Compact etcd history to its current revision; returns the revision.

        kube-apiserver's watch cache still serves older resourceVersions from memory; to make a watch from
        before the compaction get 410 Gone, also restart the apiserver (:meth:`stop_apiserver`,
        :meth:`start_apiserver`), whose new watch cache starts at the compacted revision.
        """
        conn = http.client.HTTPConnection("127.0.0.1", self.etcd_port, timeout=10)
        conn.request("POST", "/v3/kv/range", body=orjson.dumps({"key": "AA=="}))
        revision = int(orjson.loads(conn.getresponse().read())["header"]["revision"])
        conn.request("POST", "/v3/kv/compaction", body=orjson.dumps({"revision": revision, "physical": True}))
        conn.getresponse().read()
        conn.close()
        return revision

    def __repr__(self) -> str:
        return f"<LocalCluster {self.server} workdir={self.workdir}>"


_CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "Node",
    "PersistentVolume",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
}


def _collection_path(obj: dict[str, Any]) -> str:
    api_version, kind = obj["apiVersion"], obj["kind"]
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    if kind.endswith("y"):
        plural = kind.lower()[:-1] + "ies"
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if kind in _CLUSTER_SCOPED:
        return f"{prefix}/{plural}"
    namespace = obj["metadata"].get("namespace") or "default"
    return f"{prefix}/namespaces/{urllib.parse.quote(namespace)}/{plural}"
