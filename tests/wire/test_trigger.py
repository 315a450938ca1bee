"""The trigger and the hook's async path, driven directly with asyncio against real servers on loopback.

Every wire scenario runs twice: through :meth:`LambdaInvokeHook.invoke` (the worker's synchronous
path, botocore + urllib3) and through :meth:`LambdaInvokeTrigger.run` (the triggerer's path,
aiobotocore + aiohttp), and both must end with the same exit code after the same number of
requests: the deferred path classifies like the synchronous one and never sends Invoke twice where
the synchronous path would not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botocore import exceptions as bce
from packaging.version import Version

from airflow_provider_lambda_ue import deferral
from airflow_provider_lambda_ue.deferral import AIOBOTOCORE_SOCKET_FACTORY, async_client_problems
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.hooks.aiohttp_transport import as_botocore_error, keepalive_socket
from airflow_provider_lambda_ue.hooks.client_pool import SHARED_CLIENTS
from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
from airflow_provider_lambda_ue.hooks.transport import KEEPALIVE_OPTIONS
from airflow_provider_lambda_ue.invocation import prepare
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger
from airflow_provider_lambda_ue.validation import validate
from tests.support import fake_servers as fs
from tests.support.fake_servers import AuthRequiredProxy, FakeLambdaFactory, FakeLambdaServer
from tests.support.local_lambda import ECHO_HANDLER, CountingFunction, new_function
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyFactory, ProxyInfo

pytestmark = [pytest.mark.usefixtures("clean_aws_env", "connections"), pytest.mark.timeout(300)]

log = logging.getLogger("tests.trigger")
FUNCTION = "trigger-test"
AWS_SECRET = "trigger-secret-key-do-not-leak"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """``aws_default`` with dummy keys, and proxy credentials (right and wrong) as connections."""
    conns = {
        "AWS_DEFAULT": {"conn_type": "aws", "login": "testing", "password": AWS_SECRET},
        "PROXY_CREDS": {"conn_type": "generic", "login": PROXY_USER, "password": PROXY_PASSWORD},
        "PROXY_WRONG": {"conn_type": "generic", "login": PROXY_USER, "password": "wrong-password"},
    }
    for name, conn in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))


def request_for(**fields: Any) -> InvokeRequest:
    """Validate fields (defaults: the test function, us-east-1) into a request."""
    fields.setdefault("function_name", FUNCTION)
    fields.setdefault("region_name", "us-east-1")
    invocation = prepare(raw_fields(**fields), log)
    assert invocation.request is not None
    return invocation.request


def proxy_fields(proxy: ProxyInfo | AuthRequiredProxy | str, ca_bundle: str | None = None) -> dict[str, Any]:
    """The proxy fields for a proxy fixture (credentials through ``proxy_conn_id``)."""
    url = proxy if isinstance(proxy, str) else proxy.url
    fields: dict[str, Any] = {"use_proxy": True, "proxy": url, "proxy_type": "HTTP"}
    if url.startswith("https://"):
        fields.update(proxy_type="HTTPS", proxy_ca_bundle_file=ca_bundle)
    if isinstance(proxy, ProxyInfo) and proxy.user:
        fields.update(proxy_type="HTTPS with Credentials", proxy_conn_id="proxy_creds")
    return fields


def sync_only_reasons(request: InvokeRequest, config: Any = None) -> list[str]:
    """Why the triggerer cannot wait for ``request``: the wait step of :func:`.deferral.route`."""
    wait = deferral.route(deferral.Facts(request=request, client_config=config)).wait
    assert wait is not None
    return list(wait.reasons)


def trigger_for(request: InvokeRequest) -> LambdaInvokeTrigger:
    """The trigger a worker defers with: the validated fields."""
    return LambdaInvokeTrigger(**request.values())


async def collect(trigger: LambdaInvokeTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def run_trigger(request: InvokeRequest) -> dict[str, Any]:
    """Serialise the trigger as Airflow does, rebuild it, run it to its single event."""
    classpath, kwargs = trigger_for(request).serialize()
    assert classpath == "airflow_provider_lambda_ue.triggers.lambda_invoke.LambdaInvokeTrigger"
    events = asyncio.run(collect(LambdaInvokeTrigger(**json.loads(json.dumps(kwargs)))))
    assert len(events) == 1
    return events[0]


def event_exit_code(event: dict[str, Any]) -> int:
    return 0 if event["status"] == "success" else int(event["exit_code"])


def run_sync(request: InvokeRequest) -> int:
    try:
        LambdaInvokeHook.from_request(request).invoke(request)
    except InvocationFailure as err:
        return err.exit_code
    return 0


@dataclass
class Parity:
    """Both paths' exit codes and request counts for one scenario."""

    sync_code: int
    async_code: int
    sync_requests: int
    async_requests: int
    event: dict[str, Any]

    def assert_same(self, exit_code: int, requests: int | None = None) -> None:
        assert (self.sync_code, self.async_code) == (exit_code, exit_code), self
        assert self.sync_requests == self.async_requests, self
        if requests is not None:
            assert self.async_requests == requests, self


