"""The trigger that waits for a Lambda durable execution: it polls, it never starts anything.

The worker starts the execution (:func:`airflow_provider_lambda_ue.invocation.start_durable`) and
defers the wait here. The trigger's state is its keyword arguments alone (the execution's ARN,
the deadline as a time of day, the start's answer), so a triggerer that dies or restarts hands an
identical trigger to the next one, which polls the same execution again: unlike
:class:`~airflow_provider_lambda_ue.triggers.lambda_invoke.LambdaInvokeTrigger`, whose open
request is lost with its triggerer, nothing here can run the function a second time.

Stopping, one rule: the execution is stopped (``stop_on_kill``) when the task has left the
DEFERRED state, a user having marked it failed or cleared it; never while the task is still
deferred, when only a triggerer went away. Airflow 3.3+ calls
:meth:`LambdaDurableExecutionTrigger.on_kill` for a user's action, but also (3.3.2,
apache/airflow#73454) when a triggerer whose heartbeat lapsed finds its trigger handed to another
one: the task's state tells them apart, and an unknown state is taken as Airflow's word. A
triggerer's shutdown cancels ``run`` without ``on_kill``. Before 3.3 a user's action and a
triggerer going away both only cancel ``run``; there, as the amazon provider's EMR Serverless
trigger does, only a state that is known and not DEFERRED stops the execution.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_lambda_ue import _private_api, compat
from airflow_provider_lambda_ue.classifier import classify
from airflow_provider_lambda_ue.durable import DurableExecution, next_poll_delay
from airflow_provider_lambda_ue.fields import FIELD_NAMES
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import InvokeResult
from airflow_provider_lambda_ue.triggers import events

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook

__all__ = ["LambdaDurableExecutionTrigger"]


class LambdaDurableExecutionTrigger(BaseTrigger):
    """
    Poll ``GetDurableExecution`` (aiobotocore) until the execution ends or the deadline passes.

    Yields :class:`~.events.DurableEnded` (the execution as last seen: ended, or RUNNING when the
    deadline passed) or :class:`~.events.Failed` when a poll fails. The worker finishes with
    :func:`airflow_provider_lambda_ue.invocation.complete`.

    :param request: The validated request (:meth:`InvokeRequest.values`; connection ids, no secret).
    :param result: The start's answer (:meth:`InvokeResult.to_dict`) with the execution's ARN.
    :param deadline: When the wait runs out, in seconds since the epoch (the worker's start of the
        try plus ``wait_for_completion_timeout``): a restarted triggerer keeps it.
    :param poll_interval: Longest pause between two polls (seconds).
    :param stop_on_kill: Stop the execution when a user kills the task (mark failed, clear).
    """

    def __init__(
        self,
        request: dict[str, Any],
        result: dict[str, Any],
        deadline: float,
        poll_interval: float = 10.0,
        stop_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.request = request
        self.result = result
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.stop_on_kill = bool(stop_on_kill)

    @property
    def arn(self) -> str:
        """The execution's ARN."""
        return str(self.result["durable_execution_arn"])

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments (plain data: the ARN, the deadline, connection ids)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "request": self.request,
                "result": self.result,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "stop_on_kill": self.stop_on_kill,
            },
        )

    def _hook(self) -> LambdaInvokeHook:
        from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
        from airflow_provider_lambda_ue.request import InvokeRequest

        # Only the fields: a trigger serialised by an earlier release may carry more.
        return LambdaInvokeHook.from_request(
            InvokeRequest(**{name: value for name, value in self.request.items() if name in FIELD_NAMES})
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the execution ends or the deadline passes; yield it, or the failure."""
        hook = self._hook()
        try:
            event: events.Event = await self._poll(hook)
        except asyncio.CancelledError:
            if not compat.TRIGGER_HAS_ON_KILL and self.stop_on_kill:
                await _despite_cancellation(self._stop_if_left_deferred(unknown_is_kill=False))
            raise
        except Exception as exc:  # the worker rebuilds the contract's exception from plain data
            failure = classify(exc, proxy_url=hook.proxy_url)
            self.log.info("Polling durable execution %s failed: %s", self.arn, failure)
            event = events.Failed.of(failure, None, None)
        yield TriggerEvent(events.payload(event))

    async def _poll(self, hook: LambdaInvokeHook) -> events.DurableEnded:
        execution = DurableExecution(arn=self.arn, name=self.result.get("durable_execution_name"))
        delay: float | None = None
        self.log.info("Waiting for durable execution %s (polling; nothing is started here)", self.arn)
        while True:
            execution = await hook.get_durable_execution_async(self.arn)
            left = self.deadline - time.time()
            if execution.terminal or left <= 0:
                break
            delay = next_poll_delay(delay, self.poll_interval)
            await asyncio.sleep(min(delay, left))
        self.log.info("Durable execution %s: %s", self.arn, execution.status)
        return events.DurableEnded(InvokeResult(**self.result), execution)

    async def on_kill(self) -> None:
        """
        A user marked the deferred task failed or cleared it (Airflow 3.3+): stop the execution.

        Unless the task is still DEFERRED: then the trigger moved to another triggerer, which
        polls the execution on (apache/airflow#73454).
        """
        if self.stop_on_kill:
            await _despite_cancellation(self._stop_if_left_deferred(unknown_is_kill=True))

    async def _stop_if_left_deferred(self, *, unknown_is_kill: bool) -> None:
        state = await self._task_state()
        if state == "deferred":
            self.log.info("The task is still deferred: durable execution %s goes on", self.arn)
        elif state is not None or unknown_is_kill:
            await self._stop()

    async def _stop(self) -> None:
        self.log.info("Task killed: stopping durable execution %s", self.arn)
        try:
            await self._hook().stop_durable_execution_async(
                self.arn, "the Airflow task was killed (marked failed or cleared)"
            )
        except InvocationFailure as exc:
            self.log.warning("Could not stop durable execution %s: %s", self.arn, exc)

    async def _task_state(self) -> str | None:
        """The task instance's state (``None`` when unknown), through the Task SDK."""
        ti = self.task_instance
        if ti is None:
            return None
        try:
            return await compat.run_in_thread(
                _private_api.task_state,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
        except Exception:
            self.log.warning("Could not read the state of task %s", ti.task_id, exc_info=True)
            return None


async def _despite_cancellation(work: Coroutine[Any, Any, None]) -> None:
    """
    Await ``work`` to its end, even when the caller is cancelled again meanwhile.

    The triggerer repeats a user's cancellation on every loop until the trigger has ended (3.1 to
    3.3 at least). Before 3.3 a second one lands in the middle of the state check or of
    ``StopDurableExecution``; on 3.3 it lands inside ``on_kill``, which the triggerer then gives up
    on without a word. Either way the execution would run on: on a busy 2-core machine the
    production tier saw ``on_kill`` cut off so right after its connection lookup. The work is
    bounded by the client's own timeouts, past Airflow's ``[triggerer] on_kill_timeout`` if need be.
    """
    task = asyncio.ensure_future(work)
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    task.result()
