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
"""Set (to anything but ``""``, ``0``, ``false`` or ``no``), like ``CI``, to make ``local_cluster`` fail instead of
skipping when the binaries are missing."""


@pytest.fixture
def fake_service_account(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> FakeServiceAccountMount:
    """A fake service-account mount in a temp dir, with the env vars set for this test.

    The token is ``fake-token-for-tests``, the namespace ``test-ns``, the CA a placeholder certificate; the
    host and port are ``127.0.0.1:6443`` (nothing listens there). ``KUBECONFIG`` and ``POD_NAMESPACE`` are
    unset for the test (pytest's ``monkeypatch`` restores everything afterwards).

    :param tmp_path_factory: pytest's fixture.
    :param monkeypatch: pytest's fixture.
    :returns: the mount; ``.rotate(token=...)`` swaps in a new token as kubelet does.
    """
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
    """A real local API server (:class:`~incluster_sdk.testing.cluster.LocalCluster`) for the whole session;
    it starts in about 5-10 s, on first use, and stops at the session's end.

    When etcd or kube-apiserver is missing, the tests that use it are skipped, with the install command as the
    reason; with ``CI`` or ``INCLUSTER_SDK_REQUIRE_CLUSTER`` set they fail instead, so CI cannot pass by
    skipping. A cluster that does not start is an error.

    :returns: a generator that yields the running cluster (pytest's fixture protocol).
    """
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
    """A namespace unique to this test, deleted afterwards (the deletion finishes in the background).

    :param local_cluster: the session's cluster.
    :param request: pytest's fixture (the test's name).
    :returns: a generator that yields the namespace's name: the test's name made a valid name (at most 40
        characters), a ``-`` and 6 random hex digits.
    """
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    local_cluster.create_namespace(name)
    yield name
    local_cluster.delete(f"/api/v1/namespaces/{name}")


InPod = Callable[..., "FakeServiceAccountMount"]
"""The type of the ``in_pod`` fixture's factory."""


@pytest.fixture
def in_pod(local_cluster: LocalCluster, cluster_namespace: str) -> Iterator[InPod]:
    """A factory that runs the rest of the test "as if in a pod" of a ServiceAccount with the rules granted.

    ``mount = in_pod(needs=(), *, service_account="app", cluster_needs=(), bound_to_secret=None, ttl=3600)``:

    - ``needs``: what the ServiceAccount may do, in the SDK's need syntax (``"list,watch:pods"``,
      ``"get:configmaps/app-config"``; see :func:`~incluster_sdk.rbac.needs.parse_needs`): namespaced ones in
      ``cluster_namespace``, cluster-scoped ones cluster-wide (``LocalCluster.grant``).
    - ``service_account``: created in ``cluster_namespace`` if missing; default ``app``.
    - ``cluster_needs``: needs granted in every namespace (an app that watches all namespaces), as
      ``grant(..., cluster_wide=True, name="<service_account>-all-namespaces")``.
    - ``bound_to_secret``: bind the token to this Secret, so that ``local_cluster.invalidate(namespace,
      secret)`` revokes it; None: an unbound token.
    - ``ttl``: the token's lifetime, in seconds (at least 600); default 3600 s, the TokenRequest API's default.

    Both lists are checked against the server's discovery before anything is granted: a need it does not
    know raises :class:`~incluster_sdk.rbac.vocabulary.NeedError`. The factory returns the
    :class:`~incluster_sdk.testing.fake_mount.FakeServiceAccountMount`, with the env vars set until the test
    ends; call :func:`~incluster_sdk.config.load_config` or :func:`~incluster_sdk.client.api_client` after
    it. A later call in the same test takes over the environment.

    The grant is stored, but kube-apiserver's RBAC authorizer takes it in through its own cache a moment
    later (over a second on a loaded CI machine): a request made at once may still get 403. A test that
    needs the permission at once polls first, e.g. with :func:`~incluster_sdk.rbac.access.can_i`.

    :param local_cluster: the session's cluster.
    :param cluster_namespace: the test's namespace.
    :returns: a generator that yields the factory (pytest's fixture protocol).
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
