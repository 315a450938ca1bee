"""Unit tests of :class:`LambdaInvokeOperator` that need no DAG run.

Construction, templating (``.json`` template files, JSON renderers, strings rendered from
templates going through validation), dynamic task mapping, the ``deferrable`` default, the
``fields()`` mapping, and ``execute`` in-process: validation before any network call, and the
outcomes against a fake Lambda server on loopback (success, log tail decoding, function errors),
with the failure document pushed to XCom before the exception.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.definitions.mappedoperator import MappedOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_lambda_ue.exceptions import (
    LambdaDataValidationError,
    LambdaFunctionError,
    LambdaInvokeError,
    public,
)
from airflow_provider_lambda_ue.fields import FIELD_NAMES, raw_fields
from airflow_provider_lambda_ue.invocation import prepare
from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import STATUS_DECODE_WARNING, STATUS_SUCCESS
from airflow_provider_lambda_ue.request import InvokeRequest
from tests.support import fake_servers as fs
from tests.support.airflow_env import EXAMPLE_DAGS
from tests.support.failures import is_failure, raises
from tests.support.fake_servers import FakeLambdaServer

log = logging.getLogger("tests.operator")

# The contract's "Templated:" list, in its order.
CONTRACT_TEMPLATE_FIELDS = (
    "function_name",
    "qualifier",
    "payload",
    "client_context",
    "region_name",
    "role_arn",
    "proxy",
    "endpoint_url",
    "invocation_type",
    "log_type",
)
#: The contract's list and the fields added since (issue 17: ``tenant_id``, ``logs_endpoint_url``;
#: issue 14: ``durable_execution_name``).
TEMPLATE_FIELDS = (*CONTRACT_TEMPLATE_FIELDS, "tenant_id", "durable_execution_name", "logs_endpoint_url")


def document_pushes(ti: Any) -> list[tuple[str, Any]]:
    """What the task pushed to XCom besides its extra links' values (``lambda_ue_*``, see test_links)."""
    return [(key, value) for key, value in ti.pushed if not key.startswith("lambda_ue_")]


def make_dag(dag_id: str = "unit", **kwargs: Any) -> DAG:
    return DAG(dag_id, schedule=None, **kwargs)


def render(operator: Any, dag: DAG, **context: Any) -> None:
    """Render the operator's template fields with a minimal context (what a task run would do)."""
    operator.render_template_fields(
        {"params": dag.params, "dag": dag, "task": operator, "run_id": "manual__unit", **context}
    )


def rendered(dag: DAG, operator_class: type[Any] = LambdaInvokeOperator, **fields: Any) -> Any:
    """An operator (task ``t``) of ``dag`` with its template fields rendered, as a task run does first."""
    with dag:
        operator = operator_class(task_id="t", **fields)
    render(operator, dag, ds="2025-01-31")
    return operator


def request_of(operator: LambdaInvokeOperator) -> InvokeRequest:
    """The request the operator's fields validate to."""
    request = prepare(operator.fields(), log).request
    assert request is not None
    return request


