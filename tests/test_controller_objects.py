"""Object helpers with a fake API server in memory: get-or-create, update with retry on 409, server-side apply,
finalizers (names validated as kube-apiserver does) and owner references (controller-runtime's
controllerutil SetControllerReference tests, ported)."""

from __future__ import annotations

import copy
import re
import urllib.parse
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tenacity import RetryCallState, Retrying, wait_none

from incluster_sdk.controller import calls, objects
from incluster_sdk.controller.objects import (
    APPLY_PATCH,
    DEFAULT_CONFLICT_BACKOFF,
    AlreadyOwnedError,
    Call,
    ConflictError,
    NotFoundError,
    ObjectApiError,
    ObjectError,
    add_finalizer,
    async_update_with_retry,
    get_or_create,
    remove_finalizer,
    server_side_apply,
    set_owner_reference,
    update_with_retry,
    validate_field_manager,
    validate_finalizer_name,
)
from incluster_sdk.errors import InclusterSDKError
from incluster_sdk.resource import Resource

CONFIGMAPS = Resource("v1", "configmaps")
BASE = "/api/v1/namespaces/ns/configmaps"


def status(code: int, reason: str, message: str = "") -> tuple[int, bytes]:
    return code, orjson.dumps({"kind": "Status", "code": code, "reason": reason, "message": message})


