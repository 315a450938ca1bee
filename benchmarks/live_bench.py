"""A live Airflow benchmark: N invocations of a T-second function, four ways, in one run.

One live Airflow (api-server, scheduler with the LocalExecutor, dag-processor, triggerer; SQLite;
``--slots`` worker slots) and the local Lambda endpoint. For each way, one DAG run of N tasks:

``start_in_triggerer``
    N deferrable tasks that start in the triggerer (one worker process each, after the answer);
``defer_from_worker``
    N mapped deferrable tasks: Airflow cannot start them in the triggerer, so each validates on
    a worker, defers, and the trigger ends it (one worker process each, before the wait);
``synchronous``
    N mapped tasks that invoke on a worker and hold its slot for T seconds;
``amazon_operator``
    the amazon provider's ``LambdaInvokeFunctionOperator`` (synchronous), mapped N ways.

Printed per way: wall time (trigger to finished run), worker task processes started (task runs
the executor reported, from the scheduler's log), CPU seconds of the worker processes (the
scheduler's process tree minus the scheduler itself) and of the triggerer's process tree, with
ratios to ``start_in_triggerer``. The local endpoint's own work (a Python process per invocation)
is in none of them.

    .venv/bin/python benchmarks/live_bench.py                 # N=20, T=5 s, 2 slots (~4 minutes)
    .venv/bin/python benchmarks/live_bench.py --n 100 --seconds 5 --slots 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda

REPO = Path(__file__).resolve().parents[1]
WAYS = ("start_in_triggerer", "defer_from_worker", "synchronous", "amazon_operator")
SLEEP_HANDLER = (
    "import os, time\n\n\ndef handler(event, context):\n"
    "    time.sleep(float(os.environ['SLEEP_SECONDS']))\n    return {'event': event}\n"
)


def _cpu(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process tree, of the root process alone); reaped children included."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    own = root.cpu_times()
    return total, own.user + own.system


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="invocations per way (default 20)")
    parser.add_argument("--seconds", type=float, default=5, help="function duration (default 5)")
    parser.add_argument("--slots", type=int, default=2, help="[core] parallelism (default 2)")
    args = parser.parse_args()

    with LocalLambda() as server, tempfile.TemporaryDirectory(prefix="lambda-ue-live-bench-") as home:
        server.create_function(
            "bench",
            SLEEP_HANDLER,
            timeout=int(args.seconds) + 30,
            environment={"SLEEP_SECONDS": str(args.seconds)},
        )
        env = {
            "BENCH_N": str(args.n),
            "LAMBDA_UE_ENDPOINT_URL": server.url,
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(args.n),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {"conn_type": "aws", "login": "testing", "password": "testing"}
            ),
            "AIRFLOW_CONN_AWS_BENCH_AMAZON": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": server.url, "region_name": "us-east-1"},
                }
            ),
        }
        print(
            f"N={args.n} invocations of a {args.seconds:g} s function, {args.slots} worker slot(s)",
            flush=True,
        )
        rows = {}
        with LiveAirflow(
            Path(home), REPO / "benchmarks" / "live_dags", env=env, parallelism=args.slots, pythonpath=REPO
        ) as airflow:
            for way in WAYS:
                dag_id = f"bench_{way}"
                airflow.wait_for_dag(dag_id)
                scheduler = airflow.processes["scheduler"].pid
                triggerer = airflow.processes["triggerer"].pid
                cpu_before, own_before = _cpu(scheduler)
                triggerer_before, _ = _cpu(triggerer)
                marker = f"for task instance TaskInstanceKey(dag_id='{dag_id}',"
                start = time.monotonic()
                run_id = airflow.trigger(dag_id, {"function": "bench"})
                state = airflow.wait_for_run(dag_id, run_id, timeout=3600)
                wall = time.monotonic() - start
                time.sleep(5)  # the last worker processes exit, are reaped and reported
                cpu_after, own_after = _cpu(scheduler)
                triggerer_after, _ = _cpu(triggerer)
                processes = sum(
                    1 for line in airflow.log_lines("scheduler", marker) if "Received executor event" in line
                )
                states = airflow.task_states(dag_id, run_id)
                ok = sum(1 for value in states.values() if value == "success")
                worker_cpu = (cpu_after - cpu_before) - (own_after - own_before)
                rows[way] = (wall, processes, worker_cpu, triggerer_after - triggerer_before, ok)
                print(f"  {way}: {state}, {ok}/{len(states)} tasks succeeded, {wall:.1f} s", flush=True)
    base_wall, base_procs, base_cpu, _, _ = rows["start_in_triggerer"]
    print()
    print("| way | wall s | x | worker task processes | x | worker CPU s | x | triggerer CPU s | tasks ok |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for way, (wall, procs, cpu, triggerer_cpu, ok) in rows.items():
        print(
            f"| {way} | {wall:.1f} | {wall / base_wall:.2f} | {procs} | {procs / max(base_procs, 1):.2f} "
            f"| {cpu:.1f} | {cpu / max(base_cpu, 0.01):.2f} | {triggerer_cpu:.1f} | {ok}/{args.n} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
