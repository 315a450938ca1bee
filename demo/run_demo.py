"""The demo: the synchronous example DAG, run by ``airflow dags test`` against a local Lambda endpoint.

Starts the local endpoint (moto's server with a real Python executor), creates the demo function,
runs ``example_lambda_sync_tail`` in a throw-away AIRFLOW_HOME, prints the task's log tail lines and
the output document that landed in XCom, and stops everything. Exits non-zero if the run failed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from airflow_provider_lambda_ue.testing.dag_runner import create_airflow_env
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "example_lambda_sync_tail"
TASK_ID = "invoke_sync_with_log"
FUNCTION = "lambda-ue-demo"


def main() -> int:
    """Run the demo; return the process exit code."""
    with LocalLambda() as server, tempfile.TemporaryDirectory(prefix="lambda-ue-demo-") as home:
        print(f"local Lambda endpoint: {server.url}", file=sys.stderr)
        server.create_function(
            FUNCTION,
            REPO / "demo" / "functions" / "lambda_ue_demo.py",
            handler="lambda_ue_demo.handler",
            timeout=30,
        )
        print(f"created function {FUNCTION}; migrating a temporary Airflow database ...", file=sys.stderr)
        airflow = create_airflow_env(Path(home), REPO / "example_dags", extra_pythonpath=REPO)
        print(f"airflow dags test {DAG_ID} ...", file=sys.stderr)
        result = airflow.dags_test(
            DAG_ID,
            {
                "LAMBDA_UE_ENDPOINT_URL": server.url,
                "LAMBDA_UE_FUNCTION": FUNCTION,
                # The connection the DAG names (aws_default), with the local endpoint's dummy keys.
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                    {"conn_type": "aws", "login": "testing", "password": "testing"}
                ),
            },
        )
        tail = [line for line in result.output.splitlines() if "| " in line and "invocation.py" in line]
        print("\n".join(tail) or result.output[-3000:], file=sys.stderr)
        print(f"DAG run {result.run_id}: {result.run_state}", file=sys.stderr)
        document = result.xcoms.get((TASK_ID, -1))
        print(json.dumps(document, indent=2))
        return 0 if result.run_state == "success" and document and document["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