class FakeTaskInstance:
    """Records ``xcom_push`` calls, which is all the operator does with ``ti``."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


def run_execute(
    operator: LambdaInvokeOperator,
) -> tuple[dict[str, Any] | LambdaInvokeError, FakeTaskInstance]:
    ti = FakeTaskInstance()
    try:
        return operator.execute({"ti": ti}), ti  # type: ignore[arg-type]
    except InvocationFailure as exc:
        return exc, ti


# -- declaration ---------------------------------------------------------------------------------


def test_template_fields_ext_and_renderers_are_the_contracts() -> None:
    # The names are the contract's; their order is the field specification's (the document's).
    assert sorted(LambdaInvokeOperator.template_fields) == sorted(TEMPLATE_FIELDS)
    assert tuple(LambdaInvokeOperator.template_ext) == (".json",)
    assert LambdaInvokeOperator.template_fields_renderers == {"payload": "json", "client_context": "json"}
    # Every templated field is a constructor parameter and an attribute of the task.
    operator = LambdaInvokeOperator(task_id="t", function_name="f")
    for name in TEMPLATE_FIELDS:
        assert hasattr(operator, name), name


def test_defaults_are_the_contracts() -> None:
    operator = LambdaInvokeOperator(task_id="t", function_name="f")
    assert operator.fields() == raw_fields(function_name="f")
    assert operator.fields() == {
        "function_name": "f",
        "action": "Trigger Lambda function",
        "aws_conn_id": "aws_default",
        "region_name": None,
        "role_based_access": False,
        "role_arn": None,
        # Not given: RequestResponse, and Event with durable_execution_name (issue 14); validation decides.
        "invocation_type": None,
        "log_type": "None",
        "payload": None,
        "client_context": None,
        "qualifier": None,
        "use_proxy": False,
        "proxy_type": "HTTP",
        "proxy": None,
        "proxy_ca_bundle_file": None,
        "proxy_conn_id": None,
        "wait_for_completion_timeout": 60,
        "endpoint_url": None,
        "fail_on_function_error": True,
        "tenant_id": None,
        "durable_execution_name": None,
        "fetch_full_log": False,
        "full_log_required": False,
        "full_log_timeout": 300,
        "logs_endpoint_url": None,
    }
    assert prepare(operator.fields(), logging.getLogger("t")).request.invocation_type == "RequestResponse"  # type: ignore[union-attr]
    assert operator.deferrable is False  # [operators] default_deferrable is False in the tests


def test_fields_maps_every_parameter() -> None:
    values: dict[str, Any] = {
        "function_name": "arn:aws:lambda:eu-west-1:123456789012:function:f",
        "action": "Trigger Lambda function",
        "aws_conn_id": "aws_prod",
        "region_name": "eu-west-1",
        "role_based_access": "true",
        "role_arn": "arn:aws:iam::123456789012:role/invoker",
        "invocation_type": "Request Response",
        "log_type": "Tail",
        "payload": {"k": [1, 2]},
        "client_context": '{"custom": {"a": 1}}',
        "qualifier": "prod",
        "use_proxy": True,
        "proxy_type": "HTTPS with Credentials",
        "proxy": "https://proxy.example.com:3129",
        "proxy_ca_bundle_file": "/etc/ssl/proxy-ca.pem",
        "proxy_conn_id": "proxy_creds",
        "wait_for_completion_timeout": "120",
        "endpoint_url": "https://lambda.example.com",
        "fail_on_function_error": "false",
        "tenant_id": "acme",
        "durable_execution_name": "order-42",
        "fetch_full_log": "true",
        "full_log_required": False,
        "full_log_timeout": "600",
        "logs_endpoint_url": "https://logs.example.com",
    }
    assert set(values) == set(FIELD_NAMES)
    operator = LambdaInvokeOperator(task_id="t", deferrable=True, **values)
    assert operator.fields() == values
    assert operator.deferrable is True


@pytest.mark.proves("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
def test_deferrable_default_comes_from_the_operators_section() -> None:
    """``[operators] default_deferrable`` decides the default; an explicit argument wins."""
    code = (
        "from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator as O\n"
        "print(O(task_id='a', function_name='f').deferrable,"
        " O(task_id='b', function_name='f', deferrable=False).deferrable,"
        " O(task_id='c', function_name='f', deferrable=True).deferrable)\n"
    )
    # The default is read when the module is imported (as DAG parsing does): a fresh interpreter.
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=300
    )
    assert proc.stdout.split()[-3:] == ["True", "False", "True"]


# -- dynamic task mapping ------------------------------------------------------------------------


def test_partial_expand_over_payloads_builds_mapped_tasks() -> None:
    payloads: list[Any] = [{"item": 1}, {"item": 2}, '{"item": 3}']
    with make_dag("mapping"):
        mapped = LambdaInvokeOperator.partial(
            task_id="each", function_name="f", region_name="us-east-1", log_type="Tail"
        ).expand(payload=payloads)
        by_kwargs = LambdaInvokeOperator.partial(task_id="by_kwargs", function_name="f").expand_kwargs(
            [{"payload": {"n": 1}, "qualifier": "1"}, {"payload": {"n": 2}, "qualifier": "2"}]
        )
        by_function = LambdaInvokeOperator.partial(task_id="by_function").expand(function_name=["a", "b"])
    assert isinstance(mapped, MappedOperator)
    assert mapped.expand_input.value == {"payload": payloads}
    assert mapped.partial_kwargs["function_name"] == "f"
    assert mapped.partial_kwargs["log_type"] == "Tail"
    assert sorted(mapped.template_fields) == sorted(TEMPLATE_FIELDS)
    assert isinstance(by_kwargs, MappedOperator)
    assert isinstance(by_function, MappedOperator)
    assert by_function.expand_input.value == {"function_name": ["a", "b"]}


def test_partial_rejects_unknown_parameters() -> None:
    with make_dag("mapping_bad"), pytest.raises(TypeError, match="no_such_field"):
        LambdaInvokeOperator.partial(task_id="each", function_name="f", no_such_field=1).expand(payload=[{}])


# -- templating --------------------------------------------------------------------------------


def test_json_template_files_render_and_validate() -> None:
    """Payload and client context from the example DAGs' ``.json`` templates."""
    dag = make_dag("from_files", template_searchpath=[str(EXAMPLE_DAGS)], params={"source": "unit-test"})
    operator = rendered(
        dag,
        function_name="f",
        invocation_type="Event",
        payload="payloads/event_payload.json",
        client_context="payloads/client_context.json",
    )
    expected_payload = {"source": "unit-test", "run_id": "manual__unit", "logical_date": "2025-01-31"}
    expected_context = {"custom": {"dag_id": "from_files", "task_id": "t"}, "env": {"caller": "airflow"}}
    assert json.loads(operator.payload) == expected_payload
    assert json.loads(operator.client_context) == expected_context

    request = request_of(operator)
    assert json.loads(request.payload or "") == expected_payload
    assert json.loads(request.client_context or "") == expected_context
    assert json.loads(base64.b64decode(request.client_context_b64 or "")) == expected_context


