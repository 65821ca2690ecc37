"""The cluster admin's HTTP client for the local cluster: one ``request()``, and ``create``/``apply``/``patch``/
``delete`` and the discovery catalog built on it.

For test set-up, not for apps: JSON in and out over a fresh connection per call, no retries. The admin token
is held as a :class:`~incluster_sdk._secret.Secret` and only revealed into the ``Authorization`` header.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any

import orjson

from .._secret import Secret
from ..discovery import APIResource, ResourceCatalog, run_discovery
from .errors import ClusterError

FIELD_MANAGER = "incluster-sdk-testing"
"""The field manager of :meth:`AdminClient.apply` (server-side apply, conflicts forced)."""


class AdminClient:
    """Requests to ``https://127.0.0.1:<port>`` as the admin (group system:masters), or with another token.

    :param port: kube-apiserver's HTTPS port on 127.0.0.1.
    :param ca_pem: the CA certificate (PEM bytes) that verifies the server.
    :param admin_token: the admin's bearer token, revealed only into the ``Authorization`` header.
    """

    def __init__(self, port: int, ca_pem: bytes, admin_token: Secret) -> None:
        self.port = port
        self.server = f"https://127.0.0.1:{port}"
        """The server's URL, ``https://127.0.0.1:<port>``."""
        self._token = admin_token
        self._ssl = ssl.create_default_context(cadata=ca_pem.decode())
        self._catalog: ResourceCatalog | None = None
        self._catalog_lock = threading.Lock()

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
        """Send one request as the admin (or with ``token``), over a new HTTPS connection, no retries.

        :param method: the HTTP method, e.g. ``"GET"``.
        :param path: the path and query on this server, e.g. ``"/api/v1/namespaces/demo/pods?limit=10"``.
        :param body: sent as JSON when not None (a dict or list).
        :param token: a bearer token to send instead of the admin's (e.g. one from
            :meth:`mint_token <incluster_sdk.testing.cluster.LocalCluster.mint_token>`); None: the admin's.
        :param timeout: seconds for the connection and each read; default 30 s (our choice for test set-up).
        :param raw: return the answer's bytes instead of decoding it.
        :param ok: the statuses that are not an error; default 200, 201 and 202.
        :param content_type: the body's ``Content-Type``; a PATCH needs e.g. ``"application/merge-patch+json"``
            (what :meth:`patch` sends).
        :returns: the answer decoded from JSON (a dict, e.g. a Kubernetes object or a ``Status``), None for an
            empty answer, or its bytes with ``raw``.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the status is not in ``ok`` (the message holds
            the first 500 bytes of the answer).
        :raises OSError: if the server cannot be reached or does not answer within ``timeout``.
        """
        headers = {"Authorization": f"Bearer {token or self._token.reveal()}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = orjson.dumps(body)
            headers["Content-Type"] = content_type
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self._ssl, timeout=timeout)
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

    def healthy(self) -> bool:
        """Whether ``GET /healthz`` answers ``ok`` within 2 s.

        :returns: True if it does; False on another answer or a connection error.
        """
        try:
            return bool(self.request("GET", "/healthz", timeout=2, raw=True) == b"ok")
        except (OSError, ClusterError):
            return False

    # -- objects ---------------------------------------------------------------------------------------------
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create any object the server serves, as the admin.

        Its collection (plural name, namespaced or not) comes from the server's discovery, so any kind works,
        a CRD's included; a namespaced object with no ``metadata.namespace`` goes to ``default``.

        :param obj: a manifest as a dict (``{"apiVersion": ..., "kind": ..., "metadata": {...}, ...}``).
        :returns: the created object, as the server answered.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses it (e.g. 409: it exists) or
            serves no such kind, even after reading discovery again.
        """
        return self.request("POST", self.collection_path(obj), obj)  # type: ignore[no-any-return]

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of one manifest, as the admin (field manager ``incluster-sdk-testing``, conflicts
        forced).

        :param obj: a manifest as a dict, ``metadata.name`` required; created or updated.
        :param dry_run: send ``dryRun=All``: validated and answered, nothing stored.
        :returns: the object as the server stored it (or would have).
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses it or serves no such kind.
        """
        name = urllib.parse.quote(obj["metadata"]["name"], safe=":")
        query = f"fieldManager={FIELD_MANAGER}&force=true" + ("&dryRun=All" if dry_run else "")
        return self.request(  # type: ignore[no-any-return]
            "PATCH",
            f"{self.collection_path(obj)}/{name}?{query}",
            obj,
            ok=(200, 201),
            content_type="application/apply-patch+yaml",  # JSON is YAML
        )

    def patch(self, api_path: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386) to one object, as the admin.

        :param api_path: the object's path, e.g. ``"/api/v1/namespaces/demo/configmaps/app-config"``.
        :param patch: the patch as a dict, e.g. ``{"data": {"k": "v"}}`` (a None value removes the key).
        :returns: the patched object.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server refuses it (e.g. 404).
        """
        return self.request("PATCH", api_path, patch, content_type="application/merge-patch+json")  # type: ignore[no-any-return]

    def delete(self, api_path: str) -> None:
        """Delete one object, as the admin; one already gone (404) is fine.

        It returns once the server accepted the deletion, which may finish later (a namespace's does: it stays
        ``Terminating`` until its contents are gone).

        :param api_path: the object's path, e.g. ``"/api/v1/namespaces/demo"``.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server answers another error than 404.
        """
        self.request("DELETE", api_path, ok=(200, 202, 404))

    # -- discovery -------------------------------------------------------------------------------------------
    def catalog(self, *, refresh: bool = False) -> ResourceCatalog:
        """The server's resources, from discovery as the admin; read once, then kept.

        :param refresh: read discovery again (e.g. after creating a CRD).
        :returns: the catalog (a :class:`~incluster_sdk.catalog.ResourceCatalog`), what the need syntax of
            :meth:`grant <incluster_sdk.testing.cluster.LocalCluster.grant>` resolves against.
        :raises ~incluster_sdk.testing.errors.ClusterError: if a discovery request fails.
        """
        with self._catalog_lock:
            if self._catalog is None or refresh:

                def get(path: str) -> dict[str, Any] | None:  # raises ClusterError on other answers
                    body: dict[str, Any] = self.request("GET", path, ok=(200, 404))
                    return None if body.get("kind") == "Status" else body

                self._catalog = run_discovery(f"discovery from {self.server}", get)
            assert self._catalog is not None
            return self._catalog

    def resource_for(self, api_version: str, kind: str) -> APIResource:
        """The resource serving ``kind`` in ``api_version``'s group, from discovery (read again once when the
        kind is not there: a resource created since, such as a CRD's).

        :param api_version: ``group/version``, or ``v1`` for the core group.
        :param kind: the kind, e.g. ``"ConfigMap"``.
        :returns: the resource (its plural name, whether it is namespaced...).
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server serves no such kind in that group.
        """
        group = api_version.rpartition("/")[0]
        for refresh in (False, True):
            for resource in self.catalog(refresh=refresh).resources:
                if resource.group == group and resource.kind == kind:
                    return resource
        raise ClusterError(f"{self.server} serves no resource of kind {kind!r} in {api_version!r} (discovery)")

    def collection_path(self, obj: dict[str, Any]) -> str:
        """``/api/v1/namespaces/<ns>/pods``, ``/apis/rbac.authorization.k8s.io/v1/clusterroles``: where an
        object of this manifest is created (namespace ``default`` when a namespaced one names none).

        :param obj: a manifest as a dict (``apiVersion``, ``kind`` and ``metadata`` are read).
        :returns: the collection's path, the namespace URL-quoted.
        :raises ~incluster_sdk.testing.errors.ClusterError: if the server serves no such kind.
        """
        api_version = obj["apiVersion"]
        resource = self.resource_for(api_version, obj["kind"])
        prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        if not resource.namespaced:
            return f"{prefix}/{resource.name}"
        namespace = obj["metadata"].get("namespace") or "default"
        return f"{prefix}/namespaces/{urllib.parse.quote(namespace)}/{resource.name}"

    def __repr__(self) -> str:  # never the token
        return f"<AdminClient {self.server}>"
