# pytest passes fixtures as positional parameters; several per test is the point here.
"""Every example DAG runs green with ``airflow dags test`` against real local servers.

Each test is one ``airflow dags test`` subprocess (about 20 s) in the session's isolated
AIRFLOW_HOME, against the local Lambda endpoint (moto's server running real handler code) and,
where the example needs them, a real TLS proxy.py verified with the trustme CA and moto's STS.
The output documents are read back from Airflow's database (XCom) and checked field by field,
and every run is checked for leaks of the distinctive secrets its connections carry: in the
``dags test`` output (which holds the task logs), log files, XComs and rendered template fields.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lambda_ue import DISTRIBUTION_NAME, __version__
from airflow_provider_lambda_ue.output import STATUS_SUCCESS
from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv, DagTestResult
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda, LocalLambdaClient
from tests.support.document_shape import DOCUMENT_KEYS, RESULT_KEYS, expected_fields
from tests.support.links import expected_links
from tests.support.local_lambda import (
    DEMO_FUNCTION,
    ExampleFunctions,
    create_example_functions,
    create_iam_role,
    new_function,
    wait_for_count,
)
from tests.support.proxies import ProxyFactory, ProxyInfo
from tests.support.secrets import secret_forms

REPO = Path(__file__).resolve().parents[2]
INVOKE_PATH = "/2015-03-31/functions/"

# A dags test is slow on a shared machine: generous, and never a timing assertion.
pytestmark = pytest.mark.timeout(900)

# Writes one JSON line per execution (event and client context), so an Event invocation can be
# shown to have really run the function with what the DAG sent.
RECORDING_HANDLER = """
import json, os


