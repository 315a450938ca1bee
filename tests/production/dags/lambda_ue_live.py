"""DAGs of the production tier (the compatibility tier's live Airflows run the durable ones too): each
run names its function in ``dag_run.conf``.

The endpoint is the local Lambda endpoint (``LAMBDA_UE_ENDPOINT_URL``), set by the harness for every
process; the connection ``aws_default`` (in the environment or the metadata database).
"""

from __future__ import annotations

import json
import os
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

ENDPOINT = os.environ.get("LAMBDA_UE_ENDPOINT_URL")
FUNCTION = "{{ dag_run.conf['function'] }}"
#: Quick deferred invocations in ``live_race`` (the issue's race needs many of them).
MAPPED_ITEMS = 4  # live_mapped's invocations
RACE_TASKS = 40
#: What a scheduler logs when it lost a quick deferral to the race (README, Deferrable mode).
RACE_LOG_LINE = "but the task instance's state attribute is"


def _invoke(task_id: str, **kwargs: Any) -> LambdaInvokeOperator:
    kwargs.setdefault("function_name", FUNCTION)
    return LambdaInvokeOperator(
        task_id=task_id, region_name="us-east-1", endpoint_url=ENDPOINT, retries=0, **kwargs
    )


@task(trigger_rule="all_done")
def exit_code_of(task_id: str, **context: Any) -> int | None:
    """The exit code in the upstream task's document (read after it failed, too)."""
    document = context["ti"].xcom_pull(task_ids=task_id)
    return None if document is None else document["exit_code"]


with DAG("live_sync", schedule=None, catchup=False):
    _invoke("invoke", payload={"run_id": "{{ run_id }}"}, deferrable=False) >> exit_code_of("invoke")

with DAG("live_deferrable", schedule=None, catchup=False):
    _invoke("invoke", payload={"run_id": "{{ run_id }}"}, log_type="Tail", deferrable=True) >> exit_code_of(
        "invoke"
    )

with DAG("live_bad_input", schedule=None, catchup=False):
    # Rendered at run time into an invalid qualifier and an invalid timeout: exit 20 naming both.
    _invoke(
        "invoke",
        qualifier="{{ 'not a qualifier!' }}",
        wait_for_completion_timeout="{{ 'soon' }}",
        deferrable=True,
    ) >> exit_code_of("invoke")

with DAG("live_mapped", schedule=None, catchup=False):
    # Deferrable: Airflow cannot start mapped tasks in the triggerer, so they defer from a worker
    # and the trigger ends them (README, Deferrable mode).
    mapped = LambdaInvokeOperator.partial(
        task_id="invoke_each",
        function_name=FUNCTION,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        deferrable=True,
    ).expand(payload=[{"item": n} for n in range(MAPPED_ITEMS)])

    @task
    def collect(documents: list[dict[str, Any]]) -> list[Any]:
        """The payload each mapped invocation echoed back, in map order."""
        return [json.loads(document["result"]["payload"])["event"] for document in documents]

    collect(mapped.output)

with DAG("live_function_error", schedule=None, catchup=False):
    _invoke("invoke", payload={"message": "boom"}, deferrable=True) >> exit_code_of("invoke")

with DAG("live_read_timeout", schedule=None, catchup=False):
    _invoke("invoke", wait_for_completion_timeout=2, deferrable=False) >> exit_code_of("invoke")

with DAG("live_read_timeout_deferred", schedule=None, catchup=False):
    _invoke("invoke", wait_for_completion_timeout=2, deferrable=True) >> exit_code_of("invoke")

with DAG("live_race", schedule=None, catchup=False, max_active_tasks=64):
    # Both ways a deferrable task runs: started in the triggerer (plain tasks) and deferred from a
    # worker, then ended in the triggerer (mapped tasks, which Airflow cannot start there).
    for n in range(RACE_TASKS // 2):
        _invoke(f"quick_{n:02d}", payload={"n": n}, deferrable=True)
    LambdaInvokeOperator.partial(
        task_id="quick_mapped",
        function_name=FUNCTION,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        deferrable=True,
    ).expand(payload=[{"n": n} for n in range(RACE_TASKS - RACE_TASKS // 2)])

with DAG("live_links", schedule=None, catchup=False):
    # The extra links on each way a task runs: synchronously (alias), started in the triggerer (a
    # full ARN and a version), deferred from a worker and ended by the trigger (mapped, $LATEST).
    _invoke("sync", qualifier="live", deferrable=False)
    _invoke(
        "in_triggerer",
        function_name="arn:aws:lambda:us-east-1:123456789012:function:" + FUNCTION,
        qualifier="1",
        deferrable=True,
    )
    LambdaInvokeOperator.partial(
        task_id="mapped",
        function_name=FUNCTION,
        qualifier="$LATEST",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        deferrable=True,
    ).expand(payload=[{"n": 0}])
