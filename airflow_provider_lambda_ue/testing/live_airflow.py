"""A live Airflow on loopback: api-server, scheduler, dag-processor and triggerer (tests and the demo).

The shape ``airflow standalone`` has: LocalExecutor, SQLite, an isolated AIRFLOW_HOME, each
component its own process (:class:`~.deployment.AirflowDeployment`); runs are triggered, and their
states, XComs and task logs read, through the REST API (:class:`~.airflow_api.AirflowApi`). The
production shape (PostgreSQL, Celery, two schedulers and two triggerers) is
:class:`~.production_airflow.ProductionAirflow`.

Usage::

    with LiveAirflow(home, dags_folder, env={"AIRFLOW_CONN_AWS_DEFAULT": ...}) as airflow:
        airflow.wait_for_dag("my_dag")
        run_id = airflow.trigger("my_dag")
        assert airflow.wait_for_run("my_dag", run_id) == "success"
        document = airflow.xcom("my_dag", run_id, "invoke")

This module is for tests and the demo only; the runtime provider never imports it.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from airflow_provider_lambda_ue.testing.airflow_api import FINISHED_STATES, LiveAirflowError
from airflow_provider_lambda_ue.testing.deployment import AirflowDeployment

__all__ = ["COMPONENTS", "FINISHED_STATES", "MIN_HEARTBEAT_INTERVAL", "LiveAirflow", "LiveAirflowError"]

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
"""The ``airflow`` sub-commands started, in this order."""

MIN_HEARTBEAT_INTERVAL = 1
"""``[workers] min_heartbeat_interval`` of a live Airflow, in seconds (Airflow's default is 5)."""


class LiveAirflow(AirflowDeployment):
    """
    Start, use and stop a live Airflow (one process per component) in ``home``.

    :param home: The AIRFLOW_HOME folder (created; the SQLite database and the logs live there).
    :param dags_folder: The DAG folder.
    :param env: Extra variables for every process (``AIRFLOW_CONN_*`` connections, endpoints, any
        ``AIRFLOW__SECTION__KEY`` setting); they win over the defaults set here.
    :param parallelism: ``[core] parallelism``: how many task processes run at once (worker slots).
    :param pythonpath: A folder to put on PYTHONPATH (e.g. the repository root).
    :param port: The API server's port; 0 picks a free one.
    :param database: A migrated SQLite database of this Airflow to start from (copied; e.g. the
        ``airflow.db`` of a home that :func:`~.dag_runner.create_airflow_env` made). By default
        :meth:`start` migrates a new one (``airflow db migrate``, about 5 CPU-seconds).
    :param airflow: The ``airflow`` program every component runs: another environment's (an older
        release's, say); by default the one installed beside this Python.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        env: Mapping[str, str] | None = None,
        parallelism: int = 2,
        pythonpath: Path | None = None,
        port: int = 0,
        database: Path | None = None,
        airflow: str | None = None,
    ) -> None:
        settings = {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            # A task's supervisor waits in ``select`` for at most this long (5 s by default). When
            # the task process closes its sockets before it has exited, the wait runs its full
            # length before the supervisor sees the exit: about half the task runs took 5 s more
            # and held their worker slot meanwhile. A deployment may choose 1 s (a heartbeat at
            # most every second per running task); the race test sets the default back.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": str(MIN_HEARTBEAT_INTERVAL),
        }
        super().__init__(
            home,
            dags_folder,
            components={component: [component] for component in COMPONENTS},
            settings=settings,
            env=env,
            pythonpath=pythonpath,
            port=port,
            airflow=airflow,
        )
        self.database = database

    def prepare(self) -> None:
        """Copy the migrated SQLite database, or migrate a new one."""
        if self.database is not None:
            shutil.copy2(self.database, self.home / "airflow.db")
            # ``db migrate`` would have written airflow.cfg, with a new Fernet key. Without it,
            # the components would each write one at once, each with a key of its own.
            fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
            (self.home / "airflow.cfg").write_text(f"[core]\nfernet_key = {fernet_key}\n")
        else:
            migrate = [self.airflow, "db", "migrate"]
            subprocess.run(migrate, env=self.env, capture_output=True, check=True, timeout=600)
