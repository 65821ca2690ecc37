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
DiscoveryFlow = Generator[str, "dict[str, Any] | None", ResourceCatalog]
"""The discovery walk's type. It yields a path to GET; it is sent back the decoded JSON body, or None on 404. A
GET that failed is thrown into it (``flow.throw(exc)``): a group version's failure is recorded, any other
propagates. It returns the catalog."""


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
    """Walk discovery (``GET /api``, ``/api/v1``, ``/apis`` and every version of every group) with your own GET.

    What ``get`` raises is thrown into the walk: a group version's failure is recorded in
    :attr:`~incluster_sdk.catalog.ResourceCatalog.failed` and the walk goes on; a failure of ``/api`` or
    ``/apis`` propagates.

    :param source: where the answers come from, for the catalog's messages (``"discovery from https://..."``).
    :param get: called as ``get(path) -> body``: ``path`` is ``/api``, ``/apis/apps/v1``...; ``body`` the
        answer's JSON object as a dict, or None for a 404; it raises for any other failure.
    :returns: the catalog, in kubectl's priority order.
    :raises ~incluster_sdk.errors.ApiError: if ``/api`` or ``/apis`` answers 404 (not a Kubernetes API
        server).
    :raises Exception: whatever ``get`` raised for ``/api`` or ``/apis``.
    """
    return drive(discovery_flow(source), get)


def discover(client: ApiClient) -> ResourceCatalog:
    """Read the server's catalog now, uncached (about 25 GETs on a 1.20 server); :func:`catalog_for` caches it.

    ``/api`` and ``/apis`` are retried per the client's retry policy; a group version is not: one that fails
    (an aggregated API whose backend is down answers 503) is skipped and listed in
    :attr:`~incluster_sdk.catalog.ResourceCatalog.failed`, as client-go's partial discovery does.

    :param client: the SDK's client (:func:`~incluster_sdk.api_client`).
    :returns: the catalog, whose ``source`` is ``"discovery from <the client's host>"``.
    :raises ~incluster_sdk.errors.ApiError: if ``/api`` or ``/apis`` answers an error status (404: not a
        Kubernetes API server) or a body that is not a JSON object.
    :raises urllib3.exceptions.HTTPError: if ``/api`` or ``/apis`` cannot be reached and the retries gave up.
    """
    return run_discovery(f"discovery from {client.configuration.host}", lambda path: _get_json(client, path))


async def async_discover(client: AsyncApiClient) -> ResourceCatalog:
    """:func:`discover` for the asyncio client.

    :param client: the SDK's asyncio client (:func:`~incluster_sdk.async_api_client`).
    :returns: the catalog, whose ``source`` is ``"discovery from <the client's host>"``.
    :raises ~incluster_sdk.errors.ApiError: if ``/api`` or ``/apis`` answers an error status (404: not a
        Kubernetes API server) or a body that is not a JSON object.
    :raises aiohttp.ClientError: if ``/api`` or ``/apis`` cannot be reached and the retries gave up
        (:class:`asyncio.TimeoutError` for a timeout).
    """
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
REFRESH_AFTER_MISS = 10.0
"""Seconds: a cached catalog younger than this is not re-read, even on a miss (an unknown resource). Our
choice: a CRD created a moment ago should be found, but a typo repeated in a loop must not cost 25 requests
each time. A discovery that failed outright is remembered as long: callers that can fall back to the built-in
table (the RBAC checks, the doctor) do so at once instead of failing again (an unavailable server can take
half a minute of retries per discovery). A re-read that fails is remembered as long too, and never replaces
the last catalog that was read."""


@dataclass(frozen=True)
class _Entry:
    """One client's cache entry: the last catalog read (None until one was), the last read's failure (None
    when it succeeded), and when that last read was made (``time.monotonic()``)."""

    catalog: ResourceCatalog | None
    error: Exception | None
    at: float


_CATALOGS: weakref.WeakKeyDictionary[Any, _Entry] = weakref.WeakKeyDictionary()


def _cached(client: Any, refresh: bool) -> ResourceCatalog | None:
    """The cached answer for ``client``, or None when discovery must be read now.

    Without ``refresh``, the last catalog read, however old, even when a re-read failed since. With
    ``refresh``, or with no catalog read yet, the last read's outcome while it is younger than
    :data:`REFRESH_AFTER_MISS` (its failure is raised again), else None."""
    entry = _CATALOGS.get(client)
    if entry is None:
        return None
    if entry.catalog is not None and not refresh:
        return entry.catalog
    if time.monotonic() - entry.at > REFRESH_AFTER_MISS:
        return None
    if entry.error is not None:
        raise entry.error.with_traceback(None)  # the same failure each time, without a growing traceback
    return entry.catalog


