# pytest passes fixtures as positional parameters; many per test is the point here.
# ruff: noqa: PLR0917
"""How the hook's settings and the connection's ``config_kwargs`` combine, TCP keepalive on real
sockets, and what the error classification makes of odd answers on the wire (XML error bodies,
truncated responses), with no secret in any message or log.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lambda_ue import invocation
from airflow_provider_lambda_ue.exceptions import (
    LambdaAuthenticationError,
    LambdaConnectionError,
    LambdaInvokeError,
    LambdaProxyConnectionError,
)
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
from airflow_provider_lambda_ue.hooks.transport import DEFAULT_CONNECT_TIMEOUT_SECONDS, incomplete_response
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support import fake_servers as fs
from tests.support.failures import raises
from tests.support.fake_servers import FakeLambdaServer
from tests.support.hooks import (
    AWS_CONN_ID,
    LOG,
    PROXY_CONN_ID,
    DelayRecorder,
    assert_failure,
    assert_no_secret,
    aws_connection,
    everything_shown,
    fake_fields,
    proxy_connection,
    run,
)
from tests.support.local_lambda import ECHO_HANDLER, new_function
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyFactory, ProxyInfo

pytestmark = pytest.mark.usefixtures("clean_aws_env")

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY"
USER_AGENT_EXTRA = "ue-config-test/7"
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: nothing listens there on loopback

CONNECTION_CONFIG: dict[str, Any] = {
    "retries": {"max_attempts": 10, "mode": "legacy"},
    "read_timeout": 999,
    "connect_timeout": 999,
    "proxies": {"http": DEAD_PROXY, "https": DEAD_PROXY},
    "tcp_keepalive": False,
    "user_agent_extra": USER_AGENT_EXTRA,
    "max_pool_connections": 3,
}


# --------------------------------------------------------------------------------------------
# Precedence: the hook's retries, timeouts and proxies over the connection's config_kwargs
# --------------------------------------------------------------------------------------------


@pytest.mark.proves("config_kwargs")
def test_hook_settings_win_over_the_connections_config_kwargs(
    monkeypatch: pytest.MonkeyPatch, http_proxy: ProxyInfo, fake_lambda: FakeLambdaServer
) -> None:
    aws_connection(monkeypatch, config_kwargs=CONNECTION_CONFIG)
    kept: list[LambdaInvokeHook] = []
    document = run(
        **fake_fields(fake_lambda),
        use_proxy=True,
        proxy=http_proxy.url,
        wait_for_completion_timeout=42,
        keep=kept,
    )
    assert document["exit_code"] == 0
    config = kept[0].conn.meta.config
    assert config.read_timeout == 42
    assert config.connect_timeout == DEFAULT_CONNECT_TIMEOUT_SECONDS
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert config.proxies == {"http": http_proxy.url, "https": http_proxy.url}
    assert config.tcp_keepalive is True
    # Everything else the connection configures survives.
    assert USER_AGENT_EXTRA in config.user_agent_extra
    assert config.max_pool_connections == 3
    # On the wire: the hook's proxy carried it (not the connection's dead one), with the user agent.
    [received] = fake_lambda.invocations
    assert "proxy.py" in received.headers["via"]
    assert USER_AGENT_EXTRA in received.headers["user-agent"]


def test_timeouts_without_config_kwargs(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambdaServer
) -> None:
    aws_connection(monkeypatch)
    kept: list[LambdaInvokeHook] = []
    assert run(**fake_fields(fake_lambda), wait_for_completion_timeout=3, keep=kept)["exit_code"] == 0
    config = kept[0].conn.meta.config
    # The connect timeout never exceeds the read timeout.
    assert (config.read_timeout, config.connect_timeout) == (3, 3)
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert config.proxies is None


def test_without_use_proxy_the_connections_proxies_still_apply(
    monkeypatch: pytest.MonkeyPatch, http_proxy: ProxyInfo, fake_lambda: FakeLambdaServer
) -> None:
    """``use_proxy`` off imposes nothing: a proxy configured in the connection (the administrator's
    setting for every AWS hook) is still used, as the environment's ``HTTP_PROXY`` would be."""
    aws_connection(monkeypatch, config_kwargs={"proxies": {"http": http_proxy.url}})
    assert run(**fake_fields(fake_lambda))["exit_code"] == 0
    assert "proxy.py" in fake_lambda.invocations[0].headers["via"]


def test_use_proxy_with_credentials_overrides_a_connection_proxy(
    monkeypatch: pytest.MonkeyPatch, http_proxy_auth: ProxyInfo, fake_lambda: FakeLambdaServer
) -> None:
    aws_connection(monkeypatch, config_kwargs={"proxies": {"http": DEAD_PROXY}})
    proxy_connection(monkeypatch, PROXY_USER, PROXY_PASSWORD)
    document = run(
        **fake_fields(fake_lambda),
        use_proxy=True,
        proxy=http_proxy_auth.url,
        proxy_type="HTTPS with Credentials",
        proxy_conn_id=PROXY_CONN_ID,
    )
    assert document["exit_code"] == 0
    assert "proxy-authorization" not in fake_lambda.invocations[0].headers


