from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .oracle import ClientGoOracle, OracleNotFound, find_oracle_binary

REQUIRE_ENV = "INCLUSTER_SDK_REQUIRE_CLUSTER"


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def clientgo_oracle() -> Iterator[ClientGoOracle]:
    """The client-go 1.20 kubeconfig oracle (tests/conformance/oracle.py), one process for the session.

    Skips when the binary is missing, except where the real-server tests must run (``CI`` or
    ``INCLUSTER_SDK_REQUIRE_CLUSTER`` set, as for ``local_cluster``): there a missing oracle fails the test.
    """
    try:
        binary = find_oracle_binary()
    except OracleNotFound as exc:
        if _truthy("CI") or _truthy(REQUIRE_ENV):
            pytest.fail(f"the client-go kubeconfig oracle is required here but unavailable: {exc}", pytrace=False)
        pytest.skip(str(exc))
    oracle = ClientGoOracle(binary)
    try:
        yield oracle
    finally:
        oracle.close()
