"""The trigger: a synchronous invocation held open in the triggerer's event loop.

Lambda has no status API to poll, but none is needed: the trigger performs the Invoke request
itself with aiobotocore and waits for the answer without a worker slot. It serialises only the
validated request (connection ids, never keys) and returns plain data; the operator finishes on
the worker through the same path as a synchronous invocation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class LambdaInvokeTrigger(BaseTrigger):
    """
    Invoke a Lambda function from the triggerer and report its answer.

    .. warning::
        A triggerer that dies while the request is open re-runs the trigger on another triggerer,
        and so invokes the function again. Use deferrable mode for idempotent functions, or make the
        function idempotent (e.g. keyed on the run id in the payload).

    :param request: The validated request (:meth:`InvokeRequest.to_dict`): no secrets.
    """

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__()
        self.request = request

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments: the request only, which holds connection ids, not secrets."""
        return (f"{type(self).__module__}.{type(self).__qualname__}", {"request": self.request})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Invoke once (retrying only what provably did not run) and yield the answer or the failure."""
        from airflow_provider_lambda_ue.exceptions import LambdaInvokeError
        from airflow_provider_lambda_ue.fields import InvokeRequest
        from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
        from airflow_provider_lambda_ue.invocation import error_event

        request = InvokeRequest.from_dict(self.request)
        hook = LambdaInvokeHook.from_request(request)
        try:
            result = await hook.invoke_async(request)
        except LambdaInvokeError as err:
            yield TriggerEvent(error_event(err))
            return
        yield TriggerEvent({"status": "success", "result": result.to_dict()})
