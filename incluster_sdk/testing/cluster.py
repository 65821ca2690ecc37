"""A real local Kubernetes API server (etcd + kube-apiserver) for tests and demos, like Go's envtest.

    with LocalCluster.start() as cluster:
        cluster.create_service_account("demo", "app")
        cluster.grant("demo", "app", ["get,list:pods", "get:configmaps/app-config"])
        with cluster.pod_environment("demo", "app") as pod:   # a kubelet-style mount + env vars
            cfg = incluster_sdk.load_config()                  # takes the in-cluster path for real

No scheduler, controller manager or kubelet: pods stay Pending, and ServiceAccounts and their tokens are
made by these helpers (TokenRequest API) instead of by controllers.

:class:`LocalCluster` composes three parts, each in its own module: the processes
(:mod:`~incluster_sdk.testing.processes`), the admin's HTTP client (:mod:`~incluster_sdk.testing.admin`) and
the ServiceAccount and RBAC helpers (:mod:`~incluster_sdk.testing.accounts`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import yaml

from .._secret import Secret
from ..config import Config
from ..watch.options import Part
from .accounts import Accounts
from .admin import AdminClient
from .binaries import Binaries, find_binaries
from .errors import ClusterError
from .fake_mount import FakeServiceAccountMount
from .observers import handed_out
from .pki import CertificateAuthority
from .processes import ControlPlane

P = ParamSpec("P")
R = TypeVar("R")


def delegate(part: str, method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """A :class:`LocalCluster` method that calls ``method`` of one of its parts: same signature and docstring."""
    name = method.__name__

    @functools.wraps(method)
    def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = getattr(getattr(self, part), name)(*args, **kwargs)
        return result

    return call


__all__ = ["READY_TIMEOUT", "ClusterError", "LocalCluster"]

#: How long each start-up step may take. kube-apiserver 1.20 is ready in ~10 s on 2 cores; allow for a
#: loaded CI machine.
READY_TIMEOUT = 90.0


class LocalCluster:
    """etcd + kube-apiserver on free loopback ports, RBAC on, service-account tokens enabled."""

    def __init__(
        self, control_plane: ControlPlane, binaries: Binaries, admin_token: Secret, *, owns_workdir: bool
    ) -> None:
        self.control_plane = control_plane
        self.binaries = binaries
        #: the admin's HTTP client (group system:masters)
        self.admin = AdminClient(control_plane.api_port, control_plane.ca.cert_pem, admin_token)
        #: ServiceAccounts, tokens and RBAC, through this cluster's :meth:`request`
        self.accounts = Accounts(self)
        self._admin_token = admin_token
        self._owns_workdir = owns_workdir

    # -- lifecycle -------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, workdir: str | os.PathLike[str] | None = None, binaries: Binaries | None = None) -> LocalCluster:
        """Start etcd and kube-apiserver in ``workdir`` (default: a temp dir removed by :meth:`stop`), wait until
        both are healthy, write the admin kubeconfig and fill the aggregated ClusterRoles."""
        binaries = binaries or find_binaries()
        root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="incluster-sdk-cluster-"))
        admin_token = handed_out(secrets.token_urlsafe(32))
        cluster = cls(
            ControlPlane.prepare(root, binaries, admin_token),
            binaries,
            Secret(admin_token),
            owns_workdir=workdir is None,
        )
        atexit.register(cluster.stop)
        try:
            cluster.control_plane.start(cluster.healthy, READY_TIMEOUT)
            cluster.write_kubeconfig(cluster.admin_kubeconfig, token=admin_token, user="admin")
            cluster.aggregate_cluster_roles()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop both processes and remove the work dir if :meth:`start` made it (idempotent)."""
        self.control_plane.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_apiserver(self, *, kill: bool = False) -> None:
        """Stop kube-apiserver alone (SIGTERM and wait, or SIGKILL with ``kill``); etcd keeps the data."""
        self.control_plane.stop_apiserver(kill=kill)

    def start_apiserver(self) -> None:
        """(Re)start kube-apiserver on the same port and wait until it is healthy."""
        self.control_plane.start_apiserver(self.healthy, READY_TIMEOUT)

    def healthy(self) -> bool:
        """Whether kube-apiserver answers ``/healthz`` with ``ok``."""
        return self.admin.healthy()

    def compact_etcd(self) -> int:
        """Compact etcd history to its current revision; returns the revision.

        kube-apiserver's watch cache still serves older resourceVersions from memory; to make a watch from
        before the compaction get 410 Gone, also restart the apiserver (:meth:`stop_apiserver`,
        :meth:`start_apiserver`), whose new watch cache starts at the compacted revision.
        """
        return self.control_plane.compact_etcd()

    # -- addresses and admin access --------------------------------------------------------------------------
    workdir: Part[Path] = Part("control_plane")
    #: The cluster's CA: it signed the serving certificate, and the server trusts client certificates it
    #: issues (the common name is the user, the organization the group).
    ca: Part[CertificateAuthority] = Part("control_plane")
    api_port: Part[int] = Part("control_plane")
    etcd_port: Part[int] = Part("control_plane")
    ca_file: Part[Path] = Part("control_plane")
    server: Part[str] = Part("admin")

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def admin_config(self) -> Config:
        """An incluster_sdk Config for the cluster admin (group system:masters)."""
        from ..config import load_config

        return load_config(kubeconfig=self.admin_kubeconfig)

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
        """A kubeconfig for this cluster authenticating with ``token`` or ``token_file`` (mode 0600)."""
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
                {"name": "local", "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)}}
            ],
            "users": [{"name": user, "user": user_entry}],
            "contexts": [{"name": context, "context": ctx}],
        }
        target = Path(path)
        target.touch(mode=0o600)
        target.chmod(0o600)
        target.write_text(yaml.safe_dump(doc))
        return target

    # -- requests and objects: the admin's (AdminClient) -----------------------------------------------------
    request = delegate("admin", AdminClient.request)  # through here, so that a test can wrap it (Accounts too)
    create = delegate("admin", AdminClient.create)
    apply = delegate("admin", AdminClient.apply)
    patch = delegate("admin", AdminClient.patch)
    delete = delegate("admin", AdminClient.delete)
    catalog = delegate("admin", AdminClient.catalog)

    # -- ServiceAccounts, tokens and RBAC (Accounts) ---------------------------------------------------------
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
        return self.accounts.aggregate_cluster_roles(self.control_plane.apiserver, timeout=READY_TIMEOUT)

    create_namespace = delegate("accounts", Accounts.create_namespace)
    create_service_account = delegate("accounts", Accounts.create_service_account)
    grant = delegate("accounts", Accounts.grant)
    mint_token = delegate("accounts", Accounts.mint_token)
    invalidate = delegate("accounts", Accounts.invalidate)

    @contextlib.contextmanager
    def pod_environment(
        self,
        namespace: str,
        service_account: str,
        *,
        ttl: int = 3600,
        api_port: int | None = None,
        bound_to_secret: str | None = None,
        directory: Path | None = None,
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

    def __repr__(self) -> str:
        return f"<LocalCluster {self.server} workdir={self.workdir}>"
