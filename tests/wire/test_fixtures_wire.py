# pytest passes fixtures as positional parameters; many per test is the point here.
# ruff: noqa: PLR0917
"""Wire-level facts about plain boto3/botocore against the proxy and fake-server fixtures.

Every test drives an unmodified ``boto3.client("lambda", ...)`` over loopback and asserts what
actually happens on the wire: which botocore exception (and which wrapped urllib3 exception)
a fault produces, with which message, how ``ClientError.response`` looks, and how many
requests a server or proxy received. The provider's error classifier relies on these facts;
if a botocore/urllib3/proxy.py upgrade changes one of them, a test here fails first.

Retries: unless a test is about retries, clients use ``total_max_attempts=1`` so that every
attempt is visible and no test waits for backoff. ``MaxAttemptsReached`` in a
``ClientError.response`` means botocore considered the error retryable.
"""

from __future__ import annotations

import base64
import binascii
import errno
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import botocore.config
import pytest
import urllib3.exceptions
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ProxyConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from tests.support import fake_servers as fs
from tests.support.fake_servers import AuthRequiredProxy, FakeLambdaServer
from tests.support.proxies import (
    PROXY_PASSWORD,
    PROXY_USER,
    ProxyFactory,
    ProxyInfo,
    TlsMaterial,
    tcp_listeners,
)

pytestmark = pytest.mark.usefixtures("clean_aws_env")

FUNCTION = "wire-test"
ONE_ATTEMPT: dict[str, Any] = {"total_max_attempts": 1}
INVOKE_PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
LEGACY_DEFAULT_ATTEMPTS = 5  # botocore legacy retry mode (the default): 1 + 4 retries
STANDARD_DEFAULT_ATTEMPTS = 3

ClientFactory = Callable[..., Any]
BotoError = TypeVar("BotoError", bound=BaseException)


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Build plain boto3 Lambda clients; all are closed at teardown (before servers stop)."""
    clients: list[Any] = []

    def make(
        endpoint_url: str,
        *,
        proxies: dict[str, str] | None = None,
        proxies_config: Any = None,
        verify: str | bool | None = None,
        retries: Any = None,
        read_timeout: float = 10,
    ) -> Any:
        config = botocore.config.Config(
            proxies=proxies,
            proxies_config=proxies_config,
            retries=retries,
            read_timeout=read_timeout,
            connect_timeout=5,
        )
        client = boto3.client(
            "lambda",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
            verify=verify,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def invoke(client: Any, **kwargs: Any) -> dict[str, Any]:
    """Invoke ``FUNCTION`` synchronously with a small JSON payload."""
    return dict(client.invoke(FunctionName=FUNCTION, Payload=b'{"k": 1}', **kwargs))


def invoke_and_read(client: Any) -> tuple[int, bytes]:
    """Invoke, read the whole payload and drop the response (which references the pool)."""
    result = invoke(client)
    with result["Payload"] as payload:
        return int(result["StatusCode"]), payload.read()


def wrapped(exc: BaseException) -> BaseException:
    """The urllib3 exception a botocore exception wraps (``kwargs["error"]``)."""
    error = getattr(exc, "kwargs", {}).get("error")
    assert isinstance(error, BaseException), f"{exc!r} wraps nothing"
    return error


def proxy_cause(exc: BaseException) -> BaseException:
    """For a ProxyConnectionError: the error urllib3's ``ProxyError`` wraps."""
    error = wrapped(exc)
    assert isinstance(error, urllib3.exceptions.ProxyError)
    return error.original_error


def botocore_would_retry(exc: ClientError) -> bool:
    """``MaxAttemptsReached`` is only set when the retry handler wanted another attempt."""
    return bool(dict(exc.response["ResponseMetadata"]).get("MaxAttemptsReached"))


def masked(url: str) -> str:
    """What botocore shows for a proxy URL with credentials."""
    return re.sub(r"//[^@/]+@", "//***:***@", url)


def invoke_error(client: Any, error: type[BotoError], message: str, wraps: type[BaseException]) -> BotoError:
    """Invoke, expecting botocore's ``error`` saying ``message`` and wrapping urllib3's ``wraps``."""
    with pytest.raises(error) as info:
        invoke(client)
    assert str(info.value) == message
    assert type(wrapped(info.value)) is wraps
    return info.value


