"""The RBAC tools proven against the real authorizer (kube-apiserver 1.20, RBAC on, aggregated roles filled).

For an app's needs (one named ConfigMap with list/watch, a cluster-scoped kind, the pods/log subresource,
leases for leader election, binding ``view``): the generated manifests apply, the app works as its
ServiceAccount, and for every verb x resource x scope the needs did not grant the server answers the real
request with 403 and ``can_i`` says no (and for every granted one, not 403 and yes). A hypothesis property
checks ``can_i`` against the admin's SubjectAccessReview for generated need lists.
"""

from __future__ import annotations

import functools
import http.client
import itertools
import json
import ssl
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

import incluster_sdk
from incluster_sdk.discovery import APIResource, ResourceCatalog
from incluster_sdk.rbac import Decision, NeedError, NeedWarning, can_i, check_access, manifests, parse_needs
from incluster_sdk.resource import Resource
from incluster_sdk.testing import LocalCluster
from incluster_sdk.watch import Informer
from tests.support.cli import doctor_cli as _doctor

from ..waiting import wait_until

pytestmark = pytest.mark.e2e

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_V1 = f"{RBAC_GROUP}/v1"
RBAC_API = f"/apis/{RBAC_V1}"
STANDARD_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
CONFIGMAPS = Resource("v1", "configmaps")
NAMESPACES = Resource("v1", "namespaces", namespaced=False)
APP_NEEDS = [
    "get,list,watch:configmaps/app-config",
    "list,watch:namespaces",
    "get:pods --subresource=log",
    "get,create,update:leases.coordination.k8s.io",
    "create:rolebindings.rbac.authorization.k8s.io",
    "bind:clusterroles.rbac.authorization.k8s.io/view",
]


# -- raw requests with a bearer token --------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _tls(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def call(
    cluster: LocalCluster,
    token: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """One request as whoever ``token`` belongs to: (status, body). A watch that is let through is closed
    as soon as its headers arrive (its body would stream until timeoutSeconds)."""
    conn = http.client.HTTPSConnection("127.0.0.1", cluster.api_port, context=_tls(str(cluster.ca_file)), timeout=15)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = content_type
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        streaming = resp.status == 200 and "watch=1" in path
        return resp.status, b"" if streaming else resp.read()
    finally:
        conn.close()


def first_event(cluster: LocalCluster, token: str, path: str) -> dict[str, Any]:
    """The first event of a WATCH as whoever ``token`` belongs to."""
    conn = http.client.HTTPSConnection("127.0.0.1", cluster.api_port, context=_tls(str(cluster.ca_file)), timeout=15)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        event: dict[str, Any] = json.loads(resp.readline())
        return event
    finally:
        conn.close()


def _name(obj: Any) -> str:
    """The name of a kubernetes.client model object."""
    return str(obj.metadata.name)


def _object_path(doc: dict[str, Any]) -> str:
    kind, meta = doc["kind"], doc["metadata"]
    if kind == "ServiceAccount":
        return f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{meta['name']}"
    plural = {"Role": "roles", "RoleBinding": "rolebindings"}.get(kind)
    if plural:
        return f"{RBAC_API}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"
    return f"{RBAC_API}/{kind.lower()}s/{meta['name']}"


def _binding(name: str, role: str, *, namespace: str | None = None, user: str = "someone-else") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": RBAC_V1,
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "name": user, "apiGroup": RBAC_GROUP}],
    }


