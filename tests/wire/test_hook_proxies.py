# pytest passes fixtures as positional parameters; many per test is the point here.
# ruff: noqa: PLR0917
"""The hook through real proxies (proxy.py in subprocesses): plain HTTP and TLS proxies, with and
without Basic authentication, wrong passwords, stopped proxies, untrusted proxy certificates and
two proxy URLs chosen by the endpoint's scheme.

Targets: the local Lambda endpoint (``http://``: the proxy forwards the absolute-URI request) and
the fake Lambda over TLS (``https://``: the proxy opens a ``CONNECT`` tunnel). That the proxy really
carried the traffic is read from proxy.py's access log (one line per client connection, written
when the connection closes, which ``run`` does by closing the client).
"""

from __future__ import annotations

import gc
import json
import logging
import warnings
from typing import Any

import pytest
import urllib3.exceptions

from airflow_provider_lambda_ue.exceptions import (
    LambdaDataValidationError,
    LambdaProxyConnectionError,
)
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.failures import raises
from tests.support.fake_servers import FakeLambdaServer
from tests.support.hooks import (
    INVOKE_PATH,
    PROXY_CONN_ID,
    assert_failure,
    assert_no_secret,
    aws_connection,
    everything_shown,
    logged,
    proxy_connection,
    run,
)
from tests.support.local_lambda import ECHO_HANDLER, new_function
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyFactory, ProxyInfo

pytestmark = pytest.mark.usefixtures("clean_aws_env")

WRONG_PASSWORD = "wr0ng:p@ss/word"


@pytest.fixture(scope="module")
def echo_function(local_lambda: LocalLambda) -> str:
    name = new_function(local_lambda, "hook-proxy-echo", ECHO_HANDLER)
    return name


@pytest.fixture
def aws_conn(monkeypatch: pytest.MonkeyPatch, ca_bundle: str) -> str:
    # ``verify`` is for the https fake Lambda (the endpoint's certificate), not for the proxy.
    return aws_connection(monkeypatch, verify=ca_bundle)


def proxy_fields(proxy: ProxyInfo, *, credentials: bool = False, **fields: Any) -> dict[str, Any]:
    """Fields for a proxy: type from its scheme (``HTTPS with Credentials`` when credentials are sent)."""
    proxy_type = "HTTPS" if proxy.scheme == "https" else "HTTP"
    values: dict[str, Any] = {"use_proxy": True, "proxy": proxy.url, "proxy_type": proxy_type}
    if credentials:
        values["proxy_type"] = "HTTPS with Credentials"
    if proxy.ca_file:
        values["proxy_ca_bundle_file"] = proxy.ca_file
    values.update(fields)
    return values


class Target:
    """Where an invocation goes: the local endpoint over http, or the fake Lambda over https."""

    def __init__(self, scheme: str, local_lambda: LocalLambda, fake_tls: FakeLambdaServer, name: str):
        self.scheme = scheme
        self.local_lambda = local_lambda
        self.fake_tls = fake_tls
        self.function_name = name if scheme == "http" else "fake-function"
        self.url = local_lambda.url if scheme == "http" else fake_tls.url
        self.port = local_lambda.port if scheme == "http" else fake_tls.port

    def fields(self) -> dict[str, Any]:
        return {"function_name": self.function_name, "endpoint_url": self.url, "payload": {"hello": "proxy"}}

    def expected_payload(self) -> Any:
        return {"hello": "proxy"} if self.scheme == "http" else {"ok": True}

    def assert_carried_by(self, proxy: ProxyInfo) -> None:
        """proxy.py relayed the invocation: a forwarded POST (http) or a CONNECT tunnel (https)."""
        gc.collect()
        entries = proxy.wait_for_connections(1)
        if self.scheme == "http":
            path = INVOKE_PATH.format(name=self.function_name)
            assert [(e.method, e.target) for e in entries] == [("POST", f"127.0.0.1:{self.port}{path}")]
        else:
            assert [(e.method, e.target) for e in entries] == [("CONNECT", f"127.0.0.1:{self.port}")]
            assert self.fake_tls.request_count == 1
            received = self.fake_tls.invocations[0]
            assert "proxy-authorization" not in received.headers


@pytest.fixture(params=["http", "https"])
def target(
    request: pytest.FixtureRequest,
    local_lambda: LocalLambda,
    fake_lambda_tls: FakeLambdaServer,
    echo_function: str,
) -> Target:
    return Target(request.param, local_lambda, fake_lambda_tls, echo_function)


# --------------------------------------------------------------------------------------------
# Success through every flavour
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["http_proxy", "tls_proxy"])
def test_success_through_proxy_without_auth(
    request: pytest.FixtureRequest, flavour: str, target: Target, aws_conn: str
) -> None:
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    document = run(**target.fields(), **proxy_fields(proxy))
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"]) == target.expected_payload()
    fields = document["invocation"]["fields"]
    assert (fields["use_proxy"], fields["proxy"], fields["proxy_credentials_user"]) == (True, proxy.url, None)
    target.assert_carried_by(proxy)


