"""Stateful hypothesis tests of the work queue against a plain reference model of client-go's rules.

The machine adds, delays, advances a fake clock, takes items as several workers, finishes them and shuts down,
on the sans-I/O core and on the thread front-end (with ``get(timeout=0)``), and checks after every step:
never the same item in two workers at once, no add lost (every added item is dirty until a worker takes it),
delays respected (nothing comes out before its ready time, and it comes out in the model's order), and after a
shutdown the workers drain what was queued and then stop.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from incluster_sdk.controller.queue_core import EMPTY, QueueCore
from incluster_sdk.controller.workqueue import RateLimitingQueue, ShutDown

ITEMS = st.sampled_from(["a", "b", "c", "d"])
DELAYS = st.sampled_from([-1.0, 0.0, 0.5, 1.0, 1.5, 3.0])
STEPS = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0])


class Model:
    """client-go's workqueue written the obvious way: lists and dicts, no heap, no cleverness."""

    def __init__(self) -> None:
        self.queue: list[str] = []
        self.dirty: set[str] = set()
        self.processing: set[str] = set()
        self.waiting: dict[str, tuple[float, int]] = {}
        self.seq = 0
        self.shutting_down = False

    def add(self, item: str) -> None:
        if self.shutting_down or item in self.dirty:
            return
        self.dirty.add(item)
        if item not in self.processing:
            self.queue.append(item)

    def add_after(self, item: str, delay: float, now: float) -> None:
        if self.shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready = now + delay
        if item not in self.waiting or ready < self.waiting[item][0]:
            self.seq += 1
            self.waiting[item] = (ready, self.seq)

    def promote(self, now: float) -> None:
        for item, _ in sorted(((i, w) for i, w in self.waiting.items() if w[0] <= now), key=lambda iw: iw[1]):
            del self.waiting[item]
            self.add(item)

    def get(self) -> str | None:
        if not self.queue:
            return None
        item = self.queue.pop(0)
        self.processing.add(item)
        self.dirty.discard(item)
        return item

    def done(self, item: str) -> None:
        self.processing.discard(item)
        if item in self.dirty:
            self.queue.append(item)

    def shutdown(self) -> None:
        self.shutting_down = True
        self.waiting.clear()


class QueueMachine(RuleBasedStateMachine):
    """Drives one implementation (``make``) and the model with the same calls; compares what comes out."""

    make: Callable[[Callable[[], float]], object]

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.model = Model()
        self.in_workers: set[str] = set()  # what the workers hold, per the implementation's answers
        self.impl = type(self).make(lambda: self.now)

    # the two drivers differ only in these three calls
    def impl_add(self, item: str) -> None:
        raise NotImplementedError

    def impl_get(self) -> str | None:
        raise NotImplementedError

    def impl_call(self, name: str, *args: object) -> None:
        raise NotImplementedError

    @rule(item=ITEMS)
    def add(self, item: str) -> None:
        self.model.promote(self.now)
        self.model.add(item)
        self.impl_add(item)

    @rule(item=ITEMS, delay=DELAYS)
    def add_after(self, item: str, delay: float) -> None:
        self.model.promote(self.now)
        self.model.add_after(item, delay, self.now)
        self.impl_call("add_after", item, delay)

    @rule(seconds=STEPS)
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def get(self) -> None:
        self.model.promote(self.now)
        expected = self.model.get()
        got = self.impl_get()
        assert got == expected, f"got {got!r}, the model says {expected!r} at t={self.now}"
        if got is not None:
            assert got not in self.in_workers, f"{got!r} handed to a second worker"
            self.in_workers.add(got)

    @precondition(lambda self: bool(self.in_workers))
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        item = data.draw(st.sampled_from(sorted(self.in_workers)))
        self.in_workers.remove(item)
        self.model.promote(self.now)
        self.model.done(item)
        self.impl_call("done", item)

    @rule()
    def shutdown(self) -> None:
        self.model.promote(self.now)
        self.model.shutdown()
        self.impl_call("shutdown")

    @invariant()
    def shutdown_drains(self) -> None:
        """Once shut down, workers finishing what they hold and taking what is queued reach the end."""
        if not self.model.shutting_down:
            return
        for _ in range(100):
            self.model.promote(self.now)
            expected = self.model.get()
            got = self.impl_get()
            assert got == expected
            if got is None:
                break
            self.impl_call("done", got)
            self.model.done(got)
        for item in sorted(self.in_workers):
            self.impl_call("done", item)
            self.model.done(item)
            got = self.impl_get()
            expected = self.model.get()
            assert got == expected
            if got is not None:
                self.impl_call("done", got)
                self.model.done(got)
        self.in_workers.clear()
        assert self.impl_get() is None
        assert self.model.queue == [] and self.model.processing == set()


class CoreMachine(QueueMachine):
    make = staticmethod(lambda clock: QueueCore[str]())

    def core(self) -> QueueCore[str]:
        assert isinstance(self.impl, QueueCore)
        return self.impl

    def impl_add(self, item: str) -> None:
        self.core().add(item, self.now)

    def impl_get(self) -> str | None:
        item = self.core().get(self.now)
        return None if item is EMPTY else item

    def impl_call(self, name: str, *args: object) -> None:
        getattr(self.core(), name)(*args, *([self.now] if name in ("add_after", "done", "shutdown") else []))

    @invariant()
    def sets_as_client_go(self) -> None:
        """queue == dirty - processing, in order, no duplicate; dirty items are the model's; none lost."""
        core = self.core()
        assert core.dirty == self.model.dirty
        assert core.processing == self.in_workers == self.model.processing
        assert len(core) == len(self.model.queue)
        assert core.waiting == {item: ready for item, (ready, _) in self.model.waiting.items()}
        next_ready = core.next_ready_at()
        assert next_ready == min((ready for ready, _ in self.model.waiting.values()), default=None)


class ThreadFrontEndMachine(QueueMachine):
    make = staticmethod(lambda clock: RateLimitingQueue[str](clock=clock))

    def queue(self) -> RateLimitingQueue[str]:
        assert isinstance(self.impl, RateLimitingQueue)
        return self.impl

    def impl_add(self, item: str) -> None:
        self.queue().add(item)

    def impl_get(self) -> str | None:
        try:
            return self.queue().get(timeout=0)
        except (TimeoutError, ShutDown):
            return None

    def impl_call(self, name: str, *args: object) -> None:
        getattr(self.queue(), name)(*args)

    @invariant()
    def length(self) -> None:
        self.model.promote(self.now)
        assert len(self.queue()) == len(self.model.queue)


SETTINGS = settings(max_examples=150, stateful_step_count=40, deadline=None)
CoreMachine.TestCase.settings = SETTINGS
ThreadFrontEndMachine.TestCase.settings = SETTINGS
TestCore = CoreMachine.TestCase
TestThreadFrontEnd = ThreadFrontEndMachine.TestCase