def _role_for(service_account: str, ns: str, name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Role called ``name`` in ``ns`` with ``rules``, and the RoleBinding of the same name that grants it to
    the ServiceAccount ``ns/service_account``."""
    meta = {"name": name, "namespace": ns}
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": ns}
    return [
        {"apiVersion": RBAC_V1, "kind": "Role", "metadata": meta, "rules": rules},
        {
            "apiVersion": RBAC_V1,
            "kind": "RoleBinding",
            "metadata": meta,
            "subjects": [subject],
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
        },
    ]


def _apply_all(cluster: LocalCluster, docs: list[dict[str, Any]]) -> None:
    for doc in docs:  # the server validates everything before anything is written
        cluster.apply(doc, dry_run=True)
    for doc in docs:
        cluster.apply(doc)


# -- the app -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class App:
    cluster: LocalCluster
    namespace: str
    other: str
    token: str
    docs: list[dict[str, Any]]
    service_account: str = "app"


def _seed(cluster: LocalCluster, ns: str) -> None:
    """What the probes act on, in each namespace (created by the admin)."""
    for obj in (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": ns}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other-config", "namespace": ns}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "probe-secret", "namespace": ns}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe-pod", "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "probe-lease", "namespace": ns}},
        _binding("probe-rb", "view", namespace=ns),
    ):
        cluster.create(obj)


@pytest.fixture(scope="module")
def app(local_cluster: LocalCluster) -> Iterator[App]:
    """The app's namespace and another one, seeded; the app's needs generated and applied (dry run first)."""
    suffix = uuid.uuid4().hex[:6]
    ns, other = f"authz-app-{suffix}", f"authz-other-{suffix}"
    for name in (ns, other):
        local_cluster.create_namespace(name)
        _seed(local_cluster, name)
    needs = parse_needs(APP_NEEDS, local_cluster.catalog())
    docs = manifests(needs, namespace=ns, service_account="app")
    _apply_all(local_cluster, docs)
    try:
        yield App(local_cluster, ns, other, local_cluster.mint_token(ns, "app"), docs)
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                local_cluster.delete(_object_path(doc))
        for name in (ns, other):
            local_cluster.delete(f"/api/v1/namespaces/{name}")


def test_app_manifests_split_role_and_cluster_role(app: App) -> None:
    by_kind = {doc["kind"]: doc for doc in app.docs}
    assert list(by_kind) == ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]
    assert by_kind["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}
    ]
    role_rules = by_kind["Role"]["rules"]
    assert {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["get", "list", "watch"],
        "resourceNames": ["app-config"],
    } in role_rules
    assert {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]} in role_rules
    assert {
        "apiGroups": [RBAC_GROUP],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": ["view"],
    } in role_rules
    assert not any("namespaces" in rule.get("resources", []) for rule in role_rules)


def test_the_app_works_as_its_service_account(app: App) -> None:
    cluster, ns, token = app.cluster, app.namespace, app.token
    cm_path = f"/api/v1/namespaces/{ns}/configmaps"
    with cluster.pod_environment(ns, "app"):
        client = incluster_sdk.api_client()
        core = kubernetes.client.CoreV1Api(client)
        assert _name(core.read_namespaced_config_map("app-config", ns)) == "app-config"
        listed = core.list_namespaced_config_map(ns, field_selector="metadata.name=app-config")
        assert [_name(item) for item in listed.items] == ["app-config"]
        event = first_event(cluster, token, f"{cm_path}?watch=1&fieldSelector=metadata.name%3Dapp-config")
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "app-config")
        assert call(cluster, token, "GET", f"{cm_path}?fieldSelector=metadata.name%3Dapp-config")[0] == 200
        assert call(cluster, token, "GET", cm_path)[0] == 403  # the whole collection: not granted
        assert call(cluster, token, "GET", f"{cm_path}?watch=1&timeoutSeconds=2")[0] == 403

        assert ns in {_name(item) for item in core.list_namespace().items}  # cluster-scoped, granted
        with Informer(client, NAMESPACES, namespace=ns) as informer:  # its preflight asks cluster-wide
            assert informer.wait_for_sync(15) and informer.store.get(ns) is not None
        assert call(cluster, token, "GET", "/api/v1/namespaces?watch=1&timeoutSeconds=2")[0] == 200

        # pods/log: there is no kubelet, so the server cannot serve it, but it does not refuse it either
        status, body = call(cluster, token, "GET", f"/api/v1/namespaces/{ns}/pods/probe-pod/log")
        assert status != 403, body
        assert call(cluster, token, "GET", f"/api/v1/namespaces/{ns}/pods/probe-pod")[0] == 403  # the pod: not granted

        leases = kubernetes.client.CoordinationV1Api(client)
        lease: Any = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}
        leases.create_namespaced_lease(ns, lease)
        got: Any = leases.read_namespaced_lease("leader", ns)
        got.spec.holder_identity = "me-again"
        replaced: Any = leases.replace_namespaced_lease("leader", ns, got)
        assert replaced.spec.holder_identity == "me-again"
        with pytest.raises(ApiException) as denied:
            leases.delete_namespaced_lease("leader", ns)
        assert denied.value.status == 403

        rbac = kubernetes.client.RbacAuthorizationV1Api(client)
        viewer: Any = _binding("viewer", "view", namespace=ns)  # another subject gets view in the namespace
        assert rbac.create_namespaced_role_binding(ns, viewer).role_ref.name == "view"
        editor: Any = _binding("editor", "edit", namespace=ns)
        with pytest.raises(ApiException) as escalation:  # bind is granted on view only
            rbac.create_namespaced_role_binding(ns, editor)
        assert escalation.value.status == 403


def test_binding_view_without_the_bind_need_is_refused(app: App) -> None:
    cluster, ns = app.cluster, app.namespace
    view = cluster.request("GET", f"{RBAC_API}/clusterroles/view")
    assert view["rules"], "the harness did not aggregate view: the escalation check would be vacuous"
    with pytest.warns(NeedWarning, match="privilege escalation"):
        docs = manifests(
            parse_needs(["create:rolebindings.rbac.authorization.k8s.io"], cluster.catalog()),
            namespace=ns,
            service_account="no-bind",
        )
    _apply_all(cluster, docs)
    token = cluster.mint_token(ns, "no-bind")
    path = f"{RBAC_API}/namespaces/{ns}/rolebindings"
    status, body = call(cluster, token, "POST", path, _binding("viewer-2", "view", namespace=ns))
    assert status == 403, body
    assert b"attempting to grant RBAC permissions not currently held" in body
    # the app, with the bind need, may (a dry run: nothing is written)
    assert call(cluster, app.token, "POST", f"{path}?dryRun=All", _binding("viewer-2", "view", namespace=ns))[0] == 201


def test_escalate_on_cluster_roles_is_granted_where_the_server_checks_it(app: App) -> None:
    """Writing a ClusterRole with rules the writer does not hold needs ``escalate`` on clusterroles, which
    kube-apiserver checks with the ClusterRole request's attributes (RoleEscalationAuthorized): cluster-wide.
    Unlike ``bind``, it is not checked in the app's namespace, so a Role cannot grant it."""
    cluster, ns = app.cluster, app.namespace
    specs = ["create:clusterroles.rbac.authorization.k8s.io", "escalate:clusterroles.rbac.authorization.k8s.io"]
    docs = manifests(parse_needs(specs, cluster.catalog()), namespace=ns, service_account="role-writer")
    _apply_all(cluster, docs)
    try:
        rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]  # not held by the writer
        written = {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": {"name": f"{ns}-written"}, "rules": rules}
        token = cluster.mint_token(ns, "role-writer")
        status, body = call(cluster, token, "POST", f"{RBAC_API}/clusterroles?dryRun=All", written)
        with cluster.pod_environment(ns, "role-writer"):
            decision = can_i(incluster_sdk.api_client(), "escalate", "clusterroles.rbac.authorization.k8s.io", ns)
        granted_in = [(d["kind"], r["verbs"]) for d in docs if d["kind"].endswith("Role") for r in d["rules"]]
        assert (status, decision.allowed) == (201, True), (status, body[:200], str(decision), granted_in)
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                cluster.delete(_object_path(doc))


def test_informer_on_one_named_configmap(app: App) -> None:
    cluster, ns = app.cluster, app.namespace
    with cluster.pod_environment(ns, "app"):
        client = incluster_sdk.api_client()
        with Informer(client, CONFIGMAPS, namespace=ns, field_selector="metadata.name=app-config") as informer:
            assert informer.wait_for_sync(15)
            assert [obj["metadata"]["name"] for obj in informer.store.list()] == ["app-config"]
        with pytest.raises(incluster_sdk.PermissionDeniedError) as whole:  # every configmap: not granted
            Informer(client, CONFIGMAPS, namespace=ns).start()
    assert whole.value.missing == [f"list configmaps in namespace {ns}", f"watch configmaps in namespace {ns}"]
    # The informer without a selector reads every ConfigMap, so the fix must grant the collection.
    (rule,) = next(d for d in yaml.safe_load_all(whole.value.fix_yaml) if d["kind"] == "Role")["rules"]
    assert rule == {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}

    # An identity without access: the fix for the selected informer names the object and nothing more.
    cluster.create_service_account(ns, "reader")
    with cluster.pod_environment(ns, "reader"):
        client = incluster_sdk.api_client()
        with pytest.raises(incluster_sdk.PermissionDeniedError) as named:
            Informer(client, CONFIGMAPS, namespace=ns, field_selector="metadata.name=app-config").start()
        fix = list(yaml.safe_load_all(named.value.fix_yaml))
        assert [d["kind"] for d in fix] == ["Role", "RoleBinding"]
        assert fix[0]["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["list", "watch"],
                "resourceNames": ["app-config"],
            }
        ]
        for doc in fix:
            cluster.apply(doc)
        # kube-apiserver's RBAC authorizer reads Roles through its own informer cache: a grant takes effect a
        # moment after the write (seen taking over a second on a loaded CI machine), so wait for it.
        wait_until(lambda: can_i(client, "watch", "configmaps", namespace=ns, name="app-config").allowed, timeout=30)
        with Informer(client, CONFIGMAPS, namespace=ns, field_selector="metadata.name=app-config") as informer:
            assert informer.wait_for_sync(15)
        with pytest.raises(incluster_sdk.PermissionDeniedError):  # the fix did not grant every configmap
            Informer(client, CONFIGMAPS, namespace=ns).start()
        assert call(cluster, cluster.mint_token(ns, "reader"), "GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 403


SELECTORS = (
    "metadata.name=app-config",
    "metadata.name==app-config",
    "metadata.namespace=NS,metadata.name=app-config",
    "metadata.name!=x,metadata.name=app-config",
    "metadata.name=app-config,",
    "metadata.name=zzz,metadata.name=app-config",  # the server sorts the terms: app-config is first
    "metadata.name=app-config,metadata.name=zzz",
    "metadata.name= app-config",  # nothing is trimmed: the name " app-config"
    " metadata.name=app-config",  # the field " metadata.name": no name
    "metadata.name=,metadata.name=app-config",  # sorted first: the empty name, so none
    "metadata.name=app-config,bogus",  # does not parse: no name
    "metadata.name=app-config,a=b=c",  # an unescaped = in a value does not parse either
    "metadata.name=app\\-config",  # nor a bad escape
    "metadata.name!=app-config",
    "metadata.name=..",
    "a.b=1,metadata.name=app-config",  # authorized by name, then refused as an unknown field (400)
)


def test_preflight_reads_field_selectors_as_the_server_does(app: App) -> None:
    """check_access passes exactly when the server lets the LIST with that field selector through."""
    cluster, ns = app.cluster, app.namespace
    wrong = []
    with cluster.pod_environment(ns, "app"):
        client = incluster_sdk.api_client()
        for selector in (s.replace("NS", ns) for s in SELECTORS):
            query = urllib.parse.quote(selector, safe="")
            status, body = call(cluster, app.token, "GET", f"/api/v1/namespaces/{ns}/configmaps?fieldSelector={query}")
            try:
                check_access(client, CONFIGMAPS, ns, field_selector=selector)
                preflight = "pass"
            except incluster_sdk.PermissionDeniedError:
                preflight = "denied"
            if (status == 403) != (preflight == "denied"):
                wrong.append(f"{selector!r}: server {status} {body[:120]!r}, preflight {preflight}")
    assert not wrong, "\n".join(wrong)


# -- every verb x resource x scope -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    label: str
    group: str
    plural: str
    kind: str
    namespaced: bool
    name: str | None  # what is asked about (None: any object of the type)
    obj: str  # the object the real request names
    subresource: str | None = None

    @property
    def type_name(self) -> str:
        return ".".join(part for part in (self.plural, self.group) if part)  # pods, deployments.apps

    @property
    def api(self) -> str:
        return f"/apis/{self.group}/v1" if self.group else "/api/v1"

    def collection(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.api}/namespaces/{namespace}/{self.plural}"
        return f"{self.api}/{self.plural}"  # also the path of a namespaced type "in all namespaces"

    def body(self, name: str, namespace: str | None) -> dict[str, Any]:
        if self.plural == "rolebindings":  # a valid binding the app may write: its escalation check passes
            return _binding(name, "view", namespace=namespace or "default")
        meta = {"name": name, **({"namespace": namespace} if self.namespaced and namespace else {})}
        return {"apiVersion": f"{self.group}/v1" if self.group else "v1", "kind": self.kind, "metadata": meta}


def _targets(app: App) -> list[Target]:
    def core(label: str, plural: str, kind: str, name: str | None, obj: str, **kw: Any) -> Target:
        return Target(label, "", plural, kind, kw.pop("namespaced", True), name, obj, **kw)

    return [
        core("configmaps/app-config", "configmaps", "ConfigMap", "app-config", "app-config"),
        core("configmaps", "configmaps", "ConfigMap", None, "other-config"),
        core("secrets", "secrets", "Secret", None, "probe-secret"),
        core("pods", "pods", "Pod", None, "probe-pod"),
        core("pods --subresource=log", "pods", "Pod", None, "probe-pod", subresource="log"),
        core("namespaces/own", "namespaces", "Namespace", app.namespace, app.namespace, namespaced=False),
        core("namespaces/other", "namespaces", "Namespace", app.other, app.other, namespaced=False),
        core("namespaces", "namespaces", "Namespace", None, "probe-absent", namespaced=False),
        Target("leases", "coordination.k8s.io", "leases", "Lease", True, None, "probe-lease"),
        Target("rolebindings", RBAC_GROUP, "rolebindings", "RoleBinding", True, None, "probe-rb"),
        Target("clusterroles/view", RBAC_GROUP, "clusterroles", "ClusterRole", False, "view", "view"),
        Target("clusterroles", RBAC_GROUP, "clusterroles", "ClusterRole", False, None, "edit"),
        core("nodes", "nodes", "Node", None, "probe-node", namespaced=False),
    ]


def _granted(verb: str, target: Target, scope: str) -> bool:
    """What APP_NEEDS grant, written out by hand: the oracle for the exhaustive check."""
    own = scope == "own"
    return (
        (target.label == "configmaps/app-config" and verb in ("get", "list", "watch") and own)
        or (target.plural == "namespaces" and verb in ("list", "watch"))
        or (target.label == "pods --subresource=log" and verb == "get" and own)
        or (target.label == "leases" and verb in ("get", "create", "update") and own)
        or (target.label == "rolebindings" and verb == "create" and own)
        or (target.label == "clusterroles/view" and verb == "bind" and own)
    )


def _valid_question(verb: str, target: Target, catalog: ResourceCatalog) -> bool:
    resource = catalog.lookup(target.group, target.plural)
    assert resource is not None, target
    if verb == "bind":
        return target.plural in ("roles", "clusterroles") and target.subresource is None
    supported = resource.subresources.get(target.subresource, ()) if target.subresource else resource.verbs
    if verb not in supported:
        return False
    return not (target.name and not target.subresource and verb in ("create", "deletecollection"))


def _real_request(verb: str, target: Target, namespace: str | None) -> tuple[str, str, Any, str]:
    """(method, path, body, content type) of the request an app makes for ``verb`` on ``target`` in
    ``namespace`` (None: all namespaces). Writes are dry runs: a wrongly granted verb changes nothing."""
    collection = target.collection(namespace)
    item = f"{collection}/{target.obj}" + (f"/{target.subresource}" if target.subresource else "")
    selector = f"fieldSelector=metadata.name%3D{target.name}" if target.name else ""
    json_type = "application/json"
    if verb == "bind":  # binding the ClusterRole, in the namespace (or a ClusterRoleBinding for all of them)
        binding = _binding(f"probe-bind-{target.obj}", target.obj, namespace=namespace)
        path = f"{RBAC_API}/namespaces/{namespace}/rolebindings" if namespace else f"{RBAC_API}/clusterrolebindings"
        return "POST", f"{path}?dryRun=All", binding, json_type
    if verb == "get":
        return "GET", item, None, json_type
    if verb in ("list", "watch"):
        query = "&".join(q for q in ("watch=1&timeoutSeconds=2" if verb == "watch" else "", selector) if q)
        return "GET", f"{collection}?{query}" if query else collection, None, json_type
    if verb == "create":
        return "POST", f"{collection}?dryRun=All", target.body(f"probe-new-{verb}", namespace), json_type
    if verb == "update":
        return "PUT", f"{item}?dryRun=All", target.body(target.obj, namespace), json_type
    if verb == "patch":
        return "PATCH", f"{item}?dryRun=All", {}, "application/merge-patch+json"
    if verb == "delete":
        return "DELETE", f"{item}?dryRun=All", None, json_type
    if verb == "deletecollection":
        return "DELETE", f"{collection}?dryRun=All", None, json_type
    raise AssertionError(verb)


def test_every_verb_resource_and_scope_server_and_can_i_agree(app: App) -> None:
    cluster = app.cluster
    catalog = cluster.catalog()
    scopes = {"own": app.namespace, "other": app.other, "cluster-wide": None}
    disagreements: list[str] = []
    counts = {"granted": 0, "denied": 0, "invalid": 0}
    with cluster.pod_environment(app.namespace, "app"):
        client = incluster_sdk.api_client()
        for target, (scope, namespace) in itertools.product(_targets(app), scopes.items()):
            verbs = (*STANDARD_VERBS, "bind") if target.plural == "clusterroles" else STANDARD_VERBS
            for verb in verbs:

                def ask(verb: str = verb, target: Target = target, namespace: str | None = namespace) -> Decision:
                    return can_i(client, verb, target.type_name, namespace, target.name, subresource=target.subresource)

                if not _valid_question(verb, target, catalog):
                    with pytest.raises(NeedError):
                        ask()
                    counts["invalid"] += 1
                    continue
                decision = ask()
                method, path, body, content_type = _real_request(verb, target, namespace)
                status, answer = call(cluster, app.token, method, path, body, content_type=content_type)
                expected = _granted(verb, target, scope)
                counts["granted" if expected else "denied"] += 1
                if (status != 403) != expected or decision.allowed != expected:
                    disagreements.append(
                        f"{verb} {target.label} ({scope}): expected {'allowed' if expected else '403'}, "
                        f"server {method} {path} -> {status} {answer[:160]!r}, can_i: {decision}"
                    )
                in_object_namespace = target.plural == "namespaces" and target.name and verb not in ("list", "watch")
                if not target.namespaced and verb != "bind" and not in_object_namespace and decision.namespace:
                    disagreements.append(f"{verb} {target.label} ({scope}): asked in a namespace: {decision}")
    assert not disagreements, "\n".join(disagreements)
    assert counts["granted"] == 3 + 3 * 3 * 2 + 1 + 3 + 1 + 1, counts  # every grant of APP_NEEDS was probed
    assert counts["denied"] > 200 and counts["invalid"] > 30, counts


# -- the cluster-scoped false PASS --------------------------------------------------------------------------------
def test_a_namespaced_role_on_namespaces_is_a_fail_everywhere(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    ns = cluster_namespace
    rules = [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
    ]
    _apply_all(local_cluster, _role_for("app", ns, "namespace-lister", rules))
    in_pod([])
    # The question the old tools asked: "in namespace ns?". The server says yes to it...
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{ns}:app",
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
            "resourceAttributes": {"verb": "list", "resource": "namespaces", "namespace": ns},
        },
    }
    assert local_cluster.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)["status"][
        "allowed"
    ]
    # ... but the request never carries that namespace: doctor, can_i and the real request all say no.
    code, out = _doctor("--can", "list,watch:namespaces")
    assert code == 1, out
    assert "[FAIL] can list,watch:namespaces:" in out, out
    assert "kind: ClusterRole" in out, out  # the fix is a ClusterRole
    client = incluster_sdk.api_client()
    decision = can_i(client, "list", "namespaces", namespace=ns)
    assert not decision and decision.namespace is None, decision
    core = kubernetes.client.CoreV1Api(client)
    with pytest.raises(ApiException) as denied:
        core.list_namespace()
    assert denied.value.status == 403
    with pytest.raises(incluster_sdk.PermissionDeniedError) as preflight:  # nor does the informer's preflight
        Informer(client, NAMESPACES, namespace=ns).start()
    assert [d["kind"] for d in yaml.safe_load_all(preflight.value.fix_yaml)] == ["ClusterRole", "ClusterRoleBinding"]
    # The one request such a Role does allow: GET /api/v1/namespaces/NS is checked in namespace NS.
    assert can_i(client, "get", "namespaces", name=ns) and _name(core.read_namespace(ns)) == ns
    decision = can_i(client, "get", "namespaces", namespace=ns, name="default")
    assert not decision and decision.namespace == "default", decision
    with pytest.raises(ApiException) as elsewhere:
        core.read_namespace("default")
    assert elsewhere.value.status == 403