def refused_by_proxy(client: Any, shown_url: str) -> ProxyConnectionError:
    """Invoke, expecting botocore's ProxyConnectionError for ``shown_url``, wrapping urllib3's ProxyError."""
    message = f'Failed to connect to proxy URL: "{shown_url}"'
    return invoke_error(client, ProxyConnectionError, message, urllib3.exceptions.ProxyError)


@dataclass
class Target:
    """The fake Lambda a test calls through a proxy: ``http`` (forwarded) or ``https`` (a CONNECT tunnel)."""

    scheme: str
    server: FakeLambdaServer
    verify: str | None
    make_client: ClientFactory

    def client_via(self, proxy_url: str, **options: Any) -> Any:
        """A one-attempt client of the target through ``proxy_url`` (trusting the test CA for https)."""
        return self.make_client(
            self.server.url,
            proxies={self.scheme: proxy_url},
            verify=self.verify,
            retries=ONE_ATTEMPT,
            **options,
        )


@pytest.fixture(params=["http", "https"])
def target(request: pytest.FixtureRequest, ca_bundle: str, make_client: ClientFactory) -> Target:
    """Each target scheme in turn: ``fake_lambda`` over http, ``fake_lambda_tls`` over https."""
    if request.param == "https":
        return Target("https", request.getfixturevalue("fake_lambda_tls"), ca_bundle, make_client)
    return Target("http", request.getfixturevalue("fake_lambda"), None, make_client)


# --------------------------------------------------------------------------------------------
# The fixtures themselves
# --------------------------------------------------------------------------------------------


