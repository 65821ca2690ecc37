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

#: kube-apiserver enforces expirationSeconds >= 600 for TokenRequest.
MIN_TOKEN_TTL = 600
CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
#: How often aggregate_cluster_roles tries again when a ClusterRole changed between its read and its write.
AGGREGATION_ATTEMPTS = 5


class Accounts:
    """The helpers, over ``api``'s requests (a :class:`LocalCluster` passes itself, so a test that wraps its
    ``request`` sees these requests too)."""

    def __init__(self, api: AdminClient | LocalCluster) -> None:
        self._api = api

    # -- namespaces and ServiceAccounts ----------------------------------------------------------------------
    def create_namespace(self, name: str) -> None:
        self._api.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}}, ok=(201, 409))

    def create_service_account(self, namespace: str, name: str) -> None:
        """The namespace (if missing) and the ServiceAccount (if missing)."""
        self.create_namespace(namespace)
        self._api.request(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": name}}, ok=(201, 409)
        )

    # -- tokens ----------------------------------------------------------------------------------------------
    def mint_token(
        self, namespace: str, service_account: str, *, ttl: int = 3600, bound_to_secret: str | None = None
    ) -> str:
        """A ServiceAccount token from the TokenRequest API, as kubelet would get for a pod (audience
        ``https://kubernetes.default.svc``; ``ttl`` at least 600 s). ``bound_to_secret``: bound to that Secret,
        created if missing, so that :meth:`invalidate` revokes it."""
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
        """Delete the Secret a token is bound to: the token gets 401 from then on (cached auths: ~10 s)."""
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
        ``"get:pods --subresource=log"``; see :mod:`incluster_sdk.rbac.needs`) and are checked against this
        server's discovery: a typo is a :class:`~incluster_sdk.rbac.NeedError`, never a grant of nothing.
        Namespaced needs go into a Role + RoleBinding named ``name`` (default ``<sa>-grant``), cluster-scoped
        ones into a ClusterRole + ClusterRoleBinding; ``cluster_wide=True`` grants everything in every
        namespace. Returns the applied manifests.
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
        ``apiserver`` exits first."""
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
