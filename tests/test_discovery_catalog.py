"""incluster_sdk.discovery without a cluster: the discovery walk driven by hand with recorded documents, the
catalog built from them, and TYPE resolution checked against a port of kubectl's own resolution.

The reference is Kubernetes 1.20.2: kubectl auth can-i's ``resourceFor`` (staging/src/k8s.io/kubectl/pkg/cmd/
auth/cani.go), over client-go's shortcut expander (staging/src/k8s.io/client-go/restmapper/shortcut.go) and
discovery REST mapper (restmapper/discovery.go: a PriorityRESTMapper over one DefaultRESTMapper per group
version, staging/src/k8s.io/apimachinery/pkg/api/meta/{restmapper,priority,multirestmapper}.go). The port
below is ours, written from those sources; the ported cases of restmapper_test.go, shortcut_test.go and
priority_test.go check the port and the catalog alike, and a hypothesis property compares the two on
generated discovery documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from incluster_sdk.discovery import (
    APIResource,
    ResourceCatalog,
    UnknownResourceError,
    builtin_catalog,
    catalog_from_lists,
    discovery_flow,
    run_discovery,
)
from incluster_sdk.errors import ApiError
from incluster_sdk.rbac.needs import NeedWarning, parse_need

FAST = settings(max_examples=60, deadline=None)


# -- recorded discovery documents ------------------------------------------------------------------------------
@dataclass
class Group:
    """One entry of /apis (``""`` is the core group of /api), with the APIResourceList of each version;
    a version missing from ``lists`` answers 404."""

    name: str
    versions: list[str]
    preferred: str
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def res(
    name: str,
    kind: str = "",
    *,
    namespaced: bool = True,
    verbs: Sequence[str] = ("get", "list", "watch"),
    singular: str | None = None,
    short: Sequence[str] = (),
) -> dict[str, Any]:
    """An APIResource as discovery serves it (``singular=None``: ``singularName`` is left out, as old
    servers and subresources do)."""
    item: dict[str, Any] = {"name": name, "namespaced": namespaced, "kind": kind, "verbs": list(verbs)}
    if singular is not None:
        item["singularName"] = singular
    if short:
        item["shortNames"] = list(short)
    return item


def serve(groups: Sequence[Group]) -> dict[str, dict[str, Any] | None]:
    """The documents a server would answer, by path (None: 404)."""
    docs: dict[str, dict[str, Any] | None] = {}
    core = next((g for g in groups if g.name == ""), None)
    docs["/api"] = {"kind": "APIVersions", "versions": core.versions if core else []}
    for g in groups:
        for version in g.versions:
            path = f"/api/{version}" if g.name == "" else f"/apis/{g.name}/{version}"
            body = g.lists.get(version)
            gv = version if g.name == "" else f"{g.name}/{version}"
            docs[path] = None if body is None else {"kind": "APIResourceList", "groupVersion": gv, "resources": body}
    docs["/apis"] = {
        "kind": "APIGroupList",
        "groups": [
            {
                "name": g.name,
                "versions": [{"groupVersion": f"{g.name}/{v}", "version": v} for v in g.versions],
                "preferredVersion": {"groupVersion": f"{g.name}/{g.preferred}", "version": g.preferred},
            }
            for g in groups
            if g.name
        ],
    }
    return docs


def drive(groups: Sequence[Group], source: str = "discovery from test") -> tuple[ResourceCatalog, list[str]]:
    """Run discovery_flow by hand: answer each path it yields from the recorded documents."""
    docs = serve(groups)
    flow = discovery_flow(source)
    asked: list[str] = []
    try:
        path = next(flow)
        while True:
            asked.append(path)
            path = flow.send(docs[path])
    except StopIteration as done:
        catalog: ResourceCatalog = done.value
        return catalog, asked


CORE = Group(
    "",
    ["v1"],
    "v1",
    {
        "v1": [
            res("pods", "Pod", singular="pod", short=["po"], verbs=["create", "delete", "get", "list", "watch"]),
            res("pods/log", "Pod", verbs=["get"]),
            res("pods/status", "Pod", verbs=["get", "patch", "update"]),
            res("events", "Event", singular="event", short=["ev"]),
            res("namespaces", "Namespace", namespaced=False, singular="namespace", short=["ns"]),
            res("endpoints", "Endpoints", singular="endpoints", short=["ep"]),
        ]
    },
)


# -- discovery_flow and catalog_from_lists ---------------------------------------------------------------------
def test_discovery_flow_walks_every_group_version_preferred_first_and_skips_404s() -> None:
    groups = [
        CORE,
        Group(
            "apps",
            ["v1beta1", "v1"],  # discovery order is not preference order: the preferred version is read first
            "v1",
            {
                "v1": [
                    res("deployments", "Deployment", singular="deployment", short=["deploy"]),
                    res("deployments/scale", "Scale", verbs=["get", "update"]),
                ],
                "v1beta1": [
                    res("deployments", "Deployment", singular="deployment", verbs=["get", "list", "patch"]),
                    res("deployments/scale", "Scale", verbs=["get", "patch"]),
                    res("deployments/rollback", "DeploymentRollback", verbs=["create"]),
                    res("controllerrevisions", "ControllerRevision", singular="controllerrevision"),
                ],
            },
        ),
        Group("gone.example.com", ["v1"], "v1", {}),  # listed in /apis, 404 on its version (an APIService down)
        Group("events.k8s.io", ["v1"], "v1", {"v1": [res("events", "Event", singular="event", short=["ev"])]}),
    ]
    catalog, asked = drive(groups)
    assert asked == [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/apis/apps/v1beta1",
        "/apis/gone.example.com/v1",
        "/apis/events.k8s.io/v1",
    ]
    assert catalog.source == "discovery from test"
    assert catalog.groups == {"", "apps", "gone.example.com", "events.k8s.io"}  # a 404 group is still known
    by_key = {(r.group, r.name): r for r in catalog.resources}
    assert set(by_key) == {
        ("", "pods"),
        ("", "events"),
        ("", "namespaces"),
        ("", "endpoints"),
        ("apps", "deployments"),
        ("apps", "controllerrevisions"),
        ("events.k8s.io", "events"),
    }
    pods = by_key["", "pods"]
    assert pods.subresources == {"log": ("get",), "status": ("get", "patch", "update")}  # folded in
    assert (pods.version, pods.api_version, pods.kind, pods.singular_name, pods.short_names) == (
        "v1",
        "v1",
        "Pod",
        "pod",
        ("po",),
    )
    deployments = by_key["apps", "deployments"]
    # the preferred version gives the version and comes first; other versions add what it lacks (RBAC is
    # version-blind): verbs, subresources and their verbs, and whole resources
    assert deployments.version == "v1" and deployments.api_version == "apps/v1"
    assert deployments.verbs == ("get", "list", "watch", "patch")
    assert deployments.subresources == {"scale": ("get", "update", "patch"), "rollback": ("create",)}
    assert by_key["apps", "controllerrevisions"].version == "v1beta1"
    assert by_key["", "namespaces"].namespaced is False and pods.namespaced is True


def test_discovery_flow_refuses_a_server_without_api_or_apis() -> None:
    flow = discovery_flow("x")
    assert next(flow) == "/api"
    with pytest.raises(ApiError, match="GET /api: 404"):
        flow.send(None)
    flow = discovery_flow("x")
    next(flow)
    assert flow.send({"versions": ["v1"]}) == "/api/v1"
    assert flow.send({"resources": []}) == "/apis"
    with pytest.raises(ApiError, match="GET /apis: 404"):
        flow.send(None)


METRICS = Group("metrics.k8s.io", ["v1beta1"], "v1beta1", {"v1beta1": [res("pods", "PodMetrics")]})
APPS = Group("apps", ["v1"], "v1", {"v1": [res("deployments", "Deployment", singular="deployment")]})


def _failing(groups: Sequence[Group], broken: Mapping[str, Exception]) -> Any:
    """A GET for run_discovery over recorded documents: ``broken`` paths raise (an APIService whose backend
    is down answers 503, which the client raises as ApiError)."""
    docs = serve(groups)

    def get(path: str) -> dict[str, Any] | None:
        if path in broken:
            raise broken[path]
        return docs[path]

    return get


def test_one_failing_group_version_is_skipped_and_recorded() -> None:
    """client-go's partial discovery (ErrGroupDiscoveryFailed): the other groups are read; the failed group
    version is recorded with its reason, stays known as a group and as a served version, and messages about
    unknown resources say that discovery of it failed."""
    unavailable = ApiError("GET /apis/metrics.k8s.io/v1beta1: HTTP 503: service unavailable", 503)
    get = _failing([CORE, METRICS, APPS], {"/apis/metrics.k8s.io/v1beta1": unavailable})
    catalog = run_discovery("discovery from test", get)
    assert dict(catalog.failed) == {"metrics.k8s.io/v1beta1": str(unavailable)}
    assert catalog.lookup("apps", "deployments") is not None and catalog.lookup("metrics.k8s.io", "pods") is None
    assert "metrics.k8s.io" in catalog.groups and catalog.served_versions("metrics.k8s.io") == ("v1beta1",)
    message = catalog.unknown_message("podmetrics")
    assert "discovery of metrics.k8s.io/v1beta1 failed, so their resources are unknown" in message
    assert "HTTP 503: service unavailable" in message
    # a resource of the failed group is taken unchecked, with the failure named
    with pytest.warns(NeedWarning, match=r"discovery of metrics.k8s.io/v1beta1 failed .*HTTP 503.* is not checked"):
        need = parse_need("get,list:pods.metrics.k8s.io", catalog)
    assert (need.group, need.resource, need.namespaced) == ("metrics.k8s.io", "pods", None)
    assert parse_need("list:deployment", catalog).group == "apps"  # the rest resolves as before


def test_a_failing_core_version_is_recorded_and_api_or_apis_failing_fails_discovery() -> None:
    down = ApiError("GET /api/v1: HTTP 503", 503)
    catalog = run_discovery("d", _failing([CORE, APPS], {"/api/v1": down}))
    assert dict(catalog.failed) == {"v1": str(down)} and catalog.lookup("", "pods") is None
    for path in ("/api", "/apis"):
        refused = ApiError(f"GET {path}: HTTP 403", 403)
        with pytest.raises(ApiError) as err:
            run_discovery("d", _failing([CORE, APPS], {path: refused}))
        assert err.value is refused


def test_a_failed_discovery_is_cached_like_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding: with discovery failing, every can_i re-ran it (about 29 s each behind an unavailable
    aggregated API). A failure is remembered for REFRESH_AFTER_MISS, like a miss; so is a refresh."""
    from incluster_sdk import discovery

    calls: list[str] = []
    now = [1000.0]
    outcome: list[Any] = [ApiError("GET /api: HTTP 503", 503)]

    def fake_discover(client: Any) -> ResourceCatalog:
        calls.append("discover")
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]  # type: ignore[no-any-return]

    class Client:  # weakly referenced, as a real client
        pass

    monkeypatch.setattr(discovery, "discover", fake_discover)
    monkeypatch.setattr(discovery.time, "monotonic", lambda: now[0])
    client = Client()
    for _ in range(3):
        with pytest.raises(ApiError, match="HTTP 503"):
            discovery.catalog_for(client)  # type: ignore[arg-type]
    assert calls == ["discover"]
    now[0] += discovery.REFRESH_AFTER_MISS + 1
    outcome[0] = builtin_catalog()
    assert discovery.catalog_for(client) is builtin_catalog()  # type: ignore[arg-type]
    assert discovery.catalog_for(client, refresh=True) is builtin_catalog()  # type: ignore[arg-type]
    assert calls == ["discover", "discover"]  # a refresh within REFRESH_AFTER_MISS reads nothing
    now[0] += discovery.REFRESH_AFTER_MISS + 1
    discovery.catalog_for(client, refresh=True)  # type: ignore[arg-type]
    assert calls == ["discover"] * 3


