"""Durable functions on the local endpoint, for the tests of the provider's durable path (helpers).

The handlers are ``tests/handlers/durable_*.py`` (AWS's durable SDK); each appends one line to its
``COUNT_FILE`` when its step really runs, so a count of 1 means the work ran once. The plain
function the durable cases are compared with is ``tests/handlers/start_end.py``
(:func:`create_start_end_function`), which records its start and its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue.testing.local_lambda import zip_handler
from tests.support.local_lambda import HANDLERS_DIR, read_count, unique_function_name
from tests.support.servers import poll

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.testing.airflow_api import AirflowApi
    from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda

__all__ = [
    "DurableFunction",
    "create_durable_function",
    "create_start_end_function",
    "executions_of",
    "recorded_lines",
    "triggerer_of",
    "wait_for_execution_status",
    "wait_for_lines",
    "wait_for_task_state",
    "wait_for_trigger_claimed",
    "wait_for_trigger_polling",
]


@dataclass
class DurableFunction:
    """
    A durable function on an endpoint and the file its steps count in.

    :param name: ``FunctionName``.
    :param count_file: One line per real run of the handler's step.
    :param create_response: The ``CreateFunction`` response.
    """

    name: str
    count_file: Path
    create_response: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        """Real step executions so far."""
        return read_count(self.count_file)


def create_durable_function(
    server: Any,
    directory: Path,
    handler_stem: str,
    *,
    execution_timeout: int = 300,
    name: str | None = None,
    client: Any = None,
) -> DurableFunction:
    """
    Create a durable function (``DurableConfig``) running ``tests/handlers/<handler_stem>.py``.

    :param server: The local endpoint (``LocalLambda`` or ``LocalLambdaClient``).
    :param directory: Where the count file goes.
    :param handler_stem: The handler module's stem, e.g. ``durable_step_wait``.
    :param execution_timeout: ``DurableConfig.ExecutionTimeout`` in seconds.
    :param name: ``FunctionName``; unique by default.
    :param client: The Lambda client that creates it; ``server.client("lambda")`` by default.
    """
    function_name = name or unique_function_name(handler_stem.replace("_", "-"))
    count_file = directory / f"{function_name}.count"
    response = (client or server.client("lambda")).create_function(
        FunctionName=function_name,
        Runtime="python3.11",
        Role=server.ensure_role(),
        Handler=f"{handler_stem}.handler",
        Code={"ZipFile": zip_handler(HANDLERS_DIR / f"{handler_stem}.py", f"{handler_stem}.handler")},
        Timeout=60,
        Environment={"Variables": {"COUNT_FILE": str(count_file)}},
        DurableConfig={"ExecutionTimeout": execution_timeout, "RetentionPeriodInDays": 1},
    )
    return DurableFunction(function_name, count_file, response)


def executions_of(client: Any, function_name: str) -> list[dict[str, Any]]:
    """
    Every durable execution of the function (``ListDurableExecutionsByFunction``), oldest first.

    :return: The listed summaries (``DurableExecutionArn``, ``DurableExecutionName``, ``Status``, ...).
    """
    items: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"FunctionName": function_name}
        if marker:
            kwargs["Marker"] = marker
        page = client.list_durable_executions_by_function(**kwargs)
        items.extend(page.get("DurableExecutions") or [])
        marker = page.get("NextMarker")
        if not marker:
            return sorted(items, key=lambda item: str(item.get("StartTimestamp")))


#: Seconds the waits below wait at most, and between their looks at the endpoint or at Airflow.
WAIT_TIMEOUT = 120.0
WAIT_INTERVAL = 0.5


def wait_for_execution_status(local_lambda: LocalLambda, function: DurableFunction, status: str) -> list[str]:
    """Until the function's only execution has ``status``; its executions' statuses."""
    client = local_lambda.client("lambda")
    return poll(
        lambda: [item["Status"] for item in executions_of(client, function.name)],
        lambda statuses: statuses == [status],
        WAIT_TIMEOUT,
        WAIT_INTERVAL,
    )


def triggerer_of(ti: Mapping[str, Any]) -> int | None:
    """The job id of the triggerer running a task instance's trigger (the REST API's task instance)."""
    holder: int | None = (ti.get("trigger") or {}).get("triggerer_id")
    return holder


def _invoke_task(live_airflow: AirflowApi, dag_id: str, run_id: str) -> Callable[[], dict[str, Any]]:
    return lambda: live_airflow.task_instance(dag_id, run_id, "invoke")


def wait_for_task_state(live_airflow: AirflowApi, dag_id: str, run_id: str, state: str) -> dict[str, Any]:
    """Until the run's ``invoke`` task is in ``state``; the task instance."""
    ti = poll(
        _invoke_task(live_airflow, dag_id, run_id),
        lambda ti: ti["state"] == state,
        WAIT_TIMEOUT,
        WAIT_INTERVAL,
    )
    assert ti["state"] == state, ti
    return ti


def wait_for_trigger_claimed(live_airflow: AirflowApi, dag_id: str, run_id: str) -> None:
    """Until a triggerer runs the ``invoke`` task's trigger. Marked failed before that (the seconds
    between the deferral and the triggerer's next look), the trigger is deleted unrun and stops
    nothing: a limitation the README states; the tests that use this are about the trigger's stop."""
    ti = poll(
        _invoke_task(live_airflow, dag_id, run_id),
        lambda ti: triggerer_of(ti) is not None,
        WAIT_TIMEOUT,
        WAIT_INTERVAL,
    )
    assert triggerer_of(ti) is not None, ti
    time.sleep(2)  # claimed: its run() starts on the triggerer's loop right after


def wait_for_trigger_polling(live_airflow: AirflowApi, dag_id: str, run_id: str) -> None:
    """Until the ``invoke`` task's durable-execution trigger has started polling, as its task log
    shows: past the seconds :func:`wait_for_trigger_claimed` allows, which a triggerer short of CPU
    may need to start a trigger it has claimed."""
    wait_for_trigger_claimed(live_airflow, dag_id, run_id)
    polling = "Waiting for durable execution"
    log = poll(
        lambda: live_airflow.task_log(dag_id, run_id, "invoke"),
        lambda log: polling in log,
        WAIT_TIMEOUT,
        WAIT_INTERVAL,
    )
    assert polling in log, log[-3000:]


def create_start_end_function(server: Any, directory: Path) -> tuple[str, Path]:
    """
    Create a plain function running ``tests/handlers/start_end.py`` (timeout 60 s).

    :param server: The local endpoint.
    :param directory: Where its record goes.
    :return: ``(FunctionName, the file it writes "start" and "end" lines to)``.
    """
    name = unique_function_name("start-end")
    record = directory / f"{name}.lines"
    source = (HANDLERS_DIR / "start_end.py").read_text(encoding="utf-8")
    server.create_function(name, source, timeout=60, environment={"COUNT_FILE": str(record)})
    return name, record


def recorded_lines(path: Path) -> list[str]:
    """The lines a start_end function recorded so far."""
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def wait_for_lines(path: Path, expected: list[str], timeout: float = 120) -> list[str]:
    """Until a start_end function recorded ``expected`` (``timeout`` seconds at most); what it recorded."""
    return poll(lambda: recorded_lines(path), lambda lines: lines == expected, timeout, 0.2)
