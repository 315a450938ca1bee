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
import os
import random
import socket
import ssl
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
)

from airflow_provider_lambda_ue.exceptions import (
    RETRY_SAFE_ERROR_CODES,
    LambdaDataValidationError,
    classify,
    error_code,
    parse_xml_error,
)
from airflow_provider_lambda_ue.fields import (
    DEFAULT_AWS_CONN_ID,
    DEFAULT_TIMEOUT_SECONDS,
    PROXY_HTTPS_WITH_CREDENTIALS,
    InvokeRequest,
)
from airflow_provider_lambda_ue.output import InvokeResult

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Invoke is sent at most this many times, and only again after an answer that proves the
#: function did not run (throttling, not ready) or a connection that never carried the request.
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF_BASE_SECONDS = 0.5
DEFAULT_BACKOFF_CAP_SECONDS = 10.0
#: A connection that cannot be opened within this time fails (exit 10) instead of waiting for the
#: read timeout, which is for the function's run time.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10

# botocore's tcp_keepalive only sets SO_KEEPALIVE, whose first probe Linux sends after two hours;
# NAT gateways drop idle flows after about 350 s, long before a 15-minute invocation answers.
_KEEPALIVE_OPTIONS: list[tuple[int, int, int]] = [
    (socket.IPPROTO_TCP, option, value)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4))
    if (option := getattr(socket, name, None)) is not None
]


def is_retry_safe(exc: BaseException) -> bool:
    """
    Whether ``exc`` proves that the function did not run, so Invoke may be sent again.

    :param exc: A failure of one Invoke attempt.
    """
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return error_code(exc) in RETRY_SAFE_ERROR_CODES or status == 429
    # The connection was never opened, so the request never left: NewConnectionError, DNS
    # failures and connect timeouts. A refused or unreachable proxy likewise never forwarded it.
    return isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)) and not (
        _is_proxy_auth_failure(exc)
    )


def _is_proxy_auth_failure(exc: BaseException) -> bool:
    return "407" in str(getattr(exc, "kwargs", {}).get("error", ""))