def _widgets_catalog() -> ResourceCatalog:
    widgets = APIResource("example.com", "v1", "widgets", "widget", "Widget", True, ("get", "list", "watch"))
    return ResourceCatalog((*builtin_catalog().resources, widgets), "discovery from test")


def test_a_failed_refresh_keeps_the_last_catalog_and_says_why_a_name_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding: a miss whose re-read failed raised ApiError instead of UnknownResourceError, and the failure
    replaced the good catalog for REFRESH_AFTER_MISS, so known names failed too. Now a failed re-read keeps
    the last catalog: known names resolve from it, an unknown one is UnknownResourceError saying why."""
    from incluster_sdk import discovery
    from incluster_sdk.resource import Resource

    calls: list[str] = []
    now = [1000.0]
    down = ApiError("GET /apis: HTTP 503: etcdserver: request timed out", 503)
    outcome: list[Any] = [_widgets_catalog()]

    def fake_discover(client: Any) -> ResourceCatalog:
        calls.append("discover")
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]  # type: ignore[no-any-return]

    class Client:
        pass

    monkeypatch.setattr(discovery, "discover", fake_discover)
    monkeypatch.setattr(discovery.time, "monotonic", lambda: now[0])
    client: Any = Client()
    good = discovery.catalog_for(client)
    assert discovery.resource_for(client, "Widget") == Resource("example.com/v1", "widgets")
    now[0] += discovery.REFRESH_AFTER_MISS + 1
    outcome[0] = down
    with pytest.raises(UnknownResourceError) as err:
        discovery.resource_for(client, "gadgets")  # a miss: the re-read fails
    assert calls == ["discover", "discover"]
    assert str(err.value) == (
        "'gadgets' is not a resource known to the discovery from test; did you mean widgets.example.com?"
        " (discovery could not be read again to look for a resource created since: GET /apis: HTTP 503:"
        " etcdserver: request timed out)"
    )
    assert err.value.refresh_error is down and err.value.__cause__ is down
    # the good catalog is kept: known names resolve, at once and without reading discovery again
    assert discovery.catalog_for(client) is good
    assert discovery.resource_for(client, "Widget") == Resource("example.com/v1", "widgets")
    assert discovery.resource_for(client, "cm") == Resource("v1", "configmaps")
    # another miss within REFRESH_AFTER_MISS reads nothing, and says the same
    with pytest.raises(UnknownResourceError, match=r"could not be read again.*HTTP 503") as again:
        discovery.resource_for(client, "gizmos")
    assert again.value.refresh_error is down and calls == ["discover", "discover"]
    # once the server is back, the next miss after REFRESH_AFTER_MISS reads again, and the answer is plain
    now[0] += discovery.REFRESH_AFTER_MISS + 1
    outcome[0] = _widgets_catalog()
    with pytest.raises(UnknownResourceError) as plain:
        discovery.resource_for(client, "gadgets")
    assert plain.value.refresh_error is None and "could not be read again" not in str(plain.value)
    assert calls == ["discover"] * 3


def test_the_async_twin_keeps_the_last_catalog_after_a_failed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from incluster_sdk import discovery
    from incluster_sdk.resource import Resource

    now = [1000.0]
    down = ApiError("GET /api: HTTP 500", 500)
    outcome: list[Any] = [_widgets_catalog()]

    async def fake_discover(client: Any) -> ResourceCatalog:
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]  # type: ignore[no-any-return]

    class Client:
        pass

    monkeypatch.setattr(discovery, "async_discover", fake_discover)
    monkeypatch.setattr(discovery.time, "monotonic", lambda: now[0])
    client: Any = Client()

    async def go() -> None:
        assert await discovery.async_resource_for(client, "widget") == Resource("example.com/v1", "widgets")
        now[0] += discovery.REFRESH_AFTER_MISS + 1
        outcome[0] = down
        with pytest.raises(UnknownResourceError, match=r"could not be read again.*HTTP 500") as err:
            await discovery.async_resource_for(client, "gadgets")
        assert err.value.refresh_error is down
        assert await discovery.async_resource_for(client, "widget") == Resource("example.com/v1", "widgets")

    asyncio.run(go())


def test_a_first_discovery_that_fails_still_raises_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no catalog read yet there is nothing to fall back on: the failure itself is the answer."""
    from incluster_sdk import discovery

    down = ApiError("GET /api: HTTP 503", 503)

    def fake_discover(client: Any) -> ResourceCatalog:
        raise down

    class Client:
        pass

    monkeypatch.setattr(discovery, "discover", fake_discover)
    with pytest.raises(ApiError) as err:
        discovery.resource_for(Client(), "cm")  # type: ignore[arg-type]
    assert err.value is down


