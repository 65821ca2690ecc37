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
import re
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping
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
#: The longest a resource's plural can be: a DNS-1123 label (CRD plurals are validated as one).
MAX_RESOURCE_LENGTH = 63
#: The longest a group can be: a DNS-1123 subdomain (an APIService's and a CRD's group are validated as one).
MAX_GROUP_LENGTH = 253
#: The longest ``TYPE`` that can name anything: ``resource.version.group`` (a version is a DNS-1123 label too).
#: Longer text is refused before it is resolved, so resolving costs at most this much per candidate.
MAX_TYPE_LENGTH = MAX_RESOURCE_LENGTH + 1 + MAX_RESOURCE_LENGTH + 1 + MAX_GROUP_LENGTH
#: A Kubernetes API version (k8s.io/apimachinery/pkg/version: v1, v1beta1, v2alpha3).
VERSION = re.compile(r"^v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?$")


class UnknownResourceError(InclusterSDKError, ValueError):
    """A resource type the catalog does not know; the message offers the closest names."""


@dataclass(frozen=True)
class APIResource:
    """One resource as discovery describes it (``metav1.APIResource``), with its subresources.

    ``name`` is the plural (``deployments``); ``group`` is ``""`` for the core group; ``subresources`` maps
    a subresource's name (``log``, ``status``) to the verbs it supports. ``version`` is the version it was
    read from (its group's preferred one when that serves it); ``versions`` every version that serves it,
    ``version`` first (empty: ``version`` only).
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
    versions: tuple[str, ...] = ()

    @property
    def served_versions(self) -> tuple[str, ...]:
        """Every version that serves this resource, :attr:`version` first."""
        return self.versions or (self.version,)

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
            "versions": list(self.served_versions),
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
            versions=tuple(data.get("versions") or ()),
        )


@dataclass(frozen=True)
class ResourceCatalog:
    """The resources of a server (or of the built-in table), in discovery's priority order (core first).

    ``source`` says where the catalog came from, for messages ("discovery from https://...", "built-in
    table (Kubernetes 1.20)"); ``groups`` lists every group it knows, so a caller can tell "not a resource of
    a known group" (an error) from "a group this catalog has never heard of" (for example a custom
    resource checked offline). ``versions`` maps a group (``""``: core) to the versions it serves, preferred
    first (default: the versions of its resources). ``failed`` maps a group version whose discovery failed
    (``metrics.k8s.io/v1beta1``; core: ``v1``) to the reason: its resources are not in the catalog, as
    client-go's partial discovery (``ErrGroupDiscoveryFailed``) leaves them out.
    """

    resources: tuple[APIResource, ...]
    source: str
    groups: frozenset[str] = frozenset()
    versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)

    def lookup(self, group: str, name: str) -> APIResource | None:
        """The resource with this exact plural ``name`` in ``group``, or None."""
        return self._by_group_name.get((group, name))

    @functools.cached_property
    def _by_group_name(self) -> dict[tuple[str, str], APIResource]:
        table: dict[tuple[str, str], APIResource] = {}
        for res in self.resources:
            table.setdefault((res.group, res.name), res)
        return table

    def served_versions(self, group: str) -> tuple[str, ...]:
        """The versions ``group`` serves, preferred first (``()``: a group this catalog does not know)."""
        return self._versions.get(group, ())

    @functools.cached_property
    def _versions(self) -> dict[str, tuple[str, ...]]:
        table = {group: tuple(versions) for group, versions in self.versions.items()}
        for res in self.resources:
            known = table.get(res.group, ())
            table[res.group] = known + tuple(v for v in res.served_versions if v not in known)
        return table

    def failed_in(self, group: str) -> dict[str, str]:
        """The failed group versions (as in :attr:`failed`) of ``group``."""
        return {gv: why for gv, why in self.failed.items() if _group_of(gv) == group}

    def candidates(self, type_name: str) -> list[APIResource]:
        """Every resource ``type_name`` can mean, most preferred first, by kubectl's rules (its shortcut expander
        and discovery RESTMapper): a plural, singular or kind beats a short name (``pods`` is never another
        resource's short name), an exact group beats a group prefix (``storageclasses.storage``), and among
        equals the catalog's priority order decides (core, then preferred versions, then the others).

        ``name.version.group`` matches every version that serves the resource, and ``name.version`` a core
        resource (``pods.v1``; kubectl reads that as the group ``v1`` and finds nothing). Text longer than
        :data:`MAX_TYPE_LENGTH` names nothing."""
        text = type_name.strip().lower()
        if len(text) > MAX_TYPE_LENGTH:
            return []
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

    def version_problem(self, type_name: str) -> str | None:
        """Why ``type_name`` of the form ``name.VERSION.group`` (``name.VERSION`` for core) names nothing when
        the group is known and does not serve VERSION ("apps serves v1; v1beta1 is not served"), or serves it
        but not for ``name``; None for other text."""
        name, _, rest = type_name.strip().lower().partition(".")
        version, _, group = rest.partition(".")
        if not VERSION.match(version) or group not in self.groups or not name:
            return None
        served = self.served_versions(group)
        label = group or "the core group"
        if version not in served:
            listed = ", ".join(served) or "no version this catalog knows"
            plain = f"{name}.{group}" if group else name
            return (
                f"{type_name!r}: {label} serves {listed}; {version} is not served by the {self.source}"
                f" (RBAC ignores versions: write {plain})"
            )
        found = [r for r in self.candidates(f"{name}.{group}" if group else name) if r.group == group]
        if found and version not in found[0].served_versions:
            return (
                f"{type_name!r}: {found[0].type_name} is served in {', '.join(found[0].served_versions)}, not"
                f" {version} (RBAC ignores versions: write {found[0].type_name})"
            )
        return None

    def unknown_message(self, type_name: str) -> str:
        """Why ``type_name`` resolves to nothing, with up to three ``plural.group`` names, closest first: a typo
        is compared with every plural and every ``plural.group`` (``leasse`` is far from
        ``leases.coordination.k8s.io`` but close to ``leases``). When discovery of some group versions
        failed, the message says so: the resource may be one of theirs."""
        text = type_name if len(type_name) <= MAX_TYPE_LENGTH else type_name[:MAX_TYPE_LENGTH] + "..."
        spelled: dict[str, list[str]] = {}
        for res in self.resources:
            for word in (res.name, res.type_name):
                spelled.setdefault(word, []).append(res.type_name)
        close = difflib.get_close_matches(text.lower(), sorted(spelled), n=6, cutoff=0.6)
        names = list(dict.fromkeys(t for word in close for t in spelled[word]))[:3]
        hint = f"; did you mean {' or '.join(names)}?" if names else ""
        return f"{text!r} is not a resource known to the {self.source}{hint}{self.failed_note()}"

    def failed_note(self) -> str:
        """``"; discovery of metrics.k8s.io/v1beta1 failed (...), so its resources are unknown"``, or ``""``."""
        if not self.failed:
            return ""
        failures = "; ".join(f"{gv}: {why}" for gv, why in sorted(self.failed.items()))
        return f" (discovery of {', '.join(sorted(self.failed))} failed, so their resources are unknown: {failures})"


def _group_of(group_version: str) -> str:
    """``apps/v1`` -> ``apps``; ``v1`` -> ``""`` (core)."""
    return group_version.rpartition("/")[0]


#: The order kubectl tries a ``name.group`` in (its shortcut expander, then its RESTMapper): (group prefix?,
#: short name?). A bare name uses the first two only.
_MATCH_ORDER = ((False, False), (False, True), (True, True), (True, False))


def _names(res: APIResource) -> tuple[str, str, str]:
    return res.name, res.singular_name, res.kind.lower()


def _splits(text: str) -> Iterable[tuple[str, str | None]]:
    """``deployments.v1.apps`` -> (deployments, v1.apps), (deployments.v1.apps, None): the ways to read
    ``name.group``, as kubectl reads them (schema.ParseResourceArg and ParseGroupResource split at the first
    dot: a resource's names never contain one); the bare name is tried last so that ``deployments.apps`` is
    not read as a name. Linear in the length of ``text``."""
    name, dot, group = text.partition(".")
    if dot:
        yield name, group
    yield text, None


def _group_matches(res: APIResource, group: str, by_prefix: bool = False) -> bool:
    """kubectl accepts "resource.group" and "resource.version.group" (any version serving it, here); failing
    those, a group prefix. ``pods.v1`` reads ``v1`` as a core version."""
    if by_prefix:
        return res.group.startswith(group)
    if group == res.group:
        return True
    version, dot, rest = group.partition(".")
    return rest == res.group and version in res.served_versions and bool(dot or not res.group)


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
    flow = discovery_flow(source)
    step: str | ResourceCatalog = next(flow)
    while isinstance(step, str):
        try:
            body = get(step)
        except Exception as exc:
            step = _advance(flow, None, exc)
        else:
            step = _advance(flow, body, None)
    return step


def _advance(flow: DiscoveryFlow, body: dict[str, Any] | None, error: Exception | None) -> str | ResourceCatalog:
    """Send ``body`` (or throw ``error``) into the walk: the next path, or the catalog when it is done."""
    try:
        return flow.throw(error) if error is not None else flow.send(body)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def discover(client: ApiClient) -> ResourceCatalog:
    """The server's catalog, read now (about 25 GETs on a 1.20 server). Group versions that fail are skipped and
    listed in :attr:`ResourceCatalog.failed`. Raises :class:`ApiError` when /api or /apis fails."""
    return run_discovery(f"discovery from {client.configuration.host}", lambda path: _get_json(client, path))


async def async_discover(client: AsyncApiClient) -> ResourceCatalog:
    """:func:`discover` for the asyncio client."""
    flow = discovery_flow(f"discovery from {client.configuration.host}")
    step: str | ResourceCatalog = next(flow)
    while isinstance(step, str):
        try:
            body = await _async_get_json(client, step)
        except Exception as exc:
            step = _advance(flow, None, exc)
        else:
            step = _advance(flow, body, None)
    return step


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


@functools.lru_cache(maxsize=1)
def builtin_catalog() -> ResourceCatalog:
    """The standard kinds, as kube-apiserver's discovery lists them (see the module docstring)."""
    text = importlib_resources.files(__package__).joinpath(BUILTIN_TABLE).read_text(encoding="utf-8")
    table = json.loads(text)
    resources = tuple(APIResource.from_json(r) for r in table["resources"])
    versions = {group: tuple(vs) for group, vs in (table.get("versions") or {}).items()}
    return ResourceCatalog(resources, f"built-in table ({table['source']})", frozenset(table["groups"]), versions)
