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
import functools
import hashlib
import inspect
import json
import math
import os
import random
import socket
import ssl
import time
import weakref
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any
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
    LambdaConnectionError,
    classify,
    error_code,
    parse_xml_error,
    root_cause,
)
from airflow_provider_lambda_ue.fields import (
    DEFAULT_AWS_CONN_ID,
    DEFAULT_TIMEOUT_SECONDS,
    PROXY_HTTPS_WITH_CREDENTIALS,
    InvokeRequest,
)
from airflow_provider_lambda_ue.output import InvokeResult
from airflow_provider_lambda_ue.proxy_credentials import proxy_credential_source

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
    # Refused proxy credentials and an untrusted certificate fail the same way every time.
    return isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)) and not (
        _is_permanent_failure(exc)
    )


def _is_permanent_failure(exc: BaseException) -> bool:
    """A proxy that refused the credentials (407), or a certificate that failed verification."""
    cause = root_cause(exc)
    # urllib3 leaves the proxy's status only in the text of the tunnel's OSError.
    return isinstance(cause, ssl.SSLCertVerificationError) or (cause is not None and " 407 " in f" {cause} ")


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
        seconds = _retry_after_seconds(headers.get("retry-after"))
        if seconds is not None:
            return min(cap, max(0.0, seconds))
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return seconds if math.isfinite(seconds) else None


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
        client = self.__dict__.get("conn")  # once built, the client knows the endpoint it really uses
        if client is not None:
            endpoint = getattr(client.meta, "endpoint_url", None) or endpoint
        scheme = urlsplit(endpoint).scheme if endpoint else "https"
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
        if not kwargs.get("deferrable"):
            _mask_signing_credentials(client)
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
        if attempt >= self.max_attempts or not is_retry_safe(exc):
            return None
        delay = backoff_seconds(attempt, exc)
        self.log.warning(
            "Invoke attempt %d/%d did not reach the function (%s); retrying in %.1f s",
            attempt,
            self.max_attempts,
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
        into the botocore exceptions the synchronous path sees (:func:`_unwrap_async`), so the exit
        codes are the same.

        Invocations running at the same time in one event loop with identical settings (the same
        :meth:`async_client_key`) share one client (:func:`_lease_client`): a triggerer holding a
        thousand invocations of one function keeps one client, not a thousand.

        :param request: The validated request.
        :raises LambdaInvokeError: The contract's exception for the failure (no output document).
        """
        kwargs = request.invoke_kwargs()
        proxy_url = self.proxy_url
        try:
            lease = await _lease_client(self)
        except Exception as exc:
            raise classify(_unwrap_async(exc, proxy_url), proxy_url=proxy_url) from exc
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
                    failure = _unwrap_async(raised, proxy_url)
                    delay = self._retry_delay(attempt, failure)
                    if delay is None:
                        raise classify(failure, proxy_url=proxy_url) from raised
                    await asyncio.sleep(delay)
                    attempt += 1
        finally:
            await _release_client(lease)

    def async_client_context(self) -> Any:
        """
        An aiobotocore Lambda client, configured as :attr:`conn` is (enter it with ``async with``).

        Blocking (connection lookups, and STS AssumeRole for role-based access): call it in a
        thread. Built directly on ``AwsBaseHook``'s session factory rather than through
        :meth:`get_client_type`, because aiobotocore's client only exists once entered; the
        XML-error fix-up is registered on the entered client (:func:`_lease_client`), and the TCP
        keepalive timings, which aiobotocore's ``socket_options`` ignore, are set by a socket
        factory for aiohttp. A TLS proxy is verified against ``proxy_ca_bundle_file`` alone, as
        botocore does (:func:`_async_http_session_cls`). The connection pool is unbounded: the
        client may be shared by many concurrent invocations, none of which may wait for another's
        connection.
        """
        from aiobotocore.config import AioConfig

        service_name = self._resolve_service_name(is_resource_type=False)
        session: Any = self.get_session(region_name=self.region_name, deferrable=True)
        options = {
            **_options(self._async_config()),
            "max_pool_connections": _ASYNC_MAX_POOL_CONNECTIONS,
        }
        config = AioConfig(
            connector_args={"socket_factory": _keepalive_socket},
            http_session_cls=_async_http_session_cls(),
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
            "config": _options(wrapper.botocore_config),
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
            with_user_agent: Any = self._get_config(deepcopy(config))
            _ASYNC_USER_AGENT_EXTRA[key] = with_user_agent.user_agent_extra
        merged: Config = config.merge(Config(user_agent_extra=_ASYNC_USER_AGENT_EXTRA[key]))
        return merged


@functools.cache
def _async_http_session_cls() -> type:
    """
    aiobotocore's HTTP session, verifying a TLS proxy the way botocore does.

    aiobotocore starts the proxy's TLS context from the endpoint's (certifi or ``AWS_CA_BUNDLE``)
    and adds ``proxy_ca_bundle`` to it, so a proxy certificate from any CA the endpoint trusts would
    pass; botocore trusts ``proxy_ca_bundle`` alone. This subclass does what botocore does.
    """
    from aiobotocore.httpsession import AIOHTTPSession
    from botocore.httpsession import InvalidProxiesConfigError, create_urllib3_context

    class ProxyBundleHTTPSession(AIOHTTPSession):
        def _setup_proxy_ssl_context(self, proxy_url: str) -> Any:
            settings = self._proxy_config.settings
            bundle, cert = settings.get("proxy_ca_bundle"), settings.get("proxy_client_cert")
            if bundle is None:
                return super()._setup_proxy_ssl_context(proxy_url)
            context = create_urllib3_context()  # certificates required
            context.check_hostname = True  # aiohttp leaves the name check to the context
            try:
                context.load_verify_locations(cafile=bundle)
                if isinstance(cert, tuple):
                    context.load_cert_chain(cert[0], keyfile=cert[1])
                elif isinstance(cert, str):
                    context.load_cert_chain(cert)
            except (OSError, ssl.SSLError) as exc:
                raise InvalidProxiesConfigError(error=exc) from exc
            return context

    return ProxyBundleHTTPSession


def _options(config: Config | None) -> dict[str, Any]:
    """The options a botocore ``Config`` was given (what ``Config.merge`` combines)."""
    return dict(getattr(config, "_user_provided_options", None) or {})


#: ``user_agent_extra`` of the connection -> with Airflow's additions (see ``_async_config``).
_ASYNC_USER_AGENT_EXTRA: dict[str | None, str | None] = {}
#: aiohttp's connection limit per async client (one connection per open invocation).
_ASYNC_MAX_POOL_CONNECTIONS = 1_000_000
#: A shared client takes new invocations for this long; later ones get a new client. Bounds how
#: long a client built from a connection (or from assumed-role credentials) stays in use.
SHARED_CLIENT_MAX_AGE_SECONDS = 300.0


class _CreationAbandoned(Exception):
    """The invocation building a shared client was cancelled; a waiting one builds its own."""


@dataclass(eq=False)
class _SharedClient:
    """An aiobotocore client shared by the invocations of one event loop with the same settings."""

    key: str
    created: float
    ready: asyncio.Future[None]
    users: int = 1
    context: Any = None
    client: Any = None


#: Per event loop (aiohttp sessions belong to the loop they were made in): key -> live client.
_SHARED_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _SharedClient]] = (
    weakref.WeakKeyDictionary()
)


async def _lease_client(hook: LambdaInvokeHook) -> _SharedClient:
    """
    A client for ``hook``'s settings: the live one of this event loop, or a new one.

    A client is only shared while at least one invocation uses it (the last one closes it), and
    takes new invocations for :data:`SHARED_CLIENT_MAX_AGE_SECONDS`. Release it with
    :func:`_release_client`.
    """
    loop = asyncio.get_running_loop()
    pool = _SHARED_CLIENTS.setdefault(loop, {})
    key = await asyncio.to_thread(hook.async_client_key)
    while True:
        entry = pool.get(key)
        if entry is None or loop.time() - entry.created >= SHARED_CLIENT_MAX_AGE_SECONDS:
            break
        entry.users += 1
        try:
            await asyncio.shield(entry.ready)
        except _CreationAbandoned:
            entry.users -= 1
            continue
        except BaseException:
            entry.users -= 1
            raise
        return entry
    # No live client: build one. Later arrivals with the same key wait for it (``ready``); an
    # expired entry stays with its invocations, and the last of them closes it.
    entry = _SharedClient(key=key, created=loop.time(), ready=loop.create_future())
    pool[key] = entry
    try:
        context = await asyncio.to_thread(hook.async_client_context)
        entry.client = await context.__aenter__()
        entry.context = context
        entry.client.meta.events.register("before-parse.lambda.Invoke", _fix_xml_error)
        await _mask_signing_credentials_async(entry.client)
    except BaseException as exc:
        if pool.get(key) is entry:
            del pool[key]
        cancelled = isinstance(exc, asyncio.CancelledError)
        entry.ready.set_exception(_CreationAbandoned() if cancelled else exc)
        entry.ready.exception()  # retrieved: waiters may be none
        raise
    entry.ready.set_result(None)
    return entry


async def _release_client(entry: _SharedClient) -> None:
    """Hand back a leased client; the last invocation using it closes it."""
    entry.users -= 1
    if entry.users > 0:
        return
    pool = _SHARED_CLIENTS.get(asyncio.get_running_loop(), {})
    if pool.get(entry.key) is entry:
        del pool[entry.key]
    # Closing must finish even if this invocation is being cancelled (the triggerer stopping it).
    await asyncio.shield(entry.context.__aexit__(None, None, None))


def _keepalive_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory: TCP keepalive on, with the timings of :data:`_KEEPALIVE_OPTIONS`."""
    family, kind, proto = addr_info[0], addr_info[1], addr_info[2]
    sock = socket.socket(family=family, type=kind, proto=proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if family in (socket.AF_INET, socket.AF_INET6):
            for level, option, value in _KEEPALIVE_OPTIONS:
                sock.setsockopt(level, option, value)
    except OSError:
        sock.close()
        raise
    return sock


def _unwrap_async(exc: BaseException, proxy_url: str | None = None) -> BaseException:
    """
    The botocore exception that the synchronous path raises for the failure ``exc`` describes.

    aiobotocore translates most aiohttp failures already; this fills the gaps so that
    :func:`is_retry_safe` and :func:`classify` judge both paths alike:

    * a TLS failure on the hop to a TLS proxy (aiobotocore reports every ``ClientSSLError`` as the
      endpoint's ``SSLError``) is the proxy's: ``ProxyConnectionError`` (exit code 11);
    * a body cut short (``ClientPayloadError``, or fewer bytes than ``Content-Length``) is
      ``ResponseStreamingError`` (exit code 10), as urllib3's ``ProtocolError`` is in botocore;
    * a proxy CA bundle that cannot be loaded (missing on the triggerer's host) is the
      ``InvalidProxiesConfigError`` inside the ``HTTPClientError`` (exit code 20, a bad field);
    * raw aiohttp and asyncio errors that escape aiobotocore map onto their botocore namesakes
      (connect errors, timeouts, disconnects, proxy errors).

    :param exc: What the aiobotocore call raised.
    :param proxy_url: The proxy URL in use (without credentials), or None.
    """
    import aiohttp
    from botocore import exceptions as bce

    if isinstance(exc, bce.SSLError):
        inner = exc.kwargs.get("error")
        if proxy_url and inner is not None and _is_proxy_hop(inner, proxy_url):
            return bce.ProxyConnectionError(proxy_url=proxy_url, error=inner)
        return exc
    if isinstance(exc, bce.IncompleteReadError):
        return bce.ResponseStreamingError(error=exc)
    wrapped = exc.kwargs.get("error") if isinstance(exc, bce.HTTPClientError) else None
    if isinstance(wrapped, bce.InvalidProxiesConfigError):
        # The proxy CA bundle cannot be read (e.g. missing on the triggerer's host): a bad field.
        return wrapped
    if isinstance(exc, (bce.BotoCoreError, ClientError)):
        return exc
    if isinstance(exc, aiohttp.ClientPayloadError):
        return bce.ResponseStreamingError(error=exc)
    if isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
        return bce.ProxyConnectionError(proxy_url=proxy_url or "", error=exc)
    if isinstance(exc, aiohttp.ClientSSLError):
        if proxy_url and _is_proxy_hop(exc, proxy_url):
            return bce.ProxyConnectionError(proxy_url=proxy_url, error=exc)
        return bce.SSLError(endpoint_url="", error=exc)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return bce.ConnectTimeoutError(endpoint_url="", error=exc)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return bce.ReadTimeoutError(endpoint_url="", error=exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return bce.EndpointConnectionError(endpoint_url="", error=exc)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return bce.ConnectionClosedError(endpoint_url="", error=exc)
    if isinstance(exc, aiohttp.ClientError):
        return bce.HTTPClientError(error=exc)
    return exc


def _is_proxy_hop(error: BaseException, proxy_url: str) -> bool:
    """Whether an aiohttp connector error happened on the connection to the proxy (not the endpoint)."""
    host, port = getattr(error, "host", None), getattr(error, "port", None)
    if host is None:
        return False
    proxy = urlsplit(proxy_url)
    default_port = 443 if proxy.scheme == "https" else 80
    return bool(host == proxy.hostname and (port or default_port) == (proxy.port or default_port))


def _mask_signing_credentials(client: Any) -> None:
    """
    Register the keys a client signs with (environment chain, assumed role) with the masker.

    The connection's keys are masked when the connection is read; keys from the environment or
    from STS are not, and botocore's DEBUG logging prints the session token.
    """
    credentials = _signing_credentials(client)
    if credentials is not None:
        _mask_on_refresh(credentials)
        _mask_keys(credentials.get_frozen_credentials())


async def _mask_signing_credentials_async(client: Any) -> None:
    """:func:`_mask_signing_credentials` for an aiobotocore client (its credentials are awaited)."""
    credentials = _signing_credentials(client)
    if credentials is not None:
        _mask_on_refresh(credentials)
        _mask_keys(await credentials.get_frozen_credentials())


def _signing_credentials(client: Any) -> Any:
    return getattr(getattr(client, "_request_signer", None), "_credentials", None)


def _mask_keys(frozen: Any) -> None:
    _mask(frozen.secret_key)
    _mask(frozen.token)


def _mask_on_refresh(credentials: Any) -> None:
    """
    Mask the keys that refreshable credentials fetch later, when STS renews them on expiry.

    ``AwsBaseHook`` masks what ``get_credentials()`` returns, not what its refresh callback
    (``_refresh_credentials``) fetches for a long-lived client; botocore keeps that callback in
    ``_refresh_using`` (sync, or awaited by aiobotocore), the one place every renewal passes.
    """
    refresh = getattr(credentials, "_refresh_using", None)
    if refresh is None or getattr(refresh, "__wrapped__", None) is not None:
        return

    def mask_metadata(metadata: Any) -> Any:
        if isinstance(metadata, dict):
            _mask(metadata.get("secret_key"))
            _mask(metadata.get("token"))
        return metadata

    @functools.wraps(refresh)
    def refresh_and_mask() -> Any:
        metadata = refresh()
        if inspect.isawaitable(metadata):
            pending = metadata

            async def masked() -> Any:
                return mask_metadata(await pending)

            return masked()
        return mask_metadata(metadata)

    credentials._refresh_using = refresh_and_mask


def _mask(secret: str | None) -> None:
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    mask_secret(secret)
