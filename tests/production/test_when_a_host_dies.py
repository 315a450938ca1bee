"""A host of the deployment dies while invocations wait on it: the other host's components take over.

The deployment's two "hosts" are ``scheduler-1``, ``triggerer-1``, ``worker-1`` and ``scheduler-2``,
``triggerer-2``, ``worker-2``. The second host is stopped while four invocations start, so that
all of them wait on the first: a plain and a durable deferred invocation held by ``triggerer-1``,
and a plain and a durable synchronous one (``retries=1``) queued by ``scheduler-1`` and running on
``worker-1``. The second host is started again, then the first dies: its three components killed
at once (SIGKILL, their task processes with them, as when a machine or a pod dies). The tests print
the figures of the deployment page (how often each function ran, how long the hand-over took):

* deferred, plain: ``triggerer-2`` takes the trigger over once ``triggerer-1``'s heartbeat is older
  than ``[triggerer] triggerer_health_check_threshold`` and invokes again: **2** executions;
  durable: it polls the execution: **1** execution;
* synchronous, plain: ``scheduler-2`` adopts the dead scheduler's tasks (it looks every
  ``[scheduler] orphaned_tasks_check_interval``), fails the task once its heartbeat is older than
  ``[scheduler] task_instance_heartbeat_timeout``, and the retry, on ``worker-2``, invokes again:
  **2** executions; durable: the retry finds the same execution: **1** execution;
* ``scheduler-2`` schedules all of it alone.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow
from tests.production.runs import DURABLE, Run, Runs, alive_jobs, trigger_holder, wait_for
from tests.support.durable import create_durable_function, executions_of, triggerer_of, wait_for_task_state
from tests.support.local_lambda import create_counting_function

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not DURABLE, reason="AWS's durable SDKs need Python >= 3.11 (the test extra has them)"
    ),
]

HOST = ("scheduler-1", "triggerer-1", "worker-1")
OTHER_HOST = ("scheduler-2", "triggerer-2", "worker-2")
#: How long a plain function's first execution sleeps: past the host's death (nothing waits for it
#: then); the executions after the death are quick.
FIRST_EXECUTION_SECONDS = 150


@dataclass
class HostFailure:
    """What happened after the host died, as watched every half second."""

    runs: Runs
    #: The job id of the triggerer that died, and of the one that took over.
    dead_triggerer: int
    other_triggerer: int
    #: Seconds from the death until each plain function ran again.
    ran_again_after: dict[str, float] = field(default_factory=dict)
    #: The triggerers seen holding each deferred task's trigger, in turn.
    holders: dict[str, list[int]] = field(default_factory=dict)
    #: When (epoch seconds) another triggerer was first seen holding each deferred task's trigger.
    handed_over_at: dict[str, float] = field(default_factory=dict)
    #: The dead triggerer's last heartbeat (epoch seconds, from the metadata database).
    last_heartbeat: float = 0.0
    #: The component that ran each synchronous task's second try.
    retried_on: dict[str, str | None] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    schedulers_alive: int = 0


def _start_waits(airflow: ProductionAirflow, local_lambda: LocalLambda, directory: Path, holder: int) -> Runs:
    """Start the four invocations; return once each waits on the first host (triggerer ``holder``)."""
    runs = Runs(airflow)
    for kind in ("deferred", "sync"):
        plain = create_counting_function(
            local_lambda, directory, sleep_seconds=FIRST_EXECUTION_SECONDS, timeout=300
        )
        durable = create_durable_function(local_lambda, directory, "durable_step_wait", execution_timeout=900)
        runs.start(f"prod_host_durable_{kind}", durable.name, durable=durable)
        runs.start(f"prod_host_plain_{kind}", plain.name, counting=plain)
        if kind == "deferred":
            # The durable one starts its execution on the worker first: its slot is free again
            # once it has deferred, for the two synchronous ones.
            wait_for_task_state(
                airflow,
                runs[f"prod_host_durable_{kind}"].dag_id,
                runs[f"prod_host_durable_{kind}"].run_id,
                "deferred",
            )
    for name, run in runs.runs.items():
        wait_for(f"{name} invoked", lambda run=run: _executions(run) == 1)
        if name.endswith("_deferred"):
            wait_for(f"{name} held by {holder}", lambda run=run: trigger_holder(airflow, run) == holder)
        else:
            ti = wait_for_task_state(airflow, run.dag_id, run.run_id, "running")
            assert airflow.component_running(int(ti["pid"])) == "worker-1", ti
    return runs


def _executions(run: Run) -> int:
    if run.counting is not None:
        return run.counting.count()
    assert run.durable is not None
    return run.durable.count


def _watch(failure: HostFailure, died: float, timeout: float = 420) -> None:
    """Until every run has ended: when each plain function ran again, who held or retried what."""
    airflow = failure.runs.airflow
    deadline = time.monotonic() + timeout
    while len(failure.states) < len(failure.runs.runs) and time.monotonic() < deadline:
        for name, run in failure.runs.runs.items():
            if run.counting is not None and name not in failure.ran_again_after and run.counting.count() >= 2:
                failure.ran_again_after[name] = time.monotonic() - died
            ti = airflow.task_instance(run.dag_id, run.run_id, "invoke")
            holder = triggerer_of(ti)
            if holder is not None and failure.holders.setdefault(name, [])[-1:] != [holder]:
                failure.holders[name].append(holder)
                if holder != failure.dead_triggerer:
                    failure.handed_over_at.setdefault(name, time.time())
            if name.endswith("_sync") and ti["try_number"] == 2 and ti["state"] == "running" and ti["pid"]:
                failure.retried_on.setdefault(name, airflow.component_running(int(ti["pid"])))
            if ti["state"] in ("success", "failed"):
                failure.states.setdefault(name, airflow.wait_for_run(run.dag_id, run.run_id))
        time.sleep(0.5)
    failure.schedulers_alive = len(airflow.alive_jobs("SchedulerJob"))
    ((heartbeat,),) = airflow.sql(
        "SELECT extract(epoch FROM latest_heartbeat) FROM job WHERE id = %s", failure.dead_triggerer
    )
    failure.last_heartbeat = float(heartbeat)


def _die(airflow: ProductionAirflow, local_lambda: LocalLambda, runs: Runs) -> float:
    """Kill the first host; make the functions' next executions quick; when it died."""
    for name in HOST:
        airflow.stop_component(name, signal.SIGKILL)
    died = time.monotonic()
    for run in runs.runs.values():
        if run.counting is not None:
            local_lambda.client("lambda").update_function_configuration(
                FunctionName=run.function,
                Environment={"Variables": {"COUNT_FILE": str(run.counting.count_file)}},
            )
    return died