def both_paths(request: InvokeRequest, counter: Callable[[], int], reset: Callable[[], None]) -> Parity:
    reset()
    sync_code = run_sync(request)
    sync_requests = counter()
    reset()
    event = run_trigger(request)
    return Parity(sync_code, event_exit_code(event), sync_requests, counter(), event)


def on(server: FakeLambdaServer, request: InvokeRequest) -> Parity:
    """Both paths against a fake Lambda (its script restarts for each path)."""
    return both_paths(request, lambda: len(server.invocations), server.reset)


# ------------------------------------------------------------------------------------------------
# Serialisation and the deferral decision


def test_serialize_round_trip_carries_no_secret(ca_bundle: str) -> None:
    request = request_for(
        payload={"k": "v"},
        client_context={"custom": {"a": 1}},
        qualifier="prod",
        log_type="Tail",
        role_based_access="true",
        role_arn="arn:aws:iam::123456789012:role/invoker",
        use_proxy=True,
        proxy="http://127.0.0.1:3128,https://127.0.0.1:3129",
        proxy_type="HTTPS with Credentials",
        proxy_conn_id="proxy_creds",
        proxy_ca_bundle_file=ca_bundle,
        wait_for_completion_timeout="120",
        endpoint_url="https://lambda.example.com",
    )
    trigger = trigger_for(request)
    classpath, kwargs = trigger.serialize()
    text = json.dumps(kwargs)  # the triggerer stores kwargs as JSON
    rebuilt = LambdaInvokeTrigger(**json.loads(text))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert validate({name: getattr(rebuilt, name) for name in rebuilt.field_names}) == request
    for secret in (AWS_SECRET, PROXY_PASSWORD, "wrong-password"):
        assert secret not in text
    assert kwargs["aws_conn_id"] == "aws_default"
    assert kwargs["proxy_conn_id"] == "proxy_creds"


def test_async_client_is_available() -> None:
    assert async_client_problems() == []


def test_async_client_check_probes_only_below_the_release_that_added_the_socket_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata

    import aiobotocore.config

    class NoSocketFactory:
        def __init__(self, **kwargs: Any) -> None:
            raise TypeError("connector_args: unknown socket_factory")

    monkeypatch.setattr(aiobotocore.config, "AioConfig", NoSocketFactory)
    installed = Version(importlib.metadata.version("aiobotocore"))
    assert installed >= Version(AIOBOTOCORE_SOCKET_FACTORY)
    assert async_client_problems() == []  # the version settles it: the probe did not run
    real_version = importlib.metadata.version
    for below in ("2.24.1", "3.1.0rc1", "not a version"):
        monkeypatch.setattr(
            importlib.metadata,
            "version",
            lambda name, v=below: v if name == "aiobotocore" else real_version(name),
        )
        assert async_client_problems() == [
            "this aiobotocore cannot set TCP keepalive timings (no socket_factory connector arg)"
        ], below


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"invocation_type": "Event"}, "Event invocations answer at once"),
        ({"invocation_type": "DryRun"}, "DryRun invocations answer at once"),
        ({}, None),
        ({"use_proxy": True, "proxy": "http://127.0.0.1:3128"}, None),
        ({"use_proxy": True, "proxy": "https://127.0.0.1:3128", "proxy_type": "HTTPS"}, None),
    ],
)
def test_sync_only_reasons(fields: dict[str, Any], reason: str | None) -> None:
    reasons = sync_only_reasons(request_for(**fields))
    assert reasons == ([reason] if reason else [])


