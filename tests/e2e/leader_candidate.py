"""One leader-election candidate as its own process (for the e2e tests): prints JSON lines.

    python leader_candidate.py NAME LEASE_DURATION RENEW_DEADLINE RETRY_PERIOD
SIGTERM stops it gracefully (stop leading, release the lease); SIGKILL is the crash case.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time

import incluster_sdk
from incluster_sdk.leader import LeaderElector

_stdout_lock = threading.Lock()


def emit(event: str, **fields: object) -> None:
    # Callbacks run on more than one thread, and print() writes the text and the newline separately:
    # without the lock two events can share a line.
    line = json.dumps({"event": event, "t": time.time(), **fields}) + "\n"
    with _stdout_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def main() -> None:
    name, lease, renew, retry = sys.argv[1], *map(float, sys.argv[2:5])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    elector = LeaderElector(
        incluster_sdk.api_client(),
        name,
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
        on_started_leading=lambda: emit("started"),
        on_stopped_leading=lambda: emit("stopped"),
        on_new_leader=lambda who: emit("new_leader", leader=who),
    )
    emit("ready", identity=elector.identity)
    with elector:
        stop.wait()
    emit("exit")


if __name__ == "__main__":
    main()
