"""Discovery: read what a server serves (GET /api, /apis and each group version) into a
:class:`~incluster_sdk.catalog.ResourceCatalog`, once per client, again on a miss.

    catalog = discover(client)                  # about 25 GETs on a 1.20 server
    catalog_for(client).resolve("deploy")       # cached with the client

The walk is one generator flow (it yields the paths it needs and receives their JSON), driven by a thin sync
driver, a thin asyncio driver, and the test harness's own client. Discovery is partial, as client-go's is: a
group version that fails is recorded in :attr:`ResourceCatalog.failed` and skipped.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import rest
from .catalog import (
    BUILTIN_TABLE,
    MAX_GROUP_LENGTH,
    MAX_RESOURCE_LENGTH,
    MAX_TYPE_LENGTH,
    VERSION,
    APIResource,
    ResourceCatalog,
    UnknownResourceError,
    builtin_catalog,
)
from .errors import ApiError
from .flows import async_drive, drive
from .resource import Resource
from .rest import decode_object

if TYPE_CHECKING:
    from .aio_client import AsyncApiClient
    from .client import ApiClient

__all__ = [
    "BUILTIN_TABLE",
    "MAX_GROUP_LENGTH",
    "MAX_RESOURCE_LENGTH",
    "MAX_TYPE_LENGTH",
    "REFRESH_AFTER_MISS",
    "VERSION",
    "APIResource",
    "CatalogStep",
    "ResourceCatalog",
    "UnknownResourceError",
    "async_catalog_for",
    "async_discover",
    "async_resource_for",
    "builtin_catalog",
    "catalog_for",
    "catalog_from_lists",
    "discover",
    "discovery_flow",
    "resource_flow",
    "resource_for",
    "run_discovery",
]


# -- the discovery walk (no I/O) ------------------------------------------------------------------------------
#: What the walk yields: a path to GET; what it is sent back: the decoded JSON body, or None on 404. A GET that
#: failed is thrown into it (``flow.throw(exc)``): a group version's failure is recorded, any other propagates.
DiscoveryFlow = Generator[str, "dict[str, Any] | None", ResourceCatalog]


def discovery_flow(source: str) -> DiscoveryFlow:
    """GET /api, /api/v1, /apis and every version of every group; build the catalog.

    Resources of a group come from its preferred version first; other versions add what the preferred one
    lacks (RBAC does not care about versions). Subresources (``pods/log``) are folded into their resource.
    A group version that fails (an aggregated API whose backend is down answers 503) is left out and
    recorded in :attr:`ResourceCatalog.failed`, as kubectl's partial discovery does; /api or /apis failing
    fails the walk.
    """
    lists: list[tuple[str, str, dict[str, Any]]] = []
    failed: dict[str, str] = {}
    core = yield "/api"
    if core is None:
        raise ApiError("GET /api: 404; this is not a Kubernetes API server (or its address has a wrong path)", 404)
    core_versions = [str(v) for v in (core or {}).get("versions") or ["v1"]]
    for version in core_versions:
        body = yield from _group_version(f"/api/{version}", version, failed)
        if body is not None:
            lists.append(("", version, body))
    groups = yield "/apis"
    if groups is None:
        raise ApiError("GET /apis: 404; this is not a Kubernetes API server (or its address has a wrong path)", 404)
    names = [""]
    preferred_versions = {"": "v1"}
    served: dict[str, list[str]] = {"": core_versions}
    for group in (groups or {}).get("groups") or []:
        names.append(group["name"])
        preferred = (group.get("preferredVersion") or {}).get("version")
        preferred_versions[group["name"]] = preferred or ""
        versions = sorted((v["version"] for v in group.get("versions") or []), key=lambda v: v != preferred)
        served[group["name"]] = versions
        for version in versions:
            gv = f"{group['name']}/{version}"
            body = yield from _group_version(f"/apis/{gv}", gv, failed)
            if body is not None:
                lists.append((group["name"], version, body))
    return catalog_from_lists(
        lists, source=source, groups=names, preferred=preferred_versions, versions=served, failed=failed
    )


def _group_version(
    path: str, group_version: str, failed: dict[str, str]
) -> Generator[str, dict[str, Any] | None, dict[str, Any] | None]:
    """GET one group version's APIResourceList: its body, None on 404, or None with the failure recorded."""
    try:
        return (yield path)
    except Exception as exc:  # thrown in by the driver: what the GET raised
        failed[group_version] = str(exc) or type(exc).__name__
        return None


