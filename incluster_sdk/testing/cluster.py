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
    """A :class:`LocalCluster` method that calls ``method`` of one of its parts: same signature and docstring.

    :param part: the attribute holding the part, ``"admin"`` or ``"accounts"`` (looked up on each call, so a
        test can replace or wrap it).
    :param method: the part's method (unbound, e.g. ``AdminClient.request``), called by name on the part.
    :returns: the method to assign in the class body.
    """
    name = method.__name__

    @functools.wraps(method)
    def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = getattr(getattr(self, part), name)(*args, **kwargs)
        return result

    return call


__all__ = ["READY_TIMEOUT", "ClusterError", "LocalCluster"]

READY_TIMEOUT = 90.0
"""Seconds each start-up step may take (etcd healthy, kube-apiserver healthy, the bootstrap ClusterRoles there).
Our choice: kube-apiserver 1.20 is ready in about 10 s on 2 cores; this allows for a loaded CI machine."""


class LocalCluster:
    """A running etcd + kube-apiserver on free loopback ports, RBAC on, service-account tokens enabled.

    Start one with the classmethod :meth:`start`, which returns a running cluster; it is a context manager,
    so ``with LocalCluster.start() as cluster:`` stops it and removes its files at the end. ``LocalCluster()``
    itself takes the parts :meth:`start` makes (so ``with LocalCluster() as cluster:`` is a
    :class:`TypeError`): do not call it.

    The cluster admin (group ``system:masters``, a static token) makes objects with :meth:`request`,
    :meth:`create`, :meth:`apply`, :meth:`patch` and :meth:`delete`; ServiceAccounts, tokens and RBAC come
    from :meth:`create_service_account`, :meth:`mint_token` and :meth:`grant`; :meth:`pod_environment` makes
    the process look like a pod of a ServiceAccount. There is no controller manager, scheduler or kubelet:
    pods stay Pending, and nothing creates ``default`` ServiceAccounts or token Secrets.

    :param control_plane: the etcd and kube-apiserver processes (:meth:`start` prepares them).
    :param binaries: the etcd and kube-apiserver executables used.
    :param admin_token: the admin's static token, held as a secret.
    :param owns_workdir: True if :meth:`stop` removes the work dir (:meth:`start` made it).
    """

    def __init__(
        self, control_plane: ControlPlane, binaries: Binaries, admin_token: Secret, *, owns_workdir: bool
    ) -> None:
        self.control_plane = control_plane
        self.binaries = binaries
        self.admin = AdminClient(control_plane.api_port, control_plane.ca.cert_pem, admin_token)
        """The admin's HTTP client (group ``system:masters``); the methods :meth:`request` to :meth:`catalog`
        call it."""
        self.accounts = Accounts(self)
        """ServiceAccounts, tokens and RBAC, through this cluster's :meth:`request`; the methods
        :meth:`create_namespace` to :meth:`invalidate` call it."""
        self._admin_token = admin_token
        self._owns_workdir = owns_workdir

    # -- lifecycle -------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, workdir: str | os.PathLike[str] | None = None, binaries: Binaries | None = None) -> LocalCluster:
        """Start etcd and kube-apiserver, wait until both are healthy, write the admin kubeconfig and fill the
        aggregated ClusterRoles; about 5-10 s.

        The servers listen on free loopback ports with a fresh CA. On Linux they die with the thread that called
        ``start`` (so with this process, even on SIGKILL): call it from the main thread, or from one that lives
        as long as the cluster. :meth:`stop` is also registered with :mod:`atexit`. If a step fails, what was
        started is stopped.

        :param workdir: the directory for the PKI, etcd's data, the logs (``etcd.log``, ``kube-apiserver.log``)
            and ``admin.kubeconfig``, created if missing and kept by :meth:`stop`; None: a new temporary
            directory (``incluster-sdk-cluster-*``) that :meth:`stop` removes.
        :param binaries: the executables; None: found as ``bash scripts/install-kube-binaries.sh`` installs
            them, or from ``INCLUSTER_SDK_ETCD`` and ``INCLUSTER_SDK_KUBE_APISERVER``.
        :returns: the running cluster, also a context manager that stops it.
        :raises ~incluster_sdk.testing.binaries.BinariesNotFound: if etcd or kube-apiserver is not installed (the
            message names the install command).
        :raises ~incluster_sdk.testing.errors.ClusterError: if a server exits during start-up or is not healthy
            after :data:`READY_TIMEOUT` (90 s) (the message holds the end of its log), or the aggregated
            ClusterRoles cannot be filled.
        """
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
        """The cluster itself; ``with`` stops it at the end (:meth:`stop`)."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop both servers (SIGTERM, then SIGKILL after 10 s) and remove the work dir if :meth:`start` made it.

        Calling it again does nothing more.
        """
        self.control_plane.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_apiserver(self, *, kill: bool = False) -> None:
        """Stop kube-apiserver alone, for fault tests; etcd keeps running with the data.

        :param kill: False (the default): SIGTERM, a graceful stop, then SIGKILL if it has not exited after
            10 s; True: SIGKILL at once, a crash with no graceful close of connections.
        """
        self.control_plane.stop_apiserver(kill=kill)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again, on the same port with the same PKI, and wait until it is healthy (no-op
        start if it runs).

        :raises ~incluster_sdk.testing.errors.ClusterError: if it exits, or is not healthy after
            :data:`READY_TIMEOUT` (90 s).
        """
        self.control_plane.start_apiserver(self.healthy, READY_TIMEOUT)

    def healthy(self) -> bool:
        """Whether kube-apiserver answers ``GET /healthz`` with ``ok``, within 2 s.

        :returns: True if it does; False if it answers otherwise or cannot be reached.
        """
        return self.admin.healthy()

    def compact_etcd(self) -> int:
        """Compact etcd history (physically) up to its current revision.

        kube-apiserver's watch cache still serves older resourceVersions from memory; to make a watch from
        before the compaction get 410 Gone, also restart the apiserver (:meth:`stop_apiserver`,
        :meth:`start_apiserver`), whose new watch cache starts at the compacted revision.

        :returns: the etcd revision compacted to.
        :raises OSError: if etcd cannot be reached.
        """
        return self.control_plane.compact_etcd()

    # -- addresses and admin access --------------------------------------------------------------------------
    workdir: Part[Path] = Part("control_plane")
    """The work dir (read-only): ``pki/`` (CA, serving certificate, service-account key, static token file),
    ``etcd/`` (etcd's data), ``etcd.log``, ``kube-apiserver.log`` and ``admin.kubeconfig``."""
    ca: Part[CertificateAuthority] = Part("control_plane")
    """The cluster's CA (read-only; ``ca.cert_pem``, ``ca.key_pem``: PEM bytes). It signed the serving
    certificate, and the server trusts client certificates it issues (``ca.issue(user, client=True,
    organization=group)``: the common name is the user, the organization the group)."""
    api_port: Part[int] = Part("control_plane")
    """kube-apiserver's HTTPS port on 127.0.0.1 (read-only); it stays the same across
    :meth:`stop_apiserver` and :meth:`start_apiserver`."""
    etcd_port: Part[int] = Part("control_plane")
    """etcd's client port (plain HTTP) on 127.0.0.1 (read-only)."""
    ca_file: Part[Path] = Part("control_plane")
    """The CA certificate's file, PEM (``<workdir>/pki/ca.crt``; read-only)."""
    server: Part[str] = Part("admin")
    """The API server's URL, ``https://127.0.0.1:<api_port>`` (read-only)."""

    @property
    def admin_kubeconfig(self) -> Path:
        """The admin's kubeconfig file (``<workdir>/admin.kubeconfig``, mode 0600, written by :meth:`start`):
        ``KUBECONFIG=...`` gives ``kubectl`` or your app the admin's access."""
        return self.workdir / "admin.kubeconfig"

    def admin_config(self) -> Config:
        """A :class:`~incluster_sdk.config.Config` for the cluster admin (group ``system:masters``), loaded from
        :attr:`admin_kubeconfig`.

        :returns: the config; pass it to :func:`~incluster_sdk.client.api_client`.
        """
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
        """Write a kubeconfig for this cluster (its server and CA file) with one user and one context.

        :param path: the file to write (created with mode 0600, or overwritten).
        :param token: a bearer token written into the file (``user.token``); None: none.
        :param token_file: a file the client reads the token from (``user.tokenFile``); None: none. With
            neither, the user has no credentials.
        :param user: the user entry's name.
        :param context: the context's name, also the ``current-context``.
        :param namespace: the context's namespace; None: none (kubectl then uses ``default``).
        :returns: ``path``, as a :class:`~pathlib.Path`.
        """
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
    # Each delegate is documented by its target's docstring (the reference renders it as this class's method).
    request = delegate("admin", AdminClient.request)  # through here, so that a test can wrap it (Accounts too)
    create = delegate("admin", AdminClient.create)
    apply = delegate("admin", AdminClient.apply)
    patch = delegate("admin", AdminClient.patch)
    delete = delegate("admin", AdminClient.delete)
    catalog = delegate("admin", AdminClient.catalog)

    # -- ServiceAccounts, tokens and RBAC (Accounts) ---------------------------------------------------------
    def aggregate_cluster_roles(self) -> list[str]:
        """Fill the aggregated ClusterRoles as kube-controller-manager would.

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
        normally there at once; this still waits for them, up to :data:`READY_TIMEOUT` (90 s) as the hook belongs
        to start-up.

        :returns: the names of the ClusterRoles it updated, sorted; empty if all were already filled.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the bootstrap roles are still missing after 90 s
            or kube-apiserver exits, if the aggregation selectors form a cycle that never converges, or if
            ClusterRoles keep changing between its reads and writes (5 attempts end in 409 Conflict).
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
        """Run "as if in a pod" of a ServiceAccount, for the duration of a ``with`` block.

        ``with cluster.pod_environment("demo", "app") as mount:`` writes a kubelet-style mount (a
        :class:`~incluster_sdk.testing.fake_mount.FakeServiceAccountMount`) with a fresh token for the
        ServiceAccount, this cluster's CA and the namespace, and sets ``KUBERNETES_SERVICE_HOST``,
        ``KUBERNETES_SERVICE_PORT`` and ``INCLUSTER_SDK_SERVICE_ACCOUNT_DIR`` (hiding ``KUBECONFIG``), so that
        :func:`~incluster_sdk.config.load_config` takes the in-cluster path. At the end the environment is
        restored and a mount directory it made is removed. Child processes started inside inherit it.

        :param namespace: the ServiceAccount's namespace, written as the mount's ``namespace`` file.
        :param service_account: the ServiceAccount (it must exist: :meth:`create_service_account`).
        :param ttl: the token's lifetime in seconds (at least 600); default 3600 s, as :meth:`mint_token`.
        :param api_port: send the pod's traffic to this loopback port instead (e.g. a
            :class:`~incluster_sdk.testing.faultproxy.FaultProxy`'s); None: this server's :attr:`api_port`.
        :param bound_to_secret: bind the token to this Secret (see :meth:`mint_token`), so that
            :meth:`invalidate` revokes it; None: an unbound token.
        :param directory: where to write the mount, kept at the end; None: a new temporary directory,
            removed at the end.
        :returns: a context manager whose value is the mount (``mount.rotate(token=...)`` swaps in a new
            token as kubelet does; ``mount.path`` is the directory).
        :raises ~incluster_sdk.testing.errors.ClusterError: if the token cannot be minted (e.g. no such
            ServiceAccount).
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