def _remember(client: Any, value: ResourceCatalog | Exception) -> ResourceCatalog:
    """Record a read's outcome; a failure keeps the last catalog read, and is raised."""
    if isinstance(value, Exception):
        last = _CATALOGS.get(client)
        _CATALOGS[client] = _Entry(last.catalog if last is not None else None, value, time.monotonic())
        raise value.with_traceback(None)
    _CATALOGS[client] = _Entry(value, None, time.monotonic())
    return value


def catalog_for(client: ApiClient, *, refresh: bool = False) -> ResourceCatalog:
    """The client's server catalog, discovered on first use (:func:`discover`) and cached with the client.

    The cache holds one entry per client object (weakly: it goes with the client): the last catalog read, and
    the outcome and time of the last read. A failed discovery is cached too, and raised again, until it is
    :data:`REFRESH_AFTER_MISS` (10 s) old; then the next call that needs a read discovers again. A re-read
    (``refresh=True``) that fails never replaces the catalog read before: calls without ``refresh`` go on
    returning it, and the failure is raised to the caller that asked for the re-read (and to any other
    re-read within the next 10 s).

    :param client: the SDK's client (:func:`~incluster_sdk.api_client`).
    :param refresh: True re-reads discovery unless the last read is less than :data:`REFRESH_AFTER_MISS`
        (10 s) old (what a miss does, so that a just-created CRD is found); default False: the cached catalog,
        however old, even when a re-read failed since.
    :returns: the catalog (the cached object when still valid).
    :raises ~incluster_sdk.errors.ApiError: if discovery fails (``/api`` or ``/apis`` answers an error status),
        now or in the last 10 s, and no catalog was read before (or ``refresh`` asked for a new one).
    :raises urllib3.exceptions.HTTPError: if the server cannot be reached, now or in the last 10 s, under
        the same conditions.
    """
    cached = _cached(client, refresh)
    if cached is not None:
        return cached
    try:
        catalog = discover(client)
    except Exception as exc:
        return _remember(client, exc)
    return _remember(client, catalog)


async def async_catalog_for(client: AsyncApiClient, *, refresh: bool = False) -> ResourceCatalog:
    """:func:`catalog_for` for the asyncio client (one cache for both kinds of client).

    :param client: the SDK's asyncio client (:func:`~incluster_sdk.async_api_client`).
    :param refresh: as for :func:`catalog_for`: True re-reads discovery unless the last read is less than
        :data:`REFRESH_AFTER_MISS` (10 s) old; default False. A failed re-read keeps the catalog read before.
    :returns: the catalog (the cached object when still valid).
    :raises ~incluster_sdk.errors.ApiError: if discovery fails, now or in the last 10 s, and no catalog was
        read before (or ``refresh`` asked for a new one).
    :raises aiohttp.ClientError: if the server cannot be reached, under the same conditions.
    """
    cached = _cached(client, refresh)
    if cached is not None:
        return cached
    try:
        catalog = await async_discover(client)
    except Exception as exc:
        return _remember(client, exc)
    return _remember(client, catalog)


# -- a resource by name, kind or short name ----------------------------------------------------------------
@dataclass(frozen=True)
class CatalogStep:
    """What :func:`resource_flow` yields: a request for the client's catalog. The driver sends back a
    :class:`~incluster_sdk.catalog.ResourceCatalog` (``catalog_for(client, refresh=step.refresh)``), or throws
    in why it could not.

    :param refresh: True after a miss: read discovery again, as :func:`catalog_for`'s ``refresh``; default
        False, the cached catalog.
    """

    refresh: bool = False


def resource_flow(type_name: str) -> Generator[CatalogStep, ResourceCatalog, Resource]:
    """:func:`resource_for`'s logic without I/O, for a driver of your own: resolve in the cached catalog; on a
    miss, once more in a refreshed one (a CustomResourceDefinition may have been created since it was read).

    Drive it with :func:`~incluster_sdk.flows.drive`: ``drive(resource_flow("cm"), lambda step:
    catalog_for(client, refresh=step.refresh))``. The driver throws into the flow what reading a catalog
    raised: for the first catalog, the flow lets it propagate; for the re-read after a miss, it becomes the
    :class:`~incluster_sdk.catalog.UnknownResourceError` below.

    :param type_name: as for :func:`resource_for`.
    :returns: a generator that yields :class:`CatalogStep` (one, or two after a miss), is sent a
        :class:`~incluster_sdk.catalog.ResourceCatalog` for each, and returns the
        :class:`~incluster_sdk.resource.Resource`.
    :raises ~incluster_sdk.catalog.UnknownResourceError: (from the generator, as it is driven) when the second
        catalog does not know the name either, or when the second catalog cannot be read: then the first
        catalog's answer stands, the message adds why the re-read failed, and the error's ``refresh_error``
        attribute (and ``__cause__``) is what the driver threw in.
    """
    catalog = yield CatalogStep()
    try:
        return catalog.resource_for(type_name)
    except UnknownResourceError as exc:
        miss = exc
    try:
        fresh = yield CatalogStep(refresh=True)
    except Exception as exc:  # thrown in by the driver: the re-read failed; the first catalog's answer stands
        raise UnknownResourceError(f"{miss} ({refresh_failure(exc)})", refresh_error=exc) from exc
    return fresh.resource_for(type_name)


