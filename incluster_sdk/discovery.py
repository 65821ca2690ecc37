"""What resources a server serves: discovery documents read into a catalog, and ``TYPE`` names resolved in it.

A :class:`ResourceCatalog` answers "what is ``deploy``?" the way kubectl's RESTMapper does: plural, singular
and short names, case-insensitive, optionally qualified by group (``deployments.apps``) or version and group
(``deployments.v1.apps``). It knows for each resource whether it is namespaced, the verbs it supports and
its subresources. It comes from the server's discovery (:func:`discover`, :func:`async_discover`) or, when
no server is at hand, from :func:`builtin_catalog`: the standard kinds, recorded from kube-apiserver's own
discovery (``scripts/gen-builtin-resources.py``; an end-to-end test checks the record against the server).

    catalog = discover(client)                  # GET /api, /apis and each group version, once
    catalog.resolve("deploy")                   # APIResource deployments.apps, namespaced, verbs ...

The discovery walk is one generator flow (it yields the paths it needs and receives their JSON), driven by
a thin sync driver and a thin asyncio driver.
"""

from __future__ import annotations

import difflib
import functools
import json
import time
import weakref
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any

from . import rest
from .errors import ApiError, InclusterSDKError
from .rest import decode_object

if TYPE_CHECKING:
    from .aio_client import AsyncApiClient
    from .client import ApiClient

BUILTIN_TABLE = "builtin_resources.json"


class UnknownResourceError(InclusterSDKError, ValueError):
    """A resource type the catalog does not know; the message offers the closest names."""


@dataclass(frozen=True)
class APIResource:
    """One resource as discovery describes it (``metav1.APIResource``), with its subresources.

    ``name`` is the plural (``deployments``); ``group`` is ``""`` for the core group; ``subresources`` maps
    a subresource's name (``log``, ``status``) to the verbs it supports.
    """

    group: str
    version: str
    name: str
    singular_name: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    subresources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        """``pods``, ``deployments.apps``: the spelling kubectl and RBAC rules use."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "version": self.version,
            "name": self.name,
            "singularName": self.singular_name,
            "kind": self.kind,
            "namespaced": self.namespaced,
            "verbs": list(self.verbs),
            "shortNames": list(self.short_names),
            "subresources": {k: list(v) for k, v in sorted(self.subresources.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> APIResource:
        return cls(
            group=data["group"],
            version=data["version"],
            name=data["name"],
            singular_name=data["singularName"],
            kind=data["kind"],
            namespaced=bool(data["namespaced"]),
            verbs=tuple(data["verbs"]),
            short_names=tuple(data.get("shortNames") or ()),
            subresources={k: tuple(v) for k, v in (data.get("subresources") or {}).items()},
        )


@dataclass(frozen=True)
class ResourceCatalog:
    """The resources of a server (or of the built-in table), in discovery's priority order (core first).

    ``source`` says where the catalog came from, for messages ("discovery from https://...", "built-in
    table (Kubernetes 1.20)"); ``groups`` lists every group it knows, so a caller can tell "not a resource of
    a known group" (an error) from "a group this catalog has never heard of" (for example a custom
    resource checked offline).
    """

    resources: tuple[APIResource, ...]
    source: str
    groups: frozenset[str] = frozenset()

    def lookup(self, group: str, name: str) -> APIResource | None:
        """The resource with this exact plural ``name`` in ``group``, or None."""
        return self._by_group_name.get((group, name))

    @functools.cached_property
    def _by_group_name(self) -> dict[tuple[str, str], APIResource]:
        table: dict[tuple[str, str], APIResource] = {}
        for res in self.resources:
            table.setdefault((res.group, res.name), res)
        return table

    def candidates(self, type_name: str) -> list[APIResource]:
        """Every resource ``type_name`` can mean, most preferred first, by kubectl's rules (its shortcut expander
        and discovery RESTMapper): a plural, singular or kind beats a short name (``pods`` is never another
        resource's short name), an exact group beats a group prefix (``storageclasses.storage``), and among
        equals the catalog's priority order decides (core, then preferred versions, then the others)."""
        text = type_name.strip().lower()
        for name, group in _splits(text):
            for by_prefix, by_short_name in _MATCH_ORDER if group is not None else _MATCH_ORDER[:2]:
                found = [
                    res
                    for res in self.resources
                    if (group is None or _group_matches(res, group, by_prefix))
                    and (name in res.short_names if by_short_name else name in _names(res))
                ]
                if found:
                    return found
        return []

    def resolve(self, type_name: str) -> APIResource:
        """The resource ``type_name`` names (``pods``, ``po``, ``Pod``, ``deploy.apps``, ``deployments.v1.apps``).

        Raises :class:`UnknownResourceError` with the closest names when there is none. When a bare name
        exists in several groups (``events``), the first in discovery order wins, as in kubectl.
        """
        found = self.candidates(type_name)
        if found:
            return found[0]
        raise UnknownResourceError(self.unknown_message(type_name))

    def unknown_message(self, type_name: str) -> str:
        """Why ``type_name`` resolves to nothing, with up to three ``plural.group`` names, closest first: a typo
        is compared with every plural and every ``plural.group`` (``leasse`` is far from
        ``leases.coordination.k8s.io`` but close to ``leases``)."""
        spelled: dict[str, list[str]] = {}
        for res in self.resources:
            for word in (res.name, res.type_name):
                spelled.setdefault(word, []).append(res.type_name)
        close = difflib.get_close_matches(type_name.lower(), sorted(spelled), n=6, cutoff=0.6)
        names = list(dict.fromkeys(t for word in close for t in spelled[word]))[:3]
        hint = f"; did you mean {' or '.join(names)}?" if names else ""
        return f"{type_name!r} is not a resource known to the {self.source}{hint}"


#: The order kubectl tries a ``name.group`` in (its shortcut expander, then its RESTMapper): (group prefix?,
#: short name?). A bare name uses the first two only.
_MATCH_ORDER = ((False, False), (False, True), (True, True), (True, False))


def _names(res: APIResource) -> tuple[str, str, str]:
    return res.name, res.singular_name, res.kind.lower()


def _splits(text: str) -> Iterable[tuple[str, str | None]]:
    """``deployments.v1.apps`` -> (deployments, v1.apps), (deployments.v1.apps, None) ...: every way to read
    ``name.group``; the bare name is tried last so that ``deployments.apps`` is not read as a name."""
    parts = text.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i]), ".".join(parts[i:])
    yield text, None


