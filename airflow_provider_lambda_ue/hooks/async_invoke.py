"""The hook's asynchronous half: Invoke and the durable-execution calls on the triggerer's event loop.

:class:`AsyncInvokeMixin` gives :class:`~airflow_provider_lambda_ue.hooks.lambda_invoke.LambdaInvokeHook`
an aiobotocore client built from the same connection, settings and retry policy as its synchronous
one, shared by the invocations that run at the same time with the same settings
(:mod:`.client_pool`). aiohttp's failures are translated into botocore's
(:func:`~.aiohttp_transport.as_botocore_error`), so both paths give the same exit codes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from airflow_provider_lambda_ue import _private_api, outcomes
from airflow_provider_lambda_ue.classifier import error_code, fix_xml_error
from airflow_provider_lambda_ue.compat import run_in_thread
from airflow_provider_lambda_ue.durable import DurableExecution
from airflow_provider_lambda_ue.hooks.aiohttp_transport import (
    as_botocore_error,
    http_session_class,
    keepalive_socket,
)
from airflow_provider_lambda_ue.hooks.client_pool import SHARED_CLIENTS, SharedClient
from airflow_provider_lambda_ue.hooks.durable_executions import ALREADY_ENDED_CODES
from airflow_provider_lambda_ue.hooks.transport import incomplete_response
from airflow_provider_lambda_ue.masking import mask_signing_credentials_async
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import InvokeResult

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

    from airflow_provider_lambda_ue.request import InvokeRequest


class AsyncInvokeMixin:
    """
    Invoke and the durable-execution calls with aiobotocore, for
    :class:`~airflow_provider_lambda_ue.hooks.lambda_invoke.LambdaInvokeHook` (an ``AwsBaseHook``).
    """

    if TYPE_CHECKING:
        # What LambdaInvokeHook (AwsBaseHook, LambdaInvokerBase) provides.
        aws_conn_id: str | None
        region_name: str | None
        endpoint_url: str | None
        proxy_conn_id: str | None
        verify: Any
        config: Config

        @property
        def conn_config(self) -> AwsConnectionWrapper: ...

        @property
        def proxy_url(self) -> str | None: ...
        @property
        def proxy_credentials(self) -> tuple[str, str] | None: ...
        def failure(self, exc: BaseException) -> InvocationFailure: ...
        def _retry_delay(self, attempt: int, exc: BaseException) -> float | None: ...
        def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any: ...

    async def invoke_async(self, request: InvokeRequest) -> InvokeResult:
        """
        :meth:`invoke` with aiobotocore, for the triggerer's event loop. Same policy and errors.

        The client is built in a worker thread (:meth:`async_client_context`): connection lookups
        and STS AssumeRole are synchronous, and AssumeRole goes through botocore exactly as in
        :meth:`invoke`, with the same proxy and CA settings. Invoke itself then goes through
        aiohttp with the same endpoint, credentials, proxy (basic auth, TLS proxy verified against
        the CA bundle), timeouts, TCP keepalive timings and retry policy (botocore's retries off,
        only what proves the function did not run is resent). aiohttp's exceptions are translated
        into the botocore exceptions the synchronous path sees (:func:`.as_botocore_error`), so the exit
        codes are the same.

        Invocations running at the same time in one event loop with identical settings (the same
        :meth:`async_client_key`) share one client (:meth:`lease_async_client`): a triggerer holding a
        thousand invocations of one function keeps one client, not a thousand.

        :param request: The validated request.
        :raises InvocationFailure: The failure (no output document): :meth:`failure`.
        """
        kwargs = request.invoke_kwargs()
        proxy_url = self.proxy_url
        async with self.leased_async_client() as client:
            attempt = 1
            while True:
                try:
                    response = await client.invoke(**kwargs)
                    async with response["Payload"] as stream:
                        payload = await stream.read()
                    truncated = incomplete_response(response)
                    if truncated:
                        raise InvocationFailure(outcomes.CONNECTION, truncated)
                    return InvokeResult.from_response(response, payload)
                except Exception as raised:
                    failure = as_botocore_error(raised, proxy_url)
                    delay = self._retry_delay(attempt, failure)
                    if delay is None:
                        raise self.failure(failure) from raised
                    await asyncio.sleep(delay)
                    attempt += 1

    @asynccontextmanager
    async def leased_async_client(self) -> AsyncIterator[Any]:
        """
        The shared async client for the time of one call, handed back to the pool after it.

        A client that cannot be built fails as the call would (:func:`.as_botocore_error`, then
        :func:`.classify`): the same exit codes as on the synchronous path.
        """
        proxy_url = self.proxy_url
        try:
            lease = await self.lease_async_client()
        except Exception as exc:
            raise self.failure(as_botocore_error(exc, proxy_url)) from exc
        try:
            yield lease.client
        finally:
            await SHARED_CLIENTS.release(lease)

    async def get_durable_execution_async(self, arn: str) -> DurableExecution:
        """``GetDurableExecution`` on the shared async client (a trigger's poll)."""
        proxy_url = self.proxy_url
        async with self.leased_async_client() as client:
            try:
                response = await client.get_durable_execution(DurableExecutionArn=arn)
            except Exception as raised:
                raise self.failure(as_botocore_error(raised, proxy_url)) from raised
        return DurableExecution.from_response(response)

    async def stop_durable_execution_async(self, arn: str, message: str) -> None:
        """``StopDurableExecution`` on the shared async client (a trigger's ``on_kill``)."""
        proxy_url = self.proxy_url
        async with self.leased_async_client() as client:
            try:
                await client.stop_durable_execution(
                    DurableExecutionArn=arn, Error={"ErrorType": "Stopped", "ErrorMessage": message}
                )
            except Exception as raised:
                if error_code(raised) not in ALREADY_ENDED_CODES:
                    raise self.failure(as_botocore_error(raised, proxy_url)) from raised

    async def lease_async_client(self) -> SharedClient:
        """
        A lease on the shared async client for this hook's settings (hand it back to the pool).

        Equal :meth:`async_client_key` in one event loop, one client; it is built in a worker
        thread (:meth:`async_client_context`), then given the XML-error fix-up and masking.
        """
        key = await run_in_thread(self.async_client_key)
        return await SHARED_CLIENTS.lease(
            key, lambda: run_in_thread(self.async_client_context), _prepare_async_client
        )

    def async_client_context(self) -> Any:
        """
        An aiobotocore Lambda client, configured as :attr:`conn` is (enter it with ``async with``).

        Blocking (connection lookups, and STS AssumeRole for role-based access): call it in a
        thread. Built directly on ``AwsBaseHook``'s session factory rather than through
        :meth:`get_client_type`, because aiobotocore's client only exists once entered; the
        XML-error fix-up is registered on the entered client (:meth:`lease_async_client`), and the TCP
        keepalive timings, which aiobotocore's ``socket_options`` ignore, are set by a socket
        factory for aiohttp. A TLS proxy is verified against ``proxy_ca_bundle_file`` alone, as
        botocore does (:func:`.proxy_tls_context`). The connection pool is unbounded: the
        client may be shared by many concurrent invocations, none of which may wait for another's
        connection.
        """
        from aiobotocore.config import AioConfig

        service_name = _private_api.service_name(self)
        session: Any = self.get_session(region_name=self.region_name, deferrable=True)
        options = {
            **_private_api.config_options(self._async_config()),
            "max_pool_connections": _ASYNC_MAX_POOL_CONNECTIONS,
        }
        config = AioConfig(
            connector_args={"socket_factory": keepalive_socket},
            http_session_cls=http_session_class(),
            **options,
        )
        return session.create_client(
            service_name,
            endpoint_url=self.conn_config.get_service_endpoint_url(service_name=service_name),
            config=config,
            verify=self.verify,
        )

    def async_client_key(self) -> str:
        """
        A digest of everything the async client is built from; equal digests, interchangeable clients.

        Covers the connection as read now (so rotated keys or changed extras make a new client),
        the field set's settings laid over it and the proxy credentials. Secrets enter only the
        digest. Blocking (reads connections): call it in a thread.
        """
        wrapper = self.conn_config
        parts = {
            "hook": [self.aws_conn_id, self.region_name, self.endpoint_url, self.proxy_conn_id],
            "credentials": [
                wrapper.aws_access_key_id,
                wrapper.aws_secret_access_key,
                wrapper.aws_session_token,
            ],
            "proxy_credentials": self.proxy_credentials,
            "role": [wrapper.role_arn, wrapper.assume_role_method, wrapper.assume_role_kwargs],
            "connection": [wrapper.conn_id, wrapper.region_name, wrapper.profile_name, wrapper.extra_config],
            "endpoints": [wrapper.endpoint_url, wrapper.service_config, wrapper.verify],
            "config": _private_api.config_options(wrapper.botocore_config),
        }
        text = json.dumps(parts, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _async_config(self) -> Config:
        """
        ``AwsBaseHook._get_config()`` (the connection's settings with the user agent), computed once.

        Its user agent comes from inspecting the call stack for the operator (tens of milliseconds
        per client); in the triggerer no operator is on the stack, so every trigger gets the same
        user agent, which is computed once per process for a given ``user_agent_extra``.
        """
        config: Any = deepcopy(self.config)
        key = config.user_agent_extra
        if key not in _ASYNC_USER_AGENT_EXTRA:
            with_user_agent: Any = _private_api.config_with_user_agent(self, deepcopy(config))
            _ASYNC_USER_AGENT_EXTRA[key] = with_user_agent.user_agent_extra
        merged: Config = config.merge(Config(user_agent_extra=_ASYNC_USER_AGENT_EXTRA[key]))
        return merged


async def _prepare_async_client(client: Any) -> None:
    """Make a new shared async client ready: the XML-error fix-up, and its keys masked."""
    client.meta.events.register("before-parse.lambda.Invoke", fix_xml_error)
    await mask_signing_credentials_async(client)


#: ``user_agent_extra`` of the connection -> with Airflow's additions (see ``_async_config``).
_ASYNC_USER_AGENT_EXTRA: dict[str | None, str | None] = {}
#: aiohttp's connection limit per async client (one connection per open invocation).
_ASYNC_MAX_POOL_CONNECTIONS = 1_000_000
