"""
A downstream task reads the output document from XCom, after success and after failure.

On failure the operator pushes the document (with the failing exit code) to ``return_value``
before the task fails, so ``report`` (``trigger_rule="all_done"``) can branch on ``exit_code``.

The run's state follows its leaf tasks: when ``invoke`` fails and ``report`` succeeds, the run
is marked successful. If the run itself must fail, have ``report`` raise after reporting, or add
a watcher task with ``trigger_rule="one_failed"``.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, task

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

with DAG(
    dag_id="example_lambda_xcom_downstream",
    schedule=None,
    catchup=False,
    tags=["example", "lambda-ue"],
    doc_md=__doc__,
):
    # [START howto_lambda_ue_xcom_downstream]
    invoke = LambdaInvokeOperator(
        task_id="invoke",
        function_name=os.environ.get("LAMBDA_UE_FUNCTION", "lambda-ue-demo"),
        payload={"from": "example_lambda_xcom_downstream"},
        region_name="us-east-1",
        endpoint_url=os.environ.get("LAMBDA_UE_ENDPOINT_URL"),
        fail_on_function_error=os.environ.get("LAMBDA_UE_FAIL_ON_FUNCTION_ERROR", "true"),
    )

    # One XCom, the summary: from "-> dict" alone TaskFlow would also push each key as an XCom of
    # its own, and Airflow 3.0 fails the task on a key whose value is None (a success's function_error).
    @task(trigger_rule="all_done", multiple_outputs=False)
    def report(ti=None) -> dict:
        """Summarise the invocation from its document, whatever its outcome."""
        document = ti.xcom_pull(task_ids="invoke")
        summary = {
            "exit_code": document["exit_code"],
            "status_description": document["status_description"],
            "function_error": document["result"]["function_error"],
        }
        print(f"invoke ended with exit code {summary['exit_code']}: {summary['status_description']}")
        return summary

    invoke >> report()
    # [END howto_lambda_ue_xcom_downstream]
