"""Handlers on the threaded informer, over a real socket: isolation, order, late joiners, no-handler mode."""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import orjson
import pytest

from incluster_sdk.watch import PODS, Informer
from incluster_sdk.watch.handlers import HANDOFF_WAIT
from tests.support.history import HandlerHistory
from tests.support.http import serve_in_thread, write_chunk

from .test_informer_driver import client_for
from .waiting import wait_until

_END = b""


class StreamingServer:
    """LIST answers an empty PodList; the (one) WATCH streams whatever the test puts, as it puts it."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes] = queue.Queue()
        self.rv = 1
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if "watch=1" not in self.path:
                    body = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}'
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while (chunk := outer.chunks.get()) is not _END:
                    write_chunk(self, chunk)
                write_chunk(self, b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve_in_thread(Handler)
        self.port = self.server.server_address[1]

    def send(self, *events: tuple[str, str]) -> None:
        """(type, name) pairs, as one chunk of watch lines."""
        lines = []
        for kind, name in events:
            self.rv += 1
            obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "ns"}}
            obj["metadata"]["resourceVersion"] = str(self.rv)
            lines.append(orjson.dumps({"type": kind, "object": obj}) + b"\n")
        self.chunks.put(b"".join(lines))

    def close(self) -> None:
        self.chunks.put(_END)
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def streaming(isolated_env: Path) -> Iterator[StreamingServer]:
    server = StreamingServer()
    yield server
    server.close()


def script() -> list[tuple[str, str]]:
    names = [f"p{i}" for i in range(60)]
    return [("ADDED", n) for n in names] + [("MODIFIED", n) for n in names] + [("DELETED", n) for n in names[:20]]


def test_a_blocked_handler_and_a_failing_one_hold_up_no_one(
    streaming: StreamingServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    informer = Informer(client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False)
    release = threading.Event()
    seen: dict[str, list[tuple[str, str]]] = {"fast": [], "slow": [], "failing": []}

    def recorder(name: str, block: bool = False, fail: bool = False) -> dict[str, Any]:
        def record(kind: str, obj: Any) -> None:
            if block:
                release.wait(30)
            seen[name].append((kind, obj["metadata"]["name"]))
            if fail and len(seen[name]) % 3 == 0:
                raise ValueError(f"handler bug number {len(seen[name]) // 3}")

        return {
            "on_add": lambda obj, initial: record("ADDED", obj),
            "on_update": lambda old, new: record("MODIFIED", new),
            "on_delete": lambda obj: record("DELETED", obj),
        }

    informer.add_handler(**recorder("slow", block=True))
    informer.add_handler(**recorder("failing", fail=True))
    informer.add_handler(**recorder("fast"))
    events = script()
    with caplog.at_level(logging.ERROR, logger="incluster_sdk"), informer.start():
        assert informer.wait_for_sync(5)
        started = time.monotonic()
        for i in range(0, len(events), 7):  # many reads, so the watch hands off many batches
            streaming.send(*events[i : i + 7])
        wait_until(lambda: len(seen["fast"]) == len(events) and len(seen["failing"]) == len(events))
        # the blocked handler cost the watch one hand-off wait, not one per read
        assert time.monotonic() - started < 5
        assert len(informer.store) == 40
        assert seen["fast"] == events and seen["failing"] == events
        assert seen["slow"] == []
        release.set()
        wait_until(lambda: len(seen["slow"]) == len(events))
        assert seen["slow"] == events  # in order, nothing lost
    failures = [r for r in caplog.records if "handler" in r.getMessage() and "failed for" in r.getMessage()]
    assert len(failures) == len(events) // 3
    # the line names the informer, the handler and the object's key
    assert all(r.getMessage().startswith("informer pods: handler ") for r in failures)
    assert all(re.search(r"failed for ns/p\d+$", r.getMessage()) for r in failures)
    assert all(r.exc_info is not None and "handler bug number" in str(r.exc_info[1]) for r in failures)


def mirror(replica: dict[str, str]) -> dict[str, Any]:
    """Handlers that keep ``replica`` as name -> resourceVersion."""

    def put(obj: Any) -> None:
        replica[obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]

    return {
        "on_add": lambda obj, initial: put(obj),
        "on_update": lambda old, new: put(new),
        "on_delete": lambda obj: replica.pop(obj["metadata"]["name"]),
    }


def test_a_handler_added_mid_stream_sees_a_gapless_sequence(streaming: StreamingServer, tmp_path: Path) -> None:
    """A late handler gets the cache as adds, then exactly the changes after it: no update before its add,
    no second add, and what it reconstructs equals the cache."""
    informer = Informer(client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False)
    names = [f"p{i}" for i in range(40)]
    stop = threading.Event()

    def caught_up() -> bool:
        return int(informer.watcher.resource_version or 0) >= streaming.rv

    def churn() -> None:
        i = 0
        while not stop.is_set():  # long reads: CPython's thread switch can fall between storing and delivering
            batch = []
            for _ in range(2000):
                batch.append((("ADDED", "MODIFIED", "DELETED")[(i // len(names)) % 3], names[i % len(names)]))
                i += 1
            streaming.send(*batch)
            # Back-pressure: the next batch only once the informer has applied this one. Without it this
            # thread sent 200,000 events in the time the 40 handlers took to join, and draining that backlog
            # took 9-12 s on this machine: the wait for "last" below timed out whenever the machine was busy.
            wait_until(lambda: caught_up() or stop.is_set())
            time.sleep(0.01)

    with informer.start():
        assert informer.wait_for_sync(5)
        writer = threading.Thread(target=churn, daemon=True)
        writer.start()
        late: list[HandlerHistory] = []
        replicas: list[dict[str, str]] = []
        for _ in range(20):
            time.sleep(0.01)
            history, replica = HandlerHistory(), {}

            informer.add_handler(**history.handlers())
            informer.add_handler(**mirror(replica))
            late.append(history)
            replicas.append(replica)
        stop.set()
        writer.join()
        streaming.send(("ADDED", "last"))
        wait_until(lambda: all("last" in r for r in replicas))
        cached = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.store.list()}
    assert all(h.impossible() == [] for h in late), [h.impossible() for h in late]
    assert all(r == cached for r in replicas)


def test_without_handlers_no_calls_are_collected(streaming: StreamingServer, tmp_path: Path) -> None:
    informer = Informer(client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False)
    returned: list[list[Any]] = []
    watch_read = informer.state.watch_read

    def recording(events: Any) -> list[Any]:
        returned.append(watch_read(events))
        return returned[-1]

    informer.state.watch_read = recording  # type: ignore[method-assign]
    with informer.start():
        assert informer.wait_for_sync(5)
        streaming.send(*script())
        wait_until(lambda: len(informer.store) == 40)
        assert all(calls == [] for calls in returned)  # replaced objects were freed at once, not held for nobody


def test_hand_off_waits_for_a_handler_that_keeps_up_and_not_for_one_that_lags() -> None:
    from incluster_sdk.watch.handlers import Handler, ThreadRunner

    gate = threading.Event()
    calls: list[str] = []
    runner = ThreadRunner(
        Handler(on_add=lambda obj, initial: (gate.wait(10), calls.append(obj["n"]))), "test", orjson.loads
    )
    try:
        gate.set()
        runner.put([("add", {"n": "a"}, b"", False)], True)
        runner.hand_off()
        assert calls == ["a"]  # it ran before hand_off returned
        gate.clear()
        runner.put([("add", None, b'{"n":"b"}', False)])
        started = time.monotonic()
        runner.hand_off()  # waits HANDOFF_WAIT, gives up: the handler is now lagging
        runner.put([("add", None, b'{"n":"c"}', False)])
        runner.hand_off()  # not waited for at all
        runner.hand_off()
        assert time.monotonic() - started < HANDOFF_WAIT + 0.5
        gate.set()
        wait_until(lambda: calls == ["a", "b", "c"])
    finally:
        gate.set()
        runner.stop(5)


def test_an_informer_starts_once(streaming: StreamingServer, tmp_path: Path) -> None:
    """A second start() would run a second watch loop into the same cache: it is refused, clearly."""
    informer = Informer(client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False)
    with informer.start() as same:  # entering a started informer does not start it again
        assert same is informer
        with pytest.raises(RuntimeError, match="already started"):
            informer.start()
        assert informer.wait_for_sync(5)
    assert sum(t.name.startswith("incluster-sdk-informer") for t in threading.enumerate()) == 0
    with pytest.raises(RuntimeError, match="was stopped: an informer runs once"), informer:
        pass  # a stopped informer is not entered as if it ran
    never_ran = Informer(client_for(streaming.port, tmp_path), PODS, preflight=False)
    never_ran.stop()  # a stop before the start counts: the start would run a loop that ends at once
    with pytest.raises(RuntimeError, match="was stopped"):
        never_ran.start()


async def test_an_async_informer_starts_once_and_a_failed_start_can_be_retried(tmp_path: Path) -> None:
    from incluster_sdk.watch import AsyncInformer

    informer = AsyncInformer(object(), PODS, preflight=False)  # type: ignore[arg-type]  # never connects
    informer.start()
    with pytest.raises(RuntimeError, match="already started"):
        informer.start()
    await informer.stop()
    with pytest.raises(RuntimeError, match="was stopped"):
        async with informer:
            pass


def test_an_async_informer_started_outside_a_loop_can_be_started_later() -> None:
    import asyncio

    from incluster_sdk.watch import AsyncInformer

    informer = AsyncInformer(object(), PODS, preflight=False)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no running event loop"):
        informer.start()
    assert not informer.started

    async def later() -> None:
        informer.start()
        await informer.stop()

    asyncio.run(later())


def test_a_handler_joining_in_the_middle_of_a_read_waits_for_its_end(
    streaming: StreamingServer, tmp_path: Path
) -> None:
    """Deterministic form of the race above: another thread adds a handler while a read is half applied
    (from inside the transform). Its snapshot must not contain half a read that it then also gets as calls."""
    joined = threading.Event()
    history = HandlerHistory()
    replica: dict[str, str] = {}

    def join() -> None:
        informer.add_handler(**history.handlers())
        informer.add_handler(**mirror(replica))
        joined.set()

    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        if obj["metadata"]["name"] == "p30" and not joined.is_set():
            threading.Thread(target=join, daemon=True).start()
            joined.wait(0.5)  # without the lock the join completes here, mid-read
        return obj

    informer = Informer(
        client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False, transform=transform
    )
    informer.add_handler(on_add=lambda obj, initial: None)  # so the read's calls are being collected
    with informer:
        assert informer.wait_for_sync(5)
        streaming.send(*[("ADDED", f"p{i}") for i in range(60)])  # one read
        wait_until(joined.is_set)
        streaming.send(*[("MODIFIED", f"p{i}") for i in range(60)], *[("DELETED", f"p{i}") for i in range(20)])
        wait_until(lambda: len(replica) == 40)
        time.sleep(0.2)
        cached = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.store.list()}
    assert history.impossible() == []
    assert replica == cached


def test_a_removed_handler_gets_nothing_more_and_the_others_carry_on(
    streaming: StreamingServer, tmp_path: Path
) -> None:
    """client-go's RemoveEventHandler: the registration add_handler returns stops that handler's calls."""
    informer = Informer(client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False)
    kept: list[str] = []
    removed: list[str] = []
    registration = informer.add_handler(on_add=lambda obj, initial: removed.append(obj["metadata"]["name"]))
    informer.add_handler(on_add=lambda obj, initial: kept.append(obj["metadata"]["name"]))
    with informer:
        assert informer.wait_for_sync(5)
        wait_until(lambda: registration.has_synced)
        streaming.send(("ADDED", "a"))
        wait_until(lambda: kept == ["a"] and removed == ["a"])
        registration.remove()
        registration.remove()  # twice: nothing more
        streaming.send(("ADDED", "b"))
        wait_until(lambda: kept == ["a", "b"])
        time.sleep(0.05)
        assert removed == ["a"]
        wait_until(lambda: sum(t.name.startswith("incluster-sdk-handler") for t in threading.enumerate()) == 1)
    assert sum(t.name.startswith("incluster-sdk-handler") for t in threading.enumerate()) == 0


def test_has_synced_means_this_handler_has_seen_the_initial_state(streaming: StreamingServer, tmp_path: Path) -> None:
    """Per handler, as client-go's registration.HasSynced: a slow handler is not synced until it has run the
    initial adds, even though the informer is; a late one is synced once it has run the cache it was given."""
    informer = Informer(client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False)
    gate = threading.Event()
    slow = informer.add_handler(on_add=lambda obj, initial: gate.wait(10))
    with informer:
        assert informer.wait_for_sync(5)
        streaming.send(("ADDED", "a"), ("ADDED", "b"))
        wait_until(lambda: len(informer.store) == 2)
        gate.set()
        wait_until(lambda: slow.has_synced)
        gate.clear()
        seen: list[bool] = []
        late = informer.add_handler(on_add=lambda obj, initial: (gate.wait(10), seen.append(initial)))
        time.sleep(0.05)
        assert not late.has_synced  # still running the two cached objects it was given
        gate.set()
        wait_until(lambda: late.has_synced)
        assert seen == [True, True]


def test_each_handler_gets_its_own_objects(streaming: StreamingServer, tmp_path: Path) -> None:
    """A handler that edits the object it was given changes neither the cache nor what another handler sees."""
    informer = Informer(client_for(streaming.port, tmp_path), PODS, namespace="ns", preflight=False)
    seen: list[dict[str, Any]] = []

    def vandal(obj: dict[str, Any], initial: bool) -> None:
        obj["metadata"].setdefault("labels", {})["x"] = "y"
        obj["spec"] = "gone"

    informer.add_handler(on_add=vandal)
    informer.add_handler(on_add=lambda obj, initial: seen.append(obj))
    informer.add_handler(on_add=vandal)
    with informer:
        assert informer.wait_for_sync(5)
        streaming.send(("ADDED", "a"))
        wait_until(lambda: len(seen) == 1)
        time.sleep(0.05)
    assert "labels" not in seen[0]["metadata"] and "spec" not in seen[0]
    cached = informer.store.get("ns/a")
    assert cached is not None and "labels" not in cached["metadata"] and "spec" not in cached


async def test_asyncio_registrations_remove_and_sync(streaming: StreamingServer, tmp_path: Path) -> None:
    import asyncio

    import incluster_sdk
    from incluster_sdk.watch import AsyncInformer

    client_for(streaming.port, tmp_path)  # writes tmp_path/kc for the server
    cfg = incluster_sdk.load_config(kubeconfig=tmp_path / "kc")
    async with await incluster_sdk.async_api_client(cfg) as client:
        informer = AsyncInformer(client, PODS, namespace="ns", preflight=False)
        kept: list[str] = []
        removed: list[str] = []

        async def keep(obj: dict[str, Any], initial: bool) -> None:
            kept.append(obj["metadata"]["name"])

        registration = informer.add_handler(on_add=lambda obj, initial: removed.append(obj["metadata"]["name"]))
        informer.add_handler(on_add=keep)
        async with informer:
            assert await informer.wait_for_sync(5)
            streaming.send(("ADDED", "a"))
            for _ in range(200):
                if kept == ["a"] and removed == ["a"] and registration.has_synced:
                    break
                await asyncio.sleep(0.01)
            assert registration.has_synced
            registration.remove()
            streaming.send(("ADDED", "b"))
            for _ in range(200):
                if kept == ["a", "b"]:
                    break
                await asyncio.sleep(0.01)
            assert kept == ["a", "b"] and removed == ["a"]