def test_nested_templates_in_dict_payloads_render() -> None:
    operator = rendered(
        make_dag("nested", params={"who": "world"}),
        function_name="{{ params.who }}-fn",
        payload={"greeting": "hello {{ params.who }}", "items": ["{{ run_id }}"]},
        client_context={"custom": {"who": "{{ params.who }}"}},
        qualifier="{{ 1 + 1 }}",
    )
    assert operator.function_name == "world-fn"
    assert operator.payload == {"greeting": "hello world", "items": ["manual__unit"]}
    assert operator.qualifier == "2"
    request = request_of(operator)
    assert request.function_name == "world-fn"
    assert request.qualifier == "2"
    assert json.loads(request.payload or "") == {"greeting": "hello world", "items": ["manual__unit"]}


def test_native_rendering_gives_objects_that_validate() -> None:
    dag = make_dag(
        "native", render_template_as_native_obj=True, params={"payload": {"n": [1, 2]}, "kind": "Event"}
    )
    operator = rendered(
        dag, function_name="f", payload="{{ params.payload }}", invocation_type="{{ params.kind }}"
    )
    assert operator.payload == {"n": [1, 2]}
    request = request_of(operator)
    assert request.invocation_type == "Event"
    assert json.loads(request.payload or "") == {"n": [1, 2]}


def test_tenant_id_is_rendered_and_sent() -> None:
    dag = make_dag("tenant", params={"tenant": "acme/eu-west-1"})
    operator = rendered(dag, function_name="f", tenant_id="{{ params.tenant }}")
    assert operator.tenant_id == "acme/eu-west-1"
    assert request_of(operator).invoke_kwargs()["TenantId"] == "acme/eu-west-1"


class _EverythingTemplated(LambdaInvokeOperator):
    """What a user does to template the non-string fields too: they then arrive as strings."""

    template_fields: Sequence[str] = (
        *LambdaInvokeOperator.template_fields,
        "wait_for_completion_timeout",
        "fail_on_function_error",
        "role_based_access",
        "use_proxy",
    )