def test_served_versions_are_recorded_per_group_and_resource() -> None:
    groups = [
        CORE,
        Group(
            "batch",
            ["v1", "v1beta1"],
            "v1",
            {"v1": [res("jobs", "Job")], "v1beta1": [res("cronjobs", "CronJob"), res("jobs", "Job")]},
        ),
        Group("gone.io", ["v1", "v2"], "v2", {"v2": [res("things", "Thing")]}),  # v1 answers 404
    ]
    catalog, _ = drive(groups)
    assert catalog.served_versions("batch") == ("v1", "v1beta1") and catalog.served_versions("") == ("v1",)
    assert catalog.served_versions("gone.io") == ("v2", "v1")  # preferred first; listed in /apis
    assert catalog.lookup("batch", "jobs").served_versions == ("v1", "v1beta1")  # type: ignore[union-attr]
    assert resolved(catalog, "jobs.v1beta1.batch") == resolved(catalog, "jobs.v1.batch") == ("batch", "jobs")
    assert resolved(catalog, "cronjobs.v1beta1.batch") == ("batch", "cronjobs")
    assert resolved(catalog, "cronjobs.v1.batch") is None  # as kubectl: batch/v1 has no cronjobs
    assert resolved(catalog, "pods.v1") == ("", "pods")  # core's v1 (kubectl: a group "v1", nothing)
    assert "batch serves v1, v1beta1; v2 is not served" in (catalog.version_problem("jobs.v2.batch") or "")
    assert "cronjobs.batch is served in v1beta1, not v1" in (catalog.version_problem("cronjobs.v1.batch") or "")
    assert catalog.version_problem("jobs.batch") is None and catalog.version_problem("x.v1.unknown.io") is None
    table = builtin_catalog()
    assert table.served_versions("apps") == ("v1",) and table.served_versions("autoscaling")[0] == "v1"


