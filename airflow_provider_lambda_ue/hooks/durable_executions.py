"""The durable-execution API calls of :class:`~.lambda_invoke.LambdaInvokeHook` (a mixin).

``GetDurableExecution``, ``ListDurableExecutionsByFunction`` and ``StopDurableExecution``, on the
hook's synchronous client and on the shared aiobotocore client of the triggerer. They go through
the same client settings, proxies and error classification as Invoke: they read or stop, they
never start anything, so the Invoke retry policy does not concern them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue.classifier import classify, error_code
from airflow_provider_lambda_ue.durable import DurableExecution

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from airflow_provider_lambda_ue.fields import InvokeRequest


#: StopDurableExecution's answers for an execution that has already ended (nothing to stop).
_ALREADY_ENDED_CODES = frozenset({"ResourceConflictException", "ConflictException"})


class DurableExecutionsMixin:
    """Durable-execution calls for an invoker with ``_lambda_client``, ``proxy_url`` and (for the
    async calls, the hook's) ``leased_async_client``."""

    if TYPE_CHECKING:

        def _lambda_client(self) -> Any: ...

        @property
        def proxy_url(self) -> str | None: ...

        def leased_async_client(self) -> AbstractAsyncContextManager[Any]: ...

    def get_durable_execution(self, arn: str) -> DurableExecution:
        """
        ``GetDurableExecution``: the execution's status, with its result or error once it ended.

        :raises LambdaInvokeError: The contract's exception for the failure.
        """
        try:
            response = self._lambda_client().get_durable_execution(DurableExecutionArn=arn)
        except Exception as exc:
            raise classify(exc, proxy_url=self.proxy_url) from exc
        return DurableExecution.from_response(response)

    def find_durable_execution(self, request: InvokeRequest, name: str) -> DurableExecution | None:
        """
        The function's execution named ``name`` (``ListDurableExecutionsByFunction``), None if none.

        The newest one if the service lists several (names are unique per function while retained).

        :raises LambdaInvokeError: The contract's exception for the failure.
        """
        kwargs: dict[str, Any] = {"FunctionName": request.function_name, "DurableExecutionName": name}
        if request.qualifier:
            kwargs["Qualifier"] = request.qualifier
        try:
            page = self._lambda_client().list_durable_executions_by_function(**kwargs)
            listed = page.get("DurableExecutions") or []
        except Exception as exc:
            raise classify(exc, proxy_url=self.proxy_url) from exc
        named = [item for item in listed if item.get("DurableExecutionName") == name]
        if not named:
            return None
        newest = max(named, key=lambda item: str(item.get("StartTimestamp") or ""))
        return self.get_durable_execution(str(newest["DurableExecutionArn"]))

    def stop_durable_execution(self, arn: str, message: str) -> None:
        """
        ``StopDurableExecution``; an execution that already ended is left as it is.

        :raises LambdaInvokeError: The contract's exception for the failure.
        """
        try:
            self._lambda_client().stop_durable_execution(
                DurableExecutionArn=arn, Error={"ErrorType": "Stopped", "ErrorMessage": message}
            )
        except Exception as exc:
            if error_code(exc) in _ALREADY_ENDED_CODES:
                return
            raise classify(exc, proxy_url=self.proxy_url) from exc

    async def get_durable_execution_async(self, arn: str) -> DurableExecution:
        """:meth:`get_durable_execution` on the shared aiobotocore client (the triggerer's loop)."""
        # Lazily: the command line's start-up, which never waits asynchronously, does not pay for it.
        from airflow_provider_lambda_ue.hooks.aiohttp_transport import as_botocore_error

        proxy_url = self.proxy_url
        async with self.leased_async_client() as client:
            try:
                response = await client.get_durable_execution(DurableExecutionArn=arn)
            except Exception as raised:
                raise classify(as_botocore_error(raised, proxy_url), proxy_url=proxy_url) from raised
        return DurableExecution.from_response(response)

    async def stop_durable_execution_async(self, arn: str, message: str) -> None:
        """:meth:`stop_durable_execution` on the shared aiobotocore client (a trigger's ``on_kill``)."""
        from airflow_provider_lambda_ue.hooks.aiohttp_transport import as_botocore_error

        proxy_url = self.proxy_url
        async with self.leased_async_client() as client:
            try:
                await client.stop_durable_execution(
                    DurableExecutionArn=arn, Error={"ErrorType": "Stopped", "ErrorMessage": message}
                )
            except Exception as raised:
                if error_code(raised) not in _ALREADY_ENDED_CODES:
                    raise classify(as_botocore_error(raised, proxy_url), proxy_url=proxy_url) from raised