# -- property: can_i == SubjectAccessReview == the needs, for generated needs --------------------------------------
NAMES = ("alpha", "beta-2")  # and the app's namespace, which names a namespace in which it is checked
BIND_VERBS = ("bind", "escalate")
#: What every authenticated user may do whatever is granted (system:basic-user).
BASELINE = {
    ("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
    ("create", "authorization.k8s.io", "selfsubjectrulesreviews"),
}


@dataclass(frozen=True)
class Grant:
    verbs: tuple[str, ...]
    resource: APIResource
    subresource: str | None
    name: str | None

    @property
    def spec(self) -> str:
        text = f"{','.join(self.verbs)}:{self.resource.type_name}{'/' + self.name if self.name else ''}"
        return f"{text} --subresource={self.subresource}" if self.subresource else text

    @property
    def in_namespace(self) -> bool:
        """Checked in the app's namespace (a Role grants it), or cluster-wide (only a ClusterRole can):
        ``bind`` is checked in the binding's namespace, ``escalate`` in the role's (none for a ClusterRole)."""
        return self.resource.namespaced or "bind" in self.verbs


@dataclass(frozen=True)
class Probe:
    verb: str
    resource: APIResource
    subresource: str | None
    name: str | None
    namespace: str | None

    def __str__(self) -> str:
        sub = f" --subresource={self.subresource}" if self.subresource else ""
        where = f" in {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {self.resource.type_name}{'/' + self.name if self.name else ''}{sub}{where}"


def _verbs_of(resource: APIResource, subresource: str | None) -> tuple[str, ...]:
    if subresource:
        return resource.subresources[subresource]
    special = (
        BIND_VERBS if (resource.group, resource.name) in ((RBAC_GROUP, "roles"), (RBAC_GROUP, "clusterroles")) else ()
    )
    return (*resource.verbs, *special)


#: Kinds where scope is subtle (cluster-scoped, checked in another namespace, bind/escalate, subresources),
#: drawn half of the time; the other half from the whole catalog.
FOCUS = (
    ("", "namespaces"),
    ("", "nodes"),
    ("", "pods"),
    ("", "configmaps"),
    (RBAC_GROUP, "clusterroles"),
    (RBAC_GROUP, "roles"),
)


def _resources(pool: list[APIResource]) -> st.SearchStrategy[APIResource]:
    focus = [r for r in pool if (r.group, r.name) in FOCUS]
    return st.sampled_from(focus) | st.sampled_from(pool)


@st.composite
def _grants(draw: st.DrawFn, pool: list[APIResource], names: tuple[str, ...], *, special: bool = True) -> Grant:
    resource = draw(_resources(pool))
    subresources = sorted(s for s, v in resource.subresources.items() if v)
    subresource = draw(st.none() | st.sampled_from(subresources)) if subresources else None
    verbs = _verbs_of(resource, subresource)
    if special and subresource is None and set(verbs) & set(BIND_VERBS) and draw(st.booleans()):
        # each alone: on clusterroles, bind is checked in the binding's namespace, the rest cluster-wide
        verbs = (draw(st.sampled_from(BIND_VERBS)),)
    else:
        verbs = tuple(v for v in verbs if v not in BIND_VERBS)
    chosen = draw(st.lists(st.sampled_from(sorted(verbs)), min_size=1, max_size=4, unique=True))
    name = draw(st.none() | st.sampled_from(names))
    if name and subresource is None:
        named = [v for v in chosen if v not in ("create", "deletecollection")]  # RBAC never matches these by name
        chosen, name = (named, name) if named else (chosen, None)
    return Grant(tuple(chosen), resource, subresource, name)


@st.composite
def _probes(draw: st.DrawFn, pool: list[APIResource], names: tuple[str, ...], namespaces: tuple[str, str]) -> Probe:
    resource = draw(_resources(pool))
    subresources = sorted(s for s, v in resource.subresources.items() if v)
    subresource = draw(st.none() | st.sampled_from(subresources)) if subresources else None
    verb = draw(st.sampled_from(sorted(_verbs_of(resource, subresource))))
    name = draw(st.none() | st.sampled_from((*names, "gamma")))
    if subresource is None and verb in ("create", "deletecollection"):
        name = None
    return Probe(verb, resource, subresource, name, draw(st.sampled_from((*namespaces, None))))


def _matches(grant: Grant, probe: Probe) -> bool:
    same = (grant.resource, grant.subresource) == (probe.resource, probe.subresource)
    return same and probe.verb in grant.verbs and grant.name in (None, probe.name)


def _expected(probe: Probe, grants: list[Grant], decoys: list[Grant], own: str) -> bool:
    """What the needs allow; plus what a decoy Role in ``own`` allows: nothing of a cluster-scoped kind, except
    the requests on the namespace ``own`` itself (GET /api/v1/namespaces/OWN is checked in namespace OWN)."""
    for grant in grants:
        if _matches(grant, probe) and (not grant.in_namespace or probe.namespace == own):
            return True
    for decoy in decoys:
        on_own = (probe.resource.group, probe.resource.name) == ("", "namespaces") and probe.name == own
        if _matches(decoy, probe) and on_own and probe.verb not in ("list", "watch"):
            return True
    return probe.subresource is None and (probe.verb, probe.resource.group, probe.resource.name) in BASELINE


def _decoy_role(ns: str, sa: str, decoys: list[Grant]) -> list[dict[str, Any]]:
    """A Role and RoleBinding in ``ns`` that list cluster-scoped kinds, as the old tools wrote them: the API
    server accepts them, and (but for the namespace ``ns`` itself) they never match a request."""
    rules = []
    for decoy in decoys:
        resource = decoy.resource.name + (f"/{decoy.subresource}" if decoy.subresource else "")
        rule = {"apiGroups": [decoy.resource.group], "resources": [resource], "verbs": list(decoy.verbs)}
        rules.append(rule | ({"resourceNames": [decoy.name]} if decoy.name else {}))
    return _role_for(sa, ns, f"{sa}-decoy", rules)


def _server_attributes(probe: Probe) -> dict[str, Any]:
    """The attributes kube-apiserver's RequestInfo gives the request for ``probe`` (and the rbac registry
    for bind and escalate): a cluster-scoped kind has no namespace, except GET/PUT/PATCH/DELETE
    /api/v1/namespaces/NAME, which is in namespace NAME, and ``bind``, checked in the namespace of the
    binding being written (BindingAuthorized). ``escalate`` is checked with the RequestInfo of the role
    being written (RoleEscalationAuthorized): in its namespace, none for a ClusterRole."""
    res = probe.resource
    if res.namespaced or probe.verb == "bind":
        namespace = probe.namespace or ""
    elif (res.group, res.name) == ("", "namespaces") and probe.name and probe.verb not in ("list", "watch"):
        namespace = probe.name
    else:
        namespace = ""
    attributes = {"verb": probe.verb, "group": res.group, "version": "*", "resource": res.name}
    attributes |= {"namespace": namespace, "name": probe.name or "", "subresource": probe.subresource or ""}
    return attributes


def _sar(cluster: LocalCluster, user: str, groups: list[str], probe: Probe) -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": _server_attributes(probe)},
    }
    answer = cluster.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer["status"].get("allowed"))