def test_a_core_without_versions_reads_v1() -> None:
    flow = discovery_flow("x")
    next(flow)
    assert flow.send({}) == "/api/v1"


def test_catalog_from_lists_defaults_singular_from_kind_and_keeps_priority_order() -> None:
    catalog = catalog_from_lists(
        [
            ("", "v1", {"resources": [res("pods", "Pod")]}),  # no singularName: kind lowercased
            ("b.io", "v1", {"resources": [res("things", "Thing", singular="thing")]}),
            ("b.io", "v1beta1", {"resources": [res("olds", "Old")]}),
            ("c.io", "v1", {"resources": [res("things", "Thing", singular="thing")]}),
        ],
        source="s",
        groups=["", "b.io", "c.io", "empty.io"],
    )
    assert catalog.lookup("", "pods") is not None and catalog.lookup("", "pods").singular_name == "pod"  # type: ignore[union-attr]
    assert catalog.lookup("b.io", "olds") is not None and catalog.lookup("x", "pods") is None
    assert catalog.groups == {"", "b.io", "c.io", "empty.io"}
    assert [(r.group, r.name) for r in catalog.resources] == [
        ("", "pods"),
        ("b.io", "things"),
        ("c.io", "things"),
        ("b.io", "olds"),  # a non-preferred version's resource ranks after every preferred version (kubectl)
    ]


def test_api_resource_json_round_trip_is_the_builtin_table_format() -> None:
    for resource in builtin_catalog().resources:
        assert APIResource.from_json(resource.to_json()) == resource


# -- kubectl's resolution, ported -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GVR:
    group: str
    version: str
    resource: str


def _lists(groups: Sequence[Group]) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """ServerGroupsAndResources: every served group version, core first, versions in discovery order."""
    for g in groups:
        for version in g.versions:
            if version in g.lists:
                yield g.name, version, g.lists[version]


def _expand_shortcut(groups: Sequence[Group], gvr: GVR, *, literal: bool = False) -> GVR:
    """shortcutExpander.expandResourceShortcut.

    kubectl takes the first short name in discovery order (a group's versions as /apis lists them); our
    catalog keeps one order, kubectl's priority order (preferred versions of every group, then the others),
    and takes the first short name in that. They differ only for a short name that two groups share when
    the earlier group serves its resource in a non-preferred version only. ``literal=True`` is kubectl."""
    lists = list(_lists(groups))
    if not literal:
        lists.sort(key=lambda gv: gv[1] != next(g.preferred for g in groups if g.name == gv[0]))
    for group, _, items in lists:
        if gvr.group and gvr.group != group:
            continue
        for item in items:
            if gvr.resource in (item["name"], item.get("singularName", "")):
                return gvr
    shortcuts = [
        (group, short, item["name"])
        for group, _, items in lists
        for item in items
        for short in item.get("shortNames", [])
    ]
    for group, short, long in shortcuts:
        if gvr.group and gvr.group != group:
            continue
        if gvr.resource == short:
            return GVR(group, gvr.version, long)
    if not gvr.group:
        return gvr
    for group, short, long in shortcuts:
        if group.startswith(gvr.group) and gvr.resource == short:
            return GVR(group, gvr.version, long)
    return gvr


