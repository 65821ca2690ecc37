from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from incluster_sdk.testing import observe_tokens

from .support.fake_apiserver import FakeApiServer
from .support.secrets_seen import issued, leaked_in, remember

# The test kit's fixtures (local_cluster, cluster_namespace, in_pod, fake_service_account): opt-in, as for
# any app that uses the SDK.
pytest_plugins = ["incluster_sdk.testing.pytest_plugin"]


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No pod env, no KUBECONFIG, HOME in a temp dir (so ~/.kube/config is absent). Returns HOME."""
    for var in (
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "KUBECONFIG",
        "POD_NAMESPACE",
        "INCLUSTER_SDK_SERVICE_ACCOUNT_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def fake_apiserver(tmp_path: Path) -> Iterator[FakeApiServer]:
    server = FakeApiServer.start(tmp_path)
    yield server
    server.stop()


# -- the secret-leak check over the whole run -----------------------------------------------------------------
# Every token the test kit hands out is remembered (tests/support/secrets_seen.py, subscribed to the kit's
# observe_tokens hook for the session; tests that make up tokens remember them themselves). Every log record
# of every level, with its exception text, and every failure report is kept; at the end, if any remembered
# token appears in any of them, the run fails.
class _EveryRecord(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(self.format(record))
        except Exception:  # a record that cannot be formatted still gets checked as far as possible
            self.texts.append(f"{record.msg!r} {record.args!r}")


EVERY_RECORD = _EveryRecord()
_stop_observing: list[Callable[[], None]] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _stop_observing.append(observe_tokens(remember))
    root = logging.getLogger()
    root.addHandler(EVERY_RECORD)
    root.setLevel(logging.DEBUG)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.longrepr is not None:
        EVERY_RECORD.texts.append(str(report.longrepr))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _stop_observing:
        _stop_observing.pop()()
    logging.getLogger().removeHandler(EVERY_RECORD)
    found = [(text[:200], leaked_in(text)) for text in EVERY_RECORD.texts if any(t in text for t in issued())]
    if found:
        for text, tokens in found[:10]:
            print(f"\nSECRET LEAK: {tokens} in: {text!r}"[:400])
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        print(f"\nsecret-leak check: {len(issued())} tokens, {len(EVERY_RECORD.texts)} log records and reports: clean")