def refresh_failure(exc: BaseException) -> str:
    """What an "unknown" error adds when discovery could not be read again after a miss (shared with the RBAC
    checks' :class:`~incluster_sdk.rbac.vocabulary.NeedError`).

    :param exc: what the re-read raised.
    :returns: ``discovery could not be read again to look for a resource created since: GET /apis: HTTP 503:
        ...``, with the failure's first line (at most 300 characters), or its type's name when it has none.
    """
    text = str(exc).strip()
    why = text.splitlines()[0][:300] if text else type(exc).__name__
    return f"discovery could not be read again to look for a resource created since: {why}"


def resource_for(client: ApiClient, type_name: str) -> Resource:
    """The collection the server serves for a kind or resource name, custom resources included, resolved as
    kubectl resolves it (:meth:`ResourceCatalog.resource_for <incluster_sdk.catalog.ResourceCatalog.resource_for>`).

    The catalog is discovered once per client and cached (:func:`catalog_for`); an unknown name re-reads it
    once, unless it is less than :data:`REFRESH_AFTER_MISS` (10 s) old, so a CRD created a moment ago may
    take up to 10 s to be found. The CRD must exist (be served) by then: nothing waits for it.

    :param client: the SDK's client (:func:`~incluster_sdk.api_client`).
    :param type_name: a kind (``ConfigMap``), plural (``configmaps``), singular (``configmap``) or short name
        (``cm``), case-insensitive; optionally with its group (``widgets.example.com``, ``Widget.example.com``,
        ``deploy.apps``), a group prefix (``storageclasses.storage``), or a version and group
        (``widgets.v1alpha1.example.com``; ``pods.v1`` for core). When a bare name exists in several groups
        (``events``), core comes first, as in kubectl.
    :returns: the :class:`~incluster_sdk.resource.Resource`, in the named version or else the group's
        preferred version that serves it (``Resource("apps/v1", "deployments")``).
    :raises ~incluster_sdk.catalog.UnknownResourceError: if the server serves nothing by that name (or not in
        that version); the message offers up to three close ``plural.group`` names, and names group versions
        whose discovery failed. Also when the re-read after a miss fails: the cached catalog's answer stands
        (a known name still resolves from it), the message adds why the re-read failed, and
        its ``refresh_error`` attribute holds the failure (retry later if
        the resource may have been created a moment ago).
    :raises ~incluster_sdk.errors.ApiError: if the first discovery fails (``/api`` or ``/apis`` answers an error
        status), now or in the last 10 s: no catalog has been read yet.
    :raises urllib3.exceptions.HTTPError: if the server cannot be reached for the first discovery.
    """
    return drive(resource_flow(type_name), lambda step: catalog_for(client, refresh=step.refresh))


async def async_resource_for(client: AsyncApiClient, type_name: str) -> Resource:
    """:func:`resource_for` for the asyncio client.

    :param client: the SDK's asyncio client (:func:`~incluster_sdk.async_api_client`).
    :param type_name: as for :func:`resource_for`: ``ConfigMap``, ``cm``, ``deploy.apps``,
        ``widgets.v1alpha1.example.com``.
    :returns: the :class:`~incluster_sdk.resource.Resource`, in the named version or else the group's
        preferred one.
    :raises ~incluster_sdk.catalog.UnknownResourceError: if the server serves nothing by that name (the
        message offers the closest names), or the re-read after a miss fails (as for :func:`resource_for`:
        the cached catalog's answer stands, and ``refresh_error`` holds the failure).
    :raises ~incluster_sdk.errors.ApiError: if the first discovery fails: no catalog has been read yet.
    :raises aiohttp.ClientError: if the server cannot be reached for the first discovery.
    """
    return await async_drive(resource_flow(type_name), lambda step: async_catalog_for(client, refresh=step.refresh))
