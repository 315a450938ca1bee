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

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
from botocore.config import Config

from airflow_provider_lambda_ue import _private_api
from airflow_provider_lambda_ue.exceptions import LambdaInvokeError, public
from airflow_provider_lambda_ue.fields import DEFAULT_AWS_CONN_ID, DEFAULT_TIMEOUT_SECONDS
from airflow_provider_lambda_ue.hooks.async_invoke import AsyncInvokeMixin
from airflow_provider_lambda_ue.hooks.invoker import (
    LOGS_READ_TIMEOUT,
    LambdaInvokerBase,
    hook_settings,
    logs_config_overrides,
)
from airflow_provider_lambda_ue.hooks.retry import DEFAULT_MAX_ATTEMPTS, RetryPolicy
from airflow_provider_lambda_ue.hooks.transport import DEFAULT_CONNECT_TIMEOUT_SECONDS
from airflow_provider_lambda_ue.masking import mask as _mask

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.request import InvokeRequest

__all__ = ["LambdaInvokeHook"]


class LambdaInvokeHook(AsyncInvokeMixin, LambdaInvokerBase, _private_api.FrameCallerLookup, AwsBaseHook):
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

    def failure(self, exc: BaseException) -> LambdaInvokeError:
        """``exc`` as the contract's exception for its outcome (:mod:`.exceptions`)."""
        return public(super().failure(exc))

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

    def logs_client(self, endpoint_url: str | None = None, *, timeout: float = LOGS_READ_TIMEOUT) -> Any:
        """
        A CloudWatch Logs client with this hook's credentials, role, proxies and CA bundle.

        Invoke's session (connection or environment chain, assumed role) and botocore settings
        (proxies and their credentials, the TLS proxy's CA, keepalive), with timeouts of its own.

        :param endpoint_url: ``logs_endpoint_url``; else the connection's ``service_config.logs``
            (or its ``endpoint_url``), ``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``, or AWS's.
        :param timeout: Its connect and read timeouts, at most.
        """
        endpoint = endpoint_url or self.conn_config.get_service_endpoint_url(service_name="logs")
        config = self.config.merge(logs_config_overrides(timeout))
        session: Any = self.get_session(region_name=self.region_name)
        client: Any = session.client("logs", endpoint_url=endpoint, config=config, verify=self.verify)
        return self.prepare_logs_client(client)