def test_forwarding_for_https_is_not_deferred() -> None:
    from botocore.config import Config

    config = Config(proxies_config={"proxy_use_forwarding_for_https": True})
    reasons = sync_only_reasons(request_for(), config)
    assert reasons == ["aiobotocore ignores proxies_config.proxy_use_forwarding_for_https"]


def test_old_aiobotocore_without_proxy_tls_context_is_not_deferred(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiobotocore.httpsession

    monkeypatch.delattr(aiobotocore.httpsession, "_ProxySSLTCPConnector")
    https_proxy = request_for(use_proxy=True, proxy="https://127.0.0.1:3128", proxy_type="HTTPS")
    assert sync_only_reasons(https_proxy) == [
        "this aiobotocore verifies an https:// proxy with the endpoint's TLS context"
    ]
    assert sync_only_reasons(request_for(use_proxy=True, proxy="http://127.0.0.1:3128")) == []


def test_missing_aiobotocore_is_not_deferred(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aiobotocore" else real(name)
    )
    assert sync_only_reasons(request_for()) == [
        "aiobotocore is not installed (pip install 'airflow-provider-lambda-ue[deferrable]')"
    ]


# ------------------------------------------------------------------------------------------------
# The async client's settings


def test_async_client_settings(fake_lambda: FakeLambdaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Retries from the environment must not switch botocore's retries back on.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    request = request_for(endpoint_url=fake_lambda.url, wait_for_completion_timeout=42)
    hook = LambdaInvokeHook.from_request(request)

    async def inspect() -> dict[str, Any]:
        async with hook.async_client_context() as client:
            config = client.meta.config
            session = client._endpoint.http_session
            return {
                "retries": config.retries,
                "read_timeout": config.read_timeout,
                "tcp_keepalive": config.tcp_keepalive,
                "endpoint": client.meta.endpoint_url,
                "socket_factory": session._connector_args.get("socket_factory"),
                "pool": session._max_pool_connections,
                "user_agent": config.user_agent_extra,
                "key": (await client._request_signer._credentials.get_frozen_credentials()).secret_key,
            }

    settings = asyncio.run(inspect())
    assert settings["retries"] == {"mode": "standard", "total_max_attempts": 1}
    assert settings["read_timeout"] == 42
    assert settings["tcp_keepalive"] is True
    assert settings["endpoint"] == fake_lambda.url
    assert settings["socket_factory"] is keepalive_socket
    assert settings["pool"] >= 100_000  # a shared client never makes an invocation wait for a connection
    assert "Airflow/" in settings["user_agent"]
    assert settings["key"] == AWS_SECRET


# ------------------------------------------------------------------------------------------------
# Concurrent invocations with the same settings share one client


@pytest.fixture
def clients_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the access key of every async client built."""
    built: list[str] = []
    original = LambdaInvokeHook.async_client_context

    def counting(self: LambdaInvokeHook) -> Any:
        built.append(str(self.conn_config.aws_access_key_id))
        return original(self)

    monkeypatch.setattr(LambdaInvokeHook, "async_client_context", counting)
    return built


def run_concurrently(requests: list[InvokeRequest]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run one trigger per request in one event loop; return the events and the clients left open."""

    async def main() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        triggers = [trigger_for(request) for request in requests]
        events = await asyncio.gather(*(collect(trigger) for trigger in triggers))
        return [e[0] for e in events], SHARED_CLIENTS.clients()

    return asyncio.run(main())


def test_concurrent_triggers_share_a_client(
    fake_lambda: FakeLambdaServer, clients_built: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OTHER_KEYS",
        json.dumps({"conn_type": "aws", "login": "other", "password": "other-secret"}),
    )
    fake_lambda.script(*fs.slow_response(1))
    same = request_for(endpoint_url=fake_lambda.url)
    other = request_for(endpoint_url=fake_lambda.url, aws_conn_id="other_keys")
    events, left_open = run_concurrently([same] * 6 + [other] * 3)
    assert [event["status"] for event in events] == ["success"] * 9
    assert sorted(clients_built) == ["other", "testing"]  # one client per distinct setting
    assert left_open == {}  # the last invocation closed each client
    signed_by = [
        request.headers["authorization"].split("Credential=")[1].split("/")[0]
        for request in fake_lambda.invocations
    ]
    assert sorted(signed_by) == ["other"] * 3 + ["testing"] * 6


def test_shared_client_takes_new_invocations_for_a_limited_time(
    fake_lambda: FakeLambdaServer, clients_built: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SHARED_CLIENTS, "max_age", 0.0)
    fake_lambda.script(*fs.slow_response(1))
    events, left_open = run_concurrently([request_for(endpoint_url=fake_lambda.url)] * 3)
    assert [event["status"] for event in events] == ["success"] * 3
    assert len(clients_built) == 3
    assert left_open == {}


def test_failed_client_is_not_shared(
    refused_url: str, clients_built: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Role assumption against a refused STS endpoint fails while the client is built: every waiting
    # invocation fails the same way, and nothing stays in the pool.
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": AWS_SECRET,
        "extra": {"service_config": {"sts": {"endpoint_url": refused_url}}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    request = request_for(
        endpoint_url=refused_url, role_based_access=True, role_arn="arn:aws:iam::123456789012:role/r"
    )
    events, left_open = run_concurrently([request] * 3)
    assert [event["exit_code"] for event in events] == [10, 10, 10]
    assert left_open == {}


def test_client_key_follows_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    request = request_for()
    first = LambdaInvokeHook.from_request(request).async_client_key()
    assert first == LambdaInvokeHook.from_request(request).async_client_key()
    assert AWS_SECRET not in first
    rotated = {"conn_type": "aws", "login": "testing", "password": "rotated-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(rotated))
    assert LambdaInvokeHook.from_request(request).async_client_key() != first
    assert (
        LambdaInvokeHook.from_request(request_for(wait_for_completion_timeout=61)).async_client_key() != first
    )


def test_keepalive_socket_factory() -> None:
    info = socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)[0]
    sock = keepalive_socket(info)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert KEEPALIVE_OPTIONS, "this platform should have TCP_KEEPIDLE and friends"
        for level, option, value in KEEPALIVE_OPTIONS:
            assert sock.getsockopt(level, option) == value
    finally:
        sock.close()


@dataclass
class _ConnKey:
    host: str
    port: int
    is_ssl: bool = True
    ssl: bool = True


def _connector_error(cls: type[Exception], host: str, port: int) -> Exception:
    key: Any = _ConnKey(host, port)
    if cls is aiohttp.ClientConnectorCertificateError:
        return cls(key, ssl.SSLCertVerificationError(1, "certificate verify failed"))
    return cls(key, OSError(1, "boom"))


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (aiohttp.ClientPayloadError("cut"), bce.ResponseStreamingError),
        (bce.IncompleteReadError(actual_bytes=1, expected_bytes=2), bce.ResponseStreamingError),
        (aiohttp.ServerDisconnectedError(), bce.ConnectionClosedError),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), bce.ConnectTimeoutError),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), bce.ReadTimeoutError),
        (asyncio.TimeoutError(), bce.ReadTimeoutError),
        (_connector_error(aiohttp.ClientConnectorError, "127.0.0.1", 9), bce.EndpointConnectionError),
        (_connector_error(aiohttp.ClientProxyConnectionError, "127.0.0.1", 3128), bce.ProxyConnectionError),
        (_connector_error(aiohttp.ClientConnectorSSLError, "127.0.0.1", 3128), bce.ProxyConnectionError),
        (_connector_error(aiohttp.ClientConnectorSSLError, "127.0.0.1", 443), bce.SSLError),
        (aiohttp.ClientError("other"), bce.HTTPClientError),
        (ValueError("not a transport failure"), ValueError),
    ],
)
def test_unwrap_async(raised: Exception, expected: type[Exception]) -> None:
    assert type(as_botocore_error(raised, "https://127.0.0.1:3128")) is expected


