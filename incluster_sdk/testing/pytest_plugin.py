"""pytest fixtures for apps that use incluster_sdk. Opt-in: in your ``conftest.py`` (the top-level one),

    pytest_plugins = ["incluster_sdk.testing.pytest_plugin"]

- ``fake_service_account``: a kubelet-style fake mount in a temp dir, env vars set; ``.rotate(token=...)``.
- ``local_cluster``: one real etcd + kube-apiserver per test session (skips with the install command when
  the binaries are missing; fails instead when ``CI`` or ``INCLUSTER_SDK_REQUIRE_CLUSTER`` is set).
- ``cluster_namespace``: a fresh namespace per test, deleted afterwards.
- ``in_pod``: a factory that runs the test "as if in a pod" with a ServiceAccount and the rules you grant.

Heavy imports happen inside the fixtures, so enabling the plugin costs a pytest run that does not use them
nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..rbac.needs import Need
    from .cluster import LocalCluster
    from .fake_mount import FakeServiceAccountMount

REQUIRE_ENV = "INCLUSTER_SDK_REQUIRE_CLUSTER"


@pytest.fixture
def fake_service_account(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> FakeServiceAccountMount:
    """A fake service-account mount with a placeholder token, activated for this test."""
    from .fake_mount import FakeServiceAccountMount

    mount = FakeServiceAccountMount(
        tmp_path_factory.mktemp("serviceaccount"), token="fake-token-for-tests", namespace="test-ns"
    )
    for key, value in mount.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    return mount


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """A real local API server for the whole session (~5-10 s to start)."""
    from .binaries import BinariesNotFound
    from .cluster import LocalCluster

    try:
        cluster = LocalCluster.start()
    except BinariesNotFound as exc:
        if _truthy("CI") or _truthy(REQUIRE_ENV):
            pytest.fail(f"local cluster required here but unavailable: {exc}", pytrace=False)
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_namespace(local_cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace unique to this test, deleted afterwards."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    local_cluster.create_namespace(name)
    yield name
    local_cluster.delete(f"/api/v1/namespaces/{name}")


InPod = Callable[..., "FakeServiceAccountMount"]


@pytest.fixture
def in_pod(local_cluster: LocalCluster, cluster_namespace: str) -> Iterator[InPod]:
    """Factory: ``in_pod(["list,watch:pods"], service_account="app", bound_to_secret=None)``.

    Creates the ServiceAccount in ``cluster_namespace``, grants ``needs`` (the SDK's need syntax, e.g.
    ``"get,list,watch:configmaps/app-config"``, checked against the server; namespaced ones in the namespace,
    cluster-scoped ones cluster-wide) and ``cluster_needs`` (in every namespace), and activates a pod
    environment for the rest of the test.
    """
    with ExitStack() as stack:

        def enter(
            needs: Sequence[str | Need] = (),
            *,
            service_account: str = "app",
            cluster_needs: Sequence[str | Need] = (),
            bound_to_secret: str | None = None,
            ttl: int = 3600,
        ) -> FakeServiceAccountMount:
            from ..rbac.needs import NeedError, parse_needs

            for checked in (needs, cluster_needs):  # both checked before anything is granted
                try:
                    parse_needs(checked, local_cluster.catalog())
                except NeedError:  # perhaps a resource created since discovery (a CRD): look once more
                    parse_needs(checked, local_cluster.catalog(refresh=True))
            local_cluster.create_service_account(cluster_namespace, service_account)
            if needs:
                local_cluster.grant(cluster_namespace, service_account, needs)
            if cluster_needs:
                local_cluster.grant(
                    cluster_namespace,
                    service_account,
                    cluster_needs,
                    cluster_wide=True,
                    name=f"{service_account}-all-namespaces",
                )
            return stack.enter_context(
                local_cluster.pod_environment(
                    cluster_namespace, service_account, bound_to_secret=bound_to_secret, ttl=ttl
                )
            )

        yield enter