# --------------------------------------------------------------------------------------------
# TCP keepalive
# --------------------------------------------------------------------------------------------

KEEPALIVE_TIMINGS = {
    name: value
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4))
    if hasattr(socket, name)
}


def _pooled_socket(pool_manager: Any, url: str) -> socket.socket:
    """The socket of the (idle, kept-alive) connection a pool manager holds for ``url``."""
    pool = pool_manager.connection_from_url(url)
    connections = [conn for conn in list(pool.pool.queue) if conn is not None]
    assert len(connections) == 1
    sock = connections[0].sock
    assert sock is not None, "the connection should still be open (keep-alive)"
    return sock


def _assert_keepalive(sock: socket.socket) -> None:
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
    for name, value in KEEPALIVE_TIMINGS.items():
        assert sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name)) == value, name


@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "proxy"])
def test_tcp_keepalive_is_on_the_real_socket(
    monkeypatch: pytest.MonkeyPatch,
    proxy_factory: ProxyFactory,
    fake_lambda: FakeLambdaServer,
    through_proxy: bool,
) -> None:
    """Even against a connection that turns ``tcp_keepalive`` off: SO_KEEPALIVE plus Linux timings
    short enough for NAT gateways (botocore alone sets only SO_KEEPALIVE: first probe after 2 h)."""
    aws_connection(monkeypatch, config_kwargs={"tcp_keepalive": False})
    fields = fake_fields(fake_lambda)
    if through_proxy:
        fields.update(use_proxy=True, proxy=proxy_factory().url)
    # Not ``run``: it closes the client, and the pooled connection is what is inspected here.
    prepared = invocation.prepare(raw_fields(aws_conn_id=AWS_CONN_ID, **fields), LOG)
    hook = invocation.build_hook(prepared)
    assert prepared.request is not None
    assert hook.invoke(prepared.request).status_code == 200
    session = hook.conn._endpoint.http_session
    options = session._socket_options
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
    for name, value in KEEPALIVE_TIMINGS.items():
        assert (socket.IPPROTO_TCP, getattr(socket, name), value) in options
    if through_proxy:
        [manager] = session._proxy_managers.values()
    else:
        manager = session._manager
    _assert_keepalive(_pooled_socket(manager, fake_lambda.url))
    hook.conn.close()


# --------------------------------------------------------------------------------------------
# Classification of odd answers on the wire
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (403, "InvalidClientTokenId", 2),
        (403, "SignatureDoesNotMatch", 2),
        (400, "ExpiredTokenException", 2),
        (403, "AccessDenied", 3),
        (403, "SomethingUnheardOf", 1),  # a code the tables do not know is a failure, whatever the status
        (400, "InvalidParameterValueException", 20),
        (500, "InternalFailure", 1),
        (429, "TooManyRequestsException", 1),  # retried like any throttling, then exit 1
    ],
)
def test_xml_error_bodies_are_classified_by_their_code(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambdaServer, status: int, code: str, exit_code: int
) -> None:
    """An XML ``<ErrorResponse>`` answering the JSON API (what moto sends under IAM enforcement):
    botocore alone reports the HTTP status as the code; the hook recovers ``<Code>``."""
    aws_connection(monkeypatch)
    fake_lambda.script(*fs.xml_error_response(status, code, "the message"))
    with raises(LambdaInvokeError) as info:
        run(**fake_fields(fake_lambda), setup=DelayRecorder())
    assert_failure(info.value, exit_code)
    if exit_code not in (2, 3):  # 2 and 3 carry the seed's fixed description; the detail has the code
        assert code in info.value.status_description
    assert info.value.detail.startswith(f"{code} when calling the Invoke operation: the message")


def test_json_error_type_header_wins_over_an_xml_body(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambdaServer
) -> None:
    aws_connection(monkeypatch)
    xml = fs.xml_error_response(403, "AccessDenied")[0]
    fake_lambda.script(
        fs.ScriptedResponse(403, {**xml.headers, "x-amzn-ErrorType": "UnrecognizedClientException"}, xml.body)
    )
    with raises(LambdaAuthenticationError):
        run(**fake_fields(fake_lambda))


