"""Import time: ``import incluster_sdk`` against the peers' imports, side by side in one run.

Each import runs in a fresh interpreter with ``-X importtime`` (the cumulative time of the top-level module,
so interpreter start-up is not counted); the median of ``--runs`` runs is printed with its ratio to
``import incluster_sdk``. Peers that are not installed are listed as such.

    python benchmarks/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys

IMPORTS = (
    ("incluster_sdk", "incluster_sdk"),
    ("incluster_sdk, then its sync client", "incluster_sdk; incluster_sdk.api_client"),
    ("kubernetes.client", "kubernetes.client"),
    ("kubernetes_asyncio.client", "kubernetes_asyncio.client"),
    ("lightkube", "lightkube"),
    ("kr8s", "kr8s"),
    ("kopf", "kopf"),
)


def once(statement: str) -> float:
    """Seconds ``import <statement>`` takes, from -X importtime's cumulative column (all top-level imports)."""
    code = f"import {statement}"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    total = 0
    for line in done.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package": top-level packages have no indentation
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            if parts[2].strip() in ("site", "encodings"):  # interpreter start-up
                continue
            total += int(parts[1])
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    rows = []
    for label, statement in IMPORTS:
        if importlib.util.find_spec(statement.split(";")[0].split(".")[0]) is None:
            rows.append((label, None))
            continue
        rows.append((label, statistics.median(once(statement) for _ in range(args.runs))))
    base = rows[0][1] or 1.0
    print(f"import time, median of {args.runs} fresh interpreters")
    for label, seconds in rows:
        shown = "not installed" if seconds is None else f"{seconds * 1000:7.1f} ms  {seconds / base:5.2f}x"
        print(f"  {label:<42}{shown}")


if __name__ == "__main__":
    main()
