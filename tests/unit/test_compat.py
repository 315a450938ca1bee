"""compat.run_in_thread: blocking work off the event loop, in a thread the Task SDK can use there."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync

from airflow_provider_lambda_ue.compat import run_in_thread


def test_a_sync_sdk_call_in_the_thread_runs_on_the_callers_event_loop() -> None:
    """
    Before Airflow 3.2 the triggerer's ``send`` is ``async_to_sync(asend)``: it must run on the
    triggerer's own loop (which owns the socket and its lock). From ``asyncio.to_thread`` it ran
    on a loop of its own, and the triggerer died ("Response read out of order").
    """
    seen: dict[str, object] = {}

    async def asend() -> str:
        seen["loop"] = asyncio.get_running_loop()
        return "answer"

    def blocking_sdk_call(suffix: str, *, twice: bool) -> str:
        seen["thread"] = threading.get_ident()
        answer = async_to_sync(asend)()
        return answer * 2 + suffix if twice else answer + suffix

    async def trigger() -> tuple[str, asyncio.AbstractEventLoop, int]:
        answer = await run_in_thread(blocking_sdk_call, "!", twice=True)
        return answer, asyncio.get_running_loop(), threading.get_ident()

    answer, loop, loop_thread = asyncio.run(trigger())
    assert answer == "answeranswer!"
    assert seen["loop"] is loop
    assert seen["thread"] != loop_thread


def test_exceptions_reach_the_caller() -> None:
    def fails() -> None:
        raise ValueError("no connection")

    with pytest.raises(ValueError, match="no connection"):
        asyncio.run(run_in_thread(fails))


def test_a_cancelled_caller_does_not_cancel_the_sdk_request_it_made() -> None:
    """
    asgiref passes a cancellation on to the coroutine that ``async_to_sync`` runs; a request to the
    triggerer's supervisor cancelled while it reads its answer leaves that answer for the next
    request (3.1's triggerer then died). The caller is cancelled; the request ends.
    """
    finished = threading.Event()
    ends: list[str] = []

    async def asend() -> None:
        try:
            await asyncio.sleep(0.3)  # "reading the answer"
            ends.append("read")
        except asyncio.CancelledError:
            ends.append("cancelled")
            raise

    def blocking_sdk_call() -> None:
        async_to_sync(asend)()
        finished.set()

    async def trigger() -> None:
        caller = asyncio.ensure_future(run_in_thread(blocking_sdk_call))
        await asyncio.sleep(0.1)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        while not finished.is_set():  # the loop must keep running for the request to end
            await asyncio.sleep(0.05)

    asyncio.run(asyncio.wait_for(trigger(), timeout=10))
    assert ends == ["read"]
