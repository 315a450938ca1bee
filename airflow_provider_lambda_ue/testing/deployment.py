"""Airflow's components as processes sharing one AIRFLOW_HOME: what both live harnesses have in common.

Each component is its own ``airflow`` process, as in a real deployment (``airflow dags test`` runs
everything in one process and so hides the races between them), the API server on ``127.0.0.1``.
Every process starts in a session of its own (:class:`~.processes.LoggedProcess`), its output in
``logs/<component>.log``; :meth:`AirflowDeployment.stop` stops everything started, also after a
failed start. :class:`~.live_airflow.LiveAirflow` (SQLite, LocalExecutor) and
:class:`~.production_airflow.ProductionAirflow` (PostgreSQL, Celery, two schedulers and two
triggerers) say which components run and with which settings.

This module is for tests and the demo only; the runtime provider never imports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from airflow_provider_lambda_ue.testing.airflow_api import AirflowApi, LiveAirflowError
from airflow_provider_lambda_ue.testing.dag_runner import AIRFLOW, clean_environment
from airflow_provider_lambda_ue.testing.processes import LoggedProcess, free_port, stop_together

__all__ = ["AirflowDeployment"]

DeploymentT = TypeVar("DeploymentT", bound="AirflowDeployment")

# One fixed secret for every process: each would otherwise sign (and reject) tokens with its own.
_SHARED_SECRET = "lambda-ue-live-airflow-local-only"


class AirflowDeployment(AirflowApi):
    """
    Components of one Airflow, started, restarted and stopped as processes, used through the REST API.

    :param home: The AIRFLOW_HOME folder (created; the components' logs live there).
    :param dags_folder: The DAG folder.
    :param components: ``{name: the airflow sub-command's arguments}``, in the order they start.
    :param settings: The harness's own variables (executor, database, ...).
    :param env: Extra variables for every process (``AIRFLOW_CONN_*`` connections, endpoints, any
        ``AIRFLOW__SECTION__KEY`` setting); they win over the harness's.
    :param pythonpath: A folder to put on PYTHONPATH (e.g. the repository root).
    :param port: The API server's port; 0 picks a free one.
    :param airflow: The ``airflow`` program every component runs; by default the one beside this Python.
    """

    #: The parts of ``/api/v2/monitor/health`` that must be healthy.
    HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        *,
        components: Mapping[str, Sequence[str]],
        settings: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        pythonpath: Path | None = None,
        port: int = 0,
        airflow: str | None = None,
    ) -> None:
        self.port = port or free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.home = Path(home)
        self.airflow = airflow or AIRFLOW
        self.dags_folder = Path(dags_folder)
        self.commands = {name: list(argv) for name, argv in components.items()}
        #: Variables of one component only (its own log server port, say), on top of :attr:`env`.
        self.component_env: dict[str, dict[str, str]] = {}
        self.env = clean_environment()
        self.env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__SECRET_KEY=_SHARED_SECRET,
            AIRFLOW__API_AUTH__JWT_SECRET=_SHARED_SECRET,
            # :meth:`xcom` reads values deserialised, which Airflow 3.0 refuses without this.
            AIRFLOW__API__ENABLE_XCOM_DESERIALIZE_SUPPORT="True",
            # :meth:`start` migrates the database just before: every component checking the
            # migrations again would load each Alembic revision script (about 0.9 CPU-seconds each).
            AIRFLOW__DATABASE__CHECK_MIGRATIONS="False",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            # The DAG files do not change while this Airflow runs: parse each once, not every 30 s
            # (each parse is a process of its own, which busy test machines feel).
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="3600",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            # Free ports, not 8793/8794: live Airflows of parallel tests would share the log servers'.
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        )
        self.env.update(settings)
        if pythonpath is not None:
            self.env["PYTHONPATH"] = str(pythonpath)
        self.env.update(env or {})
        self.processes: dict[str, LoggedProcess] = {}

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self: DeploymentT) -> DeploymentT:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self: DeploymentT, timeout: float = 180) -> DeploymentT:
        """
        Prepare the database (:meth:`prepare`), start every component and wait until all are up.

        Anything started is stopped again if this fails.

        :param timeout: Seconds to wait for a healthy system.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.prepare()
            for component in self.commands:
                self.start_component(component)
            self.wait_healthy(timeout)
            # The Execution API builds its versioned routes on its first request (Cadwyn: about
            # 5 CPU-seconds). Made by the first task, that request outlasts the task client's
            # timeout, which then retries: the first task took 10 s longer. Any answer will do.
            with contextlib.suppress(LiveAirflowError, OSError):
                self._request("GET", "/execution/health", auth=False, raw=True)
        except BaseException:
            self.stop()
            raise
        return self

    def prepare(self) -> None:
        """Make the metadata database ready before any component starts (the harness's own way)."""

    def start_component(self, component: str) -> None:
        """
        Start one component (again) in its own session; its output goes to ``logs/<component>.log``.

        :param component: One of :attr:`commands`.
        """
        env = {**self.env, **self.component_env.get(component, {})}
        argv = [self.airflow, *self.commands[component]]
        self.processes[component] = LoggedProcess(argv, self.log_path(component), env).start()

    def stop_component(self, component: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """
        Signal a component's whole process group, wait for the process, then kill what is left.

        :param component: One of :attr:`commands`.
        :param sig: The first signal (SIGKILL: a crash, its task processes included; SIGTERM: a
            graceful stop).
        """
        process = self.processes.pop(component, None)
        if process is not None:
            process.stop(sig, timeout)

    def signal_component(self, component: str, sig: int) -> None:
        """
        Send a signal to a running component's whole process group and return at once.

        :param component: One of :attr:`commands`, running.
        :param sig: SIGSTOP and SIGCONT stall and resume it (a host that froze: its heartbeat lapses).
        """
        os.killpg(self.processes[component].pid, sig)

    def restart_component(
        self, component: str, sig: int = signal.SIGTERM, env: Mapping[str, str] | None = None
    ) -> None:
        """
        Stop a component (``sig``: SIGKILL for a crash) and start it again, optionally with changed settings.

        :param env: Variables to change for this and every later start (e.g. ``AIRFLOW__CORE__PARALLELISM``).
        """
        self.stop_component(component, sig)
        self.env.update(env or {})
        self.start_component(component)

    def stop(self) -> None:
        """Stop every component started (task processes included), all at once."""
        stop_together(self.processes.pop(component) for component in reversed(list(self.processes)))

    def log_path(self, component: str) -> Path:
        """The file a component's output goes to."""
        return self.home / "logs" / f"{component}.log"

    def component_log(self, component: str) -> str:
        """A component's output so far."""
        path = self.log_path(component)
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def log_lines(self, component: str, text: str) -> list[str]:
        """The lines of a component's output that contain ``text``."""
        return [line for line in self.component_log(component).splitlines() if text in line]

    def _failure(self, message: str) -> LiveAirflowError:
        ends = "\n".join(
            f"--- {component} (last lines)\n" + "\n".join(self.component_log(component).splitlines()[-15:])
            for component in self.commands
        )
        return LiveAirflowError(f"{message}\n{ends}")

    def wait_healthy(self, timeout: float = 180) -> None:
        """
        Wait until every component is up (:meth:`is_up`).

        :raises LiveAirflowError: A component exited or the time ran out.
        """
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for component, process in self.processes.items():
                if process.exit_code() is not None:
                    raise self._failure(f"airflow {component} exited with {process.exit_code()}")
            try:
                last = self.is_up()
            except (OSError, LiveAirflowError) as exc:
                last = exc
            if last is True:
                return
            time.sleep(1)
        raise self._failure(f"Airflow not up after {timeout} s; last answer: {last}")

    def is_up(self) -> Any:
        """``True`` once the API reports every part of :attr:`HEALTH_PARTS` healthy; else what it said."""
        health = self._request("GET", "/api/v2/monitor/health", auth=False)
        if isinstance(health, dict) and all(
            isinstance(health.get(part), dict) and health[part].get("status") == "healthy"
            for part in self.HEALTH_PARTS
        ):
            return True
        return health
