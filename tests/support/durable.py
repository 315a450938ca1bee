"""Durable functions on the local endpoint, for the tests of the provider's durable path (helpers).

The handlers are ``tests/handlers/durable_*.py`` (AWS's durable SDK); each appends one line to its
``COUNT_FILE`` when its step really runs, so a count of 1 means the work ran once. The plain
function the durable cases are compared with is ``tests/handlers/start_end.py``
(:func:`create_start_end_function`), which records its start and its end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue.testing.local_lambda import zip_handler
from tests.support.local_lambda import HANDLERS_DIR, read_count, unique_function_name

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.testing.airflow_api import AirflowApi
    from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda

__all__ = [
    "DurableFunction",
    "create_durable_function",
    "create_start_end_function",
    "executions_of",
    "recorded_lines",
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


def wait_for_execution_status(local_lambda: LocalLambda, function: DurableFunction, status: str) -> list[str]:
    """Until the function's only execution has ``status`` (120 s at most); its executions' statuses."""
    deadline = time.monotonic() + 120
    while True:
        statuses = [item["Status"] for item in executions_of(local_lambda.client("lambda"), function.name)]
        if statuses == [status] or time.monotonic() >= deadline:
            return statuses
        time.sleep(0.5)


def wait_for_task_state(live_airflow: AirflowApi, dag_id: str, run_id: str, state: str) -> dict[str, Any]:
    """Until the run's ``invoke`` task is in ``state`` (120 s at most); the task instance."""
    deadline = time.monotonic() + 120
    while True:
        ti = live_airflow.task_instance(dag_id, run_id, "invoke")
        if ti["state"] == state or time.monotonic() >= deadline:
            assert ti["state"] == state, ti
            return ti
        time.sleep(0.5)


def wait_for_trigger_claimed(live_airflow: AirflowApi, dag_id: str, run_id: str) -> None:
    """Until a triggerer runs the ``invoke`` task's trigger. Marked failed before that (the seconds
    between the deferral and the triggerer's next look), the trigger is deleted unrun and stops
    nothing: a limitation the README states; the tests that use this are about the trigger's stop."""
    deadline = time.monotonic() + 120
    while True:
        ti = live_airflow.task_instance(dag_id, run_id, "invoke")
        if (ti.get("trigger") or {}).get("triggerer_id") is not None:
            break
        assert time.monotonic() < deadline, ti
        time.sleep(0.5)
    time.sleep(2)  # claimed: its run() starts on the triggerer's loop right after


def wait_for_trigger_polling(live_airflow: AirflowApi, dag_id: str, run_id: str) -> None:
    """Until the ``invoke`` task's durable-execution trigger has started polling, as its task log
    shows: past the seconds :func:`wait_for_trigger_claimed` allows, which a triggerer short of CPU
    may need to start a trigger it has claimed."""
    wait_for_trigger_claimed(live_airflow, dag_id, run_id)
    deadline = time.monotonic() + 120
    while "Waiting for durable execution" not in live_airflow.task_log(dag_id, run_id, "invoke"):
        assert time.monotonic() < deadline, live_airflow.task_log(dag_id, run_id, "invoke")[-3000:]
        time.sleep(0.5)


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
    deadline = time.monotonic() + timeout
    while recorded_lines(path) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return recorded_lines(path)