_EXAMPLE = itertools.count()


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    # No shrinking: each step is a full example against the server (minutes); a failure prints its needs,
    # decoys and every disagreeing probe instead.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_can_i_agrees_with_subject_access_review_for_generated_needs(
    local_cluster: LocalCluster, cluster_namespace: str, data: st.DataObject
) -> None:
    ns, other = cluster_namespace, f"{cluster_namespace}-other"
    catalog = local_cluster.catalog()
    pool = [r for r in catalog.resources if r.verbs]
    names = (*NAMES, ns)
    grants = data.draw(st.lists(_grants(pool, names), min_size=1, max_size=5), label="grants")
    cluster_scoped = [r for r in pool if not r.namespaced]
    decoys = data.draw(st.lists(_grants(cluster_scoped, names, special=False), max_size=2), label="decoys")
    probes = [  # every verb of every grant, by its name, by none and by another, here, elsewhere, everywhere
        Probe(verb, g.resource, g.subresource, name, namespace)
        for g in grants + decoys
        for verb in g.verbs
        for name in dict.fromkeys((g.name, None, "gamma" if g.name else None))
        for namespace in (ns, other, None)
    ]
    probes += data.draw(st.lists(_probes(pool, names, (ns, other)), min_size=6, max_size=10), label="other probes")
    expected = {str(probe): (probe, _expected(probe, grants, decoys, ns)) for probe in probes}
    sa = f"prop-{next(_EXAMPLE)}"
    user = f"system:serviceaccount:{ns}:{sa}"
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]
    local_cluster.create_service_account(ns, sa)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeedWarning)  # core events vs events.k8s.io, escalation: fine here
        docs = manifests(
            parse_needs([g.spec for g in grants], catalog),
            namespace=ns,
            service_account=sa,
            include_service_account=False,
        )
        docs += _decoy_role(ns, sa, decoys) if decoys else []
        _apply_all(local_cluster, docs)
        try:
            deadline = time.monotonic() + 10  # the authorizer's informers see new roles within milliseconds
            while not all(_sar(local_cluster, user, groups, p) for p, yes in expected.values() if yes):
                assert time.monotonic() < deadline, "the granted roles never took effect"
                time.sleep(0.1)
            wrong = []
            with local_cluster.pod_environment(ns, sa):
                client = incluster_sdk.api_client()
                for probe, want in expected.values():
                    server = _sar(local_cluster, user, groups, probe)
                    decision = can_i(
                        client,
                        probe.verb,
                        probe.resource.type_name,
                        namespace=probe.namespace,
                        name=probe.name,
                        subresource=probe.subresource,
                    )
                    if not decision.allowed == server == want:
                        wrong.append(f"{probe}: needs say {want}, SubjectAccessReview {server}, can_i {decision}")
            assert not wrong, f"needs {[g.spec for g in grants]}, decoys {[d.spec for d in decoys]}:\n" + "\n".join(
                wrong
            )
        finally:
            for doc in docs:
                local_cluster.delete(_object_path(doc))
            local_cluster.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}")