def test_strings_rendered_from_templates_pass_validation() -> None:
    """``"120"`` is 120 and ``"true"``/``"false"`` are booleans, as the contract says."""
    dag = make_dag(
        "strings",
        params={
            "timeout": 120,
            "fail": "false",
            "role": "true",
            "proxy": "True",
            "kind": "Request_Response",
            "log": "Tail",
            "region": "eu-west-1",
        },
    )
    operator = rendered(
        dag,
        _EverythingTemplated,
        function_name="f",
        wait_for_completion_timeout="{{ params.timeout }}",
        fail_on_function_error="{{ params.fail }}",
        role_based_access="{{ params.role }}",
        role_arn="arn:aws:iam::123456789012:role/{{ params.region }}-invoker",
        use_proxy="{{ params.proxy }}",
        proxy_type="HTTPS",
        proxy="https://proxy.example.com:{{ 3000 + 129 }}",
        invocation_type="{{ params.kind }}",
        log_type="{{ params.log }}",
        region_name="{{ params.region }}",
    )
    assert operator.wait_for_completion_timeout == "120"
    assert operator.fail_on_function_error == "false"
    request = request_of(operator)
    assert request.wait_for_completion_timeout == 120
    assert request.fail_on_function_error is False
    assert request.role_based_access is True
    assert request.assumed_role_arn == "arn:aws:iam::123456789012:role/eu-west-1-invoker"
    assert request.use_proxy is True
    assert request.proxies == {
        "http": "https://proxy.example.com:3129",
        "https": "https://proxy.example.com:3129",
    }
    assert request.invocation_type == "RequestResponse"
    assert request.log_type == "Tail"
    assert request.region_name == "eu-west-1"


def test_bad_strings_from_templates_are_validation_errors() -> None:
    operator = rendered(
        make_dag("bad_strings", params={"timeout": "2 minutes", "fail": "maybe"}),
        _EverythingTemplated,
        function_name="f",
        wait_for_completion_timeout="{{ params.timeout }}",
        fail_on_function_error="{{ params.fail }}",
    )
    with raises(LambdaDataValidationError) as caught:
        prepare(operator.fields(), log)
    assert "wait_for_completion_timeout" in str(caught.value)
    assert "fail_on_function_error" in str(caught.value)


