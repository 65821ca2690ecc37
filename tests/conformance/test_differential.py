"""Differential test: our kubeconfig loader against client-go 1.20 (the oracle), on generated kubeconfig sets.

Each generated set (tests/conformance/strategies.py: 1-3 kubeconfig files in a small tree, the files they
point at, loaded through a KUBECONFIG list or an explicit path, with or without --context) is resolved by
client-go (``clientgo_oracle``) and by us (tests/conformance/ours.py), and the two normalized answers must
agree: both ok and equal, or both errors (texts may differ). A disagreement passes only when a deliberate
difference listed in docs/config.md ("Conformance" table) explains it (tests/conformance/compare.py).

Run:   python3 -m pytest tests/conformance/test_differential.py
Replay the random-seed run:   CONFORMANCE_SEED=<seed> python3 -m pytest tests/conformance/test_differential.py -k random
Docs table from elsewhere (drafts):   CONFORMANCE_DOCS=/path/to/config.md
More sets: CONFORMANCE_EXAMPLES=3000; no shrinking of a failure: CONFORMANCE_SHRINK=0
Every distinct disagreement at once, minimized:   python3 -m tests.conformance.explore -n 3000
"""

from __future__ import annotations

import base64
import collections
import contextlib
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings

from .compare import DIFFERENCES, PREDICATE_IDS, Attempt, differing_keys, explain, run_both, table_ids
from .material import material
from .ours import resolve_ours
from .strategies import EXEC_API_OLD, KSet, ksets

DOCS = Path(os.environ.get("CONFORMANCE_DOCS") or Path(__file__).resolve().parents[2] / "docs" / "config.md")
EXAMPLES = int(os.environ.get("CONFORMANCE_EXAMPLES", "300"))
#: CONFORMANCE_SHRINK=0: report the first disagreement as found (faster; hypothesis shrinks it by default).
SHRINK = os.environ.get("CONFORMANCE_SHRINK", "1") != "0"
FIXED_SEED = 20_210_113  # client-go 1.20.2's release date; any constant does
TEST_FILE = "tests/conformance/test_differential.py"
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    phases=tuple(Phase) if SHRINK else tuple(p for p in Phase if p is not Phase.shrink),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