# -- the harness takes the one syntax --------------------------------------------------------------------------
def test_harness_refuses_tuples_and_typos_and_grants_cluster_scoped_needs(
    local_cluster: LocalCluster, cluster_namespace: str, in_pod: Any
) -> None:
    ns = cluster_namespace
    local_cluster.create_service_account(ns, "strict")
    for bad in (
        [("list", "pods")],  # the old tuple form
        ["lsit:pods"],  # a verb typo
        ["list:podz"],  # a resource typo
        ["get:pods --subresource=lgo"],  # a subresource typo
        ["list,watch:pods", "watch:configmap/x", ("get", "secrets")],  # one bad need spoils the lot
        "list:pods",  # a bare string, not a list
    ):
        with pytest.raises(NeedError):
            local_cluster.grant(ns, "strict", bad)  # type: ignore[arg-type]
    with pytest.raises(NeedError):
        in_pod([("list", "pods")], service_account="strict")
    with pytest.raises(NeedError):
        in_pod(cluster_needs=["lsit:pods"], service_account="strict")
    assert local_cluster.request("GET", f"{RBAC_API}/namespaces/{ns}/rolebindings")["items"] == []
    for name in (f"{ns}:strict-grant", f"{ns}:strict-all-namespaces"):
        status = local_cluster.request("GET", f"{RBAC_API}/clusterrolebindings/{name}", ok=(200, 404))
        assert status.get("code") == 404, status

    in_pod(["list,watch:namespaces", "get:nodes", "list:pods"], service_account="wide")
    try:
        role = local_cluster.request("GET", f"{RBAC_API}/clusterroles/{ns}:wide-grant")
        assert {r["resources"][0] for r in role["rules"]} == {"namespaces", "nodes"}
        client = incluster_sdk.api_client()
        core = kubernetes.client.CoreV1Api(client)
        assert ns in {_name(n) for n in core.list_namespace().items}
        with pytest.raises(ApiException) as absent:
            core.read_node("no-such-node")
        assert absent.value.status == 404  # allowed, and there is none
        core.list_namespaced_pod(ns)
        with pytest.raises(ApiException) as denied:
            core.list_pod_for_all_namespaces()
        assert denied.value.status == 403
        assert can_i(client, "get", "nodes", namespace=ns)
        assert not can_i(client, "list", "nodes")
    finally:
        for path in (f"{RBAC_API}/clusterrolebindings/{ns}:wide-grant", f"{RBAC_API}/clusterroles/{ns}:wide-grant"):
            local_cluster.delete(path)