def test_tls_material_two_distinct_cas(
    tls_material: TlsMaterial,
    untrusted_tls_material: TlsMaterial,
    fake_lambda_tls: FakeLambdaServer,
) -> None:
    assert tls_material.ca_bundle != untrusted_tls_material.ca_bundle
    assert Path(tls_material.ca_bundle).read_bytes() != Path(untrusted_tls_material.ca_bundle).read_bytes()
    addr = (fake_lambda_tls.host, fake_lambda_tls.port)
    with (
        socket.create_connection(addr, timeout=5) as raw,
        tls_material.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() is not None
    with (
        socket.create_connection(addr, timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        untrusted_tls_material.client_context().wrap_socket(raw, server_hostname="localhost")


def test_refused_port_refuses(refused_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        assert sock.connect_ex(("127.0.0.1", refused_port)) == errno.ECONNREFUSED


def test_proxy_start_and_clean_stop(proxy_factory: ProxyFactory) -> None:
    proxy = proxy_factory(tls=True, auth=("u", "p"))
    assert proxy.running
    assert proxy.url == f"https://127.0.0.1:{proxy.port}"
    assert proxy.url_with_credentials() == f"https://u:p@127.0.0.1:{proxy.port}"
    tree = proxy.process_tree
    assert len(tree) >= 2, "proxy.py runs at least one acceptor process"
    listeners = tcp_listeners(proxy.port)
    assert listeners, "the proxy must listen once the fixture returned it"
    assert {pid for pid in listeners if pid is not None} <= {p.pid for p in tree}
    proxy.stop()
    proxy.stop()  # idempotent
    assert not proxy.running
    assert not any(p.is_running() for p in tree)
    assert tcp_listeners(proxy.port) == []
    proxy.assert_fully_stopped()


def test_auth_proxy_password_is_percent_encoded(http_proxy_auth: ProxyInfo) -> None:
    assert http_proxy_auth.password == PROXY_PASSWORD
    assert http_proxy_auth.auth_url == (
        f"http://{PROXY_USER}:p%40ss%3Aw%2Frd%2541@127.0.0.1:{http_proxy_auth.port}"
    )


def test_fake_lambda_script_and_recording(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script((200, {"X-Amz-Executed-Version": "7"}, {"n": 1}, 0), fs.ok_response({"n": 2}))
    client = make_client(fake_lambda.url, retries=ONE_ATTEMPT)
    payloads = [invoke(client)["Payload"].read() for _ in range(3)]
    assert payloads == [b'{"n": 1}', b'{"n": 2}', b'{"n": 2}']  # last response repeats
    assert fake_lambda.request_count == 3
    first = fake_lambda.invocations[0]
    assert first.function_name == FUNCTION
    assert first.path == INVOKE_PATH
    assert first.json() == {"k": 1}
    assert first.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "via" not in first.headers  # direct, not through a proxy


def test_fake_lambda_stops_cleanly_with_request_in_flight(
    fake_lambda_factory: fs.FakeLambdaFactory, make_client: ClientFactory
) -> None:
    server = fake_lambda_factory(script=fs.slow_response(60))
    client = make_client(server.url, retries=ONE_ATTEMPT, read_timeout=30)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            invoke(client)
        except Exception as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert server.wait_for_requests(1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5, "stop must interrupt the scripted delay"
    caller.join(10)
    assert not caller.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)
    fs.assert_port_released(server.port)
    assert not [t for t in threading.enumerate() if t.name == f"fake-lambda-{server.port}"]


def test_fake_lambda_tls_stops_with_stalled_handshake(fake_lambda_factory: fs.FakeLambdaFactory) -> None:
    server = fake_lambda_factory(tls=True)
    with socket.create_connection((server.host, server.port), timeout=5):  # never says hello
        time.sleep(0.2)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
    fs.assert_port_released(server.port)


# --------------------------------------------------------------------------------------------
# Traffic through each proxy flavour
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["http_proxy", "http_proxy_auth", "tls_proxy", "tls_proxy_auth"])
def test_call_through_proxy_reaches_fake_lambda(
    request: pytest.FixtureRequest, flavour: str, target: Target
) -> None:
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    proxies_config = {"proxy_ca_bundle": proxy.ca_file} if proxy.ca_file else None
    client = target.client_via(proxy.auth_url, proxies_config=proxies_config)
    status, payload = invoke_and_read(client)
    assert (status, payload) == (200, b'{"ok": true}')
    assert target.server.request_count == 1
    received = target.server.invocations[0]
    assert "proxy-authorization" not in received.headers  # never leaked upstream
    if target.scheme == "http":
        # Forwarding: proxy.py relays the absolute-URI request and adds a Via header.
        assert "proxy.py" in received.headers["via"]
    else:
        # CONNECT tunnel: end-to-end TLS, the proxy cannot touch the request.
        assert "via" not in received.headers
    # proxy.py logs a client connection when it is closed: client.close() drops the pools, and
    # urllib3 closes their idle connections once nothing references a pool (the response did).
    client.close()
    entries = proxy.wait_for_connections(1)
    assert len(entries) == 1, proxy.access_log()
    if target.scheme == "http":
        assert entries[0].method == "POST"
        assert entries[0].target == f"127.0.0.1:{target.server.port}{INVOKE_PATH}"
    else:
        assert entries[0].method == "CONNECT"
        assert entries[0].target == f"127.0.0.1:{target.server.port}"


# --------------------------------------------------------------------------------------------
# Proxy authentication failures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "credentials"),
    [
        ("http_proxy_auth", "wrong"),
        ("tls_proxy_auth", "wrong"),
        ("http_proxy_auth", "missing"),
    ],
)
def test_proxy_rejects_credentials(
    request: pytest.FixtureRequest, flavour: str, credentials: str, target: Target
) -> None:
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    proxy_url = proxy.url_with_credentials(password="wrong@pass") if credentials == "wrong" else proxy.url
    proxies_config = {"proxy_ca_bundle": proxy.ca_file} if proxy.ca_file else None
    client = target.client_via(proxy_url, proxies_config=proxies_config)
    if target.scheme == "http":
        # Forwarding: the proxy's 407 is handed to botocore as if the service had sent it.
        with pytest.raises(ClientError) as info:
            invoke(client)
        assert type(info.value) is ClientError
        response = info.value.response
        assert response["Error"] == {"Code": "407", "Message": "Proxy Authentication Required"}
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 407
        assert response["ResponseMetadata"]["HTTPHeaders"]["proxy-authenticate"] == "Basic"
        assert not botocore_would_retry(info.value)
        assert str(info.value) == (
            "An error occurred (407) when calling the Invoke operation: Proxy Authentication Required"
        )
    else:
        # CONNECT: urllib3 fails the tunnel; botocore raises ProxyConnectionError.
        refused = refused_by_proxy(client, masked(proxy_url))
        if credentials == "wrong":
            assert "***:***@" in str(refused) and "wrong" not in str(refused)
        assert wrapped(refused).args[0] == "Unable to connect to proxy"
        assert type(proxy_cause(refused)) is OSError
        assert str(proxy_cause(refused)) == "Tunnel connection failed: 407 Proxy Authentication Required"
    assert target.server.request_count == 0
    client.close()
    assert proxy.wait_for_rejected(1) and not proxy.connections()


# --------------------------------------------------------------------------------------------
# TLS to the proxy
# --------------------------------------------------------------------------------------------


def test_tls_proxy_with_untrusted_certificate_fails(
    tls_proxy_untrusted: ProxyInfo, ca_bundle: str, target: Target
) -> None:
    # The proxy's CA bundle trusts the *other* CA.
    client = target.client_via(tls_proxy_untrusted.url, proxies_config={"proxy_ca_bundle": ca_bundle})
    refused = refused_by_proxy(client, tls_proxy_untrusted.url)
    assert type(proxy_cause(refused)) is urllib3.exceptions.SSLError
    cause = proxy_cause(refused).args[0]
    assert type(cause) is ssl.SSLCertVerificationError
    assert cause.verify_message == "unable to get local issuer certificate"
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in str(cause)
    assert target.server.request_count == 0


def test_tls_proxy_without_ca_bundle_https_target_default_verify_fails(
    tls_proxy: ProxyInfo, fake_lambda_tls: FakeLambdaServer, make_client: ClientFactory
) -> None:
    """No ``proxy_ca_bundle`` + https endpoint: the proxy certificate is checked against the
    endpoint's ``verify`` bundle (default: certifi), which does not know the proxy's CA."""
    client = make_client(fake_lambda_tls.url, proxies={"https": tls_proxy.url}, retries=ONE_ATTEMPT)
    refused = refused_by_proxy(client, tls_proxy.url)
    assert type(proxy_cause(refused)) is urllib3.exceptions.SSLError
    assert type(proxy_cause(refused).args[0]) is ssl.SSLCertVerificationError
    assert fake_lambda_tls.request_count == 0


@pytest.mark.parametrize(("flavour", "succeeds"), [("tls_proxy", True), ("tls_proxy_untrusted", False)])
def test_tls_proxy_without_ca_bundle_uses_endpoint_verify_bundle(
    request: pytest.FixtureRequest,
    flavour: str,
    succeeds: bool,
    fake_lambda_tls: FakeLambdaServer,
    ca_bundle: str,
    make_client: ClientFactory,
) -> None:
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    client = make_client(
        fake_lambda_tls.url, proxies={"https": proxy.url}, verify=ca_bundle, retries=ONE_ATTEMPT
    )
    if succeeds:
        assert invoke(client)["StatusCode"] == 200
        assert fake_lambda_tls.request_count == 1
    else:
        with pytest.raises(ProxyConnectionError) as info:
            invoke(client)
        assert type(proxy_cause(info.value).args[0]) is ssl.SSLCertVerificationError
        assert fake_lambda_tls.request_count == 0


def test_tls_proxy_without_ca_bundle_http_target_is_not_verified(
    tls_proxy_untrusted: ProxyInfo, fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    """No ``proxy_ca_bundle`` + http endpoint: botocore sets ``CERT_NONE`` for the pool and the
    proxy connection inherits it - even a certificate from an unknown CA is accepted."""
    client = make_client(fake_lambda.url, proxies={"http": tls_proxy_untrusted.url}, retries=ONE_ATTEMPT)
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        result = invoke(client)
    assert result["StatusCode"] == 200
    assert fake_lambda.request_count == 1


# --------------------------------------------------------------------------------------------
# Nothing listening
# --------------------------------------------------------------------------------------------


def test_stopped_proxy(proxy_factory: ProxyFactory, target: Target) -> None:
    proxy = proxy_factory()
    proxy.stop()
    refused = refused_by_proxy(target.client_via(proxy.url), proxy.url)
    assert wrapped(refused).args[0] == "Unable to connect to proxy"
    assert type(proxy_cause(refused)) is urllib3.exceptions.NewConnectionError
    assert "[Errno 111] Connection refused" in str(proxy_cause(refused))
    assert target.server.request_count == 0


def test_refused_endpoint(refused_url: str, make_client: ClientFactory) -> None:
    client = make_client(refused_url, retries=ONE_ATTEMPT)
    message = f'Could not connect to the endpoint URL: "{refused_url}{INVOKE_PATH}"'
    refused = invoke_error(client, EndpointConnectionError, message, urllib3.exceptions.NewConnectionError)
    assert str(wrapped(refused)).endswith(
        "Failed to establish a new connection: [Errno 111] Connection refused"
    )


def test_proxy_cannot_reach_endpoint_forwarding(
    http_proxy: ProxyInfo, refused_url: str, make_client: ClientFactory
) -> None:
    client = make_client(refused_url, proxies={"http": http_proxy.url}, retries=ONE_ATTEMPT)
    with pytest.raises(ClientError) as info:
        invoke(client)
    response = info.value.response
    assert response["Error"] == {"Code": "502", "Message": "Bad Gateway"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert response["ResponseMetadata"]["HTTPHeaders"]["proxy-agent"].startswith("proxy.py")
    assert botocore_would_retry(info.value)


def test_proxy_cannot_reach_endpoint_connect(
    http_proxy: ProxyInfo, refused_port: int, make_client: ClientFactory
) -> None:
    client = make_client(
        f"https://127.0.0.1:{refused_port}", proxies={"https": http_proxy.url}, retries=ONE_ATTEMPT
    )
    refused = refused_by_proxy(client, http_proxy.url)
    assert str(proxy_cause(refused)) == "Tunnel connection failed: 502 Bad Gateway"


# --------------------------------------------------------------------------------------------
# A proxy that always answers 407
# --------------------------------------------------------------------------------------------


def test_407_proxy_forwarding(
    auth_required_proxy: AuthRequiredProxy, fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    client = make_client(fake_lambda.url, proxies={"http": auth_required_proxy.url}, retries=ONE_ATTEMPT)
    with pytest.raises(ClientError) as info:
        invoke(client)
    assert type(info.value) is ClientError
    response = info.value.response
    # The Message is the (non-JSON) body text, the Code the HTTP status.
    assert response["Error"] == {"Code": "407", "Message": fs.PROXY_AUTH_BODY.decode()}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 407
    assert response["ResponseMetadata"]["HTTPHeaders"]["proxy-authenticate"] == 'Basic realm="fake-proxy"'
    assert not botocore_would_retry(info.value)
    [seen] = auth_required_proxy.requests
    assert (seen.method, seen.path) == ("POST", f"{fake_lambda.url}{INVOKE_PATH}")
    assert "proxy-authorization" not in seen.headers
    assert fake_lambda.request_count == 0


def test_407_proxy_connect(
    auth_required_proxy: AuthRequiredProxy, fake_lambda_tls: FakeLambdaServer, make_client: ClientFactory
) -> None:
    client = make_client(fake_lambda_tls.url, proxies={"https": auth_required_proxy.url}, retries=ONE_ATTEMPT)
    refused = refused_by_proxy(client, auth_required_proxy.url)
    assert type(proxy_cause(refused)) is OSError
    assert str(proxy_cause(refused)) == "Tunnel connection failed: 407 Proxy Authentication Required"
    [seen] = auth_required_proxy.requests
    assert (seen.method, seen.path) == ("CONNECT", f"127.0.0.1:{fake_lambda_tls.port}")


def test_proxy_credentials_are_url_decoded_into_basic_auth(
    auth_required_proxy: AuthRequiredProxy, fake_lambda_tls: FakeLambdaServer, make_client: ClientFactory
) -> None:
    from urllib.parse import quote

    url = f"http://{PROXY_USER}:{quote(PROXY_PASSWORD, safe='')}@127.0.0.1:{auth_required_proxy.port}"
    client = make_client(fake_lambda_tls.url, proxies={"https": url}, retries=ONE_ATTEMPT)
    with pytest.raises(ProxyConnectionError) as info:
        invoke(client)
    assert "***:***@" in str(info.value) and PROXY_PASSWORD not in str(info.value)
    [seen] = auth_required_proxy.requests
    scheme, _, token = seen.headers["proxy-authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"{PROXY_USER}:{PROXY_PASSWORD}"


def test_407_proxy_connect_is_retried_by_default(
    auth_required_proxy: AuthRequiredProxy, fake_lambda_tls: FakeLambdaServer, make_client: ClientFactory
) -> None:
    """ProxyConnectionError is a ConnectionError: botocore's default mode retries it."""
    client = make_client(fake_lambda_tls.url, proxies={"https": auth_required_proxy.url})
    with pytest.raises(ProxyConnectionError):
        invoke(client)
    assert auth_required_proxy.request_count == LEGACY_DEFAULT_ATTEMPTS
    assert {r.method for r in auth_required_proxy.requests} == {"CONNECT"}


# --------------------------------------------------------------------------------------------
# Timeouts and retries
# --------------------------------------------------------------------------------------------


def _attempt_headers(server: FakeLambdaServer) -> list[str]:
    return [r.headers.get("amz-sdk-request", "") for r in server.requests]


def test_slow_endpoint_default_retries_resend_invoke(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    fake_lambda.script(*fs.slow_response(60))
    client = make_client(fake_lambda.url, read_timeout=1)
    message = f'Read timeout on endpoint URL: "{fake_lambda.url}{INVOKE_PATH}"'
    timed_out = invoke_error(client, ReadTimeoutError, message, urllib3.exceptions.ReadTimeoutError)
    assert str(wrapped(timed_out)).endswith("Read timed out. (read timeout=1)")
    # The function was invoked five times: the same invocation, re-sent on each retry.
    assert fake_lambda.request_count == LEGACY_DEFAULT_ATTEMPTS
    assert _attempt_headers(fake_lambda) == ["attempt=1"] + [f"attempt={n}; max=5" for n in range(2, 6)]
    assert len({r.headers["amz-sdk-invocation-id"] for r in fake_lambda.requests}) == 1


def test_slow_endpoint_standard_mode_retries(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    fake_lambda.script(*fs.slow_response(60))
    client = make_client(fake_lambda.url, read_timeout=1, retries={"mode": "standard"})
    with pytest.raises(ReadTimeoutError):
        invoke(client)
    assert fake_lambda.request_count == STANDARD_DEFAULT_ATTEMPTS
    assert _attempt_headers(fake_lambda) == ["attempt=1"] + [f"attempt={n}; max=3" for n in range(2, 4)]


def test_slow_endpoint_single_attempt(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script(*fs.slow_response(60))
    client = make_client(fake_lambda.url, read_timeout=1, retries=ONE_ATTEMPT)
    with pytest.raises(ReadTimeoutError):
        invoke(client)
    time.sleep(1)  # nothing else arrives later
    assert fake_lambda.request_count == 1


def test_slow_body_times_out_while_reading_payload(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    fake_lambda.script(*fs.slow_body(60))
    client = make_client(fake_lambda.url, read_timeout=1)
    result = invoke(client)  # headers arrived: Invoke "succeeded"
    assert result["StatusCode"] == 200
    with pytest.raises(ReadTimeoutError) as info:
        result["Payload"].read()
    assert str(info.value) == 'Read timeout on endpoint URL: "None"'
    assert type(wrapped(info.value)) is urllib3.exceptions.ReadTimeoutError
    assert fake_lambda.request_count == 1  # reading the payload is never retried


def test_throttled_then_success_default_retries(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    fake_lambda.script(*fs.throttle_then_success(2))
    result = invoke(make_client(fake_lambda.url))
    assert result["StatusCode"] == 200
    assert result["ResponseMetadata"]["RetryAttempts"] == 2
    assert fake_lambda.request_count == 3


def modeled_error(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory, answers: list[Any], code: str, status: int
) -> Any:
    """One attempt, answered with ``answers``: the model's error ``code`` (HTTP ``status``), retryable.

    The ``client.exceptions.<code>`` raised (its response holds the modeled members, ``Type``, ...).
    """
    fake_lambda.script(*answers)
    client = make_client(fake_lambda.url, retries=ONE_ATTEMPT)
    with pytest.raises(getattr(client.exceptions, code)) as info:
        invoke(client)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert botocore_would_retry(info.value)
    return info.value


def test_throttled_single_attempt(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    error = modeled_error(
        fake_lambda, make_client, fs.throttle_then_success(2), "TooManyRequestsException", 429
    )
    response = error.response
    assert response["Error"] == {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."}
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    # Modeled error members are parsed onto the top level of the response.
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["Type"] == "User"
    assert response["retryAfterSeconds"] == "1"  # from the Retry-After header
    assert str(error) == (
        "An error occurred (TooManyRequestsException) when calling the Invoke operation "
        "(reached max retries: 0): Rate Exceeded."
    )


# --------------------------------------------------------------------------------------------
# 5xx and odd error bodies
# --------------------------------------------------------------------------------------------


def test_service_exception(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    response = modeled_error(
        fake_lambda, make_client, fs.service_exception(), "ServiceException", 500
    ).response
    assert response["Error"] == {"Code": "ServiceException", "Message": "An internal error occurred."}
    assert response["Type"] == "Service"


def test_service_exception_default_retries(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script(*fs.service_exception())
    client = make_client(fake_lambda.url)
    with pytest.raises(client.exceptions.ServiceException) as info:
        invoke(client)
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 4
    assert fake_lambda.request_count == LEGACY_DEFAULT_ATTEMPTS


@pytest.mark.parametrize(("doctype", "generic"), [(False, True), (True, False)])
def test_bad_gateway_html(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory, doctype: bool, generic: bool
) -> None:
    fake_lambda.script(*fs.bad_gateway_html(doctype=doctype))
    client = make_client(fake_lambda.url, retries=ONE_ATTEMPT)
    with pytest.raises(ClientError) as info:
        invoke(client)
    assert type(info.value) is ClientError
    response = info.value.response
    assert response["Error"]["Code"] == "502"
    if generic:
        # Body starts with "<html>": botocore's generic parse, Message = HTTP reason phrase.
        assert response["Error"]["Message"] == "Bad Gateway"
    else:
        # Anything else that is not JSON: Message = the whole body text.
        assert response["Error"]["Message"].startswith("<!DOCTYPE html>")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert botocore_would_retry(info.value)


def test_xml_error_body_in_json_api(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script(*fs.xml_error_response())
    client = make_client(fake_lambda.url)  # default retries: a 403 is not retried
    with pytest.raises(ClientError) as info:
        invoke(client)
    assert type(info.value) is ClientError
    response = info.value.response
    # The XML is not parsed: Code is the status, the real code only appears inside Message.
    assert response["Error"]["Code"] == "403"
    assert response["Error"]["Message"].startswith('<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse')
    assert "<Code>InvalidClientTokenId</Code>" in response["Error"]["Message"]
    assert set(response["Error"]) == {"Code", "Message"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not botocore_would_retry(info.value)
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert fake_lambda.request_count == 1


@pytest.mark.parametrize(
    ("headers", "body", "expected_code"),
    [
        (
            {"x-amzn-ErrorType": "ResourceNotFoundException"},
            {"Type": "User", "message": "m"},
            "ResourceNotFoundException",
        ),
        ({}, {"__type": "ResourceNotFoundException", "message": "m"}, "ResourceNotFoundException"),
        (
            {},
            {"__type": "com.amazonaws.lambda#ResourceNotFoundException:http://x/", "message": "m"},
            "ResourceNotFoundException",
        ),
        ({"x-amzn-ErrorType": "A:http://internal/"}, {"code": "B", "__type": "C", "message": "m"}, "A"),
        ({}, {"code": "B", "__type": "C", "message": "m"}, "B"),
        ({}, {"Type": "User", "message": "m"}, "404"),
    ],
    ids=["header", "__type", "__type-namespaced", "header-wins", "code-beats-__type", "status-only"],
)
def test_error_code_sources(
    fake_lambda: FakeLambdaServer,
    make_client: ClientFactory,
    headers: dict[str, str],
    body: dict[str, str],
    expected_code: str,
) -> None:
    fake_lambda.script(fs.ScriptedResponse(404, headers, body))
    client = make_client(fake_lambda.url, retries=ONE_ATTEMPT)
    with pytest.raises(ClientError) as info:
        invoke(client)
    assert info.value.response["Error"] == {"Code": expected_code, "Message": "m"}


# --------------------------------------------------------------------------------------------
# Connections closed mid-response
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "cause_type", "cause_text"),
    [
        (
            fs.close_before_response,
            http.client.RemoteDisconnected,
            "Remote end closed connection without response",
        ),
        (fs.close_mid_status_line, http.client.BadStatusLine, "HTTP/1.1 20"),
    ],
    ids=["before-response", "mid-status-line"],
)
def test_connection_closed_before_headers(
    fake_lambda: FakeLambdaServer,
    make_client: ClientFactory,
    script: Callable[[], list[fs.ScriptedResponse]],
    cause_type: type[BaseException],
    cause_text: str,
) -> None:
    fake_lambda.script(*script())
    client = make_client(fake_lambda.url, retries=ONE_ATTEMPT)
    message = (
        "Connection was closed before we received a valid response from endpoint URL: "
        f'"{fake_lambda.url}{INVOKE_PATH}".'
    )
    error = wrapped(invoke_error(client, ConnectionClosedError, message, urllib3.exceptions.ProtocolError))
    assert error.args[0] == "Connection aborted."
    assert type(error.args[1]) is cause_type
    assert str(error.args[1]) == cause_text
    assert fake_lambda.request_count == 1


def test_connection_closed_before_headers_is_retried_by_default(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    fake_lambda.script(*fs.close_before_response())
    with pytest.raises(ConnectionClosedError):
        invoke(make_client(fake_lambda.url))
    assert fake_lambda.request_count == LEGACY_DEFAULT_ATTEMPTS


def test_connection_closed_mid_headers_looks_like_success(
    fake_lambda: FakeLambdaServer, make_client: ClientFactory
) -> None:
    fake_lambda.script(*fs.close_mid_headers())
    result = invoke(make_client(fake_lambda.url))
    assert result["StatusCode"] == 200
    assert "ExecutedVersion" not in result and "FunctionError" not in result
    assert result["ResponseMetadata"]["HTTPHeaders"] == {"content-type": "application/js"}
    assert result["Payload"].read() == b""
    assert fake_lambda.request_count == 1


def test_connection_closed_mid_body(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script(*fs.close_mid_body())
    result = invoke(make_client(fake_lambda.url))
    assert result["StatusCode"] == 200 and result["ExecutedVersion"] == "$LATEST"
    with pytest.raises(ResponseStreamingError) as info:
        result["Payload"].read()
    error = wrapped(info.value)
    assert type(error) is urllib3.exceptions.ProtocolError
    assert error.args[0] == "Connection broken: IncompleteRead(10 bytes read, 90 more expected)"
    assert type(error.args[1]) is http.client.IncompleteRead
    assert str(info.value) == (
        "An error occurred while reading from response stream: "
        "('Connection broken: IncompleteRead(10 bytes read, 90 more expected)', "
        "IncompleteRead(10 bytes read, 90 more expected))"
    )
    assert fake_lambda.request_count == 1


# --------------------------------------------------------------------------------------------
# Function errors and log tails
# --------------------------------------------------------------------------------------------


def test_function_error_header(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script(
        fs.ok_response({"errorMessage": "boom"}, function_error="Unhandled", executed_version="3")
    )
    result = invoke(make_client(fake_lambda.url, retries=ONE_ATTEMPT))
    assert (result["StatusCode"], result["FunctionError"], result["ExecutedVersion"]) == (
        200,
        "Unhandled",
        "3",
    )
    assert result["Payload"].read() == b'{"errorMessage": "boom"}'


def test_log_tail_split_utf8(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script(*fs.log_tail_split_utf8())
    result = invoke(make_client(fake_lambda.url, retries=ONE_ATTEMPT), LogType="Tail")
    assert result["LogResult"] == fs.LOG_TAIL_SPLIT_UTF8_HEADER  # passed through untouched
    raw = base64.b64decode(result["LogResult"], validate=True)
    assert raw == fs.LOG_TAIL_SPLIT_UTF8_BYTES
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("utf-8", errors="replace").startswith("\ufffd")
    assert raw.decode("utf-8", errors="replace").endswith("\ufffd")
    assert fake_lambda.invocations[0].headers["x-amz-log-type"] == "Tail"


def test_log_tail_not_base64(fake_lambda: FakeLambdaServer, make_client: ClientFactory) -> None:
    fake_lambda.script(*fs.log_tail_not_base64())
    result = invoke(make_client(fake_lambda.url, retries=ONE_ATTEMPT), LogType="Tail")
    assert result["LogResult"] == fs.NOT_BASE64_LOG_TAIL
    with pytest.raises(binascii.Error):
        base64.b64decode(result["LogResult"], validate=True)
