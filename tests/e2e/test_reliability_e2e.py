"""The reliability suite's short form, against the session's real API server (it restarts it several times).

Each scenario must end with zero failed reads, zero lost final state, no impossible handler sequence and
no leaked thread or file descriptor. The soak's short form checks that memory stays flat under churn.
"""

from __future__ import annotations

import pytest

from incluster_sdk.testing import LocalCluster
from tests.support.reliability import SCENARIOS, prepare, print_table, run_scenario, soak

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prepared(local_cluster: LocalCluster) -> LocalCluster:
    prepare(local_cluster)
    return local_cluster


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(scenario: str, prepared: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_scenario(prepared, scenario)
    with capsys.disabled():
        print_table([result])
    assert result.requests > 20  # the load ran (the compaction scenario keeps the proxy refusing for seconds)
    assert result.ok, result.failures
    assert result.recoveries, "no recovery was measured"
    if scenario.startswith("etcd compaction"):
        assert "(0 relists)" not in result.faults, "the 410 Gone path was not exercised"


def test_soak_short_form(prepared: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    figures = soak(prepared, minutes=1.5, objects=5000)
    with capsys.disabled():
        print("\nsoak: " + ", ".join(f"{k}={v:.1f}" for k, v in figures.items()))
    assert figures["converged"] == 1.0
    assert figures["growth_mib"] < 20, figures  # flat, within allocator noise