# -- bind for ClusterRoleBindings, partial discovery, user extras: the server is the reference ----------------
def test_binding_a_cluster_role_in_a_cluster_role_binding_needs_bind_cluster_wide(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    """Finding: ``-n NS create:clusterrolebindings bind:clusterroles/view`` put bind in a Role. The server checks
    bind for a ClusterRoleBinding in no namespace (clusterrolebinding/policybased/storage.go), so that Role
    never applies: 403. The manifests now grant bind with the ClusterRole, and the write goes through; the
    old placement (written out here by hand) is still refused. can_i asks about a ClusterRoleBinding with
    namespace=None, about a RoleBinding with the namespace."""
    ns = cluster_namespace
    specs = [f"create:clusterrolebindings.{RBAC_GROUP}", f"bind:clusterroles.{RBAC_GROUP}/view"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeedWarning)  # bind is granted: no escalation warning
        docs = manifests(parse_needs(specs, local_cluster.catalog()), namespace=ns, service_account="binder")
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    old = [  # what the old code wrote: create on CRBs cluster-wide, bind in a Role
        {**doc, "metadata": {**doc["metadata"], "name": f"{ns}:old-binder"}} for doc in docs[1:]
    ]
    old[0]["rules"] = [r for r in old[0]["rules"] if r["resources"] != ["clusterroles"]]
    old[1]["roleRef"] = {**old[1]["roleRef"], "name": f"{ns}:old-binder"}
    old[1]["subjects"] = [{"kind": "ServiceAccount", "name": "old-binder", "namespace": ns}]
    bind_view = {"apiGroups": [RBAC_GROUP], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["view"]}
    local_cluster.create_service_account(ns, "old-binder")
    _apply_all(local_cluster, [*docs, *old, *_role_for("old-binder", ns, "old-binder", [bind_view])])
    try:
        crb = _binding(f"{ns}-view", "view")  # another subject gets view everywhere; a dry run writes nothing
        crbs = f"{RBAC_API}/clusterrolebindings?dryRun=All"
        status, body = call(local_cluster, local_cluster.mint_token(ns, "binder"), "POST", crbs, crb)
        assert status == 201, body[:300]
        status, body = call(local_cluster, local_cluster.mint_token(ns, "old-binder"), "POST", crbs, crb)
        assert status == 403 and b"attempting to grant RBAC permissions not currently held" in body, body[:300]
        for sa, cluster_wide in (("binder", True), ("old-binder", False)):
            with local_cluster.pod_environment(ns, sa):
                client = incluster_sdk.api_client()
                assert (
                    can_i(client, "bind", "clusterroles.rbac.authorization.k8s.io", None, name="view").allowed
                    is cluster_wide
                ), sa
                assert can_i(client, "bind", "clusterroles.rbac.authorization.k8s.io", ns, name="view"), (
                    sa
                )  # RoleBindings
    finally:
        for doc in (*docs[1:], *old):
            local_cluster.delete(_object_path(doc))


def test_impersonating_a_user_extra_is_granted_by_key_and_value(
    local_cluster: LocalCluster, cluster_namespace: str
) -> None:
    """Finding: ``impersonate:userextras/scopes`` granted nothing (the server checks userextras with the extra's
    key as the subresource and its value as the name: staging/.../filters/impersonation.go); it is refused now,
    and the need it points to works on a real impersonated request."""
    ns = cluster_namespace
    with pytest.raises(NeedError, match=r"userextras.authentication.k8s.io/VALUE --subresource=scopes"):
        parse_needs(["impersonate:userextras/scopes"], local_cluster.catalog())
    specs = ["impersonate:users/alice", "impersonate:userextras.authentication.k8s.io/view --subresource=scopes"]
    docs = manifests(parse_needs(specs, local_cluster.catalog()), namespace=ns, service_account="imp")
    _apply_all(local_cluster, docs)
    try:
        token = local_cluster.mint_token(ns, "imp")
        conn = http.client.HTTPSConnection(
            "127.0.0.1", local_cluster.api_port, context=_tls(str(local_cluster.ca_file)), timeout=15
        )
        results = {}
        for value in ("view", "admin"):
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Impersonate-User": "alice",
                "Impersonate-Extra-Scopes": value,
            }
            conn.request("GET", f"/api/v1/namespaces/{ns}/configmaps", headers=headers)
            resp = conn.getresponse()
            results[value] = (resp.status, resp.read())
        conn.close()
        # alice has no rights: 403 either way, but only the granted extra gets past impersonation to alice's check
        assert b'User \\"alice\\" cannot list resource' in results["view"][1], results["view"]
        assert b'cannot impersonate resource \\"userextras/scopes\\"' in results["admin"][1], results["admin"]
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                local_cluster.delete(_object_path(doc))