@pytest.mark.parametrize("debug", [False, True], ids=["traffic", "debug-log"])
@pytest.mark.parametrize("source", ["proxy_conn_id", "proxy_credentials"])
@pytest.mark.parametrize("flavour", ["http_proxy_auth", "tls_proxy_auth"])
def test_success_through_proxy_with_basic_auth(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
    source: str,
    debug: bool,
    target: Target,
    aws_conn: str,
) -> None:
    if debug:
        caplog.set_level(logging.DEBUG)
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    extra: dict[str, Any] = {}
    if source == "proxy_conn_id":
        proxy_connection(monkeypatch, PROXY_USER, PROXY_PASSWORD)
        fields = proxy_fields(proxy, credentials=True, proxy_conn_id=PROXY_CONN_ID)
    else:
        # The command line hands credentials over directly; the proxy type stays HTTP(S).
        fields = proxy_fields(proxy)
        extra["proxy_credentials"] = (PROXY_USER, PROXY_PASSWORD)
    document = run(**target.fields(), **fields, **extra)
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"]) == target.expected_payload()
    shown = document["invocation"]["fields"]
    assert (shown["proxy_credentials_user"], shown["proxy_credentials_password"]) == ("****", "****")
    if debug:
        # botocore logs the response's stream object at DEBUG; the record keeps the connection (and
        # so the proxy's access-log line) open until the end of the test: no traffic check here.
        assert_no_secret(json.dumps(document) + logged(caplog, capsys), [PROXY_PASSWORD])
    else:
        target.assert_carried_by(proxy)
        assert not proxy.rejected()


def test_proxy_credentials_connection_without_login_is_a_validation_error(
    monkeypatch: pytest.MonkeyPatch, http_proxy_auth: ProxyInfo, target: Target, aws_conn: str
) -> None:
    proxy_connection(monkeypatch, None, None)
    with raises(LambdaDataValidationError) as info:
        run(**target.fields(), **proxy_fields(http_proxy_auth, credentials=True, proxy_conn_id=PROXY_CONN_ID))
    assert_failure(info.value, 20)
    assert "proxy_conn_id" in info.value.detail
    assert not http_proxy_auth.access_log()


def test_missing_proxy_credentials_connection_is_a_validation_error(
    http_proxy_auth: ProxyInfo, target: Target, aws_conn: str
) -> None:
    fields = proxy_fields(http_proxy_auth, credentials=True, proxy_conn_id="no_such_proxy_connection")
    with raises(LambdaDataValidationError) as info:
        run(**target.fields(), **fields)
    assert_failure(info.value, 20)
    assert "proxy_conn_id: connection 'no_such_proxy_connection' cannot be read" in info.value.detail
    assert not http_proxy_auth.access_log()


# --------------------------------------------------------------------------------------------
# Proxy failures: exit code 11
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["http_proxy_auth", "tls_proxy_auth"])
@pytest.mark.parametrize("password", [WRONG_PASSWORD, None], ids=["wrong-password", "no-credentials"])
def test_proxy_rejecting_credentials_is_exit_11(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
    password: str | None,
    target: Target,
    aws_conn: str,
) -> None:
    """http endpoint: proxy.py answers the forwarded request with a plain 407 response;
    https endpoint: it refuses the CONNECT with 407. Both are proxy failures, sent once."""
    caplog.set_level(logging.DEBUG)
    proxy: ProxyInfo = request.getfixturevalue(flavour)
    if password is None:
        fields = proxy_fields(proxy)
    else:
        proxy_connection(monkeypatch, PROXY_USER, password)
        fields = proxy_fields(proxy, credentials=True, proxy_conn_id=PROXY_CONN_ID)
    with raises(LambdaProxyConnectionError) as info:
        run(**target.fields(), **fields)
    error = info.value
    assert_failure(error, 11)
    assert error.status_description == (
        f"CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {proxy.url}"
    )
    assert error.proxy_url == proxy.url
    assert "407" in error.detail
    assert target.fake_tls.request_count == 0
    # A refused authentication is final: the request was not sent again.
    assert len(proxy.wait_for_rejected(1)) == 1, proxy.access_log()
    assert not proxy.connections()
    assert_no_secret(everything_shown(error, caplog, capsys), [WRONG_PASSWORD, PROXY_PASSWORD])


def proxy_failure(target: FakeLambdaServer, proxy_url: str, **fields: Any) -> LambdaProxyConnectionError:
    """Invoke ``target`` through the proxy at ``proxy_url``, expecting exit 11; the failure."""
    with raises(LambdaProxyConnectionError) as info:
        run(function_name="f", endpoint_url=target.url, use_proxy=True, proxy=proxy_url, **fields)
    assert_failure(info.value, 11)
    return info.value