class FakeApi:
    """ConfigMaps in one namespace, with resourceVersion checks; ``before_put`` runs before each PUT (a racing
    writer), ``answers`` scripts the next answers instead."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.calls: list[Call] = []
        self.before_put: Any = None
        self.answers: list[tuple[int, bytes]] = []

    def store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.version)
        obj["metadata"].setdefault("uid", f"uid-{obj['metadata']['name']}")
        self.objects[obj["metadata"]["name"]] = obj
        return obj

    def __call__(self, call: Call) -> tuple[int, bytes]:
        self.calls.append(call)
        if self.answers:
            return self.answers.pop(0)
        path = call.path.split("?")[0]
        name = urllib.parse.unquote(path[len(BASE) + 1 :]) if path.startswith(BASE + "/") else None
        if call.method == "GET":
            if name not in self.objects:
                return status(404, "NotFound", f'configmaps "{name}" not found')
            return 200, orjson.dumps(self.objects[name])
        if call.method == "POST":
            body = call.body
            if body["metadata"]["name"] in self.objects:
                return status(409, "AlreadyExists", "already exists")
            return 201, orjson.dumps(self.store(body))
        if call.method == "PUT":
            if self.before_put is not None:
                self.before_put()
            current = self.objects.get(name or "")
            if current is None:
                return status(404, "NotFound")
            if call.body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return status(409, "Conflict", "the object has been modified; please apply your changes")
            return 200, orjson.dumps(self.store(call.body))
        if call.method == "PATCH":
            return 200, orjson.dumps(self.store(orjson.loads(call.body)))
        raise AssertionError(call)

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(calls, "send", lambda client, call, retry=True: fake(call))

    async def async_send(client: Any, call: Call, retry: bool = True) -> tuple[int, bytes]:
        return fake(call)

    monkeypatch.setattr(calls, "async_send", async_send)
    return fake


def cm(name: str, data: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", **metadata},
        "data": data or {},
    }


# -- get-or-create --------------------------------------------------------------------------------------------
def test_get_or_create_reads_an_existing_object_without_writing(api: FakeApi) -> None:
    api.store(cm("web", {"a": "1"}))
    obj, created = get_or_create(None, CONFIGMAPS, cm("web", {"a": "2"}))  # type: ignore[arg-type]
    assert not created and obj["data"] == {"a": "1"} and api.methods() == ["GET"]


def test_get_or_create_creates_when_absent(api: FakeApi) -> None:
    obj, created = get_or_create(None, CONFIGMAPS, cm("web"))  # type: ignore[arg-type]
    assert created and obj["metadata"]["resourceVersion"] == "1" and api.methods() == ["GET", "POST"]
    assert api.calls[1].path == BASE


def test_get_or_create_reads_again_after_already_exists(api: FakeApi) -> None:
    api.answers = [status(404, "NotFound"), status(409, "AlreadyExists")]
    api.store(cm("web", {"winner": "other"}))
    obj, created = get_or_create(None, CONFIGMAPS, cm("web"))  # type: ignore[arg-type]
    assert not created and obj["data"] == {"winner": "other"} and api.methods() == ["GET", "POST", "GET"]


def test_get_or_create_refusal_names_object_and_need(api: FakeApi) -> None:
    api.answers = [status(403, "Forbidden", 'configmaps "web" is forbidden: User "x" cannot get')]
    with pytest.raises(ObjectApiError) as caught:
        get_or_create(None, CONFIGMAPS, cm("web"))  # type: ignore[arg-type]
    text = str(caught.value)
    assert caught.value.status == 403 and caught.value.reason == "Forbidden"
    assert 'get configmaps "web" in namespace "ns": HTTP 403 Forbidden' in text and "'get:configmaps'" in text
    assert isinstance(caught.value, InclusterSDKError)


def test_get_or_create_generate_name_always_creates(api: FakeApi) -> None:
    obj = {"metadata": {"generateName": "web-", "namespace": "ns", "name": ""}}
    api.answers = [(201, orjson.dumps({"metadata": {"name": "web-x1"}}))]
    created, was_created = get_or_create(None, CONFIGMAPS, obj)  # type: ignore[arg-type]
    assert was_created and created["metadata"]["name"] == "web-x1" and api.methods() == ["POST"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"metadata": {"namespace": "ns"}}, "no name"),
        ({"metadata": {"name": "web"}}, "namespaced and no namespace was given"),
        ({"metadata": {"name": "a/b", "namespace": "ns"}}, "may not be"),
        ({"metadata": {"name": "..", "namespace": "ns"}}, "may not be"),
        ("web", "expected the object as a dict"),
    ],
)
def test_bad_objects_are_refused_before_any_request(api: FakeApi, obj: Any, message: str) -> None:
    with pytest.raises(ObjectError, match=message):
        get_or_create(None, CONFIGMAPS, obj)  # type: ignore[arg-type]
    assert api.calls == []


# -- update with retry ----------------------------------------------------------------------------------------
def bump(obj: dict[str, Any]) -> dict[str, Any]:
    obj["data"]["n"] = str(int(obj["data"].get("n", "0")) + 1)
    return obj


def test_update_reapplies_mutate_after_a_conflict(api: FakeApi) -> None:
    api.store(cm("c", {"n": "0"}))
    raced = []

    def other_writer() -> None:
        if not raced:
            raced.append(True)
            api.store(cm("c", {"n": "10"}))

    api.before_put = other_writer
    stored = update_with_retry(None, CONFIGMAPS, "c", bump, namespace="ns", backoff=wait_none())  # type: ignore[arg-type]
    assert stored["data"] == {"n": "11"} and api.methods() == ["GET", "PUT", "GET", "PUT"]
    assert api.calls[1].body["metadata"]["resourceVersion"] == "1"  # the version read, sent as precondition


def test_update_gives_up_after_client_go_default_steps(api: FakeApi) -> None:
    api.store(cm("c", {"n": "0"}))
    api.before_put = lambda: api.store(api.objects["c"])  # always someone faster
    with pytest.raises(ConflictError, match=r'update configmaps "c" in namespace "ns": HTTP 409 Conflict on each of 5'):
        update_with_retry(None, CONFIGMAPS, "c", bump, namespace="ns", backoff=wait_none())  # type: ignore[arg-type]
    assert api.methods().count("PUT") == 5


def test_update_keeps_the_read_resource_version_whatever_mutate_does(api: FakeApi) -> None:
    api.store(cm("c", {"n": "0"}))

    def sloppy(obj: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"n": "5"}}

    update_with_retry(None, CONFIGMAPS, "c", sloppy, namespace="ns")  # type: ignore[arg-type]
    assert api.calls[-1].body["metadata"]["resourceVersion"] == "1"


@pytest.mark.parametrize("mutate", [lambda obj: None, lambda obj: obj])
def test_no_change_no_write(api: FakeApi, mutate: Any) -> None:
    api.store(cm("c", {"n": "0"}))
    update_with_retry(None, CONFIGMAPS, "c", mutate, namespace="ns")  # type: ignore[arg-type]
    assert api.methods() == ["GET"]


def test_mutate_errors_propagate_without_retry(api: FakeApi) -> None:
    api.store(cm("c"))

    def broken(obj: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("spec")

    with pytest.raises(KeyError):
        update_with_retry(None, CONFIGMAPS, "c", broken, namespace="ns")  # type: ignore[arg-type]
    assert api.methods() == ["GET"]


def test_update_refuses_a_rename_and_a_missing_object(api: FakeApi) -> None:
    api.store(cm("c"))
    with pytest.raises(ObjectError, match="cannot move an object"):
        update_with_retry(None, CONFIGMAPS, "c", lambda o: cm("d"), namespace="ns")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match='get configmaps "gone"'):
        update_with_retry(None, CONFIGMAPS, "gone", bump, namespace="ns")  # type: ignore[arg-type]


async def test_async_update_retries_conflicts_too(api: FakeApi) -> None:
    api.store(cm("c", {"n": "0"}))
    raced: list[bool] = []
    api.before_put = lambda: raced or (raced.append(True), api.store(cm("c", {"n": "3"})))
    stored = await async_update_with_retry(None, CONFIGMAPS, "c", bump, namespace="ns", backoff=wait_none())  # type: ignore[arg-type]
    assert stored["data"] == {"n": "4"}


def test_default_backoff_is_client_go_default_retry() -> None:
    # util/retry.DefaultRetry: 10 ms, factor 1 (no growth), jitter 0.1 -> each wait in [10 ms, 11 ms]
    state = RetryCallState(Retrying(), None, (), {})
    waits = []
    for attempt in range(1, 5):
        state.attempt_number = attempt
        waits.append(DEFAULT_CONFLICT_BACKOFF(state))
    assert all(0.010 <= wait <= 0.011 for wait in waits)
    assert objects.CONFLICT_RETRY_STEPS == 5


# -- server-side apply ----------------------------------------------------------------------------------------
def test_apply_sends_an_apply_patch_with_field_manager_and_force(api: FakeApi) -> None:
    server_side_apply(None, CONFIGMAPS, cm("s", {"a": "1"}), field_manager="example.com/me", force=True)  # type: ignore[arg-type]
    (call,) = api.calls
    assert call.method == "PATCH" and call.content_type == APPLY_PATCH
    assert call.content_type.split(";")[0] == "application/apply-patch+yaml"
    path, query = call.path.split("?")
    assert path == f"{BASE}/s"
    assert urllib.parse.parse_qs(query) == {"fieldManager": ["example.com/me"], "force": ["true"]}
    assert orjson.loads(call.body)["data"] == {"a": "1"}
    server_side_apply(None, CONFIGMAPS, cm("s"), field_manager="m")  # type: ignore[arg-type]
    assert "force" not in api.calls[-1].path


def test_apply_conflict_says_force(api: FakeApi) -> None:
    api.answers = [status(409, "Conflict", 'Apply failed with 1 conflict: conflict with "other": .data.a')]
    with pytest.raises(ConflictError, match=r'apply configmaps "s".*conflict with "other".*force=True'):
        server_side_apply(None, CONFIGMAPS, cm("s"), field_manager="me")  # type: ignore[arg-type]


def test_apply_needs_kind_and_api_version(api: FakeApi) -> None:
    with pytest.raises(ObjectError, match="no kind"):
        server_side_apply(
            None, CONFIGMAPS, {"apiVersion": "v1", "metadata": {"name": "s", "namespace": "ns"}}, field_manager="m"
        )  # type: ignore[arg-type]
    assert api.calls == []


def _field_manager_valid(value: str) -> bool:  # kube-apiserver: required for apply, <= 128 bytes, unicode.IsPrint
    return bool(value) and len(value.encode()) <= 128 and all(c.isprintable() for c in value)


@given(st.text(max_size=140) | st.text(alphabet="ab\t\n\x00é€", max_size=140))
def test_field_manager_rules(value: str) -> None:
    if _field_manager_valid(value):
        assert validate_field_manager(value) == value
    else:
        with pytest.raises(ObjectError, match="field_manager"):
            validate_field_manager(value)


def test_field_manager_edges() -> None:
    assert validate_field_manager("x" * 128)
    with pytest.raises(ObjectError, match="at most 128"):
        validate_field_manager("x" * 129)
    with pytest.raises(ObjectError, match="at most 128"):
        validate_field_manager("é" * 65)  # 130 bytes: the server counts bytes
    with pytest.raises(ObjectError, match="needs a field manager"):
        validate_field_manager("")
    with pytest.raises(ObjectError, match=r"U\+0009"):
        validate_field_manager("a\tb")


# -- finalizers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "example.com/cleanup",
        "a.b-c/Clean_up.1",
        "kubernetes",
        "orphan",
        "foregroundDeletion",
        "x/y",
        "e.io/" + "a" * 63,
    ],
)
def test_valid_finalizers(name: str) -> None:
    assert validate_finalizer_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("cleanup", "not fully qualified"),
        ("Example.com/x", "not a DNS subdomain"),
        ("a/b/c", "more than one"),
        ("/x", "not a DNS subdomain"),
        ("example.com/", "name part"),
        ("example.com/-x", "name part"),
        ("example.com/x_", "name part"),
        ("example.com/" + "a" * 64, "name part"),
        ("exa mple.com/x", "not a DNS subdomain"),
    ],
)
def test_invalid_finalizers(name: str, message: str) -> None:
    with pytest.raises(ObjectError, match=message):
        validate_finalizer_name(name)


_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@given(st.text(alphabet="aZ09-_./ ", max_size=80))
def test_finalizer_rule_is_apimachinery_is_qualified_name(value: str) -> None:
    parts = value.split("/")
    name = parts[-1]
    valid = (
        len(parts) <= 2
        and 0 < len(name) <= 63
        and bool(_QUALIFIED.match(name))
        and (len(parts) == 1 or (0 < len(parts[0]) <= 253 and bool(_SUBDOMAIN.match(parts[0]))))
        and (len(parts) == 2 or name in objects.STANDARD_FINALIZERS)
    )
    if valid:
        validate_finalizer_name(value)
    else:
        with pytest.raises(ObjectError):
            validate_finalizer_name(value)


def test_finalizers_added_once_and_removed(api: FakeApi) -> None:
    api.store(cm("f", finalizers=["other.io/keep"]))
    add_finalizer(None, CONFIGMAPS, api.objects["f"], "example.com/x")  # type: ignore[arg-type]
    assert api.objects["f"]["metadata"]["finalizers"] == ["other.io/keep", "example.com/x"]
    writes = api.methods().count("PUT")
    add_finalizer(None, CONFIGMAPS, "f", "example.com/x", namespace="ns")  # type: ignore[arg-type]
    assert api.methods().count("PUT") == writes  # idempotent: no second write
    remove_finalizer(None, CONFIGMAPS, "f", "example.com/x", namespace="ns")  # type: ignore[arg-type]
    assert api.objects["f"]["metadata"]["finalizers"] == ["other.io/keep"]
    assert remove_finalizer(None, CONFIGMAPS, "gone", "example.com/x", namespace="ns") is None  # type: ignore[arg-type]


def test_finalizer_added_under_conflict_keeps_the_other_writers_finalizer(api: FakeApi) -> None:
    api.store(cm("f"))
    raced: list[bool] = []

    def other_controller() -> None:
        if not raced:
            raced.append(True)
            obj = copy.deepcopy(api.objects["f"])
            obj["metadata"]["finalizers"] = ["other.io/theirs"]
            api.store(obj)

    api.before_put = other_controller
    add_finalizer(None, CONFIGMAPS, "f", "example.com/mine", namespace="ns")  # type: ignore[arg-type]
    assert api.objects["f"]["metadata"]["finalizers"] == ["other.io/theirs", "example.com/mine"]


def test_bad_finalizer_refused_before_any_request(api: FakeApi) -> None:
    with pytest.raises(ObjectError, match="not fully qualified"):
        add_finalizer(None, CONFIGMAPS, "f", "cleanup", namespace="ns")  # type: ignore[arg-type]
    assert api.calls == []


# -- owner references: controller-runtime controllerutil_test.go "SetControllerReference" --------------------
def deployment(
    name: str = "foo", namespace: str | None = "default", uid: str = "foo-uid", group: str = "apps"
) -> dict[str, Any]:
    metadata = {"name": name, "uid": uid, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": f"{group}/v1" if group else "v1", "kind": "Deployment", "metadata": metadata}


def replicaset(owners: list[dict[str, Any]] | None = None, namespace: str | None = "default") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "foo", **({"namespace": namespace} if namespace else {})}
    if owners is not None:
        metadata["ownerReferences"] = owners
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": metadata}


CONTROLLER_REF = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "name": "foo",
    "uid": "foo-uid",
    "controller": True,
    "blockOwnerDeletion": True,
}


def test_sets_the_owner_reference() -> None:
    rs = replicaset()
    set_owner_reference(rs, deployment())
    assert rs["metadata"]["ownerReferences"] == [CONTROLLER_REF]


def test_refuses_an_object_already_owned_by_another_controller() -> None:
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bar", "uid": "bar-uid", "controller": True}
    rs = replicaset([other])
    with pytest.raises(AlreadyOwnedError, match="already controlled by Deployment 'bar'") as caught:
        set_owner_reference(rs, deployment())
    assert caught.value.owner == other and rs["metadata"]["ownerReferences"] == [other]
    set_owner_reference(rs, deployment(), controller=False)  # a second, non-controlling owner is fine
    assert rs["metadata"]["ownerReferences"] == [other, PLAIN_REF]


def test_does_not_duplicate_an_existing_reference() -> None:
    existing = {**CONTROLLER_REF, "controller": False}
    rs = replicaset([existing])
    set_owner_reference(rs, deployment())
    assert rs["metadata"]["ownerReferences"] == [CONTROLLER_REF]


def test_replaces_the_reference_if_present() -> None:
    rs = replicaset([dict(CONTROLLER_REF)])
    set_owner_reference(rs, deployment())
    assert rs["metadata"]["ownerReferences"] == [CONTROLLER_REF]


def test_refuses_a_cross_namespace_owner() -> None:
    with pytest.raises(ObjectError, match="cross-namespace"):
        set_owner_reference(replicaset(namespace="namespace1"), deployment(namespace="namespace2"))


def test_refuses_a_namespaced_owner_of_a_cluster_scoped_object() -> None:
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "foo"}}
    with pytest.raises(ObjectError, match="cluster-scoped object cannot have a namespaced owner"):
        set_owner_reference(
            pv, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "foo", "namespace": "default", "uid": "u"}}
        )


def test_an_existing_owner_with_a_different_version_is_the_same_owner() -> None:
    rs = replicaset([{**CONTROLLER_REF, "apiVersion": "apps/v1beta1", "controller": False}])
    set_owner_reference(rs, deployment())
    assert rs["metadata"]["ownerReferences"] == [CONTROLLER_REF]


def test_block_owner_deletion_option() -> None:
    rs = replicaset()
    set_owner_reference(rs, deployment(), block_owner_deletion=False)
    assert rs["metadata"]["ownerReferences"] == [{k: v for k, v in CONTROLLER_REF.items() if k != "blockOwnerDeletion"}]


PLAIN_REF = {k: v for k, v in CONTROLLER_REF.items() if k not in ("controller", "blockOwnerDeletion")}


def test_a_plain_owner_reference_does_not_block_owner_deletion() -> None:
    """controller-runtime's SetOwnerReference sets neither controller nor blockOwnerDeletion (its
    SetControllerReference sets both); WithBlockOwnerDeletion(true) is block_owner_deletion=True."""
    rs = replicaset()
    set_owner_reference(rs, deployment(), controller=False)
    assert rs["metadata"]["ownerReferences"] == [PLAIN_REF]
    set_owner_reference(rs, deployment(), controller=False, block_owner_deletion=True)
    assert rs["metadata"]["ownerReferences"] == [{**PLAIN_REF, "blockOwnerDeletion": True}]
    set_owner_reference(rs, deployment())  # becoming the controller: both flags, replaced in place
    assert rs["metadata"]["ownerReferences"] == [CONTROLLER_REF]


def test_a_recreated_owner_updates_the_uid_in_place() -> None:
    rs = replicaset([dict(CONTROLLER_REF)])
    set_owner_reference(rs, deployment(uid="new-uid"))
    assert rs["metadata"]["ownerReferences"] == [{**CONTROLLER_REF, "uid": "new-uid"}]


def test_a_cluster_scoped_owner_is_fine_for_anything_and_owner_needs_a_uid() -> None:
    rs = replicaset()
    set_owner_reference(rs, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "uid": "ns-uid"}})
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "ns-uid"
    with pytest.raises(ObjectError, match=r"no metadata\.uid"):
        set_owner_reference(replicaset(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})


@given(
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=6),
    st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_owner_references_stay_unique_and_at_most_one_controller(owners: list[str], controls: list[bool]) -> None:
    rs = replicaset()
    for name, controller in zip(owners, controls, strict=False):
        try:
            set_owner_reference(rs, deployment(name=name, uid=f"{name}-uid"), controller=controller)
        except AlreadyOwnedError:
            assert controller
    refs = rs["metadata"].get("ownerReferences", [])
    assert len({ref["uid"] for ref in refs}) == len(refs)
    assert sum(bool(ref.get("controller")) for ref in refs) <= 1
    before = copy.deepcopy(rs)
    for ref in refs:  # setting an existing reference again changes nothing
        set_owner_reference(rs, deployment(name=ref["name"], uid=ref["uid"]), controller=bool(ref.get("controller")))
    assert rs == before
