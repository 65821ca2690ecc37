"""A recorder of every informer handler call, to check that no impossible sequence happened.

history = HandlerHistory()
informer.add_handler(**history.handlers())
...
assert history.impossible() == []     # e.g. an update before the add, or two adds without a delete
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from incluster_sdk.watch.store import DeletedFinalStateUnknown


class HandlerHistory:
    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = defaultdict(list)
        self.tombstones: list[DeletedFinalStateUnknown] = []
        #: first time each value of the ``canary`` annotation was seen (monotonic clock)
        self.canary: dict[str, float] = {}
        self._lock = threading.Lock()

    def handlers(self) -> dict[str, Any]:
        def seen(kind: str, obj: Mapping[str, Any]) -> None:
            with self._lock:
                self.by_key[str(obj["metadata"]["name"])].append(kind)
            mark = (obj["metadata"].get("annotations") or {}).get("canary")
            if mark is not None and mark not in self.canary:
                self.canary[mark] = time.monotonic()

        def on_delete(obj: Any) -> None:
            if isinstance(obj, DeletedFinalStateUnknown):
                self.tombstones.append(obj)
                obj = obj.obj
            seen("delete", obj)

        return {
            "on_add": lambda obj, initial: seen("add", obj),
            "on_update": lambda old, new: seen("update", new),
            "on_delete": on_delete,
        }

    def impossible(self) -> list[str]:
        bad = []
        with self._lock:
            for name, sequence in self.by_key.items():
                present = False
                for kind in sequence:
                    if (kind == "add" and present) or (kind in ("update", "delete") and not present):
                        bad.append(f"{name}: {sequence}")
                        break
                    present = kind != "delete"
        return bad