def catalog_from_lists(
    lists: Iterable[tuple[str, str, Mapping[str, Any]]],
    *,
    source: str,
    groups: Iterable[str] = (),
    preferred: Mapping[str, str] | None = None,
    versions: Mapping[str, Iterable[str]] | None = None,
    failed: Mapping[str, str] | None = None,
) -> ResourceCatalog:
    """A catalog from (group, version, APIResourceList) triples in discovery order, the preferred version of each
    group first. ``preferred`` maps a group to its preferred version (default: the first version listed for it;
    discovery passes it because a preferred version that answered 404 is not in ``lists``); ``versions`` maps
    a group to every version it serves (default: those in ``lists``); ``failed`` is recorded as is.

    The resources are in kubectl's priority order (its discovery RESTMapper): those of preferred versions in
    group order, core first, then those only served by other versions.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    subresources: dict[tuple[str, str], dict[str, list[str]]] = {}
    preferred = dict(preferred or {})
    served = {group: list(vs) for group, vs in (versions or {}).items()}
    for group, version, body in lists:
        preferred.setdefault(group, version)
        if version not in served.setdefault(group, []):
            served[group].append(version)
        for item in body.get("resources") or []:
            name = str(item.get("name") or "")
            base, _, sub = name.partition("/")
            key = (group, base)
            if sub:
                verbs = subresources.setdefault(key, {}).setdefault(sub, [])
                verbs.extend(v for v in item.get("verbs") or [] if v not in verbs)
                continue
            entry = merged.get(key)
            if entry is None:
                merged[key] = {
                    "group": group,
                    "version": version,
                    "versions": [version],
                    "name": base,
                    "singularName": item.get("singularName") or str(item.get("kind") or base).lower(),
                    "kind": item.get("kind") or "",
                    "namespaced": bool(item.get("namespaced")),
                    "verbs": list(item.get("verbs") or []),
                    "shortNames": list(item.get("shortNames") or []),
                }
            else:
                entry["versions"] += [version] if version not in entry["versions"] else []
                entry["verbs"] += [v for v in item.get("verbs") or [] if v not in entry["verbs"]]
                entry["shortNames"] += [s for s in item.get("shortNames") or [] if s not in entry["shortNames"]]
    resources = []
    for key, entry in merged.items():
        entry["subresources"] = subresources.get(key, {})
        resources.append(APIResource.from_json(entry))
    resources.sort(key=lambda r: r.version != preferred.get(r.group))  # stable: group order within each tier
    return ResourceCatalog(
        tuple(resources),
        source,
        frozenset(groups) | {r.group for r in resources},
        {group: tuple(vs) for group, vs in served.items()},
        dict(failed or {}),
    )


# -- drivers ---------------------------------------------------------------------------------------------------
def run_discovery(source: str, get: Callable[[str], dict[str, Any] | None]) -> ResourceCatalog:
    """Walk :func:`discovery_flow` with ``get`` (a path -> its JSON body, None on 404, or raises): what a GET
    raises is thrown into the walk, which records a group version's failure and re-raises any other."""
    return drive(discovery_flow(source), get)


def discover(client: ApiClient) -> ResourceCatalog:
    """The server's catalog, read now (about 25 GETs on a 1.20 server). Group versions that fail are skipped and
    listed in :attr:`ResourceCatalog.failed`. Raises :class:`ApiError` when /api or /apis fails."""
    return run_discovery(f"discovery from {client.configuration.host}", lambda path: _get_json(client, path))


async def async_discover(client: AsyncApiClient) -> ResourceCatalog:
    """:func:`discover` for the asyncio client."""
    return await async_drive(
        discovery_flow(f"discovery from {client.configuration.host}"), lambda path: _async_get_json(client, path)
    )


def _decode(status: int, data: bytes, path: str) -> dict[str, Any] | None:
    if status == 404:  # a group version that went away between /apis and now
        return None
    return decode_object(status, data, f"GET {path}")


#: The roots are retried as any request is; a group version is not: one that fails (an aggregated API whose
#: backend is down answers 503) is recorded as failed at once, as client-go's discovery does, instead of
#: costing the client's whole retry budget (about 30 s) per group.
_ROOTS = ("/api", "/apis")


def _get_json(client: ApiClient, path: str) -> dict[str, Any] | None:
    return _decode(*rest.request(client, "GET", path, retry=path in _ROOTS), path)


async def _async_get_json(client: AsyncApiClient, path: str) -> dict[str, Any] | None:
    return _decode(*await rest.async_request(client, "GET", path, retry=path in _ROOTS), path)


