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

#: The field manager of :meth:`AdminClient.apply` (server-side apply, conflicts forced).
FIELD_MANAGER = "incluster-sdk-testing"


class AdminClient:
    """Requests to ``https://127.0.0.1:<port>`` as the admin (group system:masters), or with another token."""

    def __init__(self, port: int, ca_pem: bytes, admin_token: Secret) -> None:
        self.port = port
        self.server = f"https://127.0.0.1:{port}"
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
        """One request as the admin (or with ``token``): ``body`` sent as JSON, the answer decoded (``raw``: its
        bytes). A status outside ``ok`` raises :class:`ClusterError` with the start of the answer."""
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
        try:
            return bool(self.request("GET", "/healthz", timeout=2, raw=True) == b"ok")
        except (OSError, ClusterError):
            return False

    # -- objects ---------------------------------------------------------------------------------------------
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create any object given as a manifest dict (core or grouped API, namespaced or not)."""
        return self.request("POST", self.collection_path(obj), obj)  # type: ignore[no-any-return]

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of one manifest (field manager ``incluster-sdk-testing``, conflicts forced)."""
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
        """A JSON merge patch (RFC 7386) of one object."""
        return self.request("PATCH", api_path, patch, content_type="application/merge-patch+json")  # type: ignore[no-any-return]

    def delete(self, api_path: str) -> None:
        """Delete one object; one already gone is fine."""
        self.request("DELETE", api_path, ok=(200, 202, 404))

    # -- discovery -------------------------------------------------------------------------------------------
    def catalog(self, *, refresh: bool = False) -> ResourceCatalog:
        """The server's resources (discovery as the admin), read once and again with ``refresh``."""
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
        kind is not there: a resource created since, such as a CRD's)."""
        group = api_version.rpartition("/")[0]
        for refresh in (False, True):
            for resource in self.catalog(refresh=refresh).resources:
                if resource.group == group and resource.kind == kind:
                    return resource
        raise ClusterError(f"{self.server} serves no resource of kind {kind!r} in {api_version!r} (discovery)")

    def collection_path(self, obj: dict[str, Any]) -> str:
        """``/api/v1/namespaces/<ns>/pods``, ``/apis/rbac.authorization.k8s.io/v1/clusterroles``: where an
        object of this manifest is created (namespace ``default`` when a namespaced one names none)."""
        api_version = obj["apiVersion"]
        resource = self.resource_for(api_version, obj["kind"])
        prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        if not resource.namespaced:
            return f"{prefix}/{resource.name}"
        namespace = obj["metadata"].get("namespace") or "default"
        return f"{prefix}/namespaces/{urllib.parse.quote(namespace)}/{resource.name}"

    def __repr__(self) -> str:  # never the token
        return f"<AdminClient {self.server}>"
