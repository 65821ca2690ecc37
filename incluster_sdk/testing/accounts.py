"""ServiceAccounts, their tokens and their RBAC on the local cluster: namespaces, TokenRequest, grants in the
SDK's need syntax, and the aggregated ClusterRoles the controller manager would fill.

There is no controller manager here: these helpers do, as the admin, what its controllers would (and only
when called).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..rbac.needs import Need
from .admin import AdminClient
from .errors import ClusterError
from .observers import handed_out
from .processes import AUDIENCE, Process

if TYPE_CHECKING:
    from .cluster import LocalCluster

MIN_TOKEN_TTL = 600
"""The shortest token lifetime, in seconds: kube-apiserver refuses a TokenRequest with expirationSeconds < 600."""
CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
"""The ClusterRoles' collection path."""
AGGREGATION_ATTEMPTS = 5
"""How many times :meth:`Accounts.aggregate_cluster_roles` reads and writes before it gives up, when a ClusterRole
changed between its read and its write (409 Conflict); our choice (see the method)."""


class Accounts:
    """The helpers, over ``api``'s requests (a :class:`LocalCluster` passes itself, so a test that wraps its
    ``request`` sees these requests too).

    :param api: what sends the requests, as the admin: an
        :class:`~incluster_sdk.testing.admin.AdminClient` or a
        :class:`~incluster_sdk.testing.cluster.LocalCluster`.
    """

    def __init__(self, api: AdminClient | LocalCluster) -> None:
        self._api = api

    # -- namespaces and ServiceAccounts ----------------------------------------------------------------------
    def create_namespace(self, name: str) -> None:
        """Create a namespace, as the admin, unless it exists.

        :param name: the namespace.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses it (other than 409: exists).
        """
        self._api.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}}, ok=(201, 409))

    def create_service_account(self, namespace: str, name: str) -> None:
        """Create the namespace (if missing) and the ServiceAccount (if missing), as the admin.

        No token Secret is made (there is no controller manager to make one): tokens come from
        :meth:`mint_token` or
        :meth:`pod_environment <incluster_sdk.testing.cluster.LocalCluster.pod_environment>`.

        :param namespace: the namespace.
        :param name: the ServiceAccount's name.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses one (other than 409: exists).
        """
        self.create_namespace(namespace)
        self._api.request(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": name}}, ok=(201, 409)
        )

    # -- tokens ----------------------------------------------------------------------------------------------
    def mint_token(
        self, namespace: str, service_account: str, *, ttl: int = 3600, bound_to_secret: str | None = None
    ) -> str:
        """A ServiceAccount token from the TokenRequest API, requested as the admin, as kubelet would get one
        for a pod.

        Its audience is ``https://kubernetes.default.svc``, which this server accepts (its ``--api-audiences``).

        :param namespace: the ServiceAccount's namespace.
        :param service_account: the ServiceAccount's name (it must exist).
        :param ttl: the token's lifetime in seconds, raised to :data:`MIN_TOKEN_TTL` (600 s) if lower; default
            3600 s, the TokenRequest API's default ``expirationSeconds``.
        :param bound_to_secret: None: an unbound token, valid until it expires. A Secret name: the token is
            bound to that Secret (created if missing), so that :meth:`invalidate` revokes it.
        :returns: the token (a JWT string), which every token observer
            (:func:`~incluster_sdk.testing.observers.observe_tokens`) sees.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses (e.g. 404: no such
            ServiceAccount).
        """
        spec: dict[str, Any] = {"audiences": [AUDIENCE], "expirationSeconds": max(ttl, MIN_TOKEN_TTL)}
        if bound_to_secret:
            secrets = f"/api/v1/namespaces/{namespace}/secrets"
            secret = self._api.request("POST", secrets, {"metadata": {"name": bound_to_secret}}, ok=(201, 409))
            if secret.get("kind") == "Status":  # 409: it exists
                secret = self._api.request("GET", f"{secrets}/{bound_to_secret}")
            spec["boundObjectRef"] = {
                "kind": "Secret",
                "apiVersion": "v1",
                "name": bound_to_secret,
                "uid": secret["metadata"]["uid"],
            }
        result = self._api.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return handed_out(str(result["status"]["token"]))

    def invalidate(self, namespace: str, secret: str) -> None:
        """Revoke the tokens bound to a Secret by deleting the Secret, as the admin; a Secret already gone is
        fine.

        Every token bound to it gets 401 from then on, after at most about 10 s, for which kube-apiserver
        caches a successful token authentication.

        :param namespace: the Secret's namespace.
        :param secret: the Secret's name (``bound_to_secret`` of :meth:`mint_token`).
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses the deletion.
        """
        self._api.request("DELETE", f"/api/v1/namespaces/{namespace}/secrets/{secret}", ok=(200, 202, 404))

    # -- RBAC ------------------------------------------------------------------------------------------------
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
        ``"get:pods --subresource=log"``; see :func:`~incluster_sdk.rbac.needs.parse_needs`) and are checked
        against this server's discovery, read again once if a need is unknown (e.g. a CRD created since): a
        typo is a :class:`~incluster_sdk.rbac.NeedError`, never a grant of nothing.
        Namespaced needs go into a Role + RoleBinding named ``name`` (default ``<sa>-grant``) in ``namespace``,
        cluster-scoped ones into a ClusterRole + ClusterRoleBinding named ``<namespace>:<name>``;
        ``cluster_wide=True`` grants everything in every namespace (default name ``<sa>-cluster-grant``).
        Granting again under the same name replaces the rules of the roles it writes (server-side apply by the
        same field manager).

        It returns once the server stored the objects, **before the grant takes effect**: kube-apiserver's RBAC
        authorizer reads roles and bindings through its own informer cache, which takes them in a moment
        later (over a second has been seen on a loaded CI machine). A test that must be allowed at once polls
        first, e.g. ``can_i(client, "list", "pods", namespace=ns).allowed``
        (:func:`~incluster_sdk.rbac.access.can_i`) until True.

        :param namespace: the ServiceAccount's namespace, where the Role and RoleBinding go.
        :param service_account: the ServiceAccount's name (it need not exist yet).
        :param needs: the needs, as strings in the need syntax or :class:`~incluster_sdk.rbac.vocabulary.Need`
            objects.
        :param cluster_wide: grant every need in every namespace (ClusterRole and ClusterRoleBinding).
        :param name: the roles' and bindings' name; None: ``<service_account>-grant``, or
            ``<service_account>-cluster-grant`` with ``cluster_wide``.
        :returns: the applied manifests, as the server stored them (dicts: Role, RoleBinding, ClusterRole,
            ClusterRoleBinding, as needed).
        :raises ~incluster_sdk.rbac.vocabulary.NeedError: for a need the server does not know or that does not
            parse, or an invalid namespace, ServiceAccount or role name (nothing is granted).
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses a manifest.
        """
        from ..rbac.manifests import manifests
        from ..rbac.needs import NeedError, parse_needs

        try:
            parsed = parse_needs(needs, self._api.catalog())
        except NeedError:
            parsed = parse_needs(needs, self._api.catalog(refresh=True))  # a resource created since (a CRD)
        docs = manifests(
            parsed,
            namespace=namespace,
            service_account=service_account,
            name=name or f"{service_account}-{'cluster-' if cluster_wide else ''}grant",
            cluster_wide=cluster_wide,
            include_service_account=False,
        )
        return [self._api.apply(doc) for doc in docs]

    def aggregate_cluster_roles(self, apiserver: Process, *, timeout: float) -> list[str]:
        """Fill the aggregated ClusterRoles as kube-controller-manager would; returns the names updated (see
        :meth:`LocalCluster.aggregate_cluster_roles`). Waits up to ``timeout`` s for the bootstrap roles, unless
        ``apiserver`` exits first.

        :param apiserver: the kube-apiserver process, watched while waiting (its log's end goes into errors).
        :param timeout: seconds to wait for the bootstrap ClusterRoles.
        :returns: the names of the ClusterRoles updated, sorted.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the bootstrap roles are missing after
            ``timeout`` or kube-apiserver exits, if the selectors never converge, or if
            :data:`AGGREGATION_ATTEMPTS` attempts end in 409 Conflict.
        """
        from .aggregation import BOOTSTRAP_AGGREGATED, AggregationDoesNotConverge, converge

        roles = self._bootstrap_roles(
            set(BOOTSTRAP_AGGREGATED) | set(BOOTSTRAP_AGGREGATED.values()), apiserver, timeout
        )
        # A 409 means a ClusterRole changed between the read and the write: another writer, which here can only
        # be a test's own set-up running alongside. Re-read everything and recompute, as the controller's requeue
        # does. Each attempt loses only to a write that landed in the milliseconds between its read and its
        # PUTs, so a handful settles any finite burst; one that keeps losing is a writer that never stops.
        updated: set[str] = set()
        for _ in range(AGGREGATION_ATTEMPTS):
            try:
                result = converge(roles)
            except AggregationDoesNotConverge as exc:
                raise ClusterError(str(exc)) from exc
            by_name = {role["metadata"]["name"]: role for role in roles}
            conflict = False
            for name, rules in sorted(result.updates.items()):
                body = {**by_name[name], "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}
                path = f"{CLUSTER_ROLES}/{urllib.parse.quote(name, safe=':')}"
                answer = self._api.request("PUT", path, {**body, "rules": rules}, ok=(200, 409))
                if answer.get("kind") == "Status":  # 409 Conflict: the resourceVersion read is stale
                    conflict = True
                    break
                updated.add(name)
            if not conflict:
                return sorted(updated)
            roles = self._api.request("GET", CLUSTER_ROLES)["items"]
        raise ClusterError(
            f"ClusterRoles kept changing under aggregation: {AGGREGATION_ATTEMPTS} attempts ended in 409 Conflict"
        )

    def _bootstrap_roles(self, needed: set[str], apiserver: Process, timeout: float) -> list[dict[str, Any]]:
        """Every ClusterRole, once the ``needed`` ones exist (kube-apiserver's rbac/bootstrap-roles post-start
        hook creates them; /healthz waits for it, so they are normally there at once)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                roles: list[dict[str, Any]] = self._api.request("GET", CLUSTER_ROLES)["items"]
            except OSError:  # not listening (yet, or any more): the checks below tell which
                roles = []
            missing = needed - {role["metadata"]["name"] for role in roles}
            if not missing:
                return roles
            if not apiserver.alive():
                raise ClusterError(f"kube-apiserver exited. Last log lines:\n{apiserver.log_tail()}")
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"RBAC bootstrap ClusterRoles {sorted(missing)} still missing after {timeout:.0f}s "
                    f"(kube-apiserver's rbac/bootstrap-roles hook creates them). Last log lines:\n"
                    f"{apiserver.log_tail()}"
                )
            time.sleep(0.2)
