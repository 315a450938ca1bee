"""Deferrable mode end to end: the operator defers, the trigger runs, ``execute_complete`` finishes.

The deferred path is driven the way Airflow drives it: ``execute`` raises ``TaskDeferred``; the
trigger is serialised and rebuilt from its JSON kwargs (as the triggerer does), run to its event with
asyncio, and the event is handed to the method ``TaskDeferred`` names. Every exit code of the
contract is reached that way, against the local Lambda endpoint (moto running the handler code,
with IAM enforced where credentials matter), fake servers for what no real server does on demand,
and real proxies. The example DAG runs under ``airflow dags test`` (which runs triggers in line)
with and without ``deferrable`` and leaves the same XCom document.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import importlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_lambda_ue import exceptions
from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator
from airflow_provider_lambda_ue.output import STATUS_DECODE_WARNING, STATUS_SUCCESS
from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger
from tests.support import fake_servers as fs
from tests.support.failures import raises
from tests.support.fake_servers import FakeLambdaServer
from tests.support.local_lambda import (
    DEMO_FUNCTION,
    ECHO_HANDLER,
    PRINT_AND_RETURN_HANDLER,
    RAISE_HANDLER,
    CountingFunction,
    create_iam_role,
    new_function,
    unique_function_name,
)
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyFactory, ProxyInfo
from tests.support.servers import serving

pytestmark = [pytest.mark.usefixtures("clean_aws_env"), pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
AWS_SECRET = "deferrable-secret-do-not-leak"


class FakeTaskInstance:
    """What ``execute`` needs of ``context["ti"]``: ``xcom_push`` (the failure document)."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@pytest.fixture
def aws_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``(login, password, extra=None, conn_id="aws_default")``: define an aws connection."""

    def define(
        login: str, password: str, extra: dict[str, Any] | None = None, conn_id: str = "aws_default"
    ) -> None:
        conn = {"conn_type": "aws", "login": login, "password": password, "extra": extra or {}}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    define("testing", AWS_SECRET)
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROXY_CREDS",
        json.dumps({"conn_type": "generic", "login": PROXY_USER, "password": PROXY_PASSWORD}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROXY_WRONG",
        json.dumps({"conn_type": "generic", "login": PROXY_USER, "password": "not-the-password"}),
    )
    return define


def context_of(ti: FakeTaskInstance) -> Any:
    """A task context holding just ``ti``."""
    return {"ti": ti}


def import_string(classpath: str) -> Any:
    """The class a trigger's classpath names (as the triggerer resolves it)."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


def operator(**kwargs: Any) -> LambdaInvokeOperator:
    kwargs.setdefault("task_id", "invoke")
    kwargs.setdefault("region_name", "us-east-1")
    kwargs.setdefault("deferrable", True)
    return LambdaInvokeOperator(**kwargs)