def handler(event, context):
    client_context = getattr(context, "client_context", None)
    record = {
        "request_id": context.aws_request_id,
        "event": event,
        "custom": getattr(client_context, "custom", None),
        "env": getattr(client_context, "env", None),
    }
    with open(os.environ["RECORD_FILE"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\\n")
    return {"recorded": True}
"""

MASK = "****"


# -- helpers ------------------------------------------------------------------------------------


def new_secret(kind: str) -> str:
    """A secret no run could produce by accident, with the characters real secrets carry."""
    return f"{kind}/S3cr3t+{uuid.uuid4().hex}"


def aws_connection(secret: str, access_key: str = "AKIALAMBDAUETEST0001", **extra: Any) -> str:
    """An ``aws`` connection in Airflow's JSON form (login = access key id, password = secret key)."""
    connection: dict[str, Any] = {"conn_type": "aws", "login": access_key, "password": secret}
    if extra:
        connection["extra"] = extra
    return json.dumps(connection)


def assert_no_leak(env: AirflowEnv, result: DagTestResult, secrets: Iterable[str]) -> None:
    """No secret in the run's output (task logs included), log files, XComs or rendered fields."""
    places = {
        "dags test output": result.output,
        "XCom documents": json.dumps(list(result.xcoms.values()), default=str),
        "other XComs": json.dumps(list(result.keyed_xcoms.values()), default=str),
        "rendered template fields": json.dumps(list(result.rendered.values()), default=str),
    }
    places.update({f"log file {path}": text for path, text in env.log_files().items()})
    for secret in secrets:
        for where, text in places.items():
            assert secret not in text, f"a secret leaked into the {where}"
    # Not vacuous: the task log is in the output, and the XComs and rendered fields were read.
    assert "Invoking " in result.output
    assert result.xcoms
    assert result.rendered


def assert_green(result: DagTestResult, *task_ids: str) -> None:
    """The run and the given (unmapped) tasks succeeded."""
    assert result.returncode == 0, result.output[-6000:]
    assert result.run_state == "success", result.output[-6000:]
    for task_id in task_ids:
        assert result.state(task_id) == "success", (task_id, result.task_states)


def logical_date_of(run_id: str | None) -> datetime.date:
    """The logical date of a ``manual__<timestamp>`` run (``ds``)."""
    assert run_id is not None
    return datetime.datetime.fromisoformat(run_id.split("__", 1)[1]).date()


def decoded_lines(log_result: str) -> list[str]:
    return base64.b64decode(log_result, validate=True).decode("utf-8", errors="replace").splitlines()


def assert_envelope(document: dict[str, Any], *, exit_code: int = 0, status: str = STATUS_SUCCESS) -> None:
    assert document["exit_code"] == exit_code
    assert document["status_description"] == status
    assert document["invocation"]["extension"] == DISTRIBUTION_NAME
    assert document["invocation"]["version"] == __version__
    assert set(document) == set(DOCUMENT_KEYS)
    assert set(document["result"]) == set(RESULT_KEYS)


def assert_fields(document: dict[str, Any], **expected: Any) -> None:
    """``invocation.fields`` equals the defaults (RequestResponse) overlaid with ``expected``, key by key."""
    fields = document["invocation"]["fields"]
    wanted = expected_fields(**{"invocation_type": "RequestResponse", **expected})
    json_fields = {"payload_script", "client_context_script"}
    assert set(fields) == set(wanted), set(fields) ^ set(wanted)
    for key, value in wanted.items():
        actual = fields[key]
        if key in json_fields and isinstance(value, (dict, list)):
            actual = json.loads(actual)
        assert actual == value, f"invocation.fields.{key}: {actual!r} != {value!r}"


def assert_invoked(
    document: dict[str, Any], *, exit_code: int = 0, status: str = STATUS_SUCCESS, **fields: Any
) -> None:
    """The envelope (:func:`assert_envelope`), ``changed``, ``invocation.fields`` (:func:`assert_fields`)."""
    assert_envelope(document, exit_code=exit_code, status=status)
    assert document["changed"] is True
    assert_fields(document, **fields)


def answered(document: dict[str, Any]) -> dict[str, Any]:
    """The document's ``result``, after checking that ``$LATEST`` answered 200 without a function error."""
    outcome: dict[str, Any] = document["result"]
    assert outcome["status_code"] == 200
    assert outcome["executed_version"] == "$LATEST"
    assert outcome["function_error"] is None
    return outcome


def relayed(proxy: ProxyInfo, server_port: int) -> list[str]:
    """Targets the proxy relayed to the local endpoint (``host:port/path``)."""
    return [
        entry.target
        for entry in proxy.wait_for_connections(1)
        if entry.target.startswith((f"127.0.0.1:{server_port}", f"localhost:{server_port}"))
    ]


# -- functions on the shared endpoint -----------------------------------------------------------


@pytest.fixture(scope="module")
def functions(local_lambda: LocalLambda) -> ExampleFunctions:
    return create_example_functions(local_lambda)


def endpoint_env(server: LocalLambdaClient, function_name: str, **more: str) -> dict[str, str]:
    return {"LAMBDA_UE_ENDPOINT_URL": server.url, "LAMBDA_UE_FUNCTION": function_name, **more}


def run_example(
    airflow_env: AirflowEnv, dag_id: str, server: LocalLambdaClient, function_name: str, **more: str
) -> tuple[DagTestResult, str]:
    """``dags test`` of the example against ``function_name``; ``aws_default`` with a new secret, returned."""
    secret = new_secret("aws")
    env = endpoint_env(server, function_name, AIRFLOW_CONN_AWS_DEFAULT=aws_connection(secret), **more)
    return airflow_env.dags_test(dag_id, env), secret


# -- the seed's task examples -------------------------------------------------------------------


@pytest.mark.proves("LAMBDA_UE_ENDPOINT_URL", "LAMBDA_UE_FUNCTION")
def test_sync_tail(airflow_env: AirflowEnv, local_lambda: LocalLambda, functions: ExampleFunctions) -> None:
    """Seed example 1: RequestResponse (seed label) with the log tail decoded into the task log."""
    result, secret = run_example(airflow_env, "example_lambda_sync_tail", local_lambda, functions.demo)
    assert_green(result, "invoke_sync_with_log")
    document = result.xcom("invoke_sync_with_log")
    expected_payload = {"greeting": "hello", "run_id": result.run_id}

    assert_invoked(
        document,
        function_name=functions.demo,
        invocation_type="RequestResponse",
        log_type="Tail",
        payload_source="Script",
        payload_script=expected_payload,
        endpoint_url=local_lambda.url,
    )
    outcome = answered(document)
    assert json.loads(outcome["payload"]) == {
        "message": "hello from lambda-ue-demo",
        "received": expected_payload,
    }
    # The tail decodes, holds the function's output (non-ASCII too), and every line is in the task log.
    lines = decoded_lines(outcome["log_result"])
    assert lines[0].startswith("START RequestId: ")
    assert "Grüße aus Lambda ✓" in lines
    assert any(line.startswith("REPORT RequestId: ") for line in lines)
    for line in lines:
        assert f"| {line.rstrip()}" in result.output
    # The extra links, as the worker run's end stored them for the UI.
    assert result.links[("invoke_sync_with_log", -1)] == expected_links(functions.demo, outcome["request_id"])
    # Rendered template fields: the payload with the run id filled in.
    rendered = result.rendered[("invoke_sync_with_log", -1)]
    assert rendered["function_name"] == functions.demo
    assert result.run_id in json.dumps(rendered["payload"])
    assert_no_leak(airflow_env, result, secret_forms(secret))


@pytest.mark.proves("LAMBDA_UE_ROLE_ARN", "LAMBDA_UE_PROXY_URL", "LAMBDA_UE_PROXY_CA_BUNDLE")
def test_async_role_proxy(
    airflow_env: AirflowEnv,
    local_lambda_iam: LocalLambda,
    proxy_factory: ProxyFactory,
    ca_bundle: str,
    tmp_path: Path,
) -> None:
    """
    Seed example 2: Event through a TLS proxy, with a role assumed through moto's STS.

    IAM is enforced: the connection's user may only assume the role, and only the role may invoke,
    so the invocation succeeds only if STS AssumeRole really happened (through the proxy too).
    """
    server = local_lambda_iam
    record_file = tmp_path / "record.jsonl"
    function = new_function(
        server, "record", RECORDING_HANDLER, environment={"RECORD_FILE": str(record_file)}
    )
    role_arn = create_iam_role(server, "lambda-ue-invoker", assumers=None, actions=["lambda:InvokeFunction"])
    user = server.create_iam_user("lambda-ue-assumer", actions=("sts:AssumeRole",))
    server.enable_iam_enforcement()
    proxy = proxy_factory(tls=True)

    result = airflow_env.dags_test(
        "example_lambda_async_role_proxy",
        endpoint_env(
            server,
            function,
            LAMBDA_UE_ROLE_ARN=role_arn,
            LAMBDA_UE_PROXY_URL=proxy.url,
            LAMBDA_UE_PROXY_CA_BUNDLE=ca_bundle,
            AIRFLOW_CONN_AWS_DEFAULT=aws_connection(
                user["aws_secret_access_key"],
                access_key=user["aws_access_key_id"],
                service_config={"sts": {"endpoint_url": server.url}},
            ),
        ),
    )
    task_id = "invoke_async_with_role_and_proxy"
    assert_green(result, task_id)
    document = result.xcom(task_id)
    expected_payload = {
        "source": "example_lambda_async_role_proxy",
        "run_id": result.run_id,
        "logical_date": logical_date_of(result.run_id).isoformat(),
    }
    expected_context = {
        "custom": {"dag_id": "example_lambda_async_role_proxy", "task_id": task_id},
        "env": {"caller": "airflow"},
    }

    assert_invoked(
        document,
        function_name=function,
        invocation_type="Event",
        role_based_access=True,
        role_arn=role_arn,
        payload_source="Script",
        payload_script=expected_payload,
        client_context_source="Script",
        client_context_script=expected_context,
        use_proxy=True,
        proxy_type="HTTPS",
        proxy=proxy.url,
        proxy_ca_bundle_file=ca_bundle,
        endpoint_url=server.url,
    )
    request_id = document["result"]["request_id"]
    assert document["result"] == {
        "status_code": 202,
        "log_result": None,
        "payload": None,
        "executed_version": None,
        "function_error": None,
        "request_id": request_id,
    }
    assert isinstance(request_id, str) and request_id  # an Event invocation has one too

    # The function really ran (asynchronously), once, with the rendered payload and client context.
    assert wait_for_count(record_file, 1, timeout=120) == 1
    record = json.loads(record_file.read_text(encoding="utf-8").splitlines()[0])
    assert record["event"] == expected_payload
    assert record["custom"] == expected_context["custom"]
    assert record["env"] == expected_context["env"]

    # STS and Lambda both went through the proxy.
    targets = relayed(proxy, server.port)
    assert any(INVOKE_PATH in target for target in targets), targets
    assert any(INVOKE_PATH not in target for target in targets), f"no STS request via the proxy: {targets}"

    # The payload and client context were rendered from the .json templates.
    rendered = result.rendered[(task_id, -1)]
    assert json.loads(rendered["payload"]) == expected_payload
    assert json.loads(rendered["client_context"]) == expected_context
    assert_no_leak(airflow_env, result, secret_forms(user["aws_secret_access_key"]))


def test_sync_proxy_credentials(
    airflow_env: AirflowEnv,
    local_lambda: LocalLambda,
    functions: ExampleFunctions,
    proxy_factory: ProxyFactory,
    ca_bundle: str,
) -> None:
    """Seed example 3: RequestResponse through a TLS proxy that demands Basic credentials."""
    proxy_user = "lambda-ue-proxy-user"
    proxy_password = f"px:{uuid.uuid4().hex}@/%41"
    proxy = proxy_factory(tls=True, auth=(proxy_user, proxy_password))
    result, aws_secret = run_example(
        airflow_env,
        "example_lambda_sync_proxy_credentials",
        local_lambda,
        functions.echo,
        LAMBDA_UE_PROXY_URL=proxy.url,
        LAMBDA_UE_PROXY_CA_BUNDLE=ca_bundle,
        AIRFLOW_CONN_LAMBDA_UE_PROXY=json.dumps(
            {"conn_type": "generic", "login": proxy_user, "password": proxy_password}
        ),
    )
    task_id = "invoke_sync_through_authenticating_proxy"
    assert_green(result, task_id)
    document = result.xcom(task_id)

    assert_invoked(
        document,
        function_name=functions.echo,
        payload_source="Script",
        payload_script={"through": "proxy"},
        use_proxy=True,
        proxy_type="HTTPS with Credentials",
        proxy=proxy.url,
        proxy_credentials_user=MASK,
        proxy_credentials_password=MASK,
        proxy_ca_bundle_file=ca_bundle,
        endpoint_url=local_lambda.url,
    )
    outcome = answered(document)
    assert outcome["log_result"] is None
    assert json.loads(outcome["payload"]) == {"through": "proxy"}

    targets = relayed(proxy, local_lambda.port)
    assert any(f"{INVOKE_PATH}{functions.echo}/invocations" in target for target in targets), targets
    assert not proxy.rejected(), "the proxy had to reject a request without credentials"
    assert_no_leak(
        airflow_env, result, secret_forms(aws_secret) | secret_forms(proxy_password, user=proxy_user)
    )


def test_sync_env_region(airflow_env: AirflowEnv, local_lambda: LocalLambda) -> None:
    """Seed example 4: no connection, no region: both come from the environment's chain."""
    region = "eu-central-1"
    regional = LocalLambdaClient(local_lambda.url, region=region)
    # The function exists in this region only: success proves the region came from the environment.
    function = new_function(regional, "regional", DEMO_FUNCTION, handler="lambda_ue_demo.handler", timeout=30)
    secret = new_secret("env")
    result = airflow_env.dags_test(
        "example_lambda_sync_env_region",
        endpoint_env(
            local_lambda,
            function,
            AWS_ACCESS_KEY_ID="AKIALAMBDAUEENV00001",
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_DEFAULT_REGION=region,
        ),
    )
    task_id = "invoke_with_environment_credentials"
    assert_green(result, task_id)
    document = result.xcom(task_id)

    assert_invoked(
        document,
        credentials_user=None,
        credentials_password=None,
        region=None,
        function_name=function,
        log_type="Tail",
        endpoint_url=local_lambda.url,
    )
    outcome = document["result"]
    assert outcome["status_code"] == 200
    assert outcome["executed_version"] == "$LATEST"
    assert json.loads(outcome["payload"]) == {"message": "hello from lambda-ue-demo", "received": {}}
    lines = decoded_lines(outcome["log_result"])
    assert f"lambda-ue demo: invoked as {function} (version $LATEST)" in lines
    for line in lines:
        assert f"| {line.rstrip()}" in result.output
    # The links name the environment's region too.
    assert result.links[(task_id, -1)] == expected_links(function, outcome["request_id"], region=region)
    assert_no_leak(airflow_env, result, secret_forms(secret))


# -- Airflow features: fan-out, XCom downstream -------------------------------------------------


def test_fan_out(airflow_env: AirflowEnv, local_lambda: LocalLambda, functions: ExampleFunctions) -> None:
    """Five mapped task instances, five documents; ``collect`` reads them all."""
    result, secret = run_example(airflow_env, "example_lambda_fan_out", local_lambda, functions.echo)
    assert_green(result, "collect")
    for index in range(5):
        assert result.state("invoke_each", index) == "success", result.task_states
        document = result.xcom("invoke_each", index)
        assert_invoked(
            document,
            function_name=functions.echo,
            payload_source="Script",
            payload_script={"item": index + 1},
            endpoint_url=local_lambda.url,
        )
        assert document["result"]["status_code"] == 200
        assert json.loads(document["result"]["payload"]) == {"item": index + 1}
        assert result.rendered[("invoke_each", index)]["payload"] == {"item": index + 1}
    assert ("invoke_each", 5) not in result.task_states
    assert result.xcom("collect") == [0] * 5
    assert_no_leak(airflow_env, result, secret_forms(secret))


def test_answer(airflow_env: AirflowEnv, local_lambda: LocalLambda, functions: ExampleFunctions) -> None:
    """A TaskFlow task takes the function's answer decoded (``invoke.answer``), not the document."""
    result, secret = run_example(airflow_env, "example_lambda_answer", local_lambda, functions.demo)
    assert_green(result, "invoke", "confirm")
    document = result.xcom("invoke")
    assert_envelope(document)
    answer = {"message": "hello from lambda-ue-demo", "received": {"order": 42}}
    assert json.loads(document["result"]["payload"]) == answer  # the document keeps the text
    assert result.xcom("invoke", key="answer") == answer
    assert result.xcom("confirm") == "order 42: hello from lambda-ue-demo"
    assert_no_leak(airflow_env, result, secret_forms(secret))


@pytest.fixture
def xcom_downstream_run(
    airflow_env: AirflowEnv,
    local_lambda: LocalLambda,
    functions: ExampleFunctions,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[DagTestResult, str]]:
    result, secret = run_example(
        airflow_env,
        "example_lambda_xcom_downstream",
        local_lambda,
        functions.raising,
        LAMBDA_UE_FAIL_ON_FUNCTION_ERROR=request.param,
    )
    assert_no_leak(airflow_env, result, secret_forms(secret))
    yield result, functions.raising


def assert_function_error_document(document: dict[str, Any], function: str, **envelope: Any) -> None:
    assert_invoked(
        document,
        **envelope,
        function_name=function,
        payload_source="Script",
        payload_script={"from": "example_lambda_xcom_downstream"},
        endpoint_url=document["invocation"]["fields"]["endpoint_url"],
    )
    outcome = document["result"]
    assert outcome["status_code"] == 200
    assert outcome["function_error"] == "Unhandled"
    assert outcome["executed_version"] == "$LATEST"
    error = json.loads(outcome["payload"])
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom"


@pytest.mark.parametrize("xcom_downstream_run", ["true"], indirect=True)
def test_xcom_downstream_after_function_error(xcom_downstream_run: tuple[DagTestResult, str]) -> None:
    """The invoke task fails (exit 1), its document is on XCom, and the all_done task reads it."""
    result, function = xcom_downstream_run
    assert result.state("invoke") == "failed", result.output[-6000:]
    assert "LambdaFunctionError" in result.output
    # The run's state follows its leaf task: report (all_done) succeeded, so the run did too.
    assert result.run_state == "success"
    assert result.state("report") == "success"
    document = result.xcom("invoke")
    status = "FAIL: Function error (Unhandled): ValueError: boom"
    assert_function_error_document(document, function, exit_code=1, status=status)
    assert result.xcom("report") == {
        "exit_code": 1,
        "status_description": status,
        "function_error": "Unhandled",
    }
    assert f"invoke ended with exit code 1: {status}" in result.output


@pytest.mark.parametrize("xcom_downstream_run", ["false"], indirect=True)
@pytest.mark.proves("LAMBDA_UE_FAIL_ON_FUNCTION_ERROR")
def test_xcom_downstream_function_error_not_failing(xcom_downstream_run: tuple[DagTestResult, str]) -> None:
    """``fail_on_function_error`` off (a rendered "false"): success, with ``function_error`` set."""
    result, function = xcom_downstream_run
    assert_green(result, "invoke", "report")
    document = result.xcom("invoke")
    assert_function_error_document(document, function)
    assert result.xcom("report") == {
        "exit_code": 0,
        "status_description": STATUS_SUCCESS,
        "function_error": "Unhandled",
    }
