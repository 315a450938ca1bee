"""The durable-execution API calls of the synchronous clients (a mixin of :class:`.LambdaInvokerBase`).

``GetDurableExecution``, ``ListDurableExecutionsByFunction`` and ``StopDurableExecution``, on the
synchronous client (the triggerer's asynchronous ones: :mod:`.async_invoke`). They go through
the same client settings, proxies and error classification as Invoke: they read or stop, they
never start anything, so the Invoke retry policy does not concern them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue.classifier import error_code
from airflow_provider_lambda_ue.durable import DurableExecution

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.outcomes import InvocationFailure
    from airflow_provider_lambda_ue.request import InvokeRequest


#: StopDurableExecution's answers for an execution that has already ended (nothing to stop).
ALREADY_ENDED_CODES = frozenset({"ResourceConflictException", "ConflictException"})


class DurableExecutionsMixin:
    """Durable-execution calls for an invoker with ``_lambda_client`` and ``failure``."""

    if TYPE_CHECKING:

        def _lambda_client(self) -> Any: ...

        def failure(self, exc: BaseException) -> InvocationFailure: ...

    def get_durable_execution(self, arn: str) -> DurableExecution:
        """
        ``GetDurableExecution``: the execution's status, with its result or error once it ended.

        :raises InvocationFailure: The failure (the client's :meth:`failure`).
        """
        try:
            response = self._lambda_client().get_durable_execution(DurableExecutionArn=arn)
        except Exception as exc:
            raise self.failure(exc) from exc
        return DurableExecution.from_response(response)

    def find_durable_execution(self, request: InvokeRequest, name: str) -> DurableExecution | None:
        """
        The function's execution named ``name`` (``ListDurableExecutionsByFunction``), None if none.

        The newest one if the service lists several (names are unique per function while retained).

        :raises InvocationFailure: The failure (the client's :meth:`failure`).
        """
        kwargs: dict[str, Any] = {"FunctionName": request.function_name, "DurableExecutionName": name}
        if request.qualifier:
            kwargs["Qualifier"] = request.qualifier
        try:
            page = self._lambda_client().list_durable_executions_by_function(**kwargs)
            listed = page.get("DurableExecutions") or []
        except Exception as exc:
            raise self.failure(exc) from exc
        named = [item for item in listed if item.get("DurableExecutionName") == name]
        if not named:
            return None
        newest = max(named, key=lambda item: str(item.get("StartTimestamp") or ""))
        return self.get_durable_execution(str(newest["DurableExecutionArn"]))

    def stop_durable_execution(self, arn: str, message: str) -> None:
        """
        ``StopDurableExecution``; an execution that already ended is left as it is.

        :raises InvocationFailure: The failure (the client's :meth:`failure`).
        """
        try:
            self._lambda_client().stop_durable_execution(
                DurableExecutionArn=arn, Error={"ErrorType": "Stopped", "ErrorMessage": message}
            )
        except Exception as exc:
            if error_code(exc) in ALREADY_ENDED_CODES:
                return
            raise self.failure(exc) from exc