# -- one catalog per client, read on first use and again on a miss ------------------------------------------
#: A miss (an unknown resource) re-reads discovery at most this often: a CRD created a moment ago should be
#: found, but a typo repeated in a loop must not cost 25 requests each time. A discovery that failed outright
#: is remembered as long: callers fall back to the built-in table at once instead of failing again (an
#: unavailable aggregated API can take half a minute of retries per discovery).
REFRESH_AFTER_MISS = 10.0
_CATALOGS: weakref.WeakKeyDictionary[Any, tuple[ResourceCatalog | Exception, float]] = weakref.WeakKeyDictionary()


def _cached(client: Any, refresh: bool) -> tuple[ResourceCatalog | Exception, float] | None:
    """The cached entry of ``client``, or None when it must be (re)read: none yet, or a refresh (or a failure)
    older than :data:`REFRESH_AFTER_MISS`."""
    cached = _CATALOGS.get(client)
    if cached is None:
        return None
    stale = time.monotonic() - cached[1] > REFRESH_AFTER_MISS
    return None if stale and (refresh or isinstance(cached[0], Exception)) else cached


def _remember(client: Any, value: ResourceCatalog | Exception) -> ResourceCatalog:
    _CATALOGS[client] = (value, time.monotonic())
    return _raise_or_return(value)


def _raise_or_return(value: ResourceCatalog | Exception) -> ResourceCatalog:
    if isinstance(value, Exception):
        raise value.with_traceback(None)  # the same failure each time, without a growing traceback
    return value


def catalog_for(client: ApiClient, *, refresh: bool = False) -> ResourceCatalog:
    """The client's server catalog, discovered once and cached with the client. ``refresh=True`` re-reads it
    unless it was read in the last :data:`REFRESH_AFTER_MISS` seconds. A failed discovery is cached too (and
    raised again) for as long. Raises :class:`ApiError` (or what the request raised)."""
    cached = _cached(client, refresh)
    if cached is not None:
        return _raise_or_return(cached[0])
    try:
        catalog = discover(client)
    except Exception as exc:
        return _remember(client, exc)
    return _remember(client, catalog)


async def async_catalog_for(client: AsyncApiClient, *, refresh: bool = False) -> ResourceCatalog:
    """:func:`catalog_for` for the asyncio client."""
    cached = _cached(client, refresh)
    if cached is not None:
        return _raise_or_return(cached[0])
    try:
        catalog = await async_discover(client)
    except Exception as exc:
        return _remember(client, exc)
    return _remember(client, catalog)


# -- a resource by name, kind or short name ----------------------------------------------------------------
@dataclass(frozen=True)
class CatalogStep:
    """A flow's request for the client's catalog (``refresh``: read discovery again, see :func:`catalog_for`);
    the driver answers a :class:`ResourceCatalog`, or throws why it could not."""

    refresh: bool = False


def resource_flow(type_name: str) -> Generator[CatalogStep, ResourceCatalog, Resource]:
    """:func:`resource_for`'s logic: resolve in the cached catalog; on a miss, once more in a refreshed one
    (a CustomResourceDefinition may have been created since the catalog was read)."""
    catalog = yield CatalogStep()
    try:
        return catalog.resource_for(type_name)
    except UnknownResourceError:
        return (yield CatalogStep(refresh=True)).resource_for(type_name)


def resource_for(client: ApiClient, type_name: str) -> Resource:
    """The :class:`~incluster_sdk.resource.Resource` the server serves for ``type_name``: a kind (``ConfigMap``),
    plural (``configmaps``), singular or short name (``cm``), optionally with its group (``widgets.example.com``,
    ``Widget.example.com``) or version and group (``widgets.v1alpha1.example.com``); custom resources included.
    Resolved as kubectl resolves it (:meth:`ResourceCatalog.resource_for`), in the named version or the
    group's preferred one.

    The catalog is discovered once per client and cached (:func:`catalog_for`); an unknown name refreshes it
    once, at most every :data:`REFRESH_AFTER_MISS` seconds (so a CRD created a moment ago may take that long
    to be found). Raises :class:`UnknownResourceError` (with the closest names) when the server serves
    nothing by that name, and :class:`~incluster_sdk.errors.ApiError` when discovery fails."""
    return drive(resource_flow(type_name), lambda step: catalog_for(client, refresh=step.refresh))


async def async_resource_for(client: AsyncApiClient, type_name: str) -> Resource:
    """:func:`resource_for` for the asyncio client."""
    return await async_drive(resource_flow(type_name), lambda step: async_catalog_for(client, refresh=step.refresh))
