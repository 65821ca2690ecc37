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
from typing import TypeVar

Step = TypeVar("Step")
Answer = TypeVar("Answer")
Result = TypeVar("Result")


def drive(flow: Generator[Step, Answer, Result], perform: Callable[[Step], Answer]) -> Result:
    """Run ``flow`` to its return value, answering each step with ``perform(step)``."""
    try:
        step = next(flow)
        while True:
            try:
                answer = perform(step)
            except Exception as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(answer)
    except StopIteration as done:
        result: Result = done.value
        return result


async def async_drive(flow: Generator[Step, Answer, Result], perform: Callable[[Step], Awaitable[Answer]]) -> Result:
    """:func:`drive` with a coroutine function: ``await perform(step)`` answers each step."""
    try:
        step = next(flow)
        while True:
            try:
                answer = await perform(step)
            except Exception as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(answer)
    except StopIteration as done:
        result: Result = done.value
        return result
