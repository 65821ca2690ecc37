"""Resources by kind or name: the standard-kind constants, ResourceCatalog.resource_for and resource_flow."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import incluster_sdk.resource as resource_module
from incluster_sdk.catalog import APIResource, ResourceCatalog, UnknownResourceError, builtin_catalog
from incluster_sdk.discovery import CatalogStep, resource_flow
from incluster_sdk.flows import drive
from incluster_sdk.resource import CRON_JOBS, NAMESPACES, PODS, SINCE_1_21, Resource

CONSTANTS = {name: value for name, value in vars(resource_module).items() if isinstance(value, Resource)}
TOP_LEVEL = [r for r in builtin_catalog().resources if "/" not in r.name]


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_each_constant_is_what_kube_apiserver_1_20_serves(name: str) -> None:
    """The built-in table is kube-apiserver 1.20's own discovery (an e2e test keeps it so)."""
    constant = CONSTANTS[name]
    found = builtin_catalog().lookup(constant.group, constant.plural)
    assert found is not None, f"{name}: {constant.plural} is not in group {constant.group!r}"
    assert found.namespaced == constant.namespaced
    version = constant.api_version.rpartition("/")[2]
    if constant in SINCE_1_21:  # v1 came in 1.21: 1.20 serves only its beta
        assert version not in found.served_versions and found.served_versions == ("v1beta1",)
    else:
        assert version in found.served_versions


def test_constant_names_follow_the_kind() -> None:
    """CONFIG_MAPS would be a spelling nobody guesses: the names are the plural's words, upper case."""
    assert CONSTANTS["NAMESPACES"] is NAMESPACES and CONSTANTS["PODS"] is PODS
    assert all(name.replace("_", "").lower() == value.plural for name, value in CONSTANTS.items())


def test_the_group_of_a_resource() -> None:
    assert (PODS.group, CRON_JOBS.group) == ("", "batch")


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("ConfigMap", Resource("v1", "configmaps")),
        ("cm", Resource("v1", "configmaps")),
        ("configmap", Resource("v1", "configmaps")),
        ("Namespace", Resource("v1", "namespaces", namespaced=False)),
        ("deploy", Resource("apps/v1", "deployments")),
        ("Deployment.apps", Resource("apps/v1", "deployments")),
        ("deployments.v1.apps", Resource("apps/v1", "deployments")),
        ("pods.v1", Resource("v1", "pods")),
        ("events", Resource("v1", "events")),  # core first, as kubectl
        ("events.events.k8s.io", Resource("events.k8s.io/v1", "events")),
        ("ingresses.v1beta1.extensions", Resource("extensions/v1beta1", "ingresses")),
        ("cronjobs", Resource("batch/v1beta1", "cronjobs")),  # what 1.20 serves
    ],
)
def test_resource_for_resolves_as_kubectl(type_name: str, expected: Resource) -> None:
    assert builtin_catalog().resource_for(type_name) == expected


@given(st.sampled_from(TOP_LEVEL), st.sampled_from(["plural", "singular", "kind", "Kind"]), st.booleans())
def test_every_resource_is_found_by_each_of_its_names(res: APIResource, spelling: str, with_group: bool) -> None:
    name = {"plural": res.name, "singular": res.singular_name, "kind": res.kind.lower(), "Kind": res.kind}[spelling]
    text = f"{name}.{res.group}" if with_group and res.group else name
    found = builtin_catalog().resource_for(text)
    first = builtin_catalog().candidates(text)[0]  # a bare kind may exist in several groups: kubectl's pick
    assert found == Resource(first.api_version, first.name, first.namespaced)
    if with_group and res.group:
        assert found.group == res.group and found.plural == res.name


@given(st.sampled_from(TOP_LEVEL), st.data())
def test_a_named_version_is_kept(res: APIResource, data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(res.served_versions))
    text = f"{res.name}.{version}.{res.group}" if res.group else f"{res.name}.{version}"
    assert builtin_catalog().resource_for(text) == res.resource(version)


def test_an_unserved_version_or_an_unknown_name_is_refused_with_suggestions() -> None:
    with pytest.raises(UnknownResourceError, match="did you mean configmaps"):
        builtin_catalog().resource_for("configmapz")
    pods = builtin_catalog().lookup("", "pods")
    assert pods is not None
    with pytest.raises(UnknownResourceError, match="pods is served in v1, not v2"):
        pods.resource("v2")


def widget_catalog(*, with_widgets: bool) -> ResourceCatalog:
    widgets = APIResource("example.com", "v1", "widgets", "widget", "Widget", True, ("get", "list", "watch"))
    resources = (*builtin_catalog().resources, widgets) if with_widgets else builtin_catalog().resources
    return ResourceCatalog(resources, "test catalog")


def test_resource_flow_refreshes_the_catalog_once_on_a_miss() -> None:
    asked: list[bool] = []
    catalogs = {False: widget_catalog(with_widgets=False), True: widget_catalog(with_widgets=True)}

    def perform(step: CatalogStep) -> ResourceCatalog:
        asked.append(step.refresh)
        return catalogs[step.refresh]

    assert drive(resource_flow("Widget"), perform) == Resource("example.com/v1", "widgets")
    assert asked == [False, True]
    asked.clear()
    assert drive(resource_flow("cm"), perform) == Resource("v1", "configmaps")
    assert asked == [False]  # a hit reads no discovery again
    asked.clear()
    with pytest.raises(UnknownResourceError, match="gadgets"):
        drive(resource_flow("gadgets"), perform)
    assert asked == [False, True]  # one refresh, then the answer


def test_resource_flow_whose_refresh_fails_answers_from_the_first_catalog() -> None:
    """Finding: the re-read's failure escaped as ApiError; the name is unknown to the catalog we have, and
    the error says so, and why it could not be looked for again."""
    from incluster_sdk.errors import ApiError

    down = ApiError("GET /api: HTTP 503", 503)

    def perform(step: CatalogStep) -> ResourceCatalog:
        if step.refresh:
            raise down
        return widget_catalog(with_widgets=False)

    with pytest.raises(UnknownResourceError, match=r"'Widget' is not a resource known to the test catalog") as err:
        drive(resource_flow("Widget"), perform)
    assert str(err.value).endswith(
        " (discovery could not be read again to look for a resource created since: GET /api: HTTP 503)"
    )
    assert err.value.refresh_error is down and err.value.__cause__ is down
    assert drive(resource_flow("cm"), perform) == Resource("v1", "configmaps")  # no refresh needed: no error


def test_an_unknown_resource_error_without_a_refresh_failure_has_none() -> None:
    with pytest.raises(UnknownResourceError) as err:
        builtin_catalog().resource_for("gadgets")
    assert err.value.refresh_error is None
