"""Issue 17, items 4 and 5: ``tenant_id`` (Invoke's ``TenantId``) and the invocation's request id.

The request id (``x-amzn-RequestId`` of the Invoke answer) is checked against what the local
endpoint's handler saw as ``context.aws_request_id``; the tenant against ``context.tenant_id``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lambda_ue import cli
from airflow_provider_lambda_ue import invocation as path
from airflow_provider_lambda_ue.exceptions import LambdaDataValidationError
from airflow_provider_lambda_ue.fields import FIELDS, raw_fields
from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import InvokeResult
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.triggers import events
from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger
from airflow_provider_lambda_ue.validation import validate
from tests.support import fake_servers as fs
from tests.support.failures import raises
from tests.support.fake_servers import FakeLambdaServer
from tests.support.local_lambda import new_function

pytestmark = [pytest.mark.usefixtures("clean_aws_env"), pytest.mark.timeout(300)]

log = logging.getLogger("tests.tenant")

#: Reports what the runtime handed the handler; ``fail`` raises with the request id as message,
#: ``record`` writes it to a file (for Event invocations, which answer before the handler ends).
CONTEXT_HANDLER = """
import json


def handler(event, context):
    seen = {"tenant_id": context.tenant_id, "request_id": context.aws_request_id}
    if event.get("record"):
        with open(event["record"], "w", encoding="utf-8") as handle:
            json.dump(seen, handle)
    if event.get("fail"):
        raise ValueError(context.aws_request_id)
    return seen
"""

# Every character the API's pattern allows, and the limits (botocore's model: 1-256).
VALID_TENANTS = ["blue", "a", "x" * 256, "Tenant 7/eu-west-1:acme.com=+_-@", " padded "]
INVALID_TENANTS = [
    ("x" * 257, "longer than 256"),
    # AWS's pattern for TenantId, read from botocore's model.
    ("blue*", "is not a valid TenantId"),
    ("grün", "is not a valid TenantId"),
    ("a\nb", "is not a valid TenantId"),
    ("tab\there", "is not a valid TenantId"),
]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy keys from the environment's chain (``aws_conn_id=None`` in the fields)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture(scope="module")
def context_function(local_lambda: LocalLambda) -> Iterator[str]:
    name = new_function(local_lambda, "tenant", CONTEXT_HANDLER)
    yield name


def fields_for(server: Any, function_name: str, **extra: Any) -> dict[str, Any]:
    extra.setdefault("region_name", "us-east-1")
    return raw_fields(function_name=function_name, aws_conn_id=None, endpoint_url=server.url, **extra)


def run_sync(raw: dict[str, Any]) -> dict[str, Any]:
    """The operator's synchronous path (prepare, build_hook, run); a failure's document as well."""
    try:
        current = path.prepare(raw, log)
        return path.run(current, path.build_hook(current), log)
    except InvocationFailure as err:
        assert err.output is not None
        return err.output


def run_deferred(raw: dict[str, Any]) -> dict[str, Any]:
    """The deferred path: the trigger serialised as Airflow does, then the worker's completion."""
    current = path.prepare(raw, log)
    _, kwargs = LambdaInvokeTrigger(**current.request.values()).serialize()
    trigger = LambdaInvokeTrigger(**json.loads(json.dumps(kwargs)))

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    json.dumps(event)  # plain data, as the triggerer stores it
    try:
        return path.complete(path.prepare(raw, log), events.read(event), log)
    except InvocationFailure as err:
        assert err.output is not None
        return err.output


