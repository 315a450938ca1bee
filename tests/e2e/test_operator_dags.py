# pytest passes fixtures as positional parameters; several per test is the point here.
"""The operator's edge cases through one real ``airflow dags test`` run (``tests/dags``).

Fake Lambda servers (one per task) send what no real endpoint sends on demand: a log tail cut
inside multi-byte characters, a log tail that is not base64. The run also covers deferrable mode
end to end and a validation failure that must happen before any network call.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from airflow_provider_lambda_ue.output import STATUS_DECODE_WARNING, STATUS_SUCCESS
from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv, DagTestResult
from tests.support import fake_servers as fs
from tests.support.fake_servers import FakeLambdaServer

pytestmark = pytest.mark.timeout(900)

DAG_ID = "lambda_ue_operator_checks"
FUNCTION = "checks-function"
# What the cut tail decodes to: the broken fragments at both ends are dropped or replaced.
SPLIT_TAIL_LINES = ["START RequestId: 1 Version: $LATEST", "hello wörld", "END RequestId: 1"]


@pytest.fixture(scope="module")
def servers() -> Any:
    """One fake Lambda per task (module-scoped: the run is shared by the tests below)."""
    made = {
        "split": FakeLambdaServer(script=fs.log_tail_split_utf8({"answer": "split"})),
        "not_base64": FakeLambdaServer(script=fs.log_tail_not_base64({"answer": "not base64"})),
        "deferred": FakeLambdaServer(script=fs.log_tail_split_utf8({"answer": "deferred"})),
        "invalid": FakeLambdaServer(),
    }
    yield made
    for server in made.values():
        server.stop()


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    return {"aws": f"aws/S3cr3t+{uuid.uuid4().hex}", "inline": f"inlinePw{uuid.uuid4().hex}"}


@pytest.fixture(scope="module")
def run(
    test_dags_env: AirflowEnv, servers: dict[str, FakeLambdaServer], secrets: dict[str, str]
) -> DagTestResult:
    return test_dags_env.dags_test(
        DAG_ID,
        {
            "LAMBDA_UE_TEST_SPLIT_URL": servers["split"].url,
            "LAMBDA_UE_TEST_NOT_BASE64_URL": servers["not_base64"].url,
            "LAMBDA_UE_TEST_DEFERRED_URL": servers["deferred"].url,
            "LAMBDA_UE_TEST_INVALID_URL": servers["invalid"].url,
            "LAMBDA_UE_TEST_INLINE_PASSWORD": secrets["inline"],
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {"conn_type": "aws", "login": "AKIALAMBDAUECHECKS01", "password": secrets["aws"]}
            ),
        },
    )


def succeeded(run: DagTestResult, task_id: str, status: str = STATUS_SUCCESS) -> dict[str, Any]:
    """The task's document, after checking the task succeeded with exit code 0 and ``status``."""
    assert run.state(task_id) == "success", run.output[-5000:]
    document: dict[str, Any] = run.xcom(task_id)
    assert document["exit_code"] == 0
    assert document["status_description"] == status
    return document


def test_tail_cut_inside_multibyte_characters_is_success(
    run: DagTestResult, servers: dict[str, FakeLambdaServer]
) -> None:
    document = succeeded(run, "tail_split_utf8")
    assert document["result"]["log_result"] == fs.LOG_TAIL_SPLIT_UTF8_HEADER
    assert json.loads(document["result"]["payload"]) == {"answer": "split"}
    for line in SPLIT_TAIL_LINES:
        assert f"| {line}" in run.output
    assert len(servers["split"].invocations) == 1
    assert servers["split"].invocations[0].function_name == FUNCTION


def test_tail_not_base64_is_decode_warning(run: DagTestResult, servers: dict[str, FakeLambdaServer]) -> None:
    document = succeeded(run, "tail_not_base64", STATUS_DECODE_WARNING)
    assert document["changed"] is True
    assert document["result"]["log_result"] == fs.NOT_BASE64_LOG_TAIL
    assert json.loads(document["result"]["payload"]) == {"answer": "not base64"}
    assert "could not be decoded" in run.output
    assert len(servers["not_base64"].invocations) == 1


def test_deferred_invocation_finishes_on_the_same_path(
    run: DagTestResult, servers: dict[str, FakeLambdaServer]
) -> None:
    document = succeeded(run, "deferred")
    assert document["invocation"]["fields"]["credentials_password"] == "****"
    assert json.loads(document["result"]["payload"]) == {"answer": "deferred"}
    assert "Deferring the invocation of checks-function" in run.output
    # The tail is decoded on the worker after the trigger fired, as for tail_split_utf8.
    assert run.output.count("| hello wörld") == 2
    assert len(servers["deferred"].invocations) == 1


def test_invalid_fields_fail_before_any_network_call(
    run: DagTestResult, servers: dict[str, FakeLambdaServer]
) -> None:
    assert run.state("invalid_fields") == "failed"
    assert run.run_state == "failed"
    document = run.xcom("invalid_fields")
    assert document["exit_code"] == 20
    description = document["status_description"]
    assert description.startswith("DATA_VALIDATION_ERROR: Some of the input fields cannot be validated.")
    for field in ("function_name", "proxy", "wait_for_completion_timeout"):
        assert field in description, description
    assert document["changed"] is False
    assert document["result"]["status_code"] is None
    assert servers["invalid"].request_count == 0
    assert "LambdaDataValidationError" in run.output


def test_no_secret_anywhere(
    run: DagTestResult,
    test_dags_env: AirflowEnv,
    servers: dict[str, FakeLambdaServer],
    secrets: dict[str, str],
) -> None:
    """The connection's secret key and passwords written inline in URLs appear nowhere."""
    places = {
        "output": run.output,
        "xcom": json.dumps(list(run.xcoms.values())),
        "rendered": json.dumps(list(run.rendered.values())),
        **{str(path): text for path, text in test_dags_env.log_files().items()},
    }
    for name, secret in secrets.items():
        for where, text in places.items():
            assert secret not in text, f"the {name} secret leaked into {where}"

    # The rendered fields are there, with the inline passwords masked, not the fields dropped.
    rendered = run.rendered[("invalid_fields", -1)]
    assert rendered["endpoint_url"] == f"http://someone:***@127.0.0.1:{servers['invalid'].port}"
    assert rendered["proxy"] == "***"  # Airflow hides any field named "proxy" in the rendered view
    assert rendered["function_name"] == "not a function name!"
    document = run.xcom("invalid_fields")["invocation"]["fields"]
    assert document["endpoint_url"] == servers["invalid"].url
    assert document["proxy"] == "https://127.0.0.1:9"
