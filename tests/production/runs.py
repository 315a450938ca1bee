"""The runs the production tests share the deployment with, all at once (the package fixture ``runs``).

None of them needs a component to die, so they run side by side, as a deployment's runs do: the
first test that asks for them triggers every one, and each test waits for its own. Each run has a
function of its own, so each test counts its own executions. The modules that use them
(``test_batch_*.py``) run before those that kill components (tests/conftest.py keeps the
production tests' order): every run they started has ended by then.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow
from tests.support.durable import (
    DurableFunction,
    create_durable_function,
    create_start_end_function,
    triggerer_of,
)
from tests.support.local_lambda import (
    RAISE_HANDLER,
    CountingFunction,
    create_counting_function,
    unique_function_name,
)
from tests.support.servers import poll, wait_until

#: AWS's durable SDKs need Python >= 3.11 (the test extra installs them there).
DURABLE = importlib.util.find_spec("aws_durable_execution_sdk_python_testing") is not None


@dataclass
class Run:
    """
    One triggered run and what its function left.

    :param dag_id: The DAG.
    :param run_id: The run.
    :param function: The function's name.
    :param counting: The counting function, where the run invokes one.
    :param durable: The durable function, where the run starts one.
    :param record: The start_end function's record, where the run invokes one.
    """

    dag_id: str
    run_id: str
    function: str
    counting: CountingFunction | None = None
    durable: DurableFunction | None = None
    record: Path | None = None


@dataclass
class Runs:
    """The runs started together, by name (the DAG id unless one DAG runs twice)."""

    airflow: ProductionAirflow
    runs: dict[str, Run] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Run:
        return self.runs[name]

    def finished(self, name: str, timeout: float = 600) -> tuple[Run, str]:
        """Wait for a run to finish; the run and its final state."""
        run = self.runs[name]
        return run, self.airflow.wait_for_run(run.dag_id, run.run_id, timeout=timeout)

    def start(self, dag_id: str, function: str, name: str | None = None, **found: Any) -> None:
        """Trigger ``dag_id`` for ``function`` (``found``: the function's objects, see :class:`Run`)."""
        self.airflow.wait_for_dag(dag_id)
        run_id = self.airflow.trigger(dag_id, {"function": function})
        self.runs[name or dag_id] = Run(dag_id, run_id, function, **found)


def start_runs(airflow: ProductionAirflow, local_lambda: LocalLambda, directory: Path) -> Runs:
    """Create every run's function and trigger every run; return at once."""
    runs = Runs(airflow)

    def counting(dag_id: str, **options: Any) -> None:
        function = create_counting_function(local_lambda, directory, **options)
        runs.start(dag_id, function.name, counting=function)

    # First the runs whose tests act on them mid-run (they hold worker slots until then); the race
    # last: its 40 quick deferrals meet everything else the deployment does meanwhile.
    if DURABLE:
        for dag_id, handler in (
            ("live_durable_mark_failed_deferred", "durable_long_wait"),
            ("live_durable_mark_failed_worker", "durable_long_wait"),
            ("live_durable_failed_retry", "durable_raise"),
        ):
            durable = create_durable_function(local_lambda, directory, handler, execution_timeout=900)
            runs.start(dag_id, durable.name, durable=durable)
    for dag_id in ("live_plain_mark_failed", "live_plain_failed_retry"):
        name, record = create_start_end_function(local_lambda, directory)
        runs.start(dag_id, name, record=record)
    counting("live_sync")
    counting("live_deferrable", sleep_seconds=2)
    counting("live_bad_input")
    counting("live_mapped")
    counting("live_read_timeout", sleep_seconds=6, timeout=10)
    counting("live_read_timeout_deferred", sleep_seconds=6, timeout=10)
    links = create_counting_function(local_lambda, directory, publish=True)
    local_lambda.client("lambda").create_alias(FunctionName=links.name, Name="live", FunctionVersion="1")
    runs.start("live_links", links.name, counting=links)
    failing = unique_function_name("live-raise")
    local_lambda.create_function(failing, RAISE_HANDLER)
    runs.start("live_function_error", failing)
    counting("live_race")
    return runs


def wait_for(condition: str, check: Callable[[], bool], timeout: float = 180) -> None:
    """Until ``check()`` holds, every half second; fail naming ``condition`` after ``timeout`` s."""
    assert wait_until(check, timeout, interval=0.5), condition


def alive_jobs(airflow: ProductionAirflow, job_type: str, count: int) -> list[int]:
    """The ids of the live jobs of a kind (``TriggererJob``, ``SchedulerJob``), once there are ``count``."""
    ids = poll(
        lambda: sorted(job["id"] for job in airflow.alive_jobs(job_type)),
        lambda ids: len(ids) == count,
        timeout=120,
        interval=0.5,
    )
    assert len(ids) == count, f"{count} alive {job_type}: {ids}"
    return ids


def trigger_holder(airflow: ProductionAirflow, run: Run) -> int | None:
    """The job id of the triggerer holding the ``invoke`` task's trigger, if one does."""
    return triggerer_of(airflow.task_instance(run.dag_id, run.run_id, "invoke"))