def run_cli(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = cli.run(["invoke", *argv], out)
    return code, json.loads(out.getvalue())


# ------------------------------------------------------------------------------------------------
# tenant_id: validation, the request, the document


@pytest.mark.parametrize("tenant", VALID_TENANTS)
def test_valid_tenant_ids_are_sent_as_given(tenant: str) -> None:
    request = validate(raw_fields(function_name="f", tenant_id=tenant))
    assert request.tenant_id == tenant  # not trimmed: " padded " is another tenant than "padded"
    assert request.invoke_kwargs()["TenantId"] == tenant


@pytest.mark.parametrize(("tenant", "reason"), INVALID_TENANTS)
def test_invalid_tenant_ids_are_named(tenant: str, reason: str) -> None:
    with raises(LambdaDataValidationError) as caught:
        validate(raw_fields(function_name="f", tenant_id=tenant))
    assert caught.value.exit_code == 20
    (problem,) = caught.value.problems
    assert problem.startswith("tenant_id")
    assert reason in problem


def test_tenant_id_must_be_text_and_blank_is_not_given() -> None:
    with raises(LambdaDataValidationError) as caught:
        validate(raw_fields(function_name="f", tenant_id=["blue"]))
    assert any(p.startswith("tenant_id") for p in caught.value.problems)
    for blank in (None, "", "   "):
        request = validate(raw_fields(function_name="f", tenant_id=blank))
        assert request.tenant_id is None
        assert "TenantId" not in request.invoke_kwargs()


def test_tenant_id_is_named_with_the_other_bad_fields() -> None:
    with raises(LambdaDataValidationError) as caught:
        validate(raw_fields(function_name="not a name!", tenant_id="*"))
    named = {problem.split(":")[0].split(" ")[0] for problem in caught.value.problems}
    assert {"function_name", "tenant_id"} <= named


def test_tenant_id_survives_the_trigger_serialisation() -> None:
    request = validate(raw_fields(function_name="f", tenant_id="blue"))
    again = InvokeRequest(**json.loads(json.dumps(request.values())))
    assert again.invoke_kwargs()["TenantId"] == "blue"


def test_document_shows_tenant_id_after_the_seed_entries() -> None:
    keys = [key for field in FIELDS for key in field.document]
    assert keys[-1] == "tenant_id"
    assert keys[keys.index("endpoint_url") + 1] == "tenant_id"

    raw = raw_fields(function_name="f", tenant_id="blue")
    current = path.prepare(raw, log)
    assert current.document(0, "SUCCESS", None)["invocation"]["fields"]["tenant_id"] == "blue"
    # Invalid input: the document shows the value as given.
    with raises(LambdaDataValidationError) as caught:
        path.prepare(raw_fields(function_name="f", tenant_id="bad*"), log)
    assert caught.value.output is not None
    assert caught.value.output["invocation"]["fields"]["tenant_id"] == "bad*"


def test_operator_templates_and_passes_tenant_id() -> None:
    assert "tenant_id" in LambdaInvokeOperator.template_fields
    operator = LambdaInvokeOperator(task_id="t", function_name="f", tenant_id="{{ params.tenant }}")
    assert operator.fields()["tenant_id"] == "{{ params.tenant }}"
    operator.tenant_id = "blue"  # what rendering leaves
    assert operator.fields()["tenant_id"] == "blue"


def test_cli_tenant_id_option() -> None:
    args = cli.build_parser().parse_args(["invoke", "--function-name", "f", "--tenant-id", "blue"])
    assert cli.fields_from_args(args)["tenant_id"] == "blue"
    assert (
        cli.fields_from_args(cli.build_parser().parse_args(["invoke", "--function-name", "f"]))["tenant_id"]
        is None
    )


def test_cli_bad_tenant_id_exit_20_before_any_request(
    aws_env: None, fake_lambda: FakeLambdaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run_cli(
        "--function-name", "f", "--region", "us-east-1", "--endpoint-url", fake_lambda.url,
        "--tenant-id", "no*stars",
    )  # fmt: skip
    assert code == 20
    assert document["exit_code"] == 20
    assert "tenant_id" in document["status_description"]
    assert document["invocation"]["fields"]["tenant_id"] == "no*stars"
    assert fake_lambda.request_count == 0


# ------------------------------------------------------------------------------------------------
# The local endpoint: the tenant reaches the handler, the request id is the handler's


def test_local_endpoint_hands_the_tenant_to_the_handler(lambda_client: Any, context_function: str) -> None:
    response = lambda_client.invoke(FunctionName=context_function, TenantId="blue", Payload=b"{}")
    seen = json.loads(response["Payload"].read())
    assert seen["tenant_id"] == "blue"
    assert response["ResponseMetadata"]["RequestId"] == seen["request_id"]

    response = lambda_client.invoke(FunctionName=context_function, Payload=b"{}")
    seen = json.loads(response["Payload"].read())
    assert seen["tenant_id"] is None
    assert response["ResponseMetadata"]["RequestId"] == seen["request_id"]


def test_local_endpoint_event_invocation_answers_with_the_handler_request_id(
    lambda_client: Any, context_function: str, tmp_path: Path
) -> None:
    record = tmp_path / "seen.json"
    response = lambda_client.invoke(
        FunctionName=context_function,
        InvocationType="Event",
        TenantId="green",
        Payload=json.dumps({"record": str(record)}).encode(),
    )
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 60
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    seen = json.loads(record.read_text(encoding="utf-8"))
    assert seen == {"tenant_id": "green", "request_id": response["ResponseMetadata"]["RequestId"]}


@pytest.fixture(params=[run_sync, run_deferred], ids=["sync", "deferred"])
def runner(request: pytest.FixtureRequest, aws_env: None, caplog: pytest.LogCaptureFixture) -> Any:
    """Each path in turn, synchronous and deferred, with the environment's keys and INFO logs captured."""
    caplog.set_level(logging.INFO)
    return request.param


def test_tenant_sent_and_request_id_in_the_document(
    local_lambda: LocalLambda, context_function: str, runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    document = runner(fields_for(local_lambda, context_function, tenant_id="blue"))
    assert document["exit_code"] == 0, document
    seen = json.loads(document["result"]["payload"])
    assert seen["tenant_id"] == "blue"
    assert document["invocation"]["fields"]["tenant_id"] == "blue"
    assert document["result"]["request_id"] == seen["request_id"]
    assert f"request id {seen['request_id']}" in caplog.text


def test_function_error_document_has_the_request_id(
    local_lambda: LocalLambda, context_function: str, runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    document = runner(fields_for(local_lambda, context_function, payload={"fail": True}))
    assert document["exit_code"] == 1
    assert document["result"]["function_error"] == "Unhandled"
    handler_request_id = json.loads(document["result"]["payload"])["errorMessage"]
    assert document["result"]["request_id"] == handler_request_id
    assert handler_request_id in caplog.text


def test_service_error_document_has_the_request_id(
    fake_lambda: FakeLambdaServer, runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_lambda.script(fs.error_response(404, "ResourceNotFoundException", "Function not found: f"))
    document = runner(fields_for(fake_lambda, "f"))
    assert document["exit_code"] == 1
    assert document["result"]["status_code"] is None
    # The fake answers errors with this x-amzn-RequestId (fake_servers.error_response).
    assert document["result"]["request_id"] == "00000000-0000-4000-8000-00000000dead"
    assert "Lambda request id: 00000000-0000-4000-8000-00000000dead" in caplog.text


def test_no_answer_no_request_id(aws_env: None, refused_url: str) -> None:
    document = run_sync(
        raw_fields(function_name="f", aws_conn_id=None, region_name="us-east-1", endpoint_url=refused_url)
    )
    assert document["exit_code"] == 10
    assert document["result"]["request_id"] is None


@pytest.mark.proves("--tenant-id")
def test_cli_shows_tenant_and_request_id(
    aws_env: None, local_lambda: LocalLambda, context_function: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run_cli(
        "--function-name", context_function, "--region", "us-east-1",
        "--endpoint-url", local_lambda.url, "--tenant-id", "Tenant 7/eu",
    )  # fmt: skip
    assert code == 0, document
    seen = json.loads(document["result"]["payload"])
    assert seen["tenant_id"] == "Tenant 7/eu"
    assert document["invocation"]["fields"]["tenant_id"] == "Tenant 7/eu"
    assert document["result"]["request_id"] == seen["request_id"]
    assert f"request id {seen['request_id']}" in capsys.readouterr().err


def test_invoke_result_reads_the_request_id_from_the_response() -> None:
    metadata = {"RequestId": "abc", "HTTPStatusCode": 200, "HTTPHeaders": {}}
    assert (
        InvokeResult.from_response({"StatusCode": 200, "ResponseMetadata": metadata}, b"").request_id == "abc"
    )
    headers_only = {"HTTPStatusCode": 200, "HTTPHeaders": {"x-amzn-requestid": "def"}}
    assert InvokeResult.from_response({"ResponseMetadata": headers_only}, None).request_id == "def"
    assert InvokeResult.from_response({"StatusCode": 202}, None).request_id is None
    assert InvokeResult(200, request_id="abc").to_dict()["request_id"] == "abc"
