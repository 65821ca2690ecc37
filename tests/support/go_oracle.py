"""A client-go program as a test oracle: one persistent process, one JSON request per line on stdin, one JSON
answer per line on stdout (the line protocol of ``scripts/workqueue-oracle`` and ``scripts/informer-oracle``).

The programs are built by ``bash scripts/install-kube-binaries.sh`` against the client-go vendored in Debian's
kubernetes 1.20.2 source tree and cached beside kube-apiserver. A test module makes its fixture with
:func:`oracle_fixture`: it skips when the program is not built, except where the real-server tests must run
(``CI`` or ``INCLUSTER_SDK_REQUIRE_CLUSTER`` set): there the install script has built it, and a missing oracle
fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

KUBE_VERSION = "1.20.2"


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def find_oracle(name: str, env: str) -> Path | None:
    """The built program ``name``: ``$env`` if set, else the install script's cache, else None."""
    explicit = os.environ.get(env)
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("INCLUSTER_SDK_CACHE") or Path.home() / ".cache" / "incluster-sdk")
    candidate = cache / f"kubernetes-{KUBE_VERSION}" / name
    return candidate if os.access(candidate, os.X_OK) else None


class GoOracle:
    """One running oracle process; :meth:`ask` sends a request and returns its answer."""

    def __init__(self, binary: Path, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [os.fspath(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the {self.name} exited ({self.proc.poll()})"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def oracle_fixture(name: str, env: str) -> Callable[[], Iterator[GoOracle]]:
    """A module-scoped pytest fixture running the oracle ``name`` (overridden by the variable ``env``)."""

    @pytest.fixture(scope="module")
    def oracle() -> Iterator[GoOracle]:
        binary = find_oracle(name, env)
        if binary is None:
            message = f"{name} not built (bash scripts/install-kube-binaries.sh, or set {env})"
            if _truthy("CI") or _truthy("INCLUSTER_SDK_REQUIRE_CLUSTER"):
                pytest.fail(f"the client-go oracle is required here: {message}", pytrace=False)
            pytest.skip(message)
        running = GoOracle(binary, name)
        try:
            yield running
        finally:
            running.close()

    return oracle