def _group_matches(res: APIResource, group: str, by_prefix: bool = False) -> bool:
    """kubectl accepts "resource.group" and "resource.version.group"; failing those, a group prefix."""
    if by_prefix:
        return res.group.startswith(group)
    return group == res.group or group == f"{res.version}.{res.group}"


# -- the discovery walk (no I/O) ------------------------------------------------------------------------------
#: What the walk yields: a path to GET; what it is sent back: the decoded JSON body, or None on 404.
DiscoveryFlow = Generator[str, "dict[str, Any] | None", ResourceCatalog]


def discovery_flow(source: str) -> DiscoveryFlow:
    """GET /api, /api/v1, /apis and every version of every group; build the catalog.

    Resources of a group come from its preferred version first; other versions add what the preferred one
    lacks (RBAC does not care about versions). Subresources (``pods/log``) are folded into their resource.
    """
    lists: list[tuple[str, str, dict[str, Any]]] = []
    core = yield "/api"
    if core is None:
        raise ApiError("GET /api: 404; this is not a Kubernetes API server (or its address has a wrong path)", 404)
    for version in (core or {}).get("versions") or ["v1"]:
        body = yield f"/api/{version}"
        if body is not None:
            lists.append(("", version, body))
    groups = yield "/apis"
    if groups is None:
        raise ApiError("GET /apis: 404; this is not a Kubernetes API server (or its address has a wrong path)", 404)
    names = [""]
    preferred_versions = {"": "v1"}
    for group in (groups or {}).get("groups") or []:
        names.append(group["name"])
        preferred = (group.get("preferredVersion") or {}).get("version")
        preferred_versions[group["name"]] = preferred or ""
        versions = [v["version"] for v in group.get("versions") or []]
        for version in sorted(versions, key=lambda v: v != preferred):
            body = yield f"/apis/{group['name']}/{version}"
            if body is not None:
                lists.append((group["name"], version, body))
    return catalog_from_lists(lists, source=source, groups=names, preferred=preferred_versions)


