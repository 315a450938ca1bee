# pytest passes fixtures as positional parameters; many per test is the point here.
# ruff: noqa: PLR0917
"""Credentials and role assumption against moto's IAM and STS with IAM enforcement on.

One local endpoint serves the whole module (starting one takes seconds): users, roles and policies
are created by an administrator before enforcement is turned on, so every later request is
authenticated and authorised by moto exactly like AWS would:

* ``assumer`` may only call ``sts:AssumeRole`` and is trusted by both roles;
* ``outsider`` may call ``sts:AssumeRole`` but no role trusts it;
* ``nobody`` has no permission at all (trusted by the roles, so only its own policy refuses);
* ``invoker`` may only call ``lambda:InvokeFunction``;
* role ``invoke-role`` allows ``lambda:InvokeFunction``, role ``no-invoke-role`` allows nothing.

moto answers the Lambda API's authentication and authorisation failures with XML bodies and HTTP 403
(``InvalidClientTokenId``, ``SignatureDoesNotMatch``, ``AccessDenied``): the hook reads the code
from the XML, so they come out as exit codes 2 and 3 rather than a generic 403.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_lambda_ue.exceptions import (
    LambdaAuthenticationError,
    LambdaAuthorizationError,
    LambdaInvokeError,
)
from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.failures import raises
from tests.support.hooks import (
    AWS_CONN_ID,
    PROXY_CONN_ID,
    REGION,
    assert_failure,
    assert_no_secret,
    aws_connection,
    everything_shown,
    proxy_connection,
    run,
)
from tests.support.local_lambda import ECHO_HANDLER, IamWorld, create_iam_role
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyInfo

FUNCTION = "iam-echo"


@pytest.fixture(scope="module")
def iam_world() -> Iterator[IamWorld]:
    with LocalLambda() as server:
        server.create_function(FUNCTION, ECHO_HANDLER)
        keys = {
            "assumer": server.create_iam_user("assumer", ["sts:AssumeRole"]),
            "outsider": server.create_iam_user("outsider", ["sts:AssumeRole"]),
            "nobody": server.create_iam_user("nobody", []),
            "invoker": server.create_iam_user("invoker", ["lambda:InvokeFunction"]),
        }
        assumers = ["assumer", "nobody"]
        invoke_role = create_iam_role(
            server, "invoke-role", assumers=assumers, actions=["lambda:InvokeFunction"]
        )
        no_invoke_role = create_iam_role(server, "no-invoke-role", assumers=assumers)
        server.enable_iam_enforcement()
        yield IamWorld(server, keys, {"invoke-role": invoke_role, "no-invoke-role": no_invoke_role})


@pytest.fixture
def world(iam_world: IamWorld, clean_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> IamWorld:
    """The module's endpoint, with STS pointed at it through ``AWS_ENDPOINT_URL_STS``."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", iam_world.url)
    return iam_world


def connect_as(monkeypatch: pytest.MonkeyPatch, world: IamWorld, user: str, **extra: Any) -> dict[str, str]:
    keys = world.keys[user]
    aws_connection(
        monkeypatch, login=keys["aws_access_key_id"], password=keys["aws_secret_access_key"], **extra
    )
    return keys


def invoke_fields(world: IamWorld, role_arn: str | None = None, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"function_name": FUNCTION, "endpoint_url": world.url, "payload": {"n": 1}}
    if role_arn:
        values.update(role_based_access=True, role_arn=role_arn)
    values.update(fields)
    return values


# --------------------------------------------------------------------------------------------
# Role assumption
# --------------------------------------------------------------------------------------------


