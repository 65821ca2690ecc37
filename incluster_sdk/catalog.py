"""The resources a server serves, as a catalog, and ``TYPE`` names resolved in it as kubectl resolves them.

A :class:`ResourceCatalog` answers "what is ``deploy``?" the way kubectl's RESTMapper does: plural, singular
and short names, case-insensitive, optionally qualified by group (``deployments.apps``) or version and group
(``deployments.v1.apps``). It knows for each resource whether it is namespaced, the verbs it supports and
its subresources. It comes from the server's discovery (:mod:`incluster_sdk.discovery`) or, when no server
is at hand, from :func:`builtin_catalog`: the standard kinds, recorded from kube-apiserver's own discovery
(``scripts/gen-builtin-resources.py``; an end-to-end test checks the record against the server).

    catalog.resolve("deploy")                   # APIResource deployments.apps, namespaced, verbs ...

No I/O here except reading the built-in table from the package.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from typing import Any

from .errors import InclusterSDKError
from .resource import Resource

BUILTIN_TABLE = "builtin_resources.json"
"""The file in the package that holds the built-in table (:func:`builtin_catalog`)."""
MAX_RESOURCE_LENGTH = 63
"""Characters: the longest a resource's plural can be, a DNS-1123 label (CRD plurals are validated as one)."""
MAX_GROUP_LENGTH = 253
"""Characters: the longest a group can be, a DNS-1123 subdomain (an APIService's and a CRD's group are
validated as one)."""
MAX_TYPE_LENGTH = MAX_RESOURCE_LENGTH + 1 + MAX_RESOURCE_LENGTH + 1 + MAX_GROUP_LENGTH
"""Characters (381): the longest ``TYPE`` that can name anything, ``resource.version.group`` (a version is a
DNS-1123 label too). Longer text names nothing and is not resolved, so resolving costs at most this much per
candidate."""
VERSION = re.compile(r"^v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?$")
"""A Kubernetes API version, as k8s.io/apimachinery/pkg/version spells them: ``v1``, ``v1beta1``,
``v2alpha3``."""


class UnknownResourceError(InclusterSDKError, ValueError):
    """A resource type the catalog does not know, or a version that does not serve it.

    The message names the catalog's source and offers up to three close ``plural.group`` names ("did you mean
    leases.coordination.k8s.io?"), and says which group versions' discovery failed, if any. A
    :class:`ValueError` too.

    When :func:`~incluster_sdk.discovery.resource_for` could not read discovery again after the miss, the
    answer is the last catalog read, which may predate a resource created since: the message then ends with
    why the re-read failed, and its ``refresh_error`` attribute holds that failure, for code that would rather retry
    than give up.

    :param message: what names nothing, where it was looked for, and the closest names.
    :param refresh_error: what the re-read of discovery after the miss raised (an
        :class:`~incluster_sdk.errors.ApiError`, a connection error...); None (the default) when the name is
        unknown to a catalog read after the miss, or none was asked for. Kept as the ``refresh_error``
        attribute.
    """

    def __init__(self, message: str, *, refresh_error: Exception | None = None) -> None:
        super().__init__(message)
        self.refresh_error = refresh_error