def _default_resources_for(group: str, version: str, items: list[dict[str, Any]], want: GVR, exact: bool) -> list[GVR]:
    """DefaultRESTMapper.ResourcesFor of the mapper of one group version (NewDiscoveryRESTMapper fills it);
    ``exact=False`` is its fallback for a group with no exact match: the group as a prefix."""
    pairs = [
        (GVR(group, version, i["name"]), GVR(group, version, i.get("singularName") or i["kind"].lower()))
        for i in items
        if "/" not in i["name"]
    ]
    out: list[GVR] = []
    if want.group and want.version:
        for plural, singular in pairs:
            if exact and want in (singular, plural):
                out.append(plural)
                break
    elif want.group:
        for plural, singular in pairs:
            if exact:
                out += [plural for c in (singular, plural) if (c.group, c.resource) == (want.group, want.resource)]
            elif plural.group.startswith(want.group):  # "storageclass.storage" finds storage.k8s.io
                out += [plural for c in (singular, plural) if c.resource == want.resource]
    elif want.version:
        for plural, singular in pairs:
            out += [
                plural for c in (singular, plural) if exact and (c.version, c.resource) == (want.version, want.resource)
            ]
    else:
        for plural, singular in pairs:
            out += [plural for c in (singular, plural) if exact and c.resource == want.resource]
    return out


def _priority_resource_for(groups: Sequence[Group], want: GVR, *, exact_group_first: bool = True) -> GVR | None:
    """PriorityRESTMapper.ResourceFor over the MultiRESTMapper (None: no match, or ambiguous).

    kubectl's MultiRESTMapper holds one DefaultRESTMapper per group version, and each one falls back to the
    group prefix when *it* has no exact match: so ``my-kinds.first-group`` finds first-group-1 by prefix
    besides first-group exactly, and the priority order then takes first-group-1 when it comes first.
    restmapper_test.go states the intent ("given a group, prefer an exact match") for one mapper holding
    every group; ``exact_group_first=True`` applies it across groups, as our catalog deliberately does.
    ``exact_group_first=False`` is kubectl 1.20 to the letter."""
    found: list[GVR] = []
    lists = list(_lists(groups))
    for group, version, items in lists:
        hits = _default_resources_for(group, version, items, want, exact=True)
        if not hits and not exact_group_first:
            hits = _default_resources_for(group, version, items, want, exact=False)
        found += hits
    if not found and exact_group_first:
        for group, version, items in lists:
            found += _default_resources_for(group, version, items, want, exact=False)
    found = list(dict.fromkeys(found))  # MultiRESTMapper drops repeats (endpoints: plural and singular alike)
    if len(found) <= 1:
        return found[0] if found else None
    any_version = "*"
    patterns = [("", "v1")]
    patterns += [(g.name, g.preferred) for g in groups if g.preferred in g.lists]
    patterns += [(g.name, v) for g in groups for v in g.versions if v in g.lists and v != g.preferred]
    patterns += [(g.name, any_version) for g in groups]
    remaining = found
    for group, version in patterns:
        matched = [r for r in remaining if r.group == group and version in (any_version, r.version)]
        if len(matched) == 1:
            return matched[0]
        if matched:
            remaining = matched
    return None


def kubectl_resource_for(groups: Sequence[Group], arg: str, *, exact_group_first: bool = True) -> GVR | None:
    """kubectl auth can-i's resourceFor (None where kubectl warns "the server doesn't have a resource type")."""
    arg = arg.lower()
    attempts: list[GVR] = []
    if arg.count(".") >= 2:  # schema.ParseResourceArg: resource.version.group
        resource, version, group = arg.split(".", 2)
        attempts.append(GVR(group, version, resource))
    resource, _, group = arg.partition(".")  # schema.ParseGroupResource
    attempts.append(GVR(group, "", resource))
    for attempt in attempts:
        found = _priority_resource_for(groups, _expand_shortcut(groups, attempt), exact_group_first=exact_group_first)
        if found is not None:
            return found
    return None


def resolved(catalog: ResourceCatalog, arg: str) -> tuple[str, str] | None:
    found = catalog.candidates(arg)
    return (found[0].group, found[0].name) if found else None


def expected(groups: Sequence[Group], arg: str) -> tuple[str, str] | None:
    gvr = kubectl_resource_for(groups, arg)
    return (gvr.group, gvr.resource) if gvr else None


# -- ported cases: restmapper_test.go TestRESTMapperResourcesFor (through the priority mapper kubectl uses) -----
def _kinds(*pairs: tuple[str, str]) -> list[Group]:
    """NewDefaultRESTMapper + Add(kind) for each (group, kind), version first-version, groups in order."""
    groups: dict[str, Group] = {}
    for group, kind in pairs:
        g = groups.setdefault(group, Group(group, ["first-version"], "first-version", {"first-version": []}))
        g.lists["first-version"].append(res(kind + "s", kind))  # UnsafeGuessKindToResource: my-kind -> my-kinds
    return [CORE, *groups.values()]