def test_an_unavailable_aggregated_api_leaves_discovery_partial(
    local_cluster: LocalCluster, cluster_namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding: one APIService answering 503 made discover() raise, so can_i fell back to the built-in table and
    ran discovery again on every call. Now the failed group version is skipped and recorded (as client-go's
    partial discovery does), can_i/doctor/``rbac --discover`` work, and the unknown-resource message names it.
    The harness's own catalog is not read while the APIService exists."""
    from incluster_sdk.cli import main
    from incluster_sdk.discovery import discover

    ns = cluster_namespace
    group = f"{ns[:30].strip('-')}.broken.example.com"
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": f"v1beta1.{group}"},
        "spec": {
            "group": group,
            "version": "v1beta1",
            "service": {"namespace": ns, "name": "no-such-service"},  # nothing answers: 503
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "insecureSkipTLSVerify": True,
        },
    }
    local_cluster.create_service_account(ns, "app")
    local_cluster.grant(ns, "app", ["list:pods"])
    local_cluster.create(api_service)  # (server-side apply of an APIService drops the connection in 1.20)
    try:
        with local_cluster.pod_environment(ns, "app"):
            client = incluster_sdk.api_client()
            deadline = time.monotonic() + 30
            while True:  # the aggregator lists the group once it has seen the APIService
                catalog = discover(client)
                if f"{group}/v1beta1" in catalog.failed or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert f"{group}/v1beta1" in catalog.failed, catalog.failed
            assert "503" in catalog.failed[f"{group}/v1beta1"]
            assert catalog.lookup("apps", "deployments") is not None  # every other group was read
            assert can_i(client, "list", "pods", ns)  # discovers once: the client retries the 503s (~28 s)
            started = time.monotonic()
            assert not can_i(client, "delete", "pods", ns)
            with pytest.raises(NeedError, match=f"discovery of .*{group}/v1beta1 failed"):
                can_i(client, "get", "widgetz", ns)
            with pytest.warns(NeedWarning, match=f"{group}/v1beta1 failed"):
                decision = can_i(client, "get", f"widgets.{group}", ns)
            assert not decision
            assert time.monotonic() - started < 10, "discovery ran again for a call"
            code, out = _doctor("--can", "list:pods", "--can", "get:widgetz")
            assert code == 1 and "[PASS] can list:pods" in out and f"{group}/v1beta1 failed" in out, out
            assert main(["rbac", "-n", ns, "--sa", "app", "--discover", "list:deploy"]) == 0
            assert "deployments" in capsys.readouterr().out
    finally:
        local_cluster.delete(f"/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.{group}")
