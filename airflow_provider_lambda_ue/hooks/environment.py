"""The Lambda client without Airflow: the environment's credentials, plain botocore.

What the command line uses when no Airflow connection is named: nothing here imports Airflow, so
``lambda-ue invoke`` starts in a fraction of a second.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue import _private_api
from airflow_provider_lambda_ue.hooks.invoker import (
    LOGS_READ_TIMEOUT,
    LambdaInvokerBase,
    hook_settings,
    logs_config_overrides,
)

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.request import InvokeRequest

#: The role session name for an assumed role without a connection: the one ``AwsBaseHook`` gives
#: (``Airflow_<conn_id>``), so that the role's sessions look alike in CloudTrail on both paths.
ENVIRONMENT_ROLE_SESSION_NAME = "Airflow_None"


class EnvironmentInvoker(LambdaInvokerBase):
    """
    The Lambda client without Airflow: the environment's credentials, plain botocore.

    What :class:`.LambdaInvokeHook` does with ``aws_conn_id=None``, without the amazon provider:
    credentials from botocore's chain (``AWS_*`` variables, ``AWS_PROFILE``, instance or pod role),
    the region given or the environment's, endpoints from ``endpoint_url`` or botocore's
    ``AWS_ENDPOINT_URL_*``, the same :meth:`invoke_config` (proxies, proxy CA, timeouts, no botocore
    retries) for Lambda and for STS; ``role_arn`` is assumed with botocore's
    ``AssumeRoleCredentialFetcher`` behind refreshable credentials, through the same config.

    :param region_name: AWS region; None: the environment's.
    :param log: Where retries are reported.
    :param settings: The other parameters of :class:`.LambdaInvokeHook` (no connection ids).
    """

    def __init__(self, *, region_name: str | None = None, log: Any = None, **settings: Any) -> None:
        self._configure(**settings)
        self.region_name = region_name
        self.log = log or logging.getLogger(__name__)

    @classmethod
    def from_request(
        cls, request: InvokeRequest, *, proxy_credentials: tuple[str, str] | None = None, log: Any = None
    ) -> EnvironmentInvoker:
        """
        Build the invoker for a validated request without connections (see :func:`hook_settings`).

        :param proxy_credentials: Proxy ``(user, password)`` given directly, if any.
        :param log: Where retries are reported.
        """
        settings = hook_settings(request, proxy_credentials=proxy_credentials)
        if settings.pop("aws_conn_id", None) or settings.get("proxy_conn_id"):
            raise ValueError("an Airflow connection needs LambdaInvokeHook")
        return cls(log=log, **settings)

    @property
    def credentials_from_connection(self) -> bool:
        """Always False: the credentials come from the environment's chain."""
        return False

    def _read_connection(self, conn_id: str) -> Any:
        raise RuntimeError(f"connection {conn_id!r}: reading Airflow connections needs LambdaInvokeHook")

    def _warn(self, message: str, *args: Any) -> None:
        self.log.warning(message, *args)

    def _built_lambda_client(self) -> Any:
        return self.__dict__.get("conn")

    def _lambda_client(self) -> Any:
        return self.conn

    @cached_property
    def session(self) -> Any:
        """The botocore session (built once; assumes the role, through STS, when one is set)."""
        from botocore.session import get_session

        session = get_session()
        # The Lambda model validation read (aws_model) is parsed already on the shared loader.
        _private_api.share_data_loader(session)
        if self.region_name:
            session.set_config_variable("region", self.region_name)
        if self.role_arn:
            credentials = self._assumed_role_credentials(session, self.invoke_config())
            _private_api.set_session_credentials(session, credentials)
        return session

    @cached_property
    def conn(self) -> Any:
        """The Lambda client (built once)."""
        client = self.session.create_client(
            "lambda", endpoint_url=self.endpoint_url, config=self.invoke_config()
        )
        return self.prepare_client(client)

    def logs_client(self, endpoint_url: str | None = None, *, timeout: float = LOGS_READ_TIMEOUT) -> Any:
        """
        A CloudWatch Logs client on :attr:`session`, with Invoke's config and timeouts of its own.

        :param endpoint_url: ``logs_endpoint_url``; else botocore's resolution
            (``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``, ``AWS_ENDPOINT_URL``, AWS's).
        :param timeout: Its connect and read timeouts, at most.
        """
        config = self.invoke_config().merge(logs_config_overrides(timeout))
        return self.prepare_logs_client(
            self.session.create_client("logs", endpoint_url=endpoint_url, config=config)
        )

    def _assumed_role_credentials(self, session: Any, config: Any) -> Any:
        """Refreshable credentials of :attr:`role_arn`, from STS (the first keys now)."""
        from botocore.credentials import AssumeRoleCredentialFetcher, RefreshableCredentials
        from botocore.exceptions import NoCredentialsError

        source = session.get_credentials()
        assert self.role_arn is not None
        if source is None:
            # What STS's signer would raise: AUTHENTICATION_ERROR, as with AwsBaseHook.
            raise NoCredentialsError()

        def sts_client(service_name: str, **credentials: Any) -> Any:
            # STS endpoint: botocore's own resolution (AWS_ENDPOINT_URL_STS, the region's).
            return session.create_client(service_name, config=config, **credentials)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=sts_client,
            source_credentials=source,
            role_arn=self.role_arn,
            extra_args={"RoleSessionName": ENVIRONMENT_ROLE_SESSION_NAME},
        )
        # The first keys are fetched now, as AwsBaseHook does (inside building the client, so a failure
        # of STS is classified like Invoke's); botocore renews them before they expire.
        return RefreshableCredentials.create_from_metadata(
            metadata=fetcher.fetch_credentials(),
            refresh_using=fetcher.fetch_credentials,
            method="assume-role",
        )