RESTMAPPER_CASES = [
    # (name, groups in preferred order, argument (plural and singular), kubectl's answer through the priority
    # mapper: where DefaultRESTMapper alone says "matches multiple resources", the priority mapper that kubectl
    # uses takes the first group in discovery order)
    (
        "groups, with group exact",
        _kinds(("first-group-1", "my-kind"), ("first-group", "my-kind")),
        "my-kind{s}.first-group",
        ("first-group", "my-kinds"),
    ),
    (
        "groups, with group prefix",
        _kinds(("second-group", "my-kind"), ("first-group", "my-kind")),
        "my-kind{s}.first",
        ("first-group", "my-kinds"),
    ),
    (
        "groups, with ambiguous group prefix",
        _kinds(("first-group-1", "my-kind"), ("first-group", "my-kind")),
        "my-kind{s}.first",
        ("first-group-1", "my-kinds"),
    ),
    (
        "ambiguous groups, with preference order",
        _kinds(
            ("second-group", "my-kind"),
            ("second-group", "your-kind"),
            ("first-group", "my-kind"),
            ("first-group", "your-kind"),
        ),
        "my-kind{s}",
        ("second-group", "my-kinds"),
    ),
    (
        "ambiguous groups, with explicit group match",
        _kinds(
            ("second-group", "my-kind"),
            ("second-group", "your-kind"),
            ("first-group", "my-kind"),
            ("first-group", "your-kind"),
        ),
        "my-kind{s}.first-group",
        ("first-group", "my-kinds"),
    ),
    # "ambiguous groups, with ambiguous version match" asks for {Version: first-version, Resource: my-kinds}:
    # a version without a group, which neither kubectl's TYPE argument nor ours can spell (resource.version
    # reads as resource.group), so it does not apply.
]


@pytest.mark.parametrize(("name", "groups", "arg", "want"), RESTMAPPER_CASES, ids=[c[0] for c in RESTMAPPER_CASES])
@pytest.mark.parametrize("plural", ["s", ""], ids=["plural", "singular"])
def test_restmapper_resources_for_cases(
    name: str, groups: list[Group], arg: str, want: tuple[str, str], plural: str
) -> None:
    text = arg.format(s=plural)
    assert expected(groups, text) == want  # the port agrees with the Go test
    catalog, _ = drive(groups)
    assert resolved(catalog, text) == want


# -- ported cases: shortcut_test.go TestReplaceAliases and TestKindFor -------------------------------------------
SHORTCUT_CASES = [
    # (name, recorded lists as (group, version, resources), argument, expected (group, plural))
    (
        "hpa-priority: the first resource with the short name wins",
        [
            ("autoscaling", "v1", [res("superhorizontalpodautoscalers", "X", short=["hpa"])]),
            ("autoscaling", "v1", [res("horizontalpodautoscalers", "HorizontalPodAutoscaler", short=["hpa"])]),
        ],
        "hpa",
        ("autoscaling", "superhorizontalpodautoscalers"),
    ),
    (
        "resource-override: a short name in another group",
        [
            ("foo", "v1", [res("deployments", "Deployment", short=["dpl"])]),
            ("extension", "v1beta1", [res("deployments", "Deployment", short=["deploy"])]),
        ],
        "dpl",
        ("foo", "deployments"),
    ),
    (
        "resource-match-preferred: a plural beats another resource's short name",
        [
            ("", "v1", [res("pods", "Pod", singular="pod")]),
            ("acme.com", "v1", [res("poddlers", "Poddler", short=["pods", "pod"])]),
        ],
        "pods",
        ("", "pods"),
    ),
    (
        "resource-match-singular-preferred: so does a singular",
        [
            ("", "v1", [res("pods", "Pod", singular="pod")]),
            ("acme.com", "v1", [res("poddlers", "Poddler", short=["pods", "pod"])]),
        ],
        "pod",
        ("", "pods"),
    ),
    (
        "names beat short names whatever the group order (our case, same rule as the two above)",
        [
            ("a.example.com", "v1", [res("poddlers", "Poddler", short=["widgets", "widget"])]),
            ("b.example.com", "v1", [res("widgets", "Widget", singular="widget")]),
        ],
        "widget",
        ("b.example.com", "widgets"),
    ),
    (
        "TestKindFor: a short name qualified by its group",
        [("storage.k8s.io", "v1", [res("storageclasses", "StorageClass", short=["sc"])])],
        "sc.storage.k8s.io",
        ("storage.k8s.io", "storageclasses"),
    ),
    (
        "TestKindFor: a bare short name finds its group",
        [("storage.k8s.io", "v1", [res("storageclasses", "StorageClass", short=["sc"])])],
        "sc",
        ("storage.k8s.io", "storageclasses"),
    ),
    (
        "a short name qualified by a group prefix (the expander's last loop)",
        [("storage.k8s.io", "v1", [res("storageclasses", "StorageClass", short=["sc"])])],
        "sc.storage",
        ("storage.k8s.io", "storageclasses"),
    ),
]