def test_unwrap_async_tls_failure_to_the_proxy_hop() -> None:
    inner = _connector_error(aiohttp.ClientConnectorCertificateError, "127.0.0.1", 3128)
    wrapped = bce.SSLError(endpoint_url="https://127.0.0.1:443/x", error=inner)
    assert type(as_botocore_error(wrapped, "https://127.0.0.1:3128")) is bce.ProxyConnectionError
    assert as_botocore_error(wrapped, None) is wrapped
    to_endpoint = bce.SSLError(
        endpoint_url="https://127.0.0.1:443/x",
        error=_connector_error(aiohttp.ClientConnectorCertificateError, "127.0.0.1", 443),
    )
    assert as_botocore_error(to_endpoint, "https://127.0.0.1:3128") is to_endpoint


# ------------------------------------------------------------------------------------------------
# Answers of a (fake) Lambda: both paths alike


def test_success_event_carries_the_answer(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(fs.ok_response({"hello": "world"}, log_result=fs.LOG_TAIL_SPLIT_UTF8_HEADER))
    parity = on(fake_lambda, request_for(endpoint_url=fake_lambda.url, payload={"a": 1}, log_type="Tail"))
    parity.assert_same(0, requests=1)
    # When Invoke was sent (where the worker looks for the complete log), then Lambda's answer.
    event = dict(parity.event)
    assert isinstance(event.pop("started_ms"), int)
    assert event == {
        "status": "success",
        "result": {
            "status_code": 200,
            "log_result": fs.LOG_TAIL_SPLIT_UTF8_HEADER,
            "payload": '{"hello": "world"}',
            "executed_version": "$LATEST",
            "function_error": None,
            "request_id": "00000000-0000-4000-8000-000000000000",  # the fake's x-amzn-RequestId
        },
    }
    sent = fake_lambda.invocations[-1]
    assert sent.json() == {"a": 1}
    assert sent.headers["x-amz-log-type"] == "Tail"
    assert sent.headers["amz-sdk-request"] == "attempt=1"
    assert "Credential=testing/" in sent.headers["authorization"]


@pytest.mark.parametrize(
    ("script", "exit_code", "requests"),
    [
        pytest.param(fs.throttle_then_success(2), 0, 3, id="throttled-then-success"),
        pytest.param([fs.throttled_response(retry_after="0")], 1, 4, id="throttled-forever"),
        pytest.param(
            [fs.error_response(502, "ResourceNotReadyException", "not ready"), fs.ok_response()],
            0,
            2,
            id="not-ready-then-success",
        ),
        pytest.param(fs.service_exception(), 1, 1, id="service-exception"),
        pytest.param(
            [fs.error_response(404, "ResourceNotFoundException", "Function not found")],
            1,
            1,
            id="unknown-function",
        ),
        pytest.param(fs.xml_error_response(), 2, 1, id="xml-auth-error"),
        pytest.param(
            [fs.error_response(403, "UnrecognizedClientException", "bad token")], 2, 1, id="auth-error"
        ),
        pytest.param(
            [fs.error_response(403, "AccessDeniedException", "not allowed")], 3, 1, id="access-denied"
        ),
        pytest.param(
            [fs.error_response(400, "InvalidParameterValueException", "bad value")], 20, 1, id="invalid"
        ),
        pytest.param([fs.error_response(413, "RequestTooLargeException", "too big")], 20, 1, id="too-large"),
        pytest.param(fs.bad_gateway_html(), 1, 1, id="bad-gateway-html"),
        pytest.param(fs.close_before_response(), 10, 1, id="closed-before-response"),
        pytest.param(fs.close_mid_status_line(), 10, 1, id="closed-mid-status-line"),
        pytest.param(fs.slow_response(3), 21, 1, id="read-timeout"),
        pytest.param([fs.ok_response(function_error="Unhandled")], 0, 1, id="function-error-is-an-answer"),
        pytest.param(fs.log_tail_not_base64(), 0, 1, id="log-tail-not-base64"),
    ],
)
def test_answers_classified_alike(
    fake_lambda: FakeLambdaServer, script: list[fs.ScriptedResponse], exit_code: int, requests: int
) -> None:
    fake_lambda.script(*script)
    request = request_for(endpoint_url=fake_lambda.url, wait_for_completion_timeout=1)
    on(fake_lambda, request).assert_same(exit_code, requests)


@pytest.mark.parametrize(
    ("script", "exit_code"),
    [
        pytest.param(fs.close_mid_body(), 10, id="closed-mid-body"),
        pytest.param(fs.slow_body(3), 21, id="read-timeout-in-body"),
    ],
)
def test_failures_while_reading_the_answer(
    fake_lambda: FakeLambdaServer, script: list[fs.ScriptedResponse], exit_code: int
) -> None:
    # A connection broken mid-answer is a connection error, an answer that stalls past the read
    # timeout is a read timeout; neither is sent again.
    fake_lambda.script(*script)
    request = request_for(endpoint_url=fake_lambda.url, wait_for_completion_timeout=1)
    on(fake_lambda, request).assert_same(exit_code, 1)


def test_read_timeout_never_invokes_twice_whatever_the_environment(
    fake_lambda: FakeLambdaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    fake_lambda.script(*fs.slow_response(3))
    on(fake_lambda, request_for(endpoint_url=fake_lambda.url, wait_for_completion_timeout=1)).assert_same(
        21, 1
    )


def test_read_timeout_with_retries_in_the_connection(
    fake_lambda: FakeLambdaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 7}}}
    conn = {"conn_type": "aws", "login": "testing", "password": AWS_SECRET, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_RETRYING", json.dumps(conn))
    fake_lambda.script(*fs.slow_response(3))
    request = request_for(endpoint_url=fake_lambda.url, wait_for_completion_timeout=1, aws_conn_id="retrying")
    on(fake_lambda, request).assert_same(21, 1)


def test_refused_endpoint(refused_url: str) -> None:
    parity = both_paths(request_for(endpoint_url=refused_url), lambda: 0, lambda: None)
    parity.assert_same(10)


def test_missing_credentials(fake_lambda: FakeLambdaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")
    on(fake_lambda, request_for(endpoint_url=fake_lambda.url)).assert_same(2, 0)


def test_tls_endpoint(
    fake_lambda_tls: FakeLambdaServer, ca_bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = request_for(endpoint_url=fake_lambda_tls.url)
    # Untrusted certificate: a TLS failure to the endpoint is a connection error.
    on(fake_lambda_tls, request).assert_same(10, 0)
    monkeypatch.setenv("AWS_CA_BUNDLE", ca_bundle)
    on(fake_lambda_tls, request).assert_same(0, 1)


# ------------------------------------------------------------------------------------------------
# Proxies: real proxy.py processes, plain and TLS, with and without basic authentication


@pytest.fixture
def target(request: pytest.FixtureRequest, fake_lambda_factory: FakeLambdaFactory) -> FakeLambdaServer:
    return fake_lambda_factory(tls=request.param == "https")


@pytest.fixture
def trust_targets(clean_aws_env: None, ca_bundle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the fake Lambda's TLS certificate (after ``clean_aws_env`` cleared AWS_CA_BUNDLE)."""
    monkeypatch.setenv("AWS_CA_BUNDLE", ca_bundle)


@pytest.mark.usefixtures("trust_targets")
@pytest.mark.parametrize("target", ["http", "https"], indirect=True)
@pytest.mark.parametrize("flavour", ["http_proxy", "http_proxy_auth", "tls_proxy", "tls_proxy_auth"])
def test_through_proxy(
    flavour: str, target: FakeLambdaServer, request: pytest.FixtureRequest, ca_bundle: str
) -> None:
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    parity = on(target, request_for(endpoint_url=target.url, **proxy_fields(proxy, ca_bundle)))
    parity.assert_same(0, 1)
    if target.scheme == "http":  # forwarded (not tunnelled) requests carry the proxy's Via header
        assert "proxy.py" in target.invocations[-1].headers.get("via", "")


@pytest.mark.usefixtures("trust_targets")
@pytest.mark.parametrize("target", ["http", "https"], indirect=True)
@pytest.mark.parametrize("flavour", ["http_proxy_auth", "tls_proxy_auth"])
def test_proxy_rejects_credentials(
    flavour: str, target: FakeLambdaServer, request: pytest.FixtureRequest, ca_bundle: str
) -> None:
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    fields = {**proxy_fields(proxy, ca_bundle), "proxy_conn_id": "proxy_wrong"}
    parity = on(target, request_for(endpoint_url=target.url, **fields))
    parity.assert_same(11, 0)
    assert parity.event["proxy_url"] == proxy.url


@pytest.mark.usefixtures("trust_targets")
@pytest.mark.parametrize("target", ["http", "https"], indirect=True)
def test_proxy_demanding_authentication(
    target: FakeLambdaServer, auth_required_proxy: AuthRequiredProxy
) -> None:
    on(target, request_for(endpoint_url=target.url, **proxy_fields(auth_required_proxy))).assert_same(11, 0)


@pytest.mark.usefixtures("trust_targets")
@pytest.mark.parametrize("target", ["http", "https"], indirect=True)
def test_stopped_proxy(target: FakeLambdaServer, proxy_factory: ProxyFactory) -> None:
    proxy = proxy_factory()
    proxy.stop()
    parity = on(target, request_for(endpoint_url=target.url, **proxy_fields(proxy)))
    parity.assert_same(11, 0)
    assert parity.event["proxy_url"] == proxy.url


@pytest.mark.usefixtures("trust_targets")
@pytest.mark.parametrize("target", ["http", "https"], indirect=True)
def test_untrusted_tls_proxy(
    target: FakeLambdaServer, tls_proxy_untrusted: ProxyInfo, ca_bundle: str
) -> None:
    parity = on(target, request_for(endpoint_url=target.url, **proxy_fields(tls_proxy_untrusted, ca_bundle)))
    parity.assert_same(11, 0)


def test_tls_proxy_is_verified_by_its_bundle_alone(
    fake_lambda: FakeLambdaServer,
    tls_proxy_untrusted: ProxyInfo,
    ca_bundle: str,
    untrusted_ca_bundle: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The endpoint's trust (AWS_CA_BUNDLE) holds the proxy's CA, proxy_ca_bundle_file does not:
    # botocore rejects the proxy, and so must the async path (aiobotocore alone would accept it).
    monkeypatch.setenv("AWS_CA_BUNDLE", untrusted_ca_bundle)
    request = request_for(endpoint_url=fake_lambda.url, **proxy_fields(tls_proxy_untrusted, ca_bundle))
    on(fake_lambda, request).assert_same(11, 0)
    # With the proxy's CA in proxy_ca_bundle_file, both go through.
    request = request_for(
        endpoint_url=fake_lambda.url, **proxy_fields(tls_proxy_untrusted, untrusted_ca_bundle)
    )
    on(fake_lambda, request).assert_same(0, 1)


def test_tls_proxy_with_the_right_bundle_and_no_system_trust(
    fake_lambda: FakeLambdaServer, tls_proxy: ProxyInfo, ca_bundle: str
) -> None:
    # An http:// target: only the proxy hop is TLS, verified by proxy_ca_bundle_file alone.
    on(
        fake_lambda, request_for(endpoint_url=fake_lambda.url, **proxy_fields(tls_proxy, ca_bundle))
    ).assert_same(0, 1)


def test_proxy_cannot_reach_the_endpoint(http_proxy: ProxyInfo, refused_port: int) -> None:
    for scheme in ("http", "https"):
        request = request_for(endpoint_url=f"{scheme}://127.0.0.1:{refused_port}", **proxy_fields(http_proxy))
        parity = both_paths(request, lambda: 0, lambda: None)
        assert parity.sync_code == parity.async_code, (scheme, parity)


def test_ca_bundle_missing_on_the_triggerer(
    fake_lambda: FakeLambdaServer, tls_proxy: ProxyInfo, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(tls_proxy.ca_file or "").read_bytes())
    request = request_for(endpoint_url=fake_lambda.url, **proxy_fields(tls_proxy, str(bundle)))
    bundle.unlink()  # validated on the worker, gone on the triggerer
    event = run_trigger(request)
    assert event["exit_code"] == 20, event
    assert "proxy_ca_bundle_file" in event["detail"]
    assert not fake_lambda.invocations


# ------------------------------------------------------------------------------------------------
# The local Lambda endpoint (moto server running the handler code)


def test_local_lambda_read_timeout_runs_the_function_once(
    counting_function_factory: Callable[..., CountingFunction], local_lambda: LocalLambda
) -> None:
    function = counting_function_factory(sleep_seconds=4, timeout=10)
    request = request_for(
        function_name=function.name, endpoint_url=local_lambda.url, wait_for_completion_timeout=1
    )
    event = run_trigger(request)
    assert event_exit_code(event) == 21
    assert function.wait_for_count(1, timeout=30) == 1
    time.sleep(6)  # the execution finishes its sleep; a resent Invoke would have counted by now
    assert function.count() == 1


def test_local_lambda_answer(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "trigger-echo", ECHO_HANDLER)
    request = request_for(
        function_name=name, endpoint_url=local_lambda.url, payload=[1, "two"], log_type="Tail"
    )
    event = run_trigger(request)
    assert event["status"] == "success", event
    result = event["result"]
    assert (result["status_code"], result["payload"], result["executed_version"]) == (
        200,
        '[1, "two"]',
        "$LATEST",
    )
    assert result["log_result"] and result["function_error"] is None