def test_passwords_inline_in_urls_are_registered_with_the_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation rejects them later, but the rendered fields are stored first: mask them now."""
    import airflow.sdk.log

    masked: list[str] = []
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda secret, name=None: masked.append(secret))
    dag = make_dag("inline", params={"pw": "p%40ss"})
    with dag:
        operator = LambdaInvokeOperator(
            task_id="t",
            function_name="f",
            proxy="http://u:{{ params.pw }}@proxy:3128, https://u:other@proxy:3129",
            endpoint_url="https://me:endpointpw@lambda.example.com",
        )
        clean = LambdaInvokeOperator(
            task_id="clean", function_name="f", proxy="https://proxy:3129", endpoint_url="https://x"
        )
        # Forms that do not parse as URLs with a password: no scheme, a comma, a slash.
        malformed = LambdaInvokeOperator(
            task_id="malformed",
            function_name="f",
            proxy="me:S3cretPassw0rd@proxy.corp:3128",
            endpoint_url="http://u:pa,ss9@lambda:4566",
            logs_endpoint_url="http://u:lo/gs9@logs:4566",
        )
    render(operator, dag)
    assert sorted(masked) == sorted(["p%40ss", "p@ss", "other", "endpointpw"])
    masked.clear()
    render(clean, dag)
    assert masked == []
    render(malformed, dag)
    assert sorted(masked) == sorted(["S3cretPassw0rd", "pa,ss9", "lo/gs9"])


@pytest.mark.parametrize(
    "proxy", ["me:S3cretPassw0rd@proxy.corp:3128", "http://u:pa,S3cretPassw0rd@proxy.corp:3128"]
)
def test_inline_proxy_password_in_no_document_or_exception(fake_lambda: FakeLambdaServer, proxy: str) -> None:
    operator = LambdaInvokeOperator(
        task_id="t", function_name="f", endpoint_url=fake_lambda.url, use_proxy=True, proxy=proxy
    )
    outcome, ti = run_execute(operator)
    assert is_failure(outcome, LambdaDataValidationError)
    assert "credentials must not be inline" in outcome.status_description
    for text in (str(outcome), repr(outcome), json.dumps(document_pushes(ti))):
        assert "S3cretPassw0rd" not in text
    assert fake_lambda.request_count == 0


# -- execute, in-process --------------------------------------------------------------------------


@pytest.fixture
def aws_env(clean_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials from the environment (``aws_conn_id=None``): no connection lookup."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALAMBDAUEUNIT0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def operator_for(server: FakeLambdaServer, **kwargs: Any) -> LambdaInvokeOperator:
    return LambdaInvokeOperator(
        task_id="t", function_name="f", aws_conn_id=None, endpoint_url=server.url, **kwargs
    )


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    ("response", "answer"),
    [
        (fs.ok_response([1, "two", {"three": 3}]), [1, "two", {"three": 3}]),
        (fs.ok_response(b'"a JSON string"'), "a JSON string"),
        (fs.ok_response(b"null"), None),  # JSON null: nothing to hand on
        (fs.ok_response(b"not JSON"), None),  # the document's text only
    ],
)
def test_the_answer_is_pushed_decoded_when_it_is_json(
    fake_lambda: FakeLambdaServer, response: Any, answer: Any
) -> None:
    fake_lambda.script(response)
    outcome, ti = run_execute(operator_for(fake_lambda))
    assert isinstance(outcome, dict)
    pushed = dict(document_pushes(ti))
    assert pushed.get("answer") == answer
    assert ("answer" in pushed) is (answer is not None)
    if answer is not None:
        assert json.loads(outcome["result"]["payload"]) == answer  # the document keeps the text


@pytest.mark.usefixtures("aws_env")
def test_no_answer_for_a_function_error_or_without_xcom_push(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(
        fs.ok_response({"errorType": "ValueError", "errorMessage": "boom"}, function_error="Unhandled")
    )
    outcome, ti = run_execute(operator_for(fake_lambda, fail_on_function_error=False))
    assert isinstance(outcome, dict) and outcome["result"]["function_error"] == "Unhandled"
    assert "answer" not in dict(document_pushes(ti))
    fake_lambda.script(fs.ok_response({"answer": 42}))
    outcome, ti = run_execute(operator_for(fake_lambda, do_xcom_push=False))
    assert isinstance(outcome, dict)
    assert "answer" not in dict(ti.pushed)


def test_the_answer_is_an_xcom_argument_for_a_downstream_task() -> None:
    from airflow.sdk import XComArg

    operator = LambdaInvokeOperator(task_id="t", function_name="f")
    answer = operator.answer
    assert isinstance(answer, XComArg)
    assert answer.operator is operator
    assert answer.key == "answer"


def test_invalid_fields_fail_before_any_network_call(fake_lambda: FakeLambdaServer) -> None:
    operator = LambdaInvokeOperator(
        task_id="t",
        function_name="f",
        endpoint_url=fake_lambda.url,
        invocation_type="Sometimes",
        payload="{not json",
        wait_for_completion_timeout="soon",
        aws_conn_id="no_such_connection",
    )
    outcome, ti = run_execute(operator)
    assert is_failure(outcome, LambdaDataValidationError)
    assert isinstance(public(outcome), AirflowFailException)  # never retried
    assert outcome.exit_code == 20
    for field in ("invocation_type", "payload", "wait_for_completion_timeout"):
        assert field in outcome.status_description
    assert document_pushes(ti) == [("return_value", outcome.output)]
    assert outcome.output is not None
    assert outcome.output["exit_code"] == 20
    assert outcome.output["changed"] is False
    assert fake_lambda.request_count == 0


@pytest.mark.usefixtures("aws_env")
def test_execute_returns_the_document(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(fs.ok_response({"answer": 42}, executed_version="3"))
    outcome, ti = run_execute(operator_for(fake_lambda, payload={"q": 1}, qualifier="3"))
    assert isinstance(outcome, dict), outcome
    # A success's document goes to XCom as the return value; pushed are the extra links' values.
    assert ti.pushed == [
        (
            "lambda_ue_function",
            {
                "region_name": "us-east-1",
                "aws_domain": "aws.amazon.com",
                "function_name": "f",
                "qualifier": "3",
            },
        ),
        (
            "lambda_ue_invocation_log",
            {
                "region_name": "us-east-1",
                "aws_domain": "aws.amazon.com",
                "log_group": "/aws/lambda/f",
                "request_id": "00000000-0000-4000-8000-000000000000",
            },
        ),
        # The function's answer as data, under its own key (the document keeps the text).
        ("answer", {"answer": 42}),
    ]
    assert outcome["exit_code"] == 0
    assert outcome["status_description"] == STATUS_SUCCESS
    assert outcome["changed"] is True
    assert outcome["invocation"]["fields"]["credentials_user"] is None
    assert outcome["invocation"]["fields"]["qualifier"] == "3"
    assert outcome["result"] == {
        "status_code": 200,
        "log_result": None,
        "payload": '{"answer": 42}',
        "executed_version": "3",
        "function_error": None,
        "request_id": "00000000-0000-4000-8000-000000000000",  # the fake's x-amzn-RequestId
    }
    (request,) = fake_lambda.invocations
    assert request.json() == {"q": 1}
    assert request.path.endswith("/functions/f/invocations?Qualifier=3")


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    ("script", "status"),
    [(fs.log_tail_split_utf8(), STATUS_SUCCESS), (fs.log_tail_not_base64(), STATUS_DECODE_WARNING)],
    ids=["split-utf8", "not-base64"],
)
def test_log_tail_outcomes(
    fake_lambda: FakeLambdaServer, script: Any, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_lambda.script(*script)
    outcome, _ = run_execute(operator_for(fake_lambda, log_type="Tail"))
    assert isinstance(outcome, dict), outcome
    assert outcome["exit_code"] == 0
    assert outcome["status_description"] == status
    # The task logger writes (structlog) to stdout.
    task_log = capsys.readouterr().out
    if status == STATUS_SUCCESS:
        assert "| START RequestId: 1 Version: $LATEST" in task_log
        assert "| hello wörld" in task_log
        assert "| END RequestId: 1" in task_log
        assert "could not be decoded" not in task_log
        assert outcome["result"]["log_result"] == fs.LOG_TAIL_SPLIT_UTF8_HEADER
    else:
        assert "could not be decoded" in task_log
        assert "Log tail of" not in task_log
        assert outcome["result"]["log_result"] == fs.NOT_BASE64_LOG_TAIL
    assert fake_lambda.request_count == 1
    assert fake_lambda.invocations[0].headers.get("x-amz-log-type") == "Tail"


ERROR_OBJECT = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}


@pytest.mark.usefixtures("aws_env")
def test_function_error_pushes_the_document_then_fails(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(fs.ok_response(ERROR_OBJECT, function_error="Unhandled"))
    outcome, ti = run_execute(operator_for(fake_lambda))
    assert is_failure(outcome, LambdaFunctionError)
    assert not isinstance(public(outcome), AirflowFailException)  # exit 1 may be retried
    assert outcome.exit_code == 1
    assert outcome.output is not None
    assert document_pushes(ti) == [("return_value", outcome.output)]
    assert outcome.output["status_description"] == "FAIL: Function error (Unhandled): ValueError: boom"
    assert outcome.output["changed"] is True
    assert outcome.output["result"]["function_error"] == "Unhandled"
    assert json.loads(outcome.output["result"]["payload"]) == ERROR_OBJECT


@pytest.mark.usefixtures("aws_env")
def test_function_error_with_fail_on_function_error_off(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(fs.ok_response(ERROR_OBJECT, function_error="Handled"))
    outcome, ti = run_execute(operator_for(fake_lambda, fail_on_function_error="false"))
    assert isinstance(outcome, dict), outcome
    assert document_pushes(ti) == []
    assert outcome["exit_code"] == 0
    assert outcome["status_description"] == STATUS_SUCCESS
    assert outcome["result"]["function_error"] == "Handled"


@pytest.mark.usefixtures("aws_env")
def test_service_error_pushes_the_document(fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(
        fs.error_response(404, "ResourceNotFoundException", "Function not found: f", message_key="Message")
    )
    outcome, ti = run_execute(operator_for(fake_lambda))
    assert is_failure(outcome, LambdaInvokeError)
    assert outcome.exit_code == 1
    assert document_pushes(ti) == [("return_value", outcome.output)]
    assert outcome.output is not None
    assert outcome.output["changed"] is False
    assert outcome.output["status_description"].startswith("FAIL: ")
    assert fake_lambda.request_count == 1
