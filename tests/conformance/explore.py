"""Find *every* distinct disagreement (the test stops at the first one), each minimized, for fixing the loader.

    python3 -m tests.conformance.explore [-n SETS] [--seed N] [--oracle PATH] [--docs PATH] [--no-explain]

Generates sets with the test's strategy, compares them like the test (deliberate differences from the
docs table explain disagreements unless --no-explain), groups the unexplained ones by a signature (which
side failed and why, or which fields differ), and for each group greedily shrinks the smallest example
(drops files, entries, fields, KUBECONFIG entries) while the signature stays the same. Prints one
minimized set per group with both answers.

Uses tests/conformance/oracle.py's ClientGoOracle (the binary from scripts/install-kube-binaries.sh).
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import logging
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from .compare import PREDICATE_IDS, Attempt, Pair, differing_keys, explain, run_both, table_ids
from .oracle import ClientGoOracle, find_oracle_binary
from .strategies import ROOT, KSet, ksets


def _norm(text: str) -> str:
    text = re.sub(r"/[^\s\"',:;)]*", "<path>", text)
    text = re.sub(r"\"[^\"]*\"|'[^']*'", "<q>", text)
    text = re.sub(r"\d+", "<n>", text)
    return text[:140]


def signature(pair: Pair) -> str:
    o, u = pair.oracle, pair.ours
    if o["ok"] and not u["ok"]:
        return f"client-go ok, ours error: {_norm(u.get('error', ''))}"
    if u["ok"] and not o["ok"]:
        return f"client-go error ({o.get('stage')}): {_norm(o.get('error', ''))}; ours ok"
    return "both ok, differ in " + ", ".join(differing_keys(pair.oracle_canon, pair.ours_canon))


def finding(oracle: ClientGoOracle, k: KSet, pair: Pair, allowed: frozenset[str]) -> tuple[str, KSet] | None:
    """None if the sides agree or a deliberate difference explains it; else the signature and the set that
    shows the disagreement: ``k`` itself, or, when a difference applied but the set without its trigger
    still disagrees, that set (the residue is the finding)."""
    if pair.agree:
        return None
    trail: list[Attempt] = []
    if explain(oracle.resolve, k, pair, allowed, trail=trail):
        return None
    residues = [a for a in trail if a.standalone and a.neutral is not None and a.pair is not None]
    if residues:
        assert residues[-1].pair is not None and residues[-1].neutral is not None
        return signature(residues[-1].pair), residues[-1].neutral
    return signature(pair), k


def _walk(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every dict key and list element, deepest first."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, (*path, k))
            yield (*path, k)
    elif isinstance(obj, list):
        for i in reversed(range(len(obj))):
            yield from _walk(obj[i], (*path, i))
            yield (*path, i)


def _without(obj: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(obj)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return out


def _candidates(k: KSet) -> Iterator[KSet]:
    entries = k.kubeconfig or []
    for i in range(len(entries)):
        yield replace(k, kubeconfig=entries[:i] + entries[i + 1 :])
    if k.context:
        yield replace(k, context="")
    for path in [*k.docs, *k.texts]:
        docs = {p: d for p, d in k.docs.items() if p != path}
        texts = {p: t for p, t in k.texts.items() if p != path}
        yield replace(k, docs=docs, texts=texts)
    for path in list(k.files):
        yield replace(k, files={p: d for p, d in k.files.items() if p != path})
    for link in list(k.links):
        yield replace(k, links={p: d for p, d in k.links.items() if p != link})
    if k.cwd:
        yield replace(k, cwd="")
    for path, doc in k.docs.items():
        for where in _walk(doc):
            yield k.with_doc(path, _without(doc, where))


def shrink(oracle: ClientGoOracle, k: KSet, target: str, allowed: frozenset[str], budget: int = 600) -> KSet:
    """Greedy: apply any simplification that keeps the signature (and leaves the set unexplained)."""
    tries = 0
    changed = True
    while changed and tries < budget:
        changed = False
        for candidate in _candidates(k):
            tries += 1
            try:
                pair = run_both(oracle.resolve, candidate)
            except Exception:  # a crash on our side is its own finding; keep shrinking the original one
                continue
            found = finding(oracle, candidate, pair, allowed)
            if found is not None and found[0] == target and found[1] is candidate:
                k = candidate
                changed = True
                break
            if tries >= budget:
                break
    return k


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="sets to generate (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--oracle", type=Path, default=None, help="the binary (default: as the tests find it)")
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[2] / "docs" / "config.md")
    parser.add_argument("--no-explain", action="store_true", help="report deliberate differences too")
    parser.add_argument("--json", type=Path, help="also write the findings here")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)

    allowed = frozenset() if args.no_explain else frozenset(table_ids(args.docs.read_text())) & PREDICATE_IDS
    oracle = ClientGoOracle(args.oracle or find_oracle_binary())
    groups: dict[str, list[KSet]] = collections.defaultdict(list)
    crashes: dict[str, list[tuple[KSet, str]]] = collections.defaultdict(list)
    explained: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=args.n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @seed(args.seed)
    @given(ksets())
    def collect(k: KSet) -> None:
        try:
            pair = run_both(oracle.resolve, k)
        except Exception as exc:  # every crash is collected
            crashes[f"{type(exc).__name__}: {_norm(str(exc))}"].append((k, repr(exc)))
            return
        outcomes[
            f"client-go {'ok' if pair.oracle['ok'] else 'error'} / ours {'ok' if pair.ours['ok'] else 'error'}"
        ] += 1
        if pair.agree:
            return
        found = finding(oracle, k, pair, allowed)
        if found is None:
            explained[",".join(explain(oracle.resolve, k, pair, allowed) or ["?"])] += 1
            return
        groups[found[0]].append(found[1])

    collect()
    print(f"{args.n} sets (seed {args.seed}): {dict(outcomes)}; explained: {dict(explained)}")
    print(f"{len(groups)} kinds of unexplained disagreement, {len(crashes)} kinds of crash on our side\n")
    findings = []
    for sig, sets in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        smallest = min(sets, key=lambda s: len(s.describe()))
        small = shrink(oracle, smallest, sig, allowed)
        pair = run_both(oracle.resolve, small)
        print("=" * 110)
        print(f"[{len(sets)}x] {sig}")
        print(small.describe())
        print(f"client-go: {json.dumps(pair.oracle)}")
        print(f"ours:      {json.dumps(pair.ours)}")
        if pair.oracle["ok"] and pair.ours["ok"]:
            print(f"client-go (compared): {json.dumps(pair.oracle_canon)}")
            print(f"ours (compared):      {json.dumps(pair.ours_canon)}")
        findings.append(
            {"signature": sig, "count": len(sets), "set": small.describe(), "oracle": pair.oracle, "ours": pair.ours}
        )
    for sig, items in crashes.items():
        k, text = min(items, key=lambda it: len(it[0].describe()))
        print("=" * 110)
        print(f"[{len(items)}x] CRASH {sig}")
        print(k.describe())
        print(text)
    oracle.close()
    if args.json:
        args.json.write_text(json.dumps(findings, indent=1).replace(tempfile.gettempdir(), ROOT + "-tmp"))
    return 1 if groups or crashes else 0


if __name__ == "__main__":
    sys.exit(main())