@dataclass(frozen=True)
class APIResource:
    """One resource as discovery describes it (``metav1.APIResource``), with its subresources.

    Found with :meth:`ResourceCatalog.resolve`; :meth:`resource` gives the collection to request.

    :param group: the API group (``apps``), ``""`` for the core group.
    :param version: the version it was read from: its group's preferred one when that serves it.
    :param name: the plural, its name in URLs and RBAC rules (``deployments``).
    :param singular_name: the singular (``deployment``).
    :param kind: the object kind (``Deployment``).
    :param namespaced: whether objects live in namespaces.
    :param verbs: the verbs the resource supports (``("create", "delete", "get", "list", ...)``).
    :param short_names: kubectl's short names (``("deploy",)``); default none.
    :param subresources: a subresource's name (``log``, ``status``, ``scale``) → the verbs it supports;
        default none.
    :param versions: every version that serves it, ``version`` first; default empty, meaning ``version`` only.
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
        """``group/version`` (``apps/v1``), or the version alone for the core group (``v1``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def resource(self, version: str | None = None) -> Resource:
        """The collection to request: this resource in one of its versions.

        :param version: a version that serves it (``v1beta1``); None (default): :attr:`version`, the preferred
            one.
        :returns: the :class:`~incluster_sdk.resource.Resource` (``Resource("apps/v1", "deployments")``).
        :raises UnknownResourceError: if ``version`` does not serve this resource (not in
            :attr:`served_versions`).
        """
        version = version or self.version
        if version not in self.served_versions:
            raise UnknownResourceError(
                f"{self.type_name} is served in {', '.join(self.served_versions)}, not {version}"
            )
        return Resource(f"{self.group}/{version}" if self.group else version, self.name, self.namespaced)

    def to_json(self) -> dict[str, Any]:
        """This resource as the built-in table stores it, JSON-ready.

        :returns: ``{"group", "version", "name", "singularName", "kind", "namespaced", "verbs", "shortNames",
            "subresources", "versions"}`` with lists for tuples (``subresources``: name → verbs, sorted by name;
            ``versions``: :attr:`served_versions`).
        """
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
        """The resource that :meth:`to_json` wrote.

        :param data: a dict of :meth:`to_json`'s shape; ``shortNames``, ``subresources`` and ``versions`` may
            be missing or null.
        :returns: the resource.
        :raises KeyError: if a required key (``group``, ``version``, ``name``, ``singularName``, ``kind``,
            ``namespaced``, ``verbs``) is missing.
        """
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

    Made by :func:`~incluster_sdk.discovery.discover` (cached per client by
    :func:`~incluster_sdk.discovery.catalog_for`) or :func:`builtin_catalog`. Frozen; no I/O.

    :param resources: the resources, most preferred first: those of each group's preferred version in group
        order, core first, then those only other versions serve (kubectl's RESTMapper order).
    :param source: where the catalog came from, for messages: ``"discovery from https://..."``,
        ``"built-in table (kube-apiserver v1.20.2 discovery)"``.
    :param groups: every group it knows, ``""`` for core; default empty. A caller can tell "not a resource of
        a known group" (an error) from "a group this catalog has never heard of" (for example a custom
        resource checked offline).
    :param versions: a group (``""``: core) → the versions it serves, preferred first; default: the versions
        of its resources.
    :param failed: a group version whose discovery failed (``metrics.k8s.io/v1beta1``; core: ``v1``) → the
        reason; default none. Its resources are not in the catalog, as client-go's partial discovery
        (``ErrGroupDiscoveryFailed``) leaves them out.
    """

    resources: tuple[APIResource, ...]
    source: str
    groups: frozenset[str] = frozenset()
    versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)

    def lookup(self, group: str, name: str) -> APIResource | None:
        """The resource with this exact plural in this group (no short names, no case folding).

        :param group: the group, ``""`` for core.
        :param name: the plural (``deployments``).
        :returns: the resource, or None if the catalog has none by that group and plural.
        """
        return self._by_group_name.get((group, name))

    @functools.cached_property
    def _by_group_name(self) -> dict[tuple[str, str], APIResource]:
        table: dict[tuple[str, str], APIResource] = {}
        for res in self.resources:
            table.setdefault((res.group, res.name), res)
        return table

    def served_versions(self, group: str) -> tuple[str, ...]:
        """The versions a group serves, preferred first.

        :param group: the group, ``""`` for core.
        :returns: the versions (``("v1", "v1beta1")``); ``()`` for a group this catalog does not know.
        """
        return self._versions.get(group, ())

    @functools.cached_property
    def _versions(self) -> dict[str, tuple[str, ...]]:
        table = {group: tuple(versions) for group, versions in self.versions.items()}
        for res in self.resources:
            known = table.get(res.group, ())
            table[res.group] = known + tuple(v for v in res.served_versions if v not in known)
        return table

    def failed_in(self, group: str) -> dict[str, str]:
        """The group versions of one group whose discovery failed.

        :param group: the group, ``""`` for core.
        :returns: group version → reason, as in :attr:`failed` (``{"metrics.k8s.io/v1beta1": "HTTP 503"}``);
            empty if none failed.
        """
        return {gv: why for gv, why in self.failed.items() if _group_of(gv) == group}

    def candidates(self, type_name: str) -> list[APIResource]:
        """Every resource ``type_name`` can mean, most preferred first, by kubectl's rules (its shortcut expander
        and discovery RESTMapper): a plural, singular or kind beats a short name (``pods`` is never another
        resource's short name), an exact group beats a group prefix (``storageclasses.storage``), and among
        equals the catalog's priority order decides (core, then preferred versions, then the others).

        ``name.version.group`` matches every version that serves the resource, and ``name.version`` a core
        resource (``pods.v1``; kubectl reads that as the group ``v1`` and finds nothing).

        :param type_name: a plural, singular, kind or short name, case-insensitive, surrounding whitespace
            ignored, optionally followed by ``.group``, ``.version.group``, a group prefix, or (core)
            ``.version``: ``pods``, ``po``, ``Pod``, ``deploy.apps``, ``deployments.v1.apps``.
        :returns: the matching resources, best first; empty if none, or if ``type_name`` is longer than
            :data:`MAX_TYPE_LENGTH` (381 characters).
        """
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
        """The resource a ``TYPE`` names, as kubectl resolves it.

        When a bare name exists in several groups (``events``), the first in discovery order wins (core), as in
        kubectl.

        :param type_name: as for :meth:`candidates`: ``pods``, ``po``, ``Pod``, ``deploy.apps``,
            ``deployments.v1.apps``.
        :returns: the best of :meth:`candidates`.
        :raises UnknownResourceError: if it names nothing (the message has the closest names,
            :meth:`unknown_message`).
        """
        found = self.candidates(type_name)
        if found:
            return found[0]
        raise UnknownResourceError(self.unknown_message(type_name))

    def resource_for(self, type_name: str) -> Resource:
        """The collection a ``TYPE`` names, as kubectl resolves it (:meth:`resolve`), in the version it names or
        else the preferred version that serves it.

        :param type_name: as for :meth:`candidates`: ``ConfigMap``, ``cm``, ``deploy.apps``,
            ``widgets.example.com``, with a version: ``deployments.v1.apps``, ``pods.v1``.
        :returns: the :class:`~incluster_sdk.resource.Resource` (``Resource("apps/v1", "deployments")``).
        :raises UnknownResourceError: if it names nothing, including a version that does not serve the
            resource (the message has the closest names; :meth:`version_problem` explains a version).
        """
        found = self.resolve(type_name)
        rest = type_name.strip().lower().partition(".")[2]
        version = rest.partition(".")[0]
        if rest != found.group and VERSION.match(version) and version in found.served_versions:
            return found.resource(version)
        return found.resource()

    def version_problem(self, type_name: str) -> str | None:
        """Why a ``TYPE`` with a version names nothing, when the version is the reason.

        :param type_name: ``name.VERSION.group`` (``name.VERSION`` for core), e.g. ``deployments.v1beta1.apps``.
        :returns: a message when the group is known and does not serve VERSION (``"'deployments.v1beta1.apps':
            apps serves v1; v1beta1 is not served by the ..."``), or serves it but not for ``name``; None for
            text of another form, an unknown group, or a version that does serve the resource.
        """
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
        """The message of :class:`UnknownResourceError` for a ``TYPE`` that resolves to nothing.

        A typo is compared with every plural and every ``plural.group`` (``leasse`` is far from
        ``leases.coordination.k8s.io`` but close to ``leases``), with :func:`difflib.get_close_matches` at
        cutoff 0.6. When discovery of some group versions failed, the message says so (:meth:`failed_note`):
        the resource may be one of theirs.

        :param type_name: the text that named nothing (cut to :data:`MAX_TYPE_LENGTH` characters in the
            message).
        :returns: ``"'leasse' is not a resource known to the <source>; did you mean leases.coordination.k8s.io?"``,
            with up to three ``plural.group`` names, closest first (none if nothing is close).
        """
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
        """The note appended to messages when some group versions' discovery failed.

        :returns: ``" (discovery of metrics.k8s.io/v1beta1 failed, so their resources are unknown:
            metrics.k8s.io/v1beta1: <reason>)"``, or ``""`` when none failed.
        """
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


@functools.lru_cache(maxsize=1)
def builtin_catalog() -> ResourceCatalog:
    """The standard kinds, as kube-apiserver's discovery lists them, for when no server is at hand.

    Read once from the package (:data:`BUILTIN_TABLE`, recorded by ``scripts/gen-builtin-resources.py``) and
    cached: every call returns the same catalog.

    :returns: a catalog whose ``source`` names the recorded server: ``"built-in table (kube-apiserver v1.20.2
        discovery)"``.
    """
    text = importlib_resources.files(__package__).joinpath(BUILTIN_TABLE).read_text(encoding="utf-8")
    table = json.loads(text)
    resources = tuple(APIResource.from_json(r) for r in table["resources"])
    versions = {group: tuple(vs) for group, vs in (table.get("versions") or {}).items()}
    return ResourceCatalog(resources, f"built-in table ({table['source']})", frozenset(table["groups"]), versions)
