"""A production-shaped Airflow on loopback: PostgreSQL, Celery on Redis, HA schedulers and triggerers.

The shape platform teams run, on one machine: a PostgreSQL metadata database and a Redis broker of
its own (:mod:`.services`), then every Airflow component its own process
(:class:`~.deployment.AirflowDeployment`): api-server, dag-processor, ``scheduler-1`` and
``scheduler-2``, ``triggerer-1`` and ``triggerer-2``, and Celery workers ``worker-1`` and
``worker-2`` (``airflow celery worker``, each with its own Celery host name). Celery keeps its task
results in the PostgreSQL database. One Fernet key is shared by every component, so connections can
live in the database: workers and triggerers read them through the Execution API, as in a
deployment. Each worker and triggerer serves its logs on a port of its own.

Usage::

    with ProductionAirflow(home, dags_folder, env={...}) as airflow:
        run_id, state = airflow.run_dag("my_dag")
        airflow.stop_component("triggerer-1", signal.SIGKILL)  # the other one takes over

This module is for tests and the demo only; the runtime provider never imports it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_lambda_ue.testing.deployment import AirflowDeployment
from airflow_provider_lambda_ue.testing.processes import free_port
from airflow_provider_lambda_ue.testing.services import LocalPostgres, LocalRedis

__all__ = ["ProductionAirflow"]


def _components(schedulers: int, triggerers: int, workers: int, concurrency: int) -> dict[str, list[str]]:
    """The components in the order they start: the API first, since tasks talk to it."""
    components = {"api-server": ["api-server"], "dag-processor": ["dag-processor"]}
    components.update({f"scheduler-{n}": ["scheduler"] for n in range(1, schedulers + 1)})
    components.update({f"triggerer-{n}": ["triggerer"] for n in range(1, triggerers + 1)})
    for n in range(1, workers + 1):
        name = f"worker-{n}"
        options = ["--celery-hostname", f"{name}@%h", "--concurrency", str(concurrency)]
        components[name] = ["celery", "worker", *options]
    return components


class ProductionAirflow(AirflowDeployment):
    """
    Start, use and stop a production-shaped Airflow (PostgreSQL, Redis, Celery, HA) in ``home``.

    :param home: The AIRFLOW_HOME folder (created; the logs, and PostgreSQL's and Redis's folders).
    :param dags_folder: The DAG folder.
    :param env: Extra variables for every process; they win over the settings here.
    :param pythonpath: A folder to put on PYTHONPATH (e.g. the repository root).
    :param port: The API server's port; 0 picks a free one.
    :param schedulers: How many schedulers run (high availability: each takes part of the work).
    :param triggerers: How many triggerers run (a dead one's triggers go to another).
    :param workers: How many Celery workers run.
    :param concurrency: Task processes each worker runs at once.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        env: Mapping[str, str] | None = None,
        pythonpath: Path | None = None,
        port: int = 0,
        schedulers: int = 2,
        triggerers: int = 2,
        workers: int = 2,
        concurrency: int = 2,
    ) -> None:
        services_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        self.postgres = LocalPostgres(Path(home) / "postgres", services_env)
        self.redis = LocalRedis(Path(home) / "redis", services_env)
        self.fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        settings = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url(),
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": self.postgres.url("db+postgresql"),
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            # A triggerer serves its triggers' first Task SDK request by building its in-process
            # Execution API (about 2-5 CPU-seconds). Its watchdog counts that time as silence from
            # the trigger runner: on this shared 2-core machine it took 30-40 s, past the 30 s
            # default, and the triggerer then stopped heartbeating as if deadlocked, so that its
            # triggers went to the other triggerer, which invoked again. A host with CPU to spare
            # does not need this.
            "AIRFLOW__TRIGGERER__RUNNER_HEALTH_CHECK_THRESHOLD": "180",
        }
        super().__init__(
            home,
            dags_folder,
            components=_components(schedulers, triggerers, workers, concurrency),
            settings=settings,
            env=env,
            pythonpath=pythonpath,
            port=port,
        )
        for name in self.commands:
            # On one host, each log server needs a port of its own (a deployment's hosts each
            # have theirs); the api-server reads the shared log folder directly.
            if name.startswith("worker-"):
                self.component_env[name] = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            if name.startswith("triggerer-"):
                self.component_env[name] = {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}

    def components(self, kind: str) -> list[str]:
        """The components of a kind (``scheduler``, ``triggerer``, ``worker``), by name."""
        return [name for name in self.commands if name.startswith(f"{kind}-")]

    def prepare(self) -> None:
        """Start PostgreSQL and Redis, then migrate the new database."""
        self.postgres.start()
        self.redis.start()
        migrate = [self.airflow, "db", "migrate"]
        done = subprocess.run(migrate, env=self.env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise self._failure(f"airflow db migrate failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        """Stop every component, then Redis and PostgreSQL."""
        try:
            super().stop()
        finally:
            self.redis.stop()
            self.postgres.stop()

    def is_up(self) -> Any:
        """``True`` once healthy, with every scheduler and triggerer alive and every worker ready."""
        health = super().is_up()
        if health is not True:
            return health
        for kind, job_type in (("scheduler", "SchedulerJob"), ("triggerer", "TriggererJob")):
            running = len([name for name in self.components(kind) if name in self.processes])
            alive = len(self.alive_jobs(job_type))
            if alive < running:
                return f"{alive} of {running} {job_type}s alive"
        for worker in self.components("worker"):
            if worker in self.processes and " ready." not in self.processes[worker].output_since_start():
                return f"{worker} not ready"
        return True

    def component_running(self, pid: int) -> str | None:
        """The component whose process tree holds ``pid`` (a task process: its worker), if any."""
        return next((name for name, process in self.processes.items() if process.runs(pid)), None)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the metadata database (psycopg2, which the postgres provider brings)."""
        import psycopg2

        connection = psycopg2.connect(self.postgres.url("postgresql"))
        with contextlib.closing(connection), connection.cursor() as cursor:
            cursor.execute(query, params)
            return list(cursor.fetchall()) if cursor.description else []

    def triggers(self) -> list[dict[str, Any]]:
        """
        The trigger table as stored, each row with its kwargs decrypted (the shared Fernet key).

        :return: ``{"id", "classpath", "triggerer_id", "stored": the column's text, "kwargs": decrypted}``.
        """
        from cryptography.fernet import Fernet

        fernet = Fernet(self.fernet_key.encode())
        rows = []
        for trigger_id, classpath, stored, triggerer_id in self.sql(
            "SELECT id, classpath, kwargs, triggerer_id FROM trigger ORDER BY id"
        ):
            # Encrypted with the Fernet key; Airflow reads a text starting with "{" as plain JSON.
            kwargs = stored if stored.startswith("{") else fernet.decrypt(stored.encode()).decode()
            rows.append(
                {
                    "id": trigger_id,
                    "classpath": classpath,
                    "triggerer_id": triggerer_id,
                    "stored": stored,
                    "kwargs": kwargs,
                }
            )
        return rows
