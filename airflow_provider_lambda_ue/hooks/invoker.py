"""What every Lambda client of the package does: settings, botocore config, the Invoke loop.

:class:`LambdaInvokerBase` holds the field set's client settings, the botocore ``Config`` they make
(:meth:`~LambdaInvokerBase.invoke_config`), the fix-ups every client gets, and the policy that
never sends Invoke twice when the first may have reached the function. Two classes build on it:

* :class:`~airflow_provider_lambda_ue.hooks.lambda_invoke.LambdaInvokeHook`, which gets its client
  from ``AwsBaseHook`` (connections, the amazon provider's session and role machinery): the
  operator, the trigger, and the command line with ``--aws-conn-id`` or ``--proxy-conn-id``;
* :class:`~airflow_provider_lambda_ue.hooks.environment.EnvironmentInvoker`, which builds the same
  client with plain botocore from the environment's credential chain: the command line without a
  connection, which so never imports Airflow (that alone costs over a second and ~80 MiB).

Neither this module nor what it imports at module level loads Airflow, boto3 or asyncio.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow_provider_lambda_ue import _private_api, outcomes
from airflow_provider_lambda_ue.classifier import classify, error_code, fix_xml_error
from airflow_provider_lambda_ue.fields import DEFAULT_TIMEOUT_SECONDS, PROXY_HTTPS_WITH_CREDENTIALS
from airflow_provider_lambda_ue.hooks.durable_executions import DurableExecutionsMixin
from airflow_provider_lambda_ue.hooks.retry import DEFAULT_MAX_ATTEMPTS, RetryPolicy
from airflow_provider_lambda_ue.hooks.transport import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    KEEPALIVE_OPTIONS,
    incomplete_response,
    system_ca_bundle,
    url_with_credentials,
)
from airflow_provider_lambda_ue.masking import mask as _mask
from airflow_provider_lambda_ue.masking import mask_signing_credentials
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import InvokeResult
from airflow_provider_lambda_ue.proxy_credentials import proxy_credential_source

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.request import InvokeRequest

#: A CloudWatch Logs call's read timeout, at most (less when ``full_log_timeout`` ends sooner).
LOGS_READ_TIMEOUT = 60


class LambdaInvokerBase(DurableExecutionsMixin):
    """
    The field set's client settings and the Invoke policy, whoever builds the client.

    Subclasses provide the client (:meth:`_lambda_client`, :meth:`_built_lambda_client`), connection lookup
    (:meth:`_read_connection`) and where a retry is reported (:meth:`_warn`); call
    :meth:`_configure` from ``__init__``.
    """

    #: Where progress is reported (the hook's task logger; the command line's stderr logger).
    log: Any
    role_arn: str | None
    endpoint_url: str | None
    proxies: dict[str, str]
    proxy_type: str | None
    proxy_conn_id: str | None
    proxy_ca_bundle_file: str | None
    read_timeout: int
    connect_timeout: int
    retry_policy: RetryPolicy

    def _configure(
        self,
        *,
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
    ) -> None:
        """Keep the settings (the parameters are :class:`.LambdaInvokeHook`'s)."""
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

    # -- what a subclass provides -----------------------------------------------------------

    def lambda_client(self) -> Any:
        """The sync Lambda client, built on first use (its failures are the caller's to classify)."""
        return self._lambda_client()

    def _lambda_client(self) -> Any:
        """The (sync) Lambda client, built on first use; failures are classified by the caller."""
        raise NotImplementedError

    def _built_lambda_client(self) -> Any:
        """The client if it has been built, else None; never builds one."""
        raise NotImplementedError

    def _read_connection(self, conn_id: str) -> Any:
        """Read an Airflow connection (login, password)."""
        raise NotImplementedError

    def _warn(self, message: str, *args: Any) -> None:
        """Report a retry (the task log, or the command line's stderr)."""
        raise NotImplementedError

    @property
    def credentials_from_connection(self) -> bool:
        """Whether AWS credentials come from a connection (rather than the environment's chain)."""
        raise NotImplementedError

    # -- credentials and configuration ------------------------------------------------------

    @cached_property
    def proxy_credentials(self) -> tuple[str, str] | None:
        """The proxy's ``(user, password)``, from the source :mod:`.proxy_credentials` picks; masked."""
        source = proxy_credential_source(self.proxy_conn_id, given=self._given_proxy_credentials)
        required = bool(self.proxies) and self.proxy_type == PROXY_HTTPS_WITH_CREDENTIALS
        credentials = source.read(self._read_connection, required=required)
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
        client = self._built_lambda_client()  # once built, it knows the endpoint it really uses
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

    def invoke_config(self) -> Any:
        """
        The botocore settings the field set imposes (a ``botocore.config.Config``).

        Retries are off in botocore (``total_max_attempts=1`` wins over ``AWS_MAX_ATTEMPTS``,
        ``AWS_RETRY_MODE`` and the connection's extras): botocore would resend Invoke after a read
        timeout and run the function again. :meth:`invoke` retries only what is safe. The hook
        lays this over the connection's ``config_kwargs``; without a connection it is the whole
        config of the Lambda and the STS client.
        """
        from botocore.config import Config

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

    def prepare_client(self, client: Any, *, mask_keys: bool = True) -> Any:
        """
        Give a new sync client the XML-error fix-up and TCP keepalive timings; mask its keys.

        :param mask_keys: Register the keys it signs with (fetches assumed-role keys now).
        """
        client.meta.events.register("before-parse.lambda.Invoke", fix_xml_error)
        if mask_keys:
            mask_signing_credentials(client)
        socket_options = _private_api.client_socket_options(client)
        if socket_options is not None:
            socket_options.extend(opt for opt in KEEPALIVE_OPTIONS if opt not in socket_options)
        return client

    def prepare_logs_client(self, client: Any) -> Any:
        """Give a new CloudWatch Logs client the XML-error fix-up; mask its keys."""
        client.meta.events.register("before-parse.cloudwatch-logs", fix_xml_error)
        mask_signing_credentials(client)
        return client

    def logs_client(self, endpoint_url: str | None = None, *, timeout: float = LOGS_READ_TIMEOUT) -> Any:
        """
        A CloudWatch Logs client with Invoke's credentials, role, proxies and CA bundle.

        :param endpoint_url: ``logs_endpoint_url``; else the subclass's resolution.
        :param timeout: Its connect and read timeouts, at most (:func:`logs_config_overrides`).
        """
        raise NotImplementedError

    # -- invocation -------------------------------------------------------------------------

    def invoke(self, request: InvokeRequest, *, durable_execution_name: str | None = None) -> InvokeResult:
        """
        Invoke the function once; resend only after an answer proving it did not run.

        :param request: The validated request.
        :param durable_execution_name: The ``DurableExecutionName`` to start, when not the request's.
        :return: What Lambda answered (including function errors, which are not exceptions here).
        :raises InvocationFailure: The failure's outcome (no output document): :meth:`failure`.
        """
        kwargs = request.invoke_kwargs(durable_execution_name)
        try:
            client: Any = self._lambda_client()
        except Exception as exc:
            raise self.failure(exc) from exc
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
                    raise InvocationFailure(outcomes.CONNECTION, truncated)
                return InvokeResult.from_response(response, payload)
            except Exception as exc:
                delay = self._retry_delay(attempt, exc)
                if delay is None:
                    raise self.failure(exc) from exc
                self._sleep(delay)
                attempt += 1

    def failure(self, exc: BaseException) -> InvocationFailure:
        """
        ``exc`` (a failure of a call of this client) as the failure this client raises.

        :func:`~airflow_provider_lambda_ue.classifier.classify`'s outcome; the hook raises it as
        the contract's Airflow class (:meth:`.LambdaInvokeHook.failure`).
        """
        return classify(exc, proxy_url=self.proxy_url)

    def _retry_delay(self, attempt: int, exc: BaseException) -> float | None:
        """
        The retry policy shared by the sync and the async invocation.

        :param attempt: The attempt that just failed, from 1.
        :param exc: Its failure (botocore's form).
        :return: Seconds to wait before sending Invoke again, or None when it must not be resent
            (the function may have run, the failure is permanent, or the budget is spent).
        """
        delay = self.retry_policy.delay(attempt, exc)
        if delay is None:
            return None
        self._warn(
            "Invoke attempt %d/%d did not reach the function (%s); retrying in %.1f s",
            attempt,
            self.retry_policy.max_attempts,
            error_code(exc) or type(exc).__name__,
            delay,
        )
        return delay


def logs_config_overrides(timeout: float) -> Any:
    """
    What the CloudWatch Logs client changes in Invoke's config: timeouts within ``timeout``.

    botocore's retries stay off: the reader (:mod:`.fulllog`) polls again itself after a failure
    that may pass, until ``full_log_timeout``, so that no retry of botocore's outlasts it.
    """
    from botocore.config import Config

    return Config(
        read_timeout=max(1.0, min(LOGS_READ_TIMEOUT, timeout)),
        connect_timeout=max(1.0, min(DEFAULT_CONNECT_TIMEOUT_SECONDS, timeout)),
    )


def hook_settings(
    request: InvokeRequest, *, proxy_credentials: tuple[str, str] | None = None
) -> dict[str, Any]:
    """
    The client settings of a validated request: the keyword arguments of the hook and the invoker.

    :param request: The validated field set.
    :param proxy_credentials: Proxy ``(user, password)`` given directly, if any.
    """
    return {
        "aws_conn_id": request.aws_conn_id,
        "region_name": request.region_name,
        "role_arn": request.assumed_role_arn,
        "endpoint_url": request.endpoint_url,
        "proxies": request.proxies if request.use_proxy else None,
        "proxy_type": request.proxy_type,
        "proxy_conn_id": request.proxy_conn_id if request.use_proxy else None,
        "proxy_credentials": proxy_credentials if request.use_proxy else None,
        "proxy_ca_bundle_file": request.proxy_ca_bundle_file if request.use_proxy else None,
        "read_timeout": request.wait_for_completion_timeout,
    }