def _groups_of(lists: Sequence[tuple[str, str, list[dict[str, Any]]]]) -> list[Group]:
    groups: dict[str, Group] = {}
    for group, version, items in lists:
        g = groups.setdefault(group, Group(group, [version], version, {}))
        g.lists.setdefault(version, []).extend(items)
    return list(groups.values())


def test_an_exact_group_beats_a_group_prefix_in_another_group() -> None:
    """Deliberate difference: kubectl 1.20 resolves my-kinds.first-group to first-group-1 (a prefix match in
    first-group-1's own mapper, which comes first); the Go test and the mapper's comment say an exact group
    match is preferred, and that is what we do."""
    groups = _kinds(("first-group-1", "my-kind"), ("first-group", "my-kind"))
    assert kubectl_resource_for(groups, "my-kinds.first-group", exact_group_first=False) == GVR(
        "first-group-1", "first-version", "my-kinds"
    )
    catalog, _ = drive(groups)
    assert resolved(catalog, "my-kinds.first-group") == ("first-group", "my-kinds")


def test_a_shared_short_name_goes_by_priority_order() -> None:
    """Deliberate difference (see _expand_shortcut): kubectl takes a.io's gadgets, first in discovery order but
    served by a.io's non-preferred version only; we take b.io's widgets, of a preferred version."""
    groups = [
        CORE,
        Group("a.io", ["v1", "v2"], "v2", {"v1": [res("gadgets", "Gadget", short=["w"])], "v2": []}),
        Group("b.io", ["v1"], "v1", {"v1": [res("widgets", "Widget", short=["w"])]}),
    ]
    literal = _priority_resource_for(groups, _expand_shortcut(groups, GVR("", "", "w"), literal=True))
    assert literal == GVR("a.io", "v1", "gadgets")
    catalog, _ = drive(groups)
    assert resolved(catalog, "w") == expected(groups, "w") == ("b.io", "widgets")


@pytest.mark.parametrize(("name", "lists", "arg", "want"), SHORTCUT_CASES, ids=[c[0] for c in SHORTCUT_CASES])
def test_shortcut_expander_cases(
    name: str, lists: list[tuple[str, str, list[dict[str, Any]]]], arg: str, want: tuple[str, str]
) -> None:
    assert expected(_groups_of(lists), arg) == want
    catalog = catalog_from_lists([(g, v, {"resources": items}) for g, v, items in lists], source="s")
    assert resolved(catalog, arg) == want


# -- ported cases: priority_test.go and NewDiscoveryRESTMapper's priority -----------------------------------------
def test_preferred_versions_of_every_group_outrank_other_versions() -> None:
    """NewDiscoveryRESTMapper's ResourcePriority: core v1, then each group's preferred version (in group order),
    then the other versions, then the groups. A resource only in a non-preferred version of an earlier group
    loses to a later group's preferred version (priority_test.go's "prefer the first match" by pattern)."""
    groups = [
        CORE,
        Group("a.io", ["v1", "v1beta1"], "v1", {"v1": [res("others", "Other")], "v1beta1": [res("widgets", "Widget")]}),
        Group("b.io", ["v1"], "v1", {"v1": [res("widgets", "Widget")]}),
    ]
    assert expected(groups, "widgets") == ("b.io", "widgets")
    catalog, _ = drive(groups)
    assert resolved(catalog, "widgets") == ("b.io", "widgets")
    assert [r.group for r in catalog.candidates("widgets")] == ["b.io", "a.io"]


def test_core_group_wins_a_bare_name_and_every_spelling_resolves() -> None:
    catalog = builtin_catalog()
    assert [r.type_name for r in catalog.candidates("events")] == ["events", "events.events.k8s.io"]
    assert catalog.resolve("ev").type_name == "events"
    for spelling in ("deploy", "deployment", "Deployment", "DEPLOYMENTS", "deployments.apps", "deployments.v1.apps"):
        assert catalog.resolve(spelling).type_name == "deployments.apps", spelling
    assert catalog.resolve("deploy.apps").type_name == "deployments.apps"  # a short name with its group
    assert catalog.resolve("sc.storage").type_name == "storageclasses.storage.k8s.io"  # group prefix
    assert catalog.resolve("leases.coordination").type_name == "leases.coordination.k8s.io"
    assert catalog.resolve("ing").type_name == "ingresses.networking.k8s.io"  # networking.k8s.io ranks first in 1.20
    with pytest.raises(UnknownResourceError, match=r"did you mean deployments\.apps"):
        catalog.resolve("deployments.v1beta1.apps")  # not served by 1.20's apps group


# -- the property: our catalog resolves as kubectl does, on generated discovery --------------------------------
NAMES = ["widgets", "gadgets", "pods", "things"]
GROUP_NAMES = ["a.example.com", "ab.example.com", "b.example.com", "apps"]


