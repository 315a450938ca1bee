"""Issue 14: the installed ``lambda-ue`` console script against a durable function, run twice.

``lambda-ue invoke --durable-execution-name NAME ...`` twice in a row reports the same execution
and runs the handler once; the handler runs on the local endpoint with AWS's durable SDK.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.command_line import run_lambda_ue
from tests.support.durable import create_durable_function, executions_of

pytest.importorskip(
    "aws_durable_execution_sdk_python_testing",
    reason="AWS's durable SDKs need Python >= 3.11 (the test extra installs them there)",
)

pytestmark = pytest.mark.timeout(600)


@pytest.mark.proves("--durable-execution-name")
def test_lambda_ue_twice_with_one_durable_execution_name(local_lambda: LocalLambda, tmp_path: Path) -> None:
    function = create_durable_function(local_lambda, tmp_path, "durable_step_wait")
    command = [
        "invoke",
        "--function-name", function.name,
        "--durable-execution-name", "nightly-2026-12-01",
        "--payload", '{"value": 50, "wait_seconds": 2}',
        "--endpoint-url", local_lambda.url,
        "--wait-for-completion-timeout", "300",
    ]  # fmt: skip
    runs = [run_lambda_ue(tmp_path / "home", *command, timeout=300) for _ in range(2)]
    documents = [json.loads(run.stdout) for run in runs]
    for run, document in zip(runs, documents, strict=True):
        assert run.returncode == 0, run.stderr
        assert document["exit_code"] == 0
        assert document["result"]["durable_execution_status"] == "SUCCEEDED"
        assert json.loads(document["result"]["payload"])["doubled"] == 100
        assert "Durable execution" in run.stderr  # progress on stderr, the document alone on stdout
    arns = {document["result"]["durable_execution_arn"] for document in documents}
    assert len(arns) == 1
    listed = executions_of(local_lambda.client("lambda"), function.name)
    assert [(item["DurableExecutionName"], item["Status"]) for item in listed] == [
        ("nightly-2026-12-01", "SUCCEEDED")
    ]
    assert listed[0]["DurableExecutionArn"] in arns
    assert function.count == 1