def test_fake_proxy_always_answering_407_is_exit_11(
    auth_required_proxy: Any, fake_lambda: FakeLambdaServer, aws_conn: str
) -> None:
    proxy_failure(fake_lambda, auth_required_proxy.url)
    assert auth_required_proxy.request_count == 1
    assert fake_lambda.request_count == 0


def test_stopped_proxy_is_exit_11(proxy_factory: ProxyFactory, target: Target, aws_conn: str) -> None:
    proxy = proxy_factory()
    proxy.stop()
    with raises(LambdaProxyConnectionError) as info:
        run(**target.fields(), **proxy_fields(proxy), wait_for_completion_timeout=5)
    assert_failure(info.value, 11)
    assert info.value.proxy_url == proxy.url
    assert target.fake_tls.request_count == 0


@pytest.fixture(params=["http", "https"])
def fake_target(request: pytest.FixtureRequest) -> FakeLambdaServer:
    """The fake Lambda over each endpoint scheme in turn (``fake_lambda``, ``fake_lambda_tls``)."""
    server: FakeLambdaServer = request.getfixturevalue(
        "fake_lambda_tls" if request.param == "https" else "fake_lambda"
    )
    return server


def test_untrusted_tls_proxy_without_ca_bundle_is_exit_11(
    capsys: pytest.CaptureFixture[str],
    tls_proxy_untrusted: ProxyInfo,
    fake_target: FakeLambdaServer,
    aws_conn: str,
) -> None:
    """botocore alone would not verify a TLS proxy in front of an http:// endpoint (see
    test_fixtures_wire); the hook verifies it against the system's CAs, which do not know it.
    For the https endpoint the connection's ``verify`` bundle must not be used for the proxy either."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", urllib3.exceptions.InsecureRequestWarning)
        error = proxy_failure(fake_target, tls_proxy_untrusted.url, proxy_type="HTTPS")
    assert "CERTIFICATE_VERIFY_FAILED" in error.detail
    assert fake_target.request_count == 0
    # An untrusted certificate stays untrusted: not retried.
    assert "did not reach the function" not in capsys.readouterr().out


def test_untrusted_tls_proxy_with_the_wrong_ca_bundle_is_exit_11(
    tls_proxy_untrusted: ProxyInfo, fake_target: FakeLambdaServer, ca_bundle: str, aws_conn: str
) -> None:
    proxy_failure(fake_target, tls_proxy_untrusted.url, proxy_type="HTTPS", proxy_ca_bundle_file=ca_bundle)
    assert fake_target.request_count == 0


def test_tls_proxy_with_its_own_ca_bundle_succeeds(
    tls_proxy_untrusted: ProxyInfo, untrusted_ca_bundle: str, fake_lambda: FakeLambdaServer, aws_conn: str
) -> None:
    document = run(
        function_name="f",
        endpoint_url=fake_lambda.url,
        use_proxy=True,
        proxy_type="HTTPS",
        proxy=tls_proxy_untrusted.url,
        proxy_ca_bundle_file=untrusted_ca_bundle,
    )
    assert document["exit_code"] == 0
    assert fake_lambda.request_count == 1
    assert "proxy.py" in fake_lambda.invocations[0].headers["via"]


def test_tls_proxy_without_ca_bundle_is_verified_with_the_system_cas(
    monkeypatch: pytest.MonkeyPatch, tls_proxy: ProxyInfo, ca_bundle: str, target: Target, aws_conn: str
) -> None:
    """Without ``proxy_ca_bundle_file`` the system's CAs decide; here the system trusts the proxy's CA."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_bundle)
    fields = proxy_fields(tls_proxy)
    del fields["proxy_ca_bundle_file"]
    document = run(**target.fields(), **fields)
    assert document["exit_code"] == 0
    target.assert_carried_by(tls_proxy)


# --------------------------------------------------------------------------------------------
# Two proxy URLs: the first for http endpoints, the second for https endpoints
# --------------------------------------------------------------------------------------------


def test_two_proxy_urls_are_picked_by_the_endpoint_scheme(
    http_proxy: ProxyInfo,
    tls_proxy: ProxyInfo,
    ca_bundle: str,
    local_lambda: LocalLambda,
    fake_lambda_tls: FakeLambdaServer,
    echo_function: str,
    aws_conn: str,
) -> None:
    both = {
        "use_proxy": True,
        "proxy_type": "HTTPS",
        "proxy": f"{http_proxy.url}, {tls_proxy.url}",
        "proxy_ca_bundle_file": ca_bundle,
    }
    http_target = Target("http", local_lambda, fake_lambda_tls, echo_function)
    assert run(**http_target.fields(), **both)["exit_code"] == 0
    http_target.assert_carried_by(http_proxy)
    assert not tls_proxy.access_log()

    https_target = Target("https", local_lambda, fake_lambda_tls, echo_function)
    assert run(**https_target.fields(), **both)["exit_code"] == 0
    https_target.assert_carried_by(tls_proxy)
    assert len(http_proxy.connections()) == 1  # still only the first invocation