@st.composite
def discovery_groups(draw: st.DrawFn) -> list[Group]:
    groups = [
        Group(
            "",
            ["v1"],
            "v1",
            {"v1": [res("pods", "Pod", singular="pod", short=["po"]), res("events", "Event", singular="event")]},
        )
    ]
    for name in draw(st.lists(st.sampled_from(GROUP_NAMES), min_size=1, max_size=4, unique=True)):
        versions = draw(st.lists(st.sampled_from(["v1", "v2", "v1beta1"]), min_size=1, max_size=2, unique=True))
        group = Group(name, versions, draw(st.sampled_from(versions)))
        short_names: dict[str, list[str]] = {}  # a resource's short names are the same in every version
        for version in versions:
            if draw(st.integers(0, 9)) == 0:
                continue  # this version answers 404
            items = []
            for plural in draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True)):
                if plural not in short_names:
                    # short names that are no resource's name, each of one resource in the group: a short
                    # name that is another resource's singular is SHORTCUT_CASES' resource-match-preferred
                    taken = {s for shorts in short_names.values() for s in shorts}
                    pool = [s for s in ["w", "g", "t", "po", "wg"] if s not in taken]
                    short_names[plural] = draw(st.lists(st.sampled_from(pool), max_size=2, unique=True)) if pool else []
                singular = plural[:-1]
                items.append(res(plural, singular.capitalize(), singular=singular, short=short_names[plural]))
            group.lists[version] = items
        groups.append(group)
    return groups


def spellings(groups: Sequence[Group]) -> list[str]:
    words = {
        w for g in groups for items in g.lists.values() for i in items for w in (i["name"], *i.get("shortNames", []))
    }
    words |= {i["singularName"] for g in groups for items in g.lists.values() for i in items if "singularName" in i}
    out = [*sorted(words), "nothings"]
    for word in sorted(words):
        for g in groups:
            if g.name:
                out += [f"{word}.{g.name}", f"{word}.{g.name.split('.')[0]}", f"{word}.{g.name[:2]}"]
                out += [f"{word}.{v}.{g.name}" for v in g.versions]  # served or not, with the word or not
    return out


@FAST
@given(discovery_groups(), st.data())
def test_resolution_agrees_with_kubectl(groups: list[Group], data: st.DataObject) -> None:
    """On generated discovery (shared names and short names, groups that prefix each other, several versions,
    404s), the first candidate is the resource kubectl auth can-i resolves (with the two deliberate
    differences tested above), for plural, singular, kind, short
    name, name.group, name.group-prefix and name.version.group (every version the group lists, serving the
    resource or not: the catalog records the versions that serve each resource)."""
    catalog, _ = drive(groups)
    for arg in data.draw(st.lists(st.sampled_from(spellings(groups)), min_size=1, max_size=8, unique=True)):
        assert resolved(catalog, arg) == expected(groups, arg), arg
        assert resolved(catalog, arg.upper()) == expected(groups, arg), arg  # kubectl lowercases the argument


# -- unknown names ---------------------------------------------------------------------------------------------
def _typos(word: str) -> list[str]:
    """Every one-letter deletion and adjacent swap of ``word`` (the common typos)."""
    out = {word[:i] + word[i + 1 :] for i in range(len(word))}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return sorted(out - {word})


@FAST
@given(st.sampled_from([r for r in builtin_catalog().resources if len(r.name) > 4]), st.data())
def test_unknown_message_suggests_the_resource_a_typo_meant(resource: APIResource, data: st.DataObject) -> None:
    catalog = builtin_catalog()
    typo = data.draw(st.sampled_from(_typos(resource.name)))
    assume(not catalog.candidates(typo))  # not another spelling ("endpoint" is endpoints' singular)
    message = catalog.unknown_message(typo)
    assert message.startswith(f"{typo!r} is not a resource known to the built-in table (kube-apiserver v1.20.2")
    assert "did you mean" in message and resource.type_name in message.split("did you mean", 1)[1]
    with pytest.raises(UnknownResourceError) as err:
        catalog.resolve(typo)
    assert str(err.value) == message


def test_unknown_message_without_a_close_name_has_no_guess() -> None:
    message = builtin_catalog().unknown_message("zzzzzzzz")
    assert "zzzzzzzz" in message and "did you mean" not in message


def test_unknown_message_offers_the_closest_names_first() -> None:
    catalog = builtin_catalog()
    hint = "did you mean deployments.apps"  # docs/rbac.md shows this one
    assert catalog.unknown_message("deploymnets").split("; ")[-1].startswith(hint)
    assert catalog.unknown_message("leasse").endswith("; did you mean leases.coordination.k8s.io?")
    assert catalog.unknown_message("evnets").split("; ")[-1].startswith("did you mean events or events.events.k8s.io")


def test_builtin_catalog_is_the_recorded_1_20_table() -> None:
    catalog = builtin_catalog()
    assert catalog.source == "built-in table (kube-apiserver v1.20.2 discovery)"
    assert builtin_catalog() is catalog  # read once
    keys = [(r.group, r.name) for r in catalog.resources]
    assert len(keys) == len(set(keys))
    assert {r.group for r in catalog.resources} <= catalog.groups
    assert keys[0][0] == "" and all(g == "" for g, _ in keys[: keys.index(("", "services")) + 1])  # core first


def _mapping(value: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return dict(value)


def test_builtin_subresources_are_what_1_20_serves() -> None:
    catalog = builtin_catalog()
    pods = catalog.lookup("", "pods")
    assert pods is not None
    assert _mapping(pods.subresources)["log"] == ("get",)
    assert _mapping(pods.subresources)["eviction"] == ("create",)
    scale = catalog.lookup("apps", "replicasets")
    assert scale is not None and _mapping(scale.subresources)["scale"] == ("get", "patch", "update")