def backoff_seconds(
    attempt: int,
    exc: BaseException | None = None,
    *,
    base: float = DEFAULT_BACKOFF_BASE_SECONDS,
    cap: float = DEFAULT_BACKOFF_CAP_SECONDS,
) -> float:
    """
    Delay before attempt ``attempt + 1``: full-jitter exponential backoff, or the service's Retry-After.

    :param attempt: The attempt that just failed, from 1.
    :param exc: Its failure, whose ``Retry-After`` header is honoured up to ``cap``.
    """
    if isinstance(exc, ClientError):
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        retry_after = headers.get("retry-after")
        if retry_after:
            try:
                return min(cap, max(0.0, float(retry_after)))
            except ValueError:
                pass
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def system_ca_bundle() -> str | None:
    """The system's CA bundle file (OpenSSL's default), falling back to certifi's."""
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get(paths.openssl_cafile_env), paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    try:
        import certifi
    except ImportError:  # pragma: no cover - botocore's requests-free installs still ship it
        return None
    return str(certifi.where())


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _fix_xml_error(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """
    Recover the error code of an XML error body sent to the JSON Lambda API.

    botocore's JSON parser cannot read an XML body and reports the HTTP status as the code;
    emulators (and some proxies in front of them) answer auth failures that way.
    """
    if response_dict.get("status_code", 200) < 400:
        return
    headers = response_dict.get("headers") or {}
    if headers.get("x-amzn-errortype"):
        return
    parsed = parse_xml_error(response_dict.get("body") or b"")
    if parsed:
        code, message = parsed
        customized_response_dict["Error"] = {"Code": code, "Message": message}


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
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("client_type", "lambda")
        super().__init__(aws_conn_id=aws_conn_id, region_name=region_name, **kwargs)
        self.role_arn = role_arn
        self.endpoint_url = endpoint_url
        self.proxies = dict(proxies or {})
        self.proxy_type = proxy_type
        self.proxy_conn_id = proxy_conn_id
        self._given_proxy_credentials = proxy_credentials
        self.proxy_ca_bundle_file = proxy_ca_bundle_file
        self.read_timeout = read_timeout
        self.connect_timeout = min(connect_timeout, read_timeout)
        self.max_attempts = max(1, max_attempts)
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
        """The proxy's ``(user, password)``, from ``proxy_conn_id`` or given directly; masked in logs."""
        credentials = self._given_proxy_credentials
        if self.proxy_conn_id:
            try:
                conn: Connection = self.get_connection(self.proxy_conn_id)
            except Exception as exc:
                problem = f"proxy_conn_id: connection {self.proxy_conn_id!r} cannot be read"
                raise LambdaDataValidationError(problems=[f"{problem} ({type(exc).__name__})"]) from exc
            credentials = (conn.login or "", conn.password or "") if conn.login or conn.password else None
        if credentials is None:
            if self.proxies and self.proxy_type == PROXY_HTTPS_WITH_CREDENTIALS:
                where = f"connection {self.proxy_conn_id!r}" if self.proxy_conn_id else "the environment"
                raise LambdaDataValidationError(
                    problems=[f"proxy_conn_id: {where} has no login and password for the proxy"]
                )
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
        scheme = urlsplit(self.endpoint_url).scheme if self.endpoint_url else "https"
        return self.proxies.get(scheme) or next(iter(self.proxies.values()))

    def _proxies_for_botocore(self) -> dict[str, str]:
        credentials = self.proxy_credentials
        if not credentials:
            return dict(self.proxies)
        proxies = {scheme: _with_credentials(url, *credentials) for scheme, url in self.proxies.items()}
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
                    extra={"region_name": self._region_name} if self._region_name else {},
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
        client.meta.events.register("before-parse.lambda.Invoke", _fix_xml_error)
        http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
        socket_options = getattr(http_session, "_socket_options", None)
        if isinstance(socket_options, list):
            socket_options.extend(opt for opt in _KEEPALIVE_OPTIONS if opt not in socket_options)
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
                return InvokeResult.from_response(response, response["Payload"].read())
            except Exception as exc:
                if attempt < self.max_attempts and is_retry_safe(exc):
                    delay = backoff_seconds(attempt, exc)
                    self.log.warning(
                        "Invoke attempt %d/%d did not reach the function (%s); retrying in %.1f s",
                        attempt,
                        self.max_attempts,
                        error_code(exc) or type(exc).__name__,
                        delay,
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise classify(exc, proxy_url=self.proxy_url) from exc

    async def invoke_async(self, request: InvokeRequest) -> InvokeResult:
        """
        :meth:`invoke` with aiobotocore, for the triggerer's event loop. Same policy and errors.

        :param request: The validated request.
        """
        kwargs = request.invoke_kwargs()
        try:
            client_context = await self.get_async_conn()
        except Exception as exc:
            raise classify(exc, proxy_url=self.proxy_url) from exc
        attempt = 1
        async with client_context as client:
            while True:
                try:
                    response = await client.invoke(**kwargs)
                    async with response["Payload"] as stream:
                        payload = await stream.read()
                    return InvokeResult.from_response(response, payload)
                except Exception as raised:
                    failure = _unwrap_async(raised)
                    if attempt < self.max_attempts and is_retry_safe(failure):
                        delay = backoff_seconds(attempt, failure)
                        self.log.warning(
                            "Invoke attempt %d/%d did not reach the function (%s); retrying in %.1f s",
                            attempt,
                            self.max_attempts,
                            error_code(failure) or type(failure).__name__,
                            delay,
                        )
                        await asyncio.sleep(delay)
                        attempt += 1
                        continue
                    raise classify(failure, proxy_url=self.proxy_url) from raised


def _unwrap_async(exc: BaseException) -> BaseException:
    # aiohttp's own timeout surfaces as asyncio.TimeoutError on some aiobotocore versions.
    if isinstance(exc, asyncio.TimeoutError):
        from botocore.exceptions import ReadTimeoutError

        return ReadTimeoutError(endpoint_url=str(exc))
    return exc


def _mask(secret: str | None) -> None:
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    mask_secret(secret)