async def _first_event(trigger: LambdaInvokeTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def defer(op: LambdaInvokeOperator, context: Any) -> tuple[TaskDeferred, dict[str, Any]]:
    """Execute ``op`` until it defers; run its trigger, rebuilt from its serialised form, to its event."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    classpath, kwargs = deferred.value.trigger.serialize()
    trigger = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    return deferred.value, asyncio.run(_first_event(trigger))


def run_deferred(op: LambdaInvokeOperator) -> tuple[dict[str, Any], FakeTaskInstance]:
    """
    Run ``op`` as Airflow would in deferrable mode; return its document and its task instance.

    Failures raise the contract's exception, with the document pushed to the fake XCom first.
    """
    ti = FakeTaskInstance()
    context: Any = {"ti": ti}
    deferred, event = defer(op, context)
    json.dumps(event)  # events travel as JSON
    method = getattr(op, deferred.method_name)
    return method(context, event=event, **(deferred.kwargs or {})), ti


def run_sync(op: LambdaInvokeOperator) -> tuple[dict[str, Any], FakeTaskInstance]:
    ti = FakeTaskInstance()
    op.deferrable = False
    return op.execute(context_of(ti)), ti


def failure(
    op: LambdaInvokeOperator, error: type[exceptions.LambdaInvokeError]
) -> tuple[exceptions.LambdaInvokeError, FakeTaskInstance]:
    """Run ``op`` deferred, expecting ``error``; check the failure document reached XCom."""
    ti = FakeTaskInstance()
    context: Any = {"ti": ti}
    deferred, event = defer(op, context)
    with pytest.raises(error) as raised:
        getattr(op, deferred.method_name)(context, event=event)
    assert type(raised.value) is error
    document = ti.xcom["return_value"]
    assert document == raised.value.output
    assert document["exit_code"] == error.exit_code
    assert document["status_description"] == raised.value.status_description
    text = json.dumps(document) + str(raised.value)
    for secret in (AWS_SECRET, PROXY_PASSWORD, "not-the-password"):
        assert secret not in text
    return raised.value, ti


def without_run_specifics(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what differs from run to run (the log tail's request ids, durations)."""
    copy = json.loads(json.dumps(document))
    if copy["result"].get("log_result"):
        copy["result"]["log_result"] = "<run specific>"
    if copy["result"].get("request_id"):  # each invocation has its own (and both paths have one)
        copy["result"]["request_id"] = "<run specific>"
    return copy


# ------------------------------------------------------------------------------------------------
# Exit code 0


@pytest.mark.usefixtures("aws_conn")
def test_success_same_document_as_synchronous(
    local_lambda: LocalLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    name = new_function(local_lambda, "deferred-echo", ECHO_HANDLER)
    fields = {
        "function_name": name,
        "endpoint_url": local_lambda.url,
        "payload": {"greeting": "hello", "n": 1},
        "log_type": "Tail",
        "client_context": {"custom": {"k": "v"}},
    }
    deferred, deferred_ti = run_deferred(operator(**fields))
    synchronous, _ = run_sync(operator(**fields))
    assert deferred["exit_code"] == 0
    assert deferred["status_description"] == STATUS_SUCCESS
    assert deferred["result"]["payload"] == json.dumps({"greeting": "hello", "n": 1})
    assert deferred["result"]["log_result"]
    assert deferred["invocation"]["fields"]["credentials_password"] == "****"
    assert without_run_specifics(deferred) == without_run_specifics(synchronous)
    assert "return_value" not in deferred_ti.xcom  # a success is returned, not pushed
    assert AWS_SECRET not in "".join(capsys.readouterr())


@pytest.mark.usefixtures("aws_conn")
def test_log_tail_is_decoded_on_the_worker(
    local_lambda: LocalLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    name = new_function(local_lambda, "deferred-print", PRINT_AND_RETURN_HANDLER)
    document, _ = run_deferred(
        operator(
            function_name=name, endpoint_url=local_lambda.url, log_type="Tail", payload={"message": "grüße ✓"}
        )
    )
    assert document["exit_code"] == 0
    decoded = base64.b64decode(document["result"]["log_result"]).decode("utf-8", "replace")
    assert "grüße ✓" in decoded
    assert "| grüße ✓" in capsys.readouterr().out  # Airflow's task logger writes to stdout


@pytest.mark.usefixtures("aws_conn")
def test_decode_warning(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(*fs.log_tail_not_base64())
    document, _ = run_deferred(operator(function_name="f", endpoint_url=fake_lambda.url, log_type="Tail"))
    assert document["exit_code"] == 0
    assert document["status_description"] == STATUS_DECODE_WARNING
    assert document["result"]["log_result"] == fs.NOT_BASE64_LOG_TAIL


@pytest.mark.usefixtures("aws_conn")
def test_function_error_without_failing(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "deferred-raise", RAISE_HANDLER)
    document, _ = run_deferred(
        operator(
            function_name=name,
            endpoint_url=local_lambda.url,
            payload={"message": "tolerated"},
            fail_on_function_error="false",
        )
    )
    assert document["exit_code"] == 0
    assert document["result"]["function_error"] == "Unhandled"
    assert "tolerated" in document["result"]["payload"]


@pytest.mark.parametrize("invocation_type", ["Event", "DryRun"])
@pytest.mark.usefixtures("aws_conn")
def test_event_and_dry_run_do_not_defer(
    invocation_type: str, counting_function: CountingFunction, local_lambda: LocalLambda
) -> None:
    op = operator(
        function_name=counting_function.name, endpoint_url=local_lambda.url, invocation_type=invocation_type
    )
    document = op.execute(context_of(FakeTaskInstance()))  # no TaskDeferred
    assert document["exit_code"] == 0
    assert document["result"]["status_code"] == (202 if invocation_type == "Event" else 204)


@pytest.mark.usefixtures("aws_conn")
def test_forwarding_for_https_runs_synchronously(
    aws_conn: Callable[..., None], local_lambda: LocalLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    name = new_function(local_lambda, "deferred-sync", ECHO_HANDLER)
    aws_conn(
        "testing", AWS_SECRET, {"config_kwargs": {"proxies_config": {"proxy_use_forwarding_for_https": True}}}
    )
    op = operator(function_name=name, endpoint_url=local_lambda.url)
    document = op.execute(context_of(FakeTaskInstance()))  # no TaskDeferred
    assert document["exit_code"] == 0
    assert "Invoking without deferring: aiobotocore ignores proxies_config" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# Exit code 1


@pytest.mark.usefixtures("aws_conn")
def test_function_error(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "deferred-raise", RAISE_HANDLER)
    error, _ = failure(
        operator(function_name=name, endpoint_url=local_lambda.url, payload={"message": "boom!"}),
        exceptions.LambdaFunctionError,
    )
    assert error.output is not None
    assert error.output["result"]["function_error"] == "Unhandled"
    assert error.status_description == "FAIL: Function error (Unhandled): ValueError: boom!"


@pytest.mark.usefixtures("aws_conn")
def test_unknown_function(local_lambda: LocalLambda) -> None:
    error, _ = failure(
        operator(function_name=unique_function_name("missing"), endpoint_url=local_lambda.url),
        exceptions.LambdaFailError,
    )
    assert "ResourceNotFoundException" in error.status_description


@pytest.mark.usefixtures("aws_conn")
def test_throttling_left_after_retries(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(fs.throttled_response(retry_after="0"))
    error, _ = failure(operator(function_name="f", endpoint_url=fake_lambda.url), exceptions.LambdaFailError)
    assert "TooManyRequestsException" in error.status_description
    assert len(fake_lambda.invocations) == 4  # bounded retries of what provably did not run


@pytest.mark.usefixtures("aws_conn")
def test_throttled_then_success(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(*fs.throttle_then_success(1, {"ok": 1}))
    document, _ = run_deferred(operator(function_name="f", endpoint_url=fake_lambda.url))
    assert document["exit_code"] == 0
    assert len(fake_lambda.invocations) == 2


# ------------------------------------------------------------------------------------------------
# Exit codes 2 and 3: IAM enforced by moto, for Lambda and for STS AssumeRole


#: The tests that use ``iam_server``: on one worker, so that they share one endpoint.
IAM = pytest.mark.xdist_group("deferrable-iam")


@pytest.fixture(scope="module")
def iam_server() -> Iterator[dict[str, Any]]:
    """
    A function, a role allowed to invoke it, users who may or may not do what, IAM enforced.

    Module-scoped: the tests only invoke, as one user or another, and change nothing in IAM, so they
    share an endpoint of their own (each start and set-up costs about 1.5 CPU-seconds).
    """
    with serving(LocalLambda().start) as server:
        name = new_function(server, "iam", ECHO_HANDLER)
        users = {
            "invoker": server.create_iam_user("invoker", ["lambda:InvokeFunction"]),
            "nobody": server.create_iam_user("nobody", []),
            "assumer": server.create_iam_user("assumer", ["sts:AssumeRole"]),
        }
        assumers = ["assumer", "nobody"]
        roles = {
            "invoker-role": create_iam_role(
                server, "invoker-role", assumers=assumers, actions=["lambda:InvokeFunction"]
            ),
            "useless-role": create_iam_role(
                server, "useless-role", assumers=assumers, actions=["s3:ListBucket"]
            ),
        }
        server.enable_iam_enforcement()
        yield {"server": server, "function": name, "roles": roles, "users": users}


def use_user(
    aws_conn: Callable[..., None], iam: dict[str, Any], user: str | None, secret: str | None = None
) -> None:
    server: LocalLambda = iam["server"]
    extra = {"service_config": {"sts": {"endpoint_url": server.url}}}
    if user is None:
        aws_conn("AKIAUNKNOWNUNKNOWN00", secret or AWS_SECRET, extra)
        return
    keys = iam["users"][user]
    aws_conn(keys["aws_access_key_id"], secret or keys["aws_secret_access_key"], extra)


def iam_operator(iam: dict[str, Any], **kwargs: Any) -> LambdaInvokeOperator:
    return operator(
        function_name=iam["function"], endpoint_url=iam["server"].url, payload={"who": "iam"}, **kwargs
    )


@IAM
def test_iam_allowed_user(aws_conn: Callable[..., None], iam_server: dict[str, Any]) -> None:
    use_user(aws_conn, iam_server, "invoker")
    document, _ = run_deferred(iam_operator(iam_server))
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"]) == {"who": "iam"}


@IAM
def test_role_allowed(aws_conn: Callable[..., None], iam_server: dict[str, Any]) -> None:
    use_user(aws_conn, iam_server, "assumer")
    role = iam_server["roles"]["invoker-role"]
    document, _ = run_deferred(iam_operator(iam_server, role_based_access=True, role_arn=role))
    assert document["exit_code"] == 0
    assert document["invocation"]["fields"]["role_arn"] == role


@IAM
@pytest.mark.parametrize(
    ("caller", "role", "error"),
    [
        pytest.param((None, None), None, exceptions.LambdaAuthenticationError, id="unknown-key"),
        pytest.param(
            ("invoker", "wrong-secret"), None, exceptions.LambdaAuthenticationError, id="bad-signature"
        ),
        pytest.param(("nobody", None), None, exceptions.LambdaAuthorizationError, id="not-allowed"),
        pytest.param(
            ("nobody", None), "invoker-role", exceptions.LambdaAuthorizationError, id="role-cannot-be-assumed"
        ),
        pytest.param(
            ("assumer", "wrong-secret"),
            "invoker-role",
            exceptions.LambdaAuthenticationError,
            id="role-with-bad-credentials",
        ),
        pytest.param(
            ("assumer", None),
            "useless-role",
            exceptions.LambdaAuthorizationError,
            id="assumed-role-may-not-invoke",
        ),
    ],
)
def test_iam_failure(
    aws_conn: Callable[..., None],
    iam_server: dict[str, Any],
    caller: tuple[str | None, str | None],
    role: str | None,
    error: type[exceptions.LambdaInvokeError],
) -> None:
    """Keys unknown or signed wrongly: exit 2; a caller or an assumed role without the permission: exit 3."""
    user, secret = caller
    use_user(aws_conn, iam_server, user, secret)
    role_fields: dict[str, Any] = {}
    if role is not None:
        role_fields = {"role_based_access": True, "role_arn": iam_server["roles"][role]}
    failure(iam_operator(iam_server, **role_fields), error)


@IAM
def test_role_through_authenticating_proxy(
    aws_conn: Callable[..., None], iam_server: dict[str, Any], http_proxy_auth: ProxyInfo
) -> None:
    use_user(aws_conn, iam_server, "assumer")
    role = iam_server["roles"]["invoker-role"]
    op = iam_operator(
        iam_server,
        role_based_access=True,
        role_arn=role,
        use_proxy=True,
        proxy=http_proxy_auth.url,
        proxy_type="HTTPS with Credentials",
        proxy_conn_id="proxy_creds",
    )
    document, _ = run_deferred(op)
    assert document["exit_code"] == 0
    assert document["invocation"]["fields"]["proxy_credentials_password"] == "****"
    # AssumeRole (worker-side thread of the trigger) and Invoke both went through the proxy.
    gc.collect()  # proxy.py logs a connection when it closes; drop the STS client's pool
    targets = {
        entry.target.split("/", 1)[-1] for entry in http_proxy_auth.wait_for_connections(2, timeout=15)
    }
    assert targets == {"", f"2015-03-31/functions/{iam_server['function']}/invocations"}, targets


# ------------------------------------------------------------------------------------------------
# Exit codes 10 and 11


@pytest.mark.usefixtures("aws_conn")
def test_refused_endpoint(refused_url: str) -> None:
    failure(operator(function_name="f", endpoint_url=refused_url), exceptions.LambdaConnectionError)


@pytest.mark.usefixtures("aws_conn")
def test_untrusted_endpoint_certificate(fake_lambda_tls: FakeLambdaServer) -> None:
    failure(operator(function_name="f", endpoint_url=fake_lambda_tls.url), exceptions.LambdaConnectionError)
    assert not fake_lambda_tls.invocations


@pytest.mark.usefixtures("aws_conn")
def test_local_lambda_through_proxies(
    local_lambda: LocalLambda, http_proxy_auth: ProxyInfo, proxy_factory: ProxyFactory
) -> None:
    name = new_function(local_lambda, "proxied", ECHO_HANDLER)
    fields = {
        "function_name": name,
        "endpoint_url": local_lambda.url,
        "use_proxy": True,
        "proxy": http_proxy_auth.url,
        "proxy_type": "HTTPS with Credentials",
        "proxy_conn_id": "proxy_creds",
        "payload": {"via": "proxy"},
    }
    document, _ = run_deferred(operator(**fields))
    assert json.loads(document["result"]["payload"]) == {"via": "proxy"}

    error, _ = failure(
        operator(**{**fields, "proxy_conn_id": "proxy_wrong"}), exceptions.LambdaProxyConnectionError
    )
    assert error.status_description == (
        f"CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {http_proxy_auth.url}"
    )

    stopped = proxy_factory()
    stopped.stop()
    failure(
        operator(function_name=name, endpoint_url=local_lambda.url, use_proxy=True, proxy=stopped.url),
        exceptions.LambdaProxyConnectionError,
    )


@pytest.mark.usefixtures("aws_conn")
def test_tls_proxy(
    fake_lambda: FakeLambdaServer, tls_proxy_auth: ProxyInfo, tls_proxy_untrusted: ProxyInfo, ca_bundle: str
) -> None:
    fields = {
        "function_name": "f",
        "endpoint_url": fake_lambda.url,
        "use_proxy": True,
        "proxy_type": "HTTPS with Credentials",
        "proxy_conn_id": "proxy_creds",
        "proxy_ca_bundle_file": ca_bundle,
    }
    document, _ = run_deferred(operator(proxy=tls_proxy_auth.url, **fields))
    assert document["exit_code"] == 0
    assert len(fake_lambda.invocations) == 1
    failure(operator(proxy=tls_proxy_untrusted.url, **fields), exceptions.LambdaProxyConnectionError)
    assert len(fake_lambda.invocations) == 1


# ------------------------------------------------------------------------------------------------
# Exit code 20


@pytest.mark.usefixtures("aws_conn")
def test_validation_fails_before_deferring() -> None:
    ti = FakeTaskInstance()
    op = operator(function_name="not a function name", payload="{not json")
    with raises(exceptions.LambdaDataValidationError) as raised:
        op.execute(context_of(ti))  # raises before any TaskDeferred
    assert ti.xcom["return_value"]["exit_code"] == 20
    assert "function_name" in raised.value.status_description
    assert "payload" in raised.value.status_description


@pytest.mark.usefixtures("aws_conn")
def test_service_rejects_a_parameter(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(fs.error_response(400, "InvalidParameterValueException", "bad qualifier"))
    error, _ = failure(
        operator(function_name="f", endpoint_url=fake_lambda.url), exceptions.LambdaDataValidationError
    )
    assert "InvalidParameterValueException" in error.status_description


@pytest.mark.usefixtures("aws_conn")
def test_ca_bundle_missing_on_the_triggerer(
    fake_lambda: FakeLambdaServer, tls_proxy: ProxyInfo, tmp_path: Path
) -> None:
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_bytes(Path(tls_proxy.ca_file or "").read_bytes())
    op = operator(
        function_name="f",
        endpoint_url=fake_lambda.url,
        use_proxy=True,
        proxy=tls_proxy.url,
        proxy_type="HTTPS",
        proxy_ca_bundle_file=str(bundle),
    )
    ti = FakeTaskInstance()
    context: Any = {"ti": ti}
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    bundle.unlink()  # the worker validated it; the triggerer's host does not have it
    event = asyncio.run(_first_event(deferred.value.trigger))
    assert event["exit_code"] == 20
    bundle.write_bytes(Path(tls_proxy.ca_file or "").read_bytes())  # present again on the worker
    with raises(exceptions.LambdaDataValidationError):
        op.execute_complete(context, event=event)
    assert ti.xcom["return_value"]["exit_code"] == 20
    assert not fake_lambda.invocations


# ------------------------------------------------------------------------------------------------
# Exit code 21: never a second execution


@pytest.mark.usefixtures("aws_conn")
def test_read_timeout_runs_the_function_once(
    counting_function_factory: Callable[..., CountingFunction],
    local_lambda: LocalLambda,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    function = counting_function_factory(sleep_seconds=4, timeout=10)
    started = time.monotonic()
    failure(
        operator(function_name=function.name, endpoint_url=local_lambda.url, wait_for_completion_timeout="1"),
        exceptions.LambdaReadTimeoutError,
    )
    assert function.wait_for_count(1, timeout=30) == 1
    # Let the first execution finish its sleep; a resent Invoke would have counted by now.
    time.sleep(max(0.0, 8 - (time.monotonic() - started)))
    assert function.count() == 1


# ------------------------------------------------------------------------------------------------
# airflow dags test: the example DAG, synchronous and deferred


def test_example_dag_deferred_same_xcom(airflow_env: AirflowEnv, local_lambda: LocalLambda) -> None:
    function = new_function(
        local_lambda, "lambda-ue-demo", DEMO_FUNCTION, handler="lambda_ue_demo.handler", timeout=30
    )
    env = {
        "LAMBDA_UE_ENDPOINT_URL": local_lambda.url,
        "LAMBDA_UE_FUNCTION": function,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "testing", "password": AWS_SECRET}
        ),
    }
    documents = {}
    for deferrable in (False, True):
        # False is Airflow's default, so that run leaves the setting alone and is forked from the
        # home's fork server; a changed setting needs a process of its own (Airflow reads it while
        # importing the operator).
        setting = {"AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"} if deferrable else {}
        forked = airflow_env.forked_runs
        assert forked is not None
        result = airflow_env.dags_test("example_lambda_sync_tail", {**env, **setting}, timeout=600)
        assert airflow_env.forked_runs == forked + (0 if deferrable else 1)
        assert result.run_state == "success", result.output[-5000:]
        assert result.state("invoke_sync_with_log") == "success"
        assert AWS_SECRET not in result.output
        if deferrable:
            assert "Deferring the invocation" in result.output
            assert "running trigger in line" in result.output
        else:
            assert "Deferring the invocation" not in result.output
        document = result.xcom("invoke_sync_with_log")
        assert document["exit_code"] == 0
        assert "| Grüße aus Lambda ✓" in result.output
        documents[deferrable] = document

    def comparable(document: dict[str, Any]) -> dict[str, Any]:
        # The run id is in the payload (templated), the log tail holds request ids and durations.
        copy = without_run_specifics(document)
        run_id = json.loads(copy["invocation"]["fields"]["payload_script"])["run_id"]
        return json.loads(json.dumps(copy).replace(run_id, "<run id>"))

    assert comparable(documents[True]) == comparable(documents[False])