def test_invoke_with_the_assumed_roles_credentials(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    """``assumer`` may not invoke; only the role may. Success therefore proves the role's credentials
    signed the Invoke call."""
    connect_as(monkeypatch, world, "assumer")
    kept: list[LambdaInvokeHook] = []
    document = run(**invoke_fields(world, world.roles["invoke-role"]), keep=kept)
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"]) == {"n": 1}
    fields = document["invocation"]["fields"]
    assert (fields["role_based_access"], fields["role_arn"]) == (True, world.roles["invoke-role"])
    assert (fields["credentials_user"], fields["credentials_password"]) == ("****", "****")
    # Temporary credentials from STS, refreshed by botocore when they expire (AwsBaseHook's machinery).
    credentials = kept[0].conn._request_signer._credentials
    assert type(credentials).__name__ == "RefreshableCredentials"
    assert credentials.method == "sts-assume-role"
    assert credentials.access_key != world.keys["assumer"]["aws_access_key_id"]

    # The same user without the role is refused.
    with raises(LambdaAuthorizationError) as info:
        run(**invoke_fields(world))
    assert_failure(info.value, 3)
    assert "AccessDenied" in info.value.detail


@pytest.mark.proves("service_config.sts.endpoint_url")
def test_sts_endpoint_from_the_connections_service_config(
    monkeypatch: pytest.MonkeyPatch, world: IamWorld
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS")
    connect_as(monkeypatch, world, "assumer", service_config={"sts": {"endpoint_url": world.url}})
    assert run(**invoke_fields(world, world.roles["invoke-role"]))["exit_code"] == 0


def test_role_assumption_on_environment_credentials(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    """``aws_conn_id=None``: the environment's credential chain, and the role on top of it."""
    keys = world.keys["assumer"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    document = run(**invoke_fields(world, world.roles["invoke-role"], aws_conn_id=None))
    assert document["exit_code"] == 0
    fields = document["invocation"]["fields"]
    assert (fields["credentials_user"], fields["credentials_password"]) == (None, None)

    # A connection id that does not exist falls back to the environment too.
    assert (
        run(**invoke_fields(world, world.roles["invoke-role"], aws_conn_id="no_such_connection"))["exit_code"]
        == 0
    )

    # Without the role the environment's user is refused: the role made the difference.
    with raises(LambdaAuthorizationError):
        run(**invoke_fields(world, aws_conn_id=None))


def test_sts_goes_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch, world: IamWorld, http_proxy_auth: ProxyInfo
) -> None:
    """AssumeRole travels through the same proxy, with the same credentials, as Invoke."""
    connect_as(monkeypatch, world, "assumer")
    proxy_connection(monkeypatch, PROXY_USER, PROXY_PASSWORD)
    fields = invoke_fields(
        world,
        world.roles["invoke-role"],
        use_proxy=True,
        proxy=http_proxy_auth.url,
        proxy_type="HTTPS with Credentials",
        proxy_conn_id=PROXY_CONN_ID,
    )
    assert run(**fields)["exit_code"] == 0
    entries = http_proxy_auth.wait_for_connections(2)
    port = world.server.port
    assert sorted((e.method, e.target) for e in entries) == [
        ("POST", f"127.0.0.1:{port}/"),  # STS (query API at the root)
        ("POST", f"127.0.0.1:{port}/2015-03-31/functions/{FUNCTION}/invocations"),
    ]
    assert not http_proxy_auth.rejected()


def test_sts_through_a_stopped_proxy_is_exit_11(
    monkeypatch: pytest.MonkeyPatch, world: IamWorld, proxy_factory: Any
) -> None:
    proxy = proxy_factory()
    proxy.stop()
    connect_as(monkeypatch, world, "assumer")
    with raises(LambdaInvokeError) as info:
        run(**invoke_fields(world, world.roles["invoke-role"], use_proxy=True, proxy=proxy.url))
    assert_failure(info.value, 11)


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["nobody", "outsider"], ids=["no-permission", "not-trusted"])
def test_assume_role_denied_is_exit_3(monkeypatch: pytest.MonkeyPatch, world: IamWorld, user: str) -> None:
    connect_as(monkeypatch, world, user)
    with raises(LambdaAuthorizationError) as info:
        run(**invoke_fields(world, world.roles["invoke-role"]))
    assert_failure(info.value, 3)
    assert "AssumeRole" in info.value.detail


@pytest.mark.parametrize("role", [None, "no-invoke-role"], ids=["user", "role"])
def test_invoke_denied_is_exit_3(monkeypatch: pytest.MonkeyPatch, world: IamWorld, role: str | None) -> None:
    connect_as(monkeypatch, world, "assumer")
    with raises(LambdaAuthorizationError) as info:
        run(**invoke_fields(world, world.roles["no-invoke-role"] if role else None))
    assert_failure(info.value, 3)
    assert "AccessDenied when calling the Invoke operation" in info.value.detail


def test_user_allowed_to_invoke_succeeds_without_a_role(
    monkeypatch: pytest.MonkeyPatch, world: IamWorld
) -> None:
    connect_as(monkeypatch, world, "invoker")
    assert run(**invoke_fields(world))["exit_code"] == 0


@pytest.mark.parametrize("role", [False, True], ids=["invoke", "assume-role"])
@pytest.mark.parametrize("bad", ["unknown-key-id", "wrong-secret"])
def test_bad_keys_are_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    world: IamWorld,
    bad: str,
    role: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = world.keys["assumer"] if role else world.keys["invoker"]
    key_id = "AKIAUNKNOWNKEY000000" if bad == "unknown-key-id" else keys["aws_access_key_id"]
    secret = (
        "Wr0ngSecretKeyWr0ngSecretKeyWr0ngSecretK" if bad == "wrong-secret" else keys["aws_secret_access_key"]
    )
    aws_connection(monkeypatch, login=key_id, password=secret)
    with raises(LambdaAuthenticationError) as info:
        run(**invoke_fields(world, world.roles["invoke-role"] if role else None))
    error = info.value
    assert_failure(error, 2)
    expected = "InvalidClientTokenId" if bad == "unknown-key-id" else "SignatureDoesNotMatch"
    assert error.detail.startswith(expected)
    assert ("AssumeRole" if role else "Invoke") in error.detail
    assert_no_secret(everything_shown(error, caplog, capsys), [secret])


def test_connection_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    """Sanity of the fixture: the connection the tests define is the one the hook uses."""
    connect_as(monkeypatch, world, "invoker")
    hook = LambdaInvokeHook(aws_conn_id=AWS_CONN_ID)
    assert hook.conn_config.aws_access_key_id == world.keys["invoker"]["aws_access_key_id"]