def catalog_from_lists(
    lists: Iterable[tuple[str, str, Mapping[str, Any]]],
    *,
    source: str,
    groups: Iterable[str] = (),
    preferred: Mapping[str, str] | None = None,
) -> ResourceCatalog:
    """A catalog from (group, version, APIResourceList) triples in discovery order, the preferred version of each
    group first. ``preferred`` maps a group to its preferred version (default: the first version listed for it;
    discovery passes it because a preferred version that answered 404 is not in ``lists``).

    The resources are in kubectl's priority order (its discovery RESTMapper): those of preferred versions in
    group order, core first, then those only served by other versions.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    subresources: dict[tuple[str, str], dict[str, list[str]]] = {}
    preferred = dict(preferred or {})
    for group, version, body in lists:
        preferred.setdefault(group, version)
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
                    "name": base,
                    "singularName": item.get("singularName") or str(item.get("kind") or base).lower(),
                    "kind": item.get("kind") or "",
                    "namespaced": bool(item.get("namespaced")),
                    "verbs": list(item.get("verbs") or []),
                    "shortNames": list(item.get("shortNames") or []),
                }
            else:
                entry["verbs"] += [v for v in item.get("verbs") or [] if v not in entry["verbs"]]
                entry["shortNames"] += [s for s in item.get("shortNames") or [] if s not in entry["shortNames"]]
    resources = []
    for key, entry in merged.items():
        entry["subresources"] = subresources.get(key, {})
        resources.append(APIResource.from_json(entry))
    resources.sort(key=lambda r: r.version != preferred.get(r.group))  # stable: group order within each tier
    return ResourceCatalog(tuple(resources), source, frozenset(groups) | {r.group for r in resources})


# -- drivers ---------------------------------------------------------------------------------------------------
def discover(client: ApiClient) -> ResourceCatalog:
    """The server's catalog, read now (about 25 GETs on a 1.20 server). Raises :class:`ApiError`."""
    flow = discovery_flow(f"discovery from {client.configuration.host}")
    try:
        path = next(flow)
        while True:
            path = flow.send(_get_json(client, path))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def async_discover(client: AsyncApiClient) -> ResourceCatalog:
    """:func:`discover` for the asyncio client."""
    flow = discovery_flow(f"discovery from {client.configuration.host}")
    try:
        path = next(flow)
        while True:
            path = flow.send(await _async_get_json(client, path))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _decode(status: int, data: bytes, path: str) -> dict[str, Any] | None:
    if status == 404:  # a group version that went away between /apis and now
        return None
    return decode_object(status, data, f"GET {path}")


def _get_json(client: ApiClient, path: str) -> dict[str, Any] | None:
    return _decode(*rest.request(client, "GET", path), path)


async def _async_get_json(client: AsyncApiClient, path: str) -> dict[str, Any] | None:
    return _decode(*await rest.async_request(client, "GET", path), path)


# -- one catalog per client, read on first use and again on a miss ------------------------------------------
#: A miss (an unknown resource) re-reads discovery at most this often: a CRD created a moment ago should be
#: found, but a typo repeated in a loop must not cost 25 requests each time.
REFRESH_AFTER_MISS = 10.0
_CATALOGS: weakref.WeakKeyDictionary[Any, tuple[ResourceCatalog, float]] = weakref.WeakKeyDictionary()


def catalog_for(client: ApiClient, *, refresh: bool = False) -> ResourceCatalog:
    """The client's server catalog, discovered once and cached with the client. ``refresh=True`` re-reads it
    unless it was read in the last :data:`REFRESH_AFTER_MISS` seconds. Raises :class:`ApiError`."""
    cached = _CATALOGS.get(client)
    if cached is None or (refresh and time.monotonic() - cached[1] > REFRESH_AFTER_MISS):
        cached = (discover(client), time.monotonic())
        _CATALOGS[client] = cached
    return cached[0]


async def async_catalog_for(client: AsyncApiClient, *, refresh: bool = False) -> ResourceCatalog:
    """:func:`catalog_for` for the asyncio client."""
    cached = _CATALOGS.get(client)
    if cached is None or (refresh and time.monotonic() - cached[1] > REFRESH_AFTER_MISS):
        cached = (await async_discover(client), time.monotonic())
        _CATALOGS[client] = cached
    return cached[0]


@functools.lru_cache(maxsize=1)
def builtin_catalog() -> ResourceCatalog:
    """The standard kinds, as kube-apiserver's discovery lists them (see the module docstring)."""
    text = importlib_resources.files(__package__).joinpath(BUILTIN_TABLE).read_text(encoding="utf-8")
    table = json.loads(text)
    resources = tuple(APIResource.from_json(r) for r in table["resources"])
    return ResourceCatalog(resources, f"built-in table ({table['source']})", frozenset(table["groups"]))
