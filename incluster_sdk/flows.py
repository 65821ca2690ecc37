"""The SDK's one idiom for logic shared by the sync and the asyncio client: a generator flow, run by a driver.

A flow is a generator that yields what it needs done (a request to send, a catalog to read) and receives the
answer; it does no I/O itself, so the same lines serve both clients (the shape of httpx's ``auth_flow`` and of
h11). :func:`drive` runs a flow with a plain function, :func:`async_drive` with a coroutine function. What
``perform`` raises is thrown into the flow at its ``yield``: a flow that can use the failure catches it there,
any other flow lets it propagate to the caller unchanged.

    def flow() -> Generator[str, bytes, int]:
        body = yield "/version"
        return len(body)

    drive(flow(), get)               # sync
    await async_drive(flow(), aget)  # asyncio
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Generic, TypeVar

Step = TypeVar("Step")
Answer = TypeVar("Answer")
Result = TypeVar("Result")


class _Run(Generic[Step, Answer, Result]):
    """One flow being run: the step it waits on, or its result once it has returned. Both drivers step it."""

    __slots__ = ("_flow", "result", "running", "step")

    def __init__(self, flow: Generator[Step, Answer, Result]) -> None:
        self._flow = flow
        self.running = True
        self.result: Result | None = None
        self.resume(None, None)  # send(None) starts a fresh generator, as next() does

    def resume(self, answer: Answer | None, error: Exception | None) -> None:
        """Send ``answer`` to the flow, or throw ``error`` into it at its ``yield``; what the flow raises
        (other than returning) propagates to the driver's caller."""
        try:
            self.step = self._flow.throw(error) if error is not None else self._flow.send(answer)  # type: ignore[arg-type]
        except StopIteration as done:
            self.running, self.result = False, done.value


def _outcome(perform: Callable[[Step], Answer], step: Step) -> tuple[Answer | None, Exception | None]:
    try:
        return perform(step), None
    except Exception as exc:  # thrown into the flow by resume(), where the flow may handle it
        return None, exc


async def _async_outcome(
    perform: Callable[[Step], Awaitable[Answer]], step: Step
) -> tuple[Answer | None, Exception | None]:
    try:
        return await perform(step), None
    except Exception as exc:  # as in _outcome
        return None, exc


def drive(flow: Generator[Step, Answer, Result], perform: Callable[[Step], Answer]) -> Result:
    """Run ``flow`` to its return value, answering each step with ``perform(step)``."""
    run = _Run(flow)
    while run.running:
        run.resume(*_outcome(perform, run.step))
    return run.result  # type: ignore[return-value]  # set when running turned False


async def async_drive(flow: Generator[Step, Answer, Result], perform: Callable[[Step], Awaitable[Answer]]) -> Result:
    """:func:`drive` with a coroutine function: ``await perform(step)`` answers each step."""
    run = _Run(flow)
    while run.running:
        run.resume(*await _async_outcome(perform, run.step))
    return run.result  # type: ignore[return-value]  # as in drive
