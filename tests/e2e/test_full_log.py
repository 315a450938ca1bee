"""The complete log from CloudWatch Logs, end to end (issue 17's "done when").

A function that prints 20,000 lines runs on the local Lambda endpoint, whose CloudWatch Logs
ingests with a delay; ``fetch_full_log`` must bring every line, in order, into the task log of an
``airflow dags test`` run (synchronous, Event and deferred invocations) and onto the command
line's stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv, DagTestResult
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.command_line import run_lambda_ue
from tests.support.local_lambda import HANDLERS_DIR

pytestmark = pytest.mark.timeout(900)

DAG_ID = "lambda_ue_full_log"
FUNCTION = "print-lines"
LINES = 20_000
#: Seconds between an invocation's end and its log in the endpoint's CloudWatch Logs.
INGESTION_DELAY = "2"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalLambda]:
    """A local endpoint of its own: its CloudWatch Logs ingests with a delay."""
    with LocalLambda(env={"LOCAL_LAMBDA_LOGS_DELAY_SECONDS": INGESTION_DELAY}) as server:
        server.create_function(
            FUNCTION, HANDLERS_DIR / "print_lines.py", handler="print_lines.handler", timeout=120
        )
        yield server


def assert_lines_in_order(text: str, tag: str, marker: str = "| ") -> None:
    """Every ``<tag> line NNNNN`` of the function's output appears in ``text``, in order, once each."""
    position = 0
    for number in range(LINES):
        line = f"{marker}{tag} line {number:05d}"
        found = text.find(line, position)
        assert found >= 0, f"{line!r} missing after position {position}"
        position = found + len(line)
    assert text.count(f"{tag} line {LINES - 1:05d}") == 1


@pytest.fixture(scope="module")
def run(test_dags_env: AirflowEnv, endpoint: LocalLambda) -> DagTestResult:
    return test_dags_env.dags_test(
        DAG_ID,
        {
            "LAMBDA_UE_TEST_LOCAL_URL": endpoint.url,
            "LAMBDA_UE_TEST_LINES": str(LINES),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {"conn_type": "aws", "login": "testing", "password": "testing"}
            ),
        },
        timeout=800,
    )


@pytest.mark.parametrize("task_id", ["sync", "event", "deferred"])
def test_every_line_in_the_task_log_in_order(run: DagTestResult, task_id: str) -> None:
    assert run.state(task_id) == "success", run.output[-5000:]
    document = run.xcom(task_id)
    assert document["exit_code"] == 0
    request_id = document["result"]["request_id"]
    assert document["result"]["status_code"] == (202 if task_id == "event" else 200)
    assert f"START RequestId: {request_id} Version: $LATEST" in run.output
    assert_lines_in_order(run.output, task_id)
    assert f"End of the complete log: {LINES + 3} events" in run.output


def test_cli_streams_every_line_to_stderr(endpoint: LocalLambda, tmp_path: Path) -> None:
    for kind, tag in (("RequestResponse", "cli-sync"), ("Event", "cli-event")):
        completed = run_lambda_ue(
            tmp_path,
            "invoke",
            "--function-name", FUNCTION,
            "--invocation-type", kind,
            "--endpoint-url", endpoint.url,
            "--logs-endpoint-url", endpoint.url,
            "--payload", json.dumps({"lines": LINES, "tag": tag}),
            "--full-log-required",
            module=True,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr[-5000:]
        document = json.loads(completed.stdout)
        assert document["exit_code"] == 0
        # stdout holds the document only; the log goes to stderr.
        assert f"{tag} line" not in completed.stdout
        assert_lines_in_order(completed.stderr, tag, marker="INFO | ")
