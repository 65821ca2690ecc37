"""The test kit without a server: collections found in the discovery catalog, the token observers, and what the
installed package registers (no pytest plugin of its own accord)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest

import incluster_sdk.testing
from incluster_sdk._secret import Secret
from incluster_sdk.discovery import ResourceCatalog, builtin_catalog
from incluster_sdk.testing import ClusterError, FakeServiceAccountMount, observe_tokens
from incluster_sdk.testing.admin import AdminClient
from incluster_sdk.testing.pki import CertificateAuthority

from .support.secrets_seen import issued

TOKEN = "admin-token-of-the-kit-tests-0123456789"


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> AdminClient:
    """An AdminClient whose discovery is the built-in table (it is never asked anything else here)."""
    client = AdminClient(1, CertificateAuthority.create().cert_pem, Secret(TOKEN))
    reads: list[bool] = []

    def catalog(*, refresh: bool = False) -> ResourceCatalog:
        reads.append(refresh)
        return builtin_catalog()

    monkeypatch.setattr(client, "catalog", catalog)
    client.reads = reads  # type: ignore[attr-defined]
    return client


@pytest.mark.parametrize(
    ("manifest", "path"),
    [
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns"}}, "/api/v1/namespaces/ns/pods"),
        ({"apiVersion": "v1", "kind": "Endpoints", "metadata": {}}, "/api/v1/namespaces/default/endpoints"),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"namespace": "x"}}, "/api/v1/namespaces"),
        (
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"namespace": "a b"}},
            "/apis/networking.k8s.io/v1/namespaces/a%20b/networkpolicies",
        ),
        (
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {}},
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        ),
        (  # not the group's preferred version: the manifest's version, the resource's plural
            {"apiVersion": "rbac.authorization.k8s.io/v1beta1", "kind": "ClusterRole", "metadata": {}},
            "/apis/rbac.authorization.k8s.io/v1beta1/clusterroles",
        ),
        (
            {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {}},
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        ),
    ],
)
def test_collection_paths_come_from_discovery(admin: AdminClient, manifest: dict[str, Any], path: str) -> None:
    assert admin.collection_path(manifest) == path
    assert admin.reads == [False]  # type: ignore[attr-defined]


def test_an_unknown_kind_is_looked_up_once_more_then_refused(admin: AdminClient) -> None:
    with pytest.raises(ClusterError, match=r"serves no resource of kind 'Gadget' in 'example.com/v1'"):
        admin.collection_path({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {}})
    assert admin.reads == [False, True]  # type: ignore[attr-defined]


def test_the_admin_client_never_shows_its_token(admin: AdminClient) -> None:
    assert TOKEN not in repr(admin)
    assert TOKEN not in str(vars(admin))


def test_observers_get_every_mounted_token_until_stopped(tmp_path: Path) -> None:
    seen: list[str] = []
    stop = observe_tokens(seen.append)
    mount = FakeServiceAccountMount(tmp_path, token="first-token-of-the-observer-test")
    mount.rotate(token="second-token-of-the-observer-test")
    stop()
    mount.rotate(token="third-token-of-the-observer-test")
    stop()  # twice is harmless
    assert seen == ["first-token-of-the-observer-test", "second-token-of-the-observer-test"]
    # tests/conftest.py's own observer, the run's leak check, saw all three
    assert {"first-token-of-the-observer-test", "third-token-of-the-observer-test"} <= issued()


def test_the_package_registers_no_pytest_plugin() -> None:
    # Apps opt in with pytest_plugins = ["incluster_sdk.testing.pytest_plugin"]; installing the SDK adds nothing.
    plugins = [ep.value for ep in importlib.metadata.entry_points(group="pytest11")]
    assert not [value for value in plugins if value.startswith("incluster_sdk")]


def test_the_project_suite_is_not_in_the_package() -> None:
    package = Path(incluster_sdk.testing.__file__).parent
    for name in ("reliability", "history", "fake_apiserver", "secrets_seen"):
        assert not (package / f"{name}.py").exists()
