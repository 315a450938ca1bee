"""The hook: a Lambda client built from the field set on top of the amazon provider's ``AwsBaseHook``.

What ``AwsBaseHook`` already does is reused as it is: connection lookup, credentials from the
connection or the environment's chain, region resolution, per-service endpoints and role
assumption with refreshable credentials. This hook only adds what the field set needs on top:
the role from the ``role_arn`` field, the endpoint from ``endpoint_url``, proxies with credentials
from a second connection, a CA bundle for a TLS proxy, the read timeout, and the policy that never
sends Invoke twice when the first may have reached the function. Those settings, the botocore
config they make and the synchronous Invoke loop are :class:`.LambdaInvokerBase`'s
(``hooks/invoker.py``), shared with the command line's client without Airflow.

The hook knows nothing of XCom or of the output document.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from copy import deepcopy
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
from botocore.config import Config

# Imported for its side effect as well: the public, Airflow-derived exceptions are registered, so
# every failure built from here on is of the class the contract names.
import airflow_provider_lambda_ue.exceptions  # noqa: F401
from airflow_provider_lambda_ue import _private_api
from airflow_provider_lambda_ue.classifier import classify, fix_xml_error
from airflow_provider_lambda_ue.compat import run_in_thread
from airflow_provider_lambda_ue.fields import (
    DEFAULT_AWS_CONN_ID,
    DEFAULT_TIMEOUT_SECONDS,
    InvokeRequest,
)
from airflow_provider_lambda_ue.hooks.aiohttp_transport import (
    as_botocore_error,
    http_session_class,
    keepalive_socket,
)
from airflow_provider_lambda_ue.hooks.client_pool import SHARED_CLIENTS, SharedClient
from airflow_provider_lambda_ue.hooks.invoker import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    LambdaInvokerBase,
    hook_settings,
    incomplete_response,
    logs_config_overrides,
)
from airflow_provider_lambda_ue.hooks.retry import DEFAULT_MAX_ATTEMPTS, RetryPolicy
from airflow_provider_lambda_ue.masking import mask as _mask
from airflow_provider_lambda_ue.masking import mask_signing_credentials_async
from airflow_provider_lambda_ue.output import InvokeResult
from airflow_provider_lambda_ue.taxonomy import LambdaConnectionError

__all__ = ["DEFAULT_CONNECT_TIMEOUT_SECONDS", "LambdaInvokeHook", "incomplete_response"]


class LambdaInvokeHook(LambdaInvokerBase, _private_api.FrameCallerLookup, AwsBaseHook):
    """
    Invoke AWS Lambda functions with the ue-aws-lambda field set.

    :param aws_conn_id: ``aws`` connection (login = access key id, password = secret key). None, or a
        connection that does not exist, uses the environment's credential chain.
    :param region_name: AWS region; None uses the connection's or the environment's.
    :param role_arn: Role to assume with STS AssumeRole (temporary, refreshed credentials). STS goes
        through the same proxy and CA settings; its endpoint comes from the connection's
        ``service_config.sts.endpoint_url`` or ``AWS_ENDPOINT_URL_STS``.
    :param endpoint_url: Lambda endpoint URL, overriding the connection's.
    :param proxies: Proxy URL per target scheme, without credentials (``{"http": ..., "https": ...}``).
    :param proxy_type: The seed's proxy type; ``HTTPS with Credentials`` requires proxy credentials.
    :param proxy_conn_id: Connection whose login and password authenticate to the proxy.
    :param proxy_credentials: ``(user, password)`` for the proxy, given directly (the command line's
        environment variables); used when ``proxy_conn_id`` is not set.
    :param proxy_ca_bundle_file: CA bundle verifying a TLS proxy; without it the system's CAs do.
    :param read_timeout: Seconds to wait for Lambda's answer (``wait_for_completion_timeout``).
    :param connect_timeout: Seconds to wait for a connection to open.
    :param max_attempts: Invoke is sent at most this often, and again only when the function
        provably did not run.
    :param retry_policy: The whole policy (budget, backoff, clock, random source); overrides
        ``max_attempts``.
    """

    def __init__(
        self,
        *,
        aws_conn_id: str | None = DEFAULT_AWS_CONN_ID,
        region_name: str | None = None,
        role_arn: str | None = None,
        endpoint_url: str | None = None,
        proxies: dict[str, str] | None = None,
        proxy_type: str | None = None,
        proxy_conn_id: str | None = None,
        proxy_credentials: tuple[str, str] | None = None,
        proxy_ca_bundle_file: str | None = None,
        read_timeout: int = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("client_type", "lambda")
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, **kwargs)
        self._requested_region = region_name
        self._configure(
            role_arn=role_arn,
            endpoint_url=endpoint_url,
            proxies=proxies,
            proxy_type=proxy_type,
            proxy_conn_id=proxy_conn_id,
            proxy_credentials=proxy_credentials,
            proxy_ca_bundle_file=proxy_ca_bundle_file,
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            max_attempts=max_attempts,
            retry_policy=retry_policy,
        )

    @classmethod
    def from_request(
        cls, request: InvokeRequest, *, proxy_credentials: tuple[str, str] | None = None, **kwargs: Any
    ) -> LambdaInvokeHook:
        """
        Build the hook for a validated request.

        :param request: The validated field set.
        :param proxy_credentials: Proxy ``(user, password)`` given directly, if any.
        """
        return cls(**hook_settings(request, proxy_credentials=proxy_credentials), **kwargs)

    # -- credentials and configuration ------------------------------------------------------
    # The client, connections and the task log, as LambdaInvokerBase asks for them: AwsBaseHook's.

    def _lambda_client(self) -> Any:
        return self.conn

    def _built_lambda_client(self) -> Any:
        return _private_api.built_client(self)

    def _read_connection(self, conn_id: str) -> Any:
        return self.get_connection(conn_id)

    def _warn(self, message: str, *args: Any) -> None:
        self.log.warning(message, *args)

    def invoke_config(self) -> Config:
        """
        The botocore settings this hook imposes over the connection's ``config_kwargs``.

        See :meth:`.LambdaInvokerBase.invoke_config`: the same function builds them without Airflow.
        """
        config: Config = super().invoke_config()
        return config

    @cached_property
    def conn_config(self) -> AwsConnectionWrapper:
        """The connection as ``AwsBaseHook`` reads it, with the field set's settings laid over it."""
        wrapper: AwsConnectionWrapper = super().conn_config
        if self.role_arn:
            if not wrapper:
                # AwsBaseHook only assumes roles for existing connections; the field set also allows
                # it on top of the environment's credential chain.
                wrapper = AwsConnectionWrapper.from_connection_metadata(
                    conn_id=self.aws_conn_id,
                    extra={"region_name": self._requested_region} if self._requested_region else {},
                )
            wrapper.role_arn = self.role_arn
            wrapper.assume_role_method = "assume_role"
        if self.endpoint_url:
            lambda_config = {**wrapper.service_config.get("lambda", {}), "endpoint_url": self.endpoint_url}
            wrapper.service_config = {**wrapper.service_config, "lambda": lambda_config}
        wrapper.botocore_config = (wrapper.botocore_config or Config()).merge(self.invoke_config())
        if wrapper.aws_secret_access_key:
            _mask(wrapper.aws_secret_access_key)
        if wrapper.aws_session_token:
            _mask(wrapper.aws_session_token)
        return wrapper

    @property
    def credentials_from_connection(self) -> bool:
        """Whether AWS credentials come from the connection (rather than the environment's chain)."""
        return bool(self.conn_config.aws_access_key_id and self.conn_config.aws_secret_access_key)

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        """``AwsBaseHook``'s session, on the process's parsed botocore data (:func:`.share_data_loader`)."""
        session: Any = super().get_session(region_name=region_name, deferrable=deferrable)
        _private_api.share_data_loader(session)
        return session

    def get_client_type(self, *args: Any, **kwargs: Any) -> Any:
        """Create the client (sync or aiobotocore) with the XML-error fix-up and TCP keepalive timings."""
        client: Any = super().get_client_type(*args, **kwargs)
        return self.prepare_client(client, mask_keys=not kwargs.get("deferrable"))

    # -- the complete log (CloudWatch Logs) ----------------------------------------------------

    def logs_client(self, endpoint_url: str | None = None) -> Any:
        """
        A CloudWatch Logs client with this hook's credentials, role, proxies, CA bundle and timeouts.

        Invoke's session (connection or environment chain, assumed role) and botocore settings
        (proxies and their credentials, the TLS proxy's CA, keepalive), with botocore's standard
        retries back on: reading a log is safe to repeat.

        :param endpoint_url: ``logs_endpoint_url``; else the connection's ``service_config.logs``,
            ``AWS_ENDPOINT_URL_LOGS``, the connection's endpoint, or AWS's.
        """
        endpoint = endpoint_url or self.conn_config.get_service_endpoint_url(service_name="logs")
        config = self.config.merge(logs_config_overrides())
        session: Any = self.get_session(region_name=self.region_name)
        client: Any = session.client("logs", endpoint_url=endpoint, config=config, verify=self.verify)
        return self.prepare_logs_client(client)

    # -- invocation in the triggerer (aiobotocore) ---------------------------------------------

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
        :raises LambdaInvokeError: The contract's exception for the failure (no output document).
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
                        raise LambdaConnectionError(truncated)
                    return InvokeResult.from_response(response, payload)
                except Exception as raised:
                    failure = as_botocore_error(raised, proxy_url)
                    delay = self._retry_delay(attempt, failure)
                    if delay is None:
                        raise classify(failure, proxy_url=proxy_url) from raised
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
            raise classify(as_botocore_error(exc, proxy_url), proxy_url=proxy_url) from exc
        try:
            yield lease.client
        finally:
            await SHARED_CLIENTS.release(lease)

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
