"""flows.drive / async_drive: answers are sent, failures thrown in at the yield, results returned (both drivers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incluster_sdk.flows import async_drive, drive


class Boom(Exception):
    pass


def recording_flow(steps: int, log: list[object]) -> Generator[int, object, object]:
    """Yields 0..steps-1; records each answer, or the failure it caught at the yield."""
    for i in range(steps):
        try:
            log.append((yield i))
        except Boom as exc:
            log.append(("caught", exc.args[0]))
    return log


def run_both(
    flow_factory: Callable[[], Generator[int, object, object]], script: dict[int, object]
) -> tuple[object, object]:
    """Run a fresh flow through each driver; ``script`` maps a step to its answer or the exception to raise."""

    def perform(step: int) -> object:
        answer = script[step]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def aperform(step: int) -> object:
        await asyncio.sleep(0)
        return perform(step)

    runners: list[Callable[[Generator[int, object, object]], object]] = [
        lambda f: drive(f, perform),
        lambda f: asyncio.run(async_drive(f, aperform)),
    ]
    outcomes: list[object] = []
    for run in runners:
        try:
            outcomes.append(("returned", run(flow_factory())))
        except Exception as exc:  # compare what each driver lets out
            outcomes.append(("raised", type(exc), exc.args))
    return outcomes[0], outcomes[1]


@given(st.lists(st.one_of(st.text(max_size=3), st.integers(0, 9).map(lambda n: Boom(n))), max_size=8))
def test_both_drivers_answer_and_throw_alike(answers: list[object]) -> None:
    script = dict(enumerate(answers))
    expected = [("caught", a.args[0]) if isinstance(a, Boom) else a for a in answers]
    sync, aio = run_both(lambda: recording_flow(len(answers), []), script)
    assert sync == aio == ("returned", expected)


def test_a_failure_the_flow_does_not_catch_reaches_the_caller_unchanged() -> None:
    error = KeyError("missing")

    def flow() -> Generator[int, str, str]:
        yield 1
        return "unreachable"

    def perform(step: int) -> str:
        raise error

    async def aperform(step: int) -> str:
        raise error

    with pytest.raises(KeyError) as sync_info:
        drive(flow(), perform)
    with pytest.raises(KeyError) as async_info:
        asyncio.run(async_drive(flow(), aperform))
    assert sync_info.value is error and async_info.value is error


def test_what_the_flow_raises_propagates_and_is_not_thrown_back_in() -> None:
    thrown_in: list[BaseException] = []

    def flow() -> Generator[int, str, None]:
        try:
            answer = yield 1
        except Exception as exc:  # would record a wrongly thrown-in failure
            thrown_in.append(exc)
            raise
        raise ValueError(f"bad answer {answer!r}")

    with pytest.raises(ValueError, match="bad answer 'x'"):
        drive(flow(), lambda step: "x")

    async def answer(step: int) -> str:
        return "x"

    with pytest.raises(ValueError, match="bad answer 'x'"):
        asyncio.run(async_drive(flow(), answer))
    assert thrown_in == []


def test_a_flow_without_steps_returns_at_once() -> None:
    def flow() -> Generator[int, str, int]:
        return 7
        yield 0  # a generator

    assert drive(flow(), lambda step: pytest.fail("no step to answer")) == 7

    async def never(step: int) -> str:
        raise AssertionError("no step to answer")

    assert asyncio.run(async_drive(flow(), never)) == 7
