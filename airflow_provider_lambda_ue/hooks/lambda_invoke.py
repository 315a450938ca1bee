"""The hook: a Lambda client built from the field set on top of the amazon provider's ``AwsBaseHook``.

What ``AwsBaseHook`` already does is reused as it is: connection lookup, credentials from the
connection or the environment's chain, region resolution, per-service endpoints and role
assumption with refreshable credentials. This hook only adds what the field set needs on top:
the role from the ``role_arn`` field, the endpoint from ``endpoint_url``, proxies with credentials
from a second connection, a CA bundle for a TLS proxy, the read timeout, and the policy that never
sends Invoke twice when the first may have reached the function.

The hook knows nothing of XCom or of the output document.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from copy import deepcopy
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
from botocore.config import Config

from airflow_provider_lambda_ue import _private_api
from airflow_provider_lambda_ue.classifier import (
    classify,
    error_code,
    fix_xml_error,
)
from airflow_provider_lambda_ue.exceptions import LambdaConnectionError
from airflow_provider_lambda_ue.fields import (
    DEFAULT_AWS_CONN_ID,
    DEFAULT_TIMEOUT_SECONDS,
    PROXY_HTTPS_WITH_CREDENTIALS,
    InvokeRequest,
)
from airflow_provider_lambda_ue.hooks.aiohttp_transport import (
    KEEPALIVE_OPTIONS,
    as_botocore_error,
    http_session_class,
    keepalive_socket,
)
from airflow_provider_lambda_ue.hooks.client_pool import SHARED_CLIENTS, SharedClient
from airflow_provider_lambda_ue.hooks.proxies import system_ca_bundle, url_with_credentials
from airflow_provider_lambda_ue.hooks.retry import DEFAULT_MAX_ATTEMPTS, RetryPolicy
from airflow_provider_lambda_ue.masking import mask as _mask
from airflow_provider_lambda_ue.masking import mask_signing_credentials, mask_signing_credentials_async
from airflow_provider_lambda_ue.output import InvokeResult
from airflow_provider_lambda_ue.proxy_credentials import proxy_credential_source

#: A connection that cannot be opened within this time fails (exit 10) instead of waiting for the
#: read timeout, which is for the function's run time.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10
#: CloudWatch Logs calls: botocore's standard retries (throttling, 5xx), and their read timeout.
LOGS_MAX_ATTEMPTS = 5
LOGS_READ_TIMEOUT = 60


def incomplete_response(response: dict[str, Any]) -> str | None:
    """
    Why a "successful" Invoke response is in fact a connection closed in the middle of its headers.

    http.client ends the header block at end of file, and a response without ``Content-Length``
    or chunked encoding is delimited by the connection's close: a connection lost after the status
    line looks like a 200 with an empty payload. Lambda (and moto, LocalStack) always send
    ``x-amzn-RequestId``, and every well-formed 200 carries a length; a 200 with neither is taken for
    a truncated answer. Sync and async paths alike.

    :return: The description of the failure, or None for a complete response.
    """
    metadata = response.get("ResponseMetadata") or {}
    headers = {str(name).lower() for name in (metadata.get("HTTPHeaders") or {})}
    if metadata.get("HTTPStatusCode") != 200:
        return None
    if headers & {"x-amzn-requestid", "content-length", "transfer-encoding"}:
        return None
    return (
        "the connection was closed in the middle of the response: a 200 without request id and "
        "without length (the function may have run)"
    )


class LambdaInvokeHook(AwsBaseHook):
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
        self.role_arn = role_arn
        self.endpoint_url = endpoint_url
        self.proxies = dict(proxies or {})
        self.proxy_type = proxy_type
        self.proxy_conn_id = proxy_conn_id
        self._given_proxy_credentials = proxy_credentials
        self.proxy_ca_bundle_file = proxy_ca_bundle_file
        self.read_timeout = read_timeout
        self.connect_timeout = min(connect_timeout, read_timeout)
        self.retry_policy = retry_policy or RetryPolicy(max_attempts=max_attempts)
        self._sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_request(
        cls, request: InvokeRequest, *, proxy_credentials: tuple[str, str] | None = None, **kwargs: Any
    ) -> LambdaInvokeHook:
        """
        Build the hook for a validated request.

        :param request: The validated field set.
        :param proxy_credentials: Proxy ``(user, password)`` given directly, if any.
        """
        return cls(
            aws_conn_id=request.aws_conn_id,
            region_name=request.region_name,
            role_arn=request.assumed_role_arn,
            endpoint_url=request.endpoint_url,
            proxies=request.proxies if request.use_proxy else None,
            proxy_type=request.proxy_type,
            proxy_conn_id=request.proxy_conn_id if request.use_proxy else None,
            proxy_credentials=proxy_credentials if request.use_proxy else None,
            proxy_ca_bundle_file=request.proxy_ca_bundle_file if request.use_proxy else None,
            read_timeout=request.wait_for_completion_timeout,
            **kwargs,
        )

    # -- credentials and configuration ------------------------------------------------------

    @cached_property
    def proxy_credentials(self) -> tuple[str, str] | None:
        """The proxy's ``(user, password)``, from the source :mod:`.proxy_credentials` picks; masked."""
        source = proxy_credential_source(self.proxy_conn_id, given=self._given_proxy_credentials)
        required = bool(self.proxies) and self.proxy_type == PROXY_HTTPS_WITH_CREDENTIALS
        credentials = source.read(self.get_connection, required=required)
        if credentials is None:
            return None
        user, password = credentials
        _mask(password)
        _mask(quote(password, safe=""))
        return user, password

    @property
    def proxy_url(self) -> str | None:
        """The proxy URL for the Lambda endpoint's scheme, without credentials (safe to show)."""
        if not self.proxies:
            return None
        endpoint = self.endpoint_url
        client = _private_api.built_client(self)  # once built, it knows the endpoint it really uses
        if client is not None:
            endpoint = getattr(client.meta, "endpoint_url", None) or endpoint
        scheme = urlsplit(endpoint).scheme if endpoint else "https"
        return self.proxies.get(scheme) or next(iter(self.proxies.values()))

    def _proxies_for_botocore(self) -> dict[str, str]:
        credentials = self.proxy_credentials
        if not credentials:
            return dict(self.proxies)
        proxies = {scheme: url_with_credentials(url, *credentials) for scheme, url in self.proxies.items()}
        for url in proxies.values():
            _mask(url)
        return proxies

    def invoke_config(self) -> Config:
        """
        The botocore settings this hook imposes over the connection's ``config_kwargs``.

        Retries are off in botocore (``total_max_attempts=1`` wins over ``AWS_MAX_ATTEMPTS``,
        ``AWS_RETRY_MODE`` and the connection's extras): botocore would resend Invoke after a read
        timeout and run the function again. :meth:`invoke` retries only what is safe.
        """
        options: dict[str, Any] = {
            "read_timeout": self.read_timeout,
            "connect_timeout": self.connect_timeout,
            "retries": {"mode": "standard", "total_max_attempts": 1},
            "tcp_keepalive": True,
        }
        if self.proxies:
            options["proxies"] = self._proxies_for_botocore()
            if any(url.startswith("https://") for url in self.proxies.values()):
                # Without a proxy_ca_bundle botocore gives the proxy no TLS context of its own, and for
                # an http:// endpoint the proxy's certificate then goes unverified. Always verify it:
                # against the given bundle, else the system's CAs.
                options["proxies_config"] = {
                    "proxy_ca_bundle": self.proxy_ca_bundle_file or system_ca_bundle()
                }
        return Config(**options)

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

    def get_client_type(self, *args: Any, **kwargs: Any) -> Any:
        """Create the client (sync or aiobotocore) with the XML-error fix-up and TCP keepalive timings."""
        client: Any = super().get_client_type(*args, **kwargs)
        client.meta.events.register("before-parse.lambda.Invoke", fix_xml_error)
        if not kwargs.get("deferrable"):
            mask_signing_credentials(client)
        socket_options = _private_api.client_socket_options(client)
        if socket_options is not None:
            socket_options.extend(opt for opt in KEEPALIVE_OPTIONS if opt not in socket_options)
        return client

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
        config = self.config.merge(
            Config(
                retries={"mode": "standard", "max_attempts": LOGS_MAX_ATTEMPTS},
                read_timeout=LOGS_READ_TIMEOUT,
            )
        )
        session: Any = self.get_session(region_name=self.region_name)
        client: Any = session.client("logs", endpoint_url=endpoint, config=config, verify=self.verify)
        client.meta.events.register("before-parse.cloudwatch-logs", fix_xml_error)
        mask_signing_credentials(client)
        return client

    # -- invocation -------------------------------------------------------------------------

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        """
        Invoke the function once; resend only after an answer proving it did not run.

        :param request: The validated request.
        :return: What Lambda answered (including function errors, which are not exceptions here).
        :raises LambdaInvokeError: The contract's exception for the failure (no output document).
        """
        kwargs = request.invoke_kwargs()
        try:
            client: Any = self.conn
        except Exception as exc:
            raise classify(exc, proxy_url=self.proxy_url) from exc
        attempt = 1
        while True:
            try:
                response = client.invoke(**kwargs)
                # Not ``with response["Payload"]``: StreamingBody's __enter__ hands out the raw urllib3
                # stream, whose errors botocore has not translated (a read timeout would be exit 1).
                # A stream left half-read (the connection broke) is closed with its connection.
                with contextlib.closing(response["Payload"]) as stream:
                    payload = stream.read()
                truncated = incomplete_response(response)
                if truncated:
                    raise LambdaConnectionError(truncated)
                return InvokeResult.from_response(response, payload)
            except Exception as exc:
                delay = self._retry_delay(attempt, exc)
                if delay is None:
                    raise classify(exc, proxy_url=self.proxy_url) from exc
                self._sleep(delay)
                attempt += 1

    def _retry_delay(self, attempt: int, exc: BaseException) -> float | None:
        """
        The retry policy shared by :meth:`invoke` and :meth:`invoke_async`.

        :param attempt: The attempt that just failed, from 1.
        :param exc: Its failure (botocore's form).
        :return: Seconds to wait before sending Invoke again, or None when it must not be resent
            (the function may have run, the failure is permanent, or the budget is spent).
        """
        delay = self.retry_policy.delay(attempt, exc)
        if delay is None:
            return None
        self.log.warning(
            "Invoke attempt %d/%d did not reach the function (%s); retrying in %.1f s",
            attempt,
            self.retry_policy.max_attempts,
            error_code(exc) or type(exc).__name__,
            delay,
        )
        return delay

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
        try:
            lease = await self.lease_async_client()
        except Exception as exc:
            raise classify(as_botocore_error(exc, proxy_url), proxy_url=proxy_url) from exc
        try:
            client = lease.client
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
        finally:
            await SHARED_CLIENTS.release(lease)

    async def lease_async_client(self) -> SharedClient:
        """
        A lease on the shared async client for this hook's settings (hand it back to the pool).

        Equal :meth:`async_client_key` in one event loop, one client; it is built in a worker
        thread (:meth:`async_client_context`), then given the XML-error fix-up and masking.
        """
        key = await asyncio.to_thread(self.async_client_key)
        return await SHARED_CLIENTS.lease(
            key, lambda: asyncio.to_thread(self.async_client_context), _prepare_async_client
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