@contextlib.contextmanager
def _quiet_loader() -> Iterator[None]:
    """The loader logs every load at INFO (and watchdog every file event at DEBUG): thousands of lines in a
    failure's "Captured log"."""
    loggers = [logging.getLogger(name) for name in ("incluster_sdk", "watchdog")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _documented_ids() -> list[str]:
    return table_ids(DOCS.read_text()) if DOCS.exists() else []


def test_every_deliberate_difference_has_a_predicate_and_a_row() -> None:
    documented = _documented_ids()
    duplicated = sorted({i for i in documented if documented.count(i) > 1})
    assert not duplicated, f"ids listed twice in the Conformance table of {DOCS}: {duplicated}"
    without_predicate = sorted(set(documented) - PREDICATE_IDS)
    without_row = sorted(PREDICATE_IDS - set(documented))
    assert not without_predicate and not without_row, (
        f"the Conformance table in {DOCS} and the predicates in tests/conformance/compare.py must list the same "
        f"ids.\n  in the table, no predicate: {without_predicate}\n  a predicate, no row in the table: {without_row}"
    )


def test_table_ids_reads_the_first_column_of_the_conformance_section() -> None:
    markdown = (
        "# Config\n| `not-here` | x |\n## Conformance\nText.\n\n| id | difference | reason |\n|---|---|---|\n"
        "| `one-id` | a | b |\n|`two`|c|d|\n| no-backticks | e | f |\n### Sub\n| `three` | x |\n"
        "| `field` (details) | y |\n## Errors\n| `not-this-either` | x |\n"
    )
    assert table_ids(markdown) == ["one-id", "two", "three"]


def _one_file_set(cluster: dict[str, Any], user: dict[str, Any] | None, files: dict[str, bytes] | None = None) -> KSet:
    """Context x1 -> cluster c1 and user u1 (``user=None``: no user u1 defined) in one file."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c1", "cluster": cluster}],
        "users": [] if user is None else [{"name": "u1", "user": user}],
        "contexts": [{"name": "x1", "context": {"cluster": "c1", "user": "u1"}}],
        "current-context": "x1",
    }
    files = files or {}
    labels = dict.fromkeys(files, "support file")
    return KSet(docs={"config": doc}, texts={}, files=files, labels=labels, dirs=(), cwd="", kubeconfig=["config"],
                explicit=None, context="")  # fmt: skip


_HTTPS = {"server": "https://h:6443"}
_EXEC = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "cred-helper"}
_B64 = base64.b64encode

#: One small set per deliberate difference the generator reaches, exercising it and nothing else.
EXAMPLES: dict[str, KSet] = {
    "scheme-less-server": _one_file_set({"server": "h:6443"}, {"token": "tok"}),
    "server-scheme": _one_file_set({"server": "ftp://h"}, {}),
    "server-userinfo": _one_file_set({"server": "https://user@h:6443"}, {}),
    "tokenfile-read-at-load": _one_file_set(_HTTPS, {"token": "tok", "tokenFile": "no-such-file"}),
    "token-not-a-header": _one_file_set(_HTTPS, {"tokenFile": "token"}, {"token": b"line1\nline2\n"}),
    "exec-v1alpha1": _one_file_set(_HTTPS, {"exec": {**_EXEC, "apiVersion": EXEC_API_OLD}}),
    "static-cert-beats-exec": _one_file_set(
        _HTTPS,
        {
            "client-certificate-data": _B64(material().client_cert).decode(),
            "client-key-data": _B64(material().client_key).decode(),
            "exec": _EXEC,
        },
    ),
    "basic-auth-beats-exec": _one_file_set(_HTTPS, {"username": "admin", "password": "secret", "exec": _EXEC}),
    "missing-user": _one_file_set(_HTTPS, None),
    "ca-bundle-strict": _one_file_set(
        {**_HTTPS, "certificate-authority": "ca.crt"}, {"token": "tok"}, {"ca.crt": material().ca_with_junk}
    ),
    "client-pair-at-load": _one_file_set(
        _HTTPS,
        {"client-certificate": "client.crt", "client-key": "client.key"},
        {"client.crt": material().client_cert, "client.key": material().other_key},
    ),
    "proxy-url-without-host": _one_file_set({**_HTTPS, "proxy-url": "http://"}, {}),
    # Over https the oracle refuses it too (it registers no auth-provider plugin, kubectl 1.20 has gcp, azure,
    # oidc); over http client-go never looks at the user.
    "auth-provider": _one_file_set({"server": "http://h"}, {"auth-provider": {"name": "gcp"}}),
    "impersonation": _one_file_set(_HTTPS, {"token": "tok", "as": "someone"}),
}


def test_every_generated_predicate_has_an_example() -> None:
    assert set(EXAMPLES) == {d.id for d in DIFFERENCES if d.generated}


@pytest.mark.parametrize("difference", sorted(EXAMPLES))
def test_each_deliberate_difference_still_differs_and_is_recognized(clientgo_oracle: Any, difference: str) -> None:
    """If the sides now agree on the example, the difference is gone: drop its row and its predicate."""
    kset = EXAMPLES[difference]
    with _quiet_loader():
        pair = run_both(clientgo_oracle.resolve, kset)
        assert not pair.agree, f"{difference}: client-go and we now agree on its example; remove it\n{kset.describe()}"
        trail: list[Attempt] = []
        ids = explain(clientgo_oracle.resolve, kset, pair, PREDICATE_IDS, trail=trail)
    assert ids == [difference], "\n".join(
        [f"{difference}: its example is explained by {ids}", kset.describe(), f"client-go: {pair.oracle}",
         f"ours:      {pair.ours}", *map(str, trail)]
    )  # fmt: skip


class Differential:
    """One run: compares sets, counts, and builds the failure message."""

    def __init__(self, oracle: Any, label: str, replay: str) -> None:
        self.oracle = oracle.resolve
        self.label = label
        self.replay = replay
        self.allowed = frozenset(_documented_ids()) & PREDICATE_IDS
        self.compared = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.explained: collections.Counter[str] = collections.Counter()
        self.base = tempfile.mkdtemp(prefix="conformance-")

    def check(self, kset: KSet) -> None:
        note(kset.describe())
        pair = run_both(self.oracle, kset, self.base)
        self.compared += 1
        self.outcomes[
            f"client-go {'ok' if pair.oracle['ok'] else 'error'}, ours {'ok' if pair.ours['ok'] else 'error'}"
        ] += 1
        if pair.agree:
            return
        trail: list[Attempt] = []
        ids = explain(self.oracle, kset, pair, self.allowed, self.base, trail)
        if ids is not None:
            for i in ids:
                self.explained[i] += 1
            return
        raise AssertionError(self.message(kset, pair, trail))

    def message(self, kset: KSet, pair: Any, trail: list[Attempt]) -> str:
        lines = [
            "client-go and incluster_sdk disagree on this kubeconfig set:",
            kset.describe(),
            f"request (as sent): {pair.request}",
            f"client-go: {pair.oracle}",
            f"ours:      {pair.ours}",
        ]
        if pair.oracle["ok"] and pair.ours["ok"]:
            lines.append(f"differing: {', '.join(differing_keys(pair.oracle_canon, pair.ours_canon))}")
            lines.append(f"client-go (compared form): {pair.oracle_canon}")
            lines.append(f"ours (compared form):      {pair.ours_canon}")
        lines += [f"not explained by {attempt}" for attempt in trail]
        lines.append(f"{self.label}; replay: {self.replay}")
        return "\n".join(lines)

    def summary(self) -> str:
        explained = ", ".join(f"{k}={v}" for k, v in sorted(self.explained.items())) or "none"
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"\n[conformance {self.label}] {self.compared} kubeconfig sets compared, shrinking included ({outcomes}); "
            f"disagreements explained by deliberate differences: {explained}; replay: {self.replay}"
        )

    def run(self, seed_value: int, capsys: pytest.CaptureFixture[str]) -> None:
        @_SETTINGS
        @seed(seed_value)
        @given(ksets())
        def compare(kset: KSet) -> None:
            self.check(kset)

        try:
            with _quiet_loader():
                compare()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            with capsys.disabled():
                print(self.summary())


def test_differential_fixed_seed(clientgo_oracle: Any, capsys: pytest.CaptureFixture[str]) -> None:
    Differential(
        clientgo_oracle,
        f"fixed seed {FIXED_SEED}",
        f"python3 -m pytest {TEST_FILE}::test_differential_fixed_seed",
    ).run(FIXED_SEED, capsys)


def test_differential_random_seed(clientgo_oracle: Any, capsys: pytest.CaptureFixture[str]) -> None:
    seed_value = int(os.environ.get("CONFORMANCE_SEED") or random.SystemRandom().randrange(2**32))
    Differential(
        clientgo_oracle,
        f"random seed {seed_value}",
        f"CONFORMANCE_SEED={seed_value} python3 -m pytest {TEST_FILE}::test_differential_random_seed",
    ).run(seed_value, capsys)


def test_ours_never_crashes() -> None:
    """Without the oracle: every generated set loads, or fails with a ConfigError (resolve_ours lets any
    other exception through)."""
    base = tempfile.mkdtemp(prefix="conformance-ours-")

    @_SETTINGS
    @seed(FIXED_SEED + 1)
    @given(ksets())
    def load(kset: KSet) -> None:
        note(kset.describe())
        with tempfile.TemporaryDirectory(dir=base) as d:
            request = kset.write(Path(d))
            resolve_ours(**request, home=str(Path(d) / "home"))

    try:
        with _quiet_loader():
            load()
    finally:
        shutil.rmtree(base, ignore_errors=True)