def test_incomplete_response_detection_accepts_every_normal_answer(
    local_lambda: LocalLambda, monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambdaServer
) -> None:
    """The truncated-headers check (200 without request id and without length) leaves moto's and the
    fake server's normal answers alone: RequestResponse, Event (202) and DryRun (204)."""
    aws_connection(monkeypatch)
    name = new_function(local_lambda, "hook-config-echo", ECHO_HANDLER)
    for invocation_type, status in (("RequestResponse", 200), ("Event", 202), ("DryRun", 204)):
        document = run(function_name=name, endpoint_url=local_lambda.url, invocation_type=invocation_type)
        assert (document["exit_code"], document["result"]["status_code"]) == (0, status)
    fake_lambda.script(fs.ok_response(), *fs.log_tail_split_utf8(), fs.ok_response(function_error="Handled"))
    assert run(**fake_fields(fake_lambda))["exit_code"] == 0
    assert run(**fake_fields(fake_lambda), log_type="Tail")["exit_code"] == 0
    assert run(**fake_fields(fake_lambda), fail_on_function_error=False)["exit_code"] == 0
    assert incomplete_response({"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}}})


def test_connection_closed_mid_headers_is_exit_10(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambdaServer
) -> None:
    """botocore turns it into a 200 with an empty payload (see test_fixtures_wire); the function may
    have run, so it is a connection error, not a success, and it is not resent."""
    aws_connection(monkeypatch)
    fake_lambda.script(*fs.close_mid_headers())
    with raises(LambdaConnectionError) as info:
        run(**fake_fields(fake_lambda))
    assert_failure(info.value, 10)
    assert "closed in the middle of the response" in info.value.detail
    assert fake_lambda.request_count == 1


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def test_no_aws_secret_in_failures_or_logs(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    fake_lambda: FakeLambdaServer,
) -> None:
    caplog.set_level(logging.DEBUG)
    aws_connection(monkeypatch, login="AKIACONFIGTEST000000", password=AWS_SECRET)
    fake_lambda.script(*fs.xml_error_response(403, "SignatureDoesNotMatch", "signature mismatch"))
    with raises(LambdaAuthenticationError) as info:
        run(**fake_fields(fake_lambda))
    assert_failure(info.value, 2)
    assert info.value.output is not None
    fields = info.value.output["invocation"]["fields"]
    assert (fields["credentials_user"], fields["credentials_password"]) == ("****", "****")
    assert_no_secret(everything_shown(info.value, caplog, capsys), [AWS_SECRET])


@pytest.mark.parametrize("endpoint", ["http", "https"])
def test_no_proxy_password_when_the_proxy_is_gone(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    proxy_factory: ProxyFactory,
    fake_lambda: FakeLambdaServer,
    fake_lambda_tls: FakeLambdaServer,
    endpoint: str,
) -> None:
    """botocore's own message shows the proxy URL masked; the hook's shows it without credentials."""
    caplog.set_level(logging.DEBUG)
    proxy = proxy_factory(auth=(PROXY_USER, PROXY_PASSWORD))
    proxy.stop()
    aws_connection(monkeypatch)
    proxy_connection(monkeypatch, PROXY_USER, PROXY_PASSWORD)
    target = fake_lambda if endpoint == "http" else fake_lambda_tls
    with raises(LambdaProxyConnectionError) as info:
        run(
            **fake_fields(target),
            use_proxy=True,
            proxy=proxy.url,
            proxy_type="HTTPS with Credentials",
            proxy_conn_id=PROXY_CONN_ID,
            wait_for_completion_timeout=5,
        )
    assert_failure(info.value, 11)
    assert info.value.status_description.endswith(f"Failed to connect to proxy URL {proxy.url}")
    shown = everything_shown(info.value, caplog, capsys)
    assert_no_secret(shown, [PROXY_PASSWORD])
    assert "Connection refused" in info.value.detail
    assert PROXY_USER not in json.dumps(info.value.output)  # the document shows "****"


# --------------------------------------------------------------------------------------------
# botocore's parsed data: one loader per process and search paths, not one per hook
# --------------------------------------------------------------------------------------------


def test_hooks_share_botocore_data_per_search_path(
    local_lambda: LocalLambda, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    name = new_function(local_lambda, "shared-data", ECHO_HANDLER)

    def hook() -> LambdaInvokeHook:
        return LambdaInvokeHook(aws_conn_id=None, region_name="us-east-1", endpoint_url=local_lambda.url)

    def loader(session: Any) -> Any:
        return session._session.get_component("data_loader")

    first, second = hook(), hook()
    first_session, second_session = first.get_session(), second.get_session()
    assert first_session is not second_session
    assert loader(first_session) is loader(second_session)
    # Another AWS_DATA_PATH is other data: that session keeps a loader of its own.
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    other = hook().get_session()
    assert loader(other) is not loader(first_session)
    assert str(tmp_path) in loader(other).search_paths
    monkeypatch.delenv("AWS_DATA_PATH")
    # Clients built on the shared data work, each with its own session's settings.
    for each in (first, second):
        answer = each.conn.invoke(FunctionName=name, Payload=b'{"n": 1}')
        assert answer["StatusCode"] == 200
        assert json.loads(answer["Payload"].read()) == {"n": 1}