@pytest.fixture(scope="module")
def host_failure(
    production_airflow: ProductionAirflow, local_lambda: LocalLambda, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostFailure]:
    """The host dies while four invocations wait on it; what the other host's components did."""
    airflow = production_airflow
    for name in OTHER_HOST:
        airflow.stop_component(name)
    (holder,) = alive_jobs(airflow, "TriggererJob", 1)
    alive_jobs(airflow, "SchedulerJob", 1)
    try:
        runs = _start_waits(airflow, local_lambda, tmp_path_factory.mktemp("host_failure"), holder)
        for name in OTHER_HOST:
            airflow.start_component(name)
        airflow.wait_healthy()
        (other,) = set(alive_jobs(airflow, "TriggererJob", 2)) - {holder}
        failure = HostFailure(runs, holder, other)
        _watch(failure, _die(airflow, local_lambda, runs))
        yield failure
    finally:
        # The first host stays dead: this module runs last (tests/conftest.py). Should a test
        # run after it, the second host serves it; a host half started by a failure is whole.
        for name in OTHER_HOST:
            if name not in airflow.processes:
                airflow.start_component(name)


def _outcome(failure: HostFailure, kind: str, figures: str, local_lambda: LocalLambda) -> tuple[Run, Run]:
    """The plain and the durable run of a kind (``deferred``, ``sync``), printed and checked alike:
    both succeeded, the plain function ran twice, the durable one once, its execution on XCom."""
    plain, durable = failure.runs[f"prod_host_plain_{kind}"], failure.runs[f"prod_host_durable_{kind}"]
    assert plain.counting is not None and durable.durable is not None
    listed = executions_of(local_lambda.client("lambda"), durable.function)
    print(
        f"\n{kind}, the host killed: plain function ran {plain.counting.count()} times, again "
        f"{failure.ran_again_after.get(plain.dag_id)} s after the death ({figures}); durable: "
        f"{len(listed)} execution(s), step ran {durable.durable.count}"
    )
    assert failure.states == dict.fromkeys(failure.runs.runs, "success"), failure.states
    assert plain.counting.count() == 2
    assert failure.runs.airflow.xcom(plain.dag_id, plain.run_id, "invoke")["exit_code"] == 0
    assert [item["Status"] for item in listed] == ["SUCCEEDED"]
    assert durable.durable.count == 1
    document = failure.runs.airflow.xcom(durable.dag_id, durable.run_id, "invoke")
    assert document["result"]["durable_execution_arn"] == listed[0]["DurableExecutionArn"]
    return plain, durable


@pytest.mark.proves("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD")
def test_deferred_invocations_move_to_the_other_triggerer(
    host_failure: HostFailure, local_lambda: LocalLambda
) -> None:
    airflow = host_failure.runs.airflow
    threshold = int(airflow.env["AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD"])
    plain, durable = _outcome(host_failure, "deferred", f"threshold {threshold} s", local_lambda)

    for name in (plain.dag_id, durable.dag_id):
        assert host_failure.holders[name] == [host_failure.dead_triggerer, host_failure.other_triggerer]
    # The other triggerer took the trigger once the dead one's last heartbeat was that old (the
    # death itself may come up to a heartbeat interval later). It invoked again later still, after
    # its first Task SDK request: 4 to 54 s on this 2-core machine, as busy as the suite makes it.
    waited = host_failure.handed_over_at[plain.dag_id] - host_failure.last_heartbeat
    print(f"\ndeferred, the host killed: the trigger moved {waited:.1f} s after the last heartbeat")
    assert threshold <= waited <= threshold + 40, waited


@pytest.mark.proves(
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL"
)
def test_synchronous_invocations_retry_on_the_other_worker(
    host_failure: HostFailure, local_lambda: LocalLambda
) -> None:
    airflow = host_failure.runs.airflow
    timeout = int(airflow.env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"])
    adoption = int(airflow.env["AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL"])
    figures = f"heartbeat timeout {timeout} s, adoption every {adoption} s"
    plain, durable = _outcome(host_failure, "sync", figures, local_lambda)

    assert host_failure.retried_on == {plain.dag_id: "worker-2", durable.dag_id: "worker-2"}
    for run in (plain, durable):
        assert airflow.task_instance(run.dag_id, run.run_id, "invoke")["try_number"] == 2
    # The task stayed "running" until scheduler-2 adopted it and its heartbeat was that old. With
    # either default (300 s) the retry would come 5 minutes after the death or later.
    retried = host_failure.ran_again_after.get(plain.dag_id)
    assert retried is not None and timeout - 10 <= retried <= timeout + adoption + 60, retried


def test_the_other_scheduler_schedules_alone(host_failure: HostFailure) -> None:
    assert host_failure.schedulers_alive == 1
    assert host_failure.states == dict.fromkeys(host_failure.runs.runs, "success")
