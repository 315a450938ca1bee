"""A live Airflow on loopback: api-server, scheduler, dag-processor and triggerer (tests and the demo).

Each component is its own ``airflow`` process, as in a real deployment (``airflow dags test`` runs
everything in one process and so hides the races between them): LocalExecutor, SQLite, an isolated
AIRFLOW_HOME, the API server on ``127.0.0.1``. Every process starts in its own process group, so
stopping one stops what it spawned (task processes, the triggerer's subprocess, workers); :meth:`stop`
stops everything started, also after a failed start. Runs are triggered, and their states, XComs and
task logs read, through the REST API (``/api/v2``), the way a user's tooling would.

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
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from airflow_provider_lambda_ue.testing.dag_runner import AIRFLOW, clean_environment

__all__ = ["COMPONENTS", "FINISHED_STATES", "MIN_HEARTBEAT_INTERVAL", "LiveAirflow", "LiveAirflowError"]

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
"""The ``airflow`` sub-commands started, in this order."""

MIN_HEARTBEAT_INTERVAL = 1
"""``[workers] min_heartbeat_interval`` of a live Airflow, in seconds (Airflow's default is 5)."""

FINISHED_STATES = frozenset({"success", "failed"})
"""DAG run states after which nothing runs any more."""

# One fixed secret for every process: each would otherwise sign (and reject) tokens with its own.
_SHARED_SECRET = "lambda-ue-live-airflow-local-only"


class LiveAirflowError(RuntimeError):
    """A component did not start, a request failed, or a wait timed out (with the logs' ends)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveAirflow:
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
        self.home = Path(home)
        self.airflow = airflow or AIRFLOW
        self.database = database
        self.dags_folder = Path(dags_folder)
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = clean_environment()
        self.env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(parallelism),
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
            # A task's supervisor waits in ``select`` for at most this long (5 s by default). When
            # the task process closes its sockets before it has exited, the wait runs its full
            # length before the supervisor sees the exit: about half the task runs took 5 s more
            # and held their worker slot meanwhile. A deployment may choose 1 s (a heartbeat at
            # most every second per running task); the race test sets the default back.
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL=str(MIN_HEARTBEAT_INTERVAL),
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            # Free ports, not 8793/8794: live Airflows of parallel tests would share the log servers'.
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()),
        )
        if pythonpath is not None:
            self.env["PYTHONPATH"] = str(pythonpath)
        self.env.update(env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_handles: dict[str, IO[bytes]] = {}
        self._token: str | None = None

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> LiveAirflow:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 180) -> LiveAirflow:
        """
        Migrate (or copy) the database, start every component and wait until the API reports them healthy.

        Anything started is stopped again if this fails.

        :param timeout: Seconds to wait for a healthy system.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            if self.database is not None:
                shutil.copy2(self.database, self.home / "airflow.db")
                # ``db migrate`` would have written airflow.cfg, with a new Fernet key. Without it,
                # the components would each write one at once, each with a key of its own.
                fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
                (self.home / "airflow.cfg").write_text(f"[core]\nfernet_key = {fernet_key}\n")
            else:
                migrate = [self.airflow, "db", "migrate"]
                subprocess.run(migrate, env=self.env, capture_output=True, check=True, timeout=600)
            for component in COMPONENTS:
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

    def start_component(self, component: str) -> None:
        """
        Start one component (again) in its own process group; its output goes to ``logs/<component>.log``.

        :param component: One of :data:`COMPONENTS`.
        """
        log_path = self.log_path(component)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._log_handles.get(component)
        if handle is None or handle.closed:
            handle = self._log_handles[component] = open(log_path, "ab")  # noqa: SIM115 - kept open while it runs
        self.processes[component] = subprocess.Popen(
            [self.airflow, component],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_component(self, component: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """
        Signal a component's whole process group, wait for the process, then kill what is left.

        :param component: One of :data:`COMPONENTS`.
        :param sig: The first signal (SIGKILL: a crash; SIGTERM: a graceful stop).
        """
        proc = self.processes.pop(component, None)
        if proc is None:
            return
        _signal_group(proc.pid, sig)
        _reap(proc, timeout)

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
        stopping = [self.processes.pop(component) for component in reversed(list(self.processes))]
        # Signalled together, they shut down side by side: one after another took 4-17 s.
        for proc in stopping:
            _signal_group(proc.pid, signal.SIGTERM)
        for proc in stopping:
            _reap(proc, 30)
        for handle in self._log_handles.values():
            handle.close()

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
            for component in COMPONENTS
        )
        return LiveAirflowError(f"{message}\n{ends}")

    def wait_healthy(self, timeout: float = 180) -> None:
        """
        Wait until the API reports the database, scheduler, triggerer and dag-processor healthy.

        :raises LiveAirflowError: A component exited or the time ran out.
        """
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for component, proc in self.processes.items():
                if proc.poll() is not None:
                    raise self._failure(f"airflow {component} exited with {proc.returncode}")
            try:
                last = self._request("GET", "/api/v2/monitor/health", auth=False)
            except (OSError, LiveAirflowError):
                last = None
            if isinstance(last, dict) and all(
                isinstance(last.get(part), dict) and last[part].get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            ):
                return
            time.sleep(1)
        raise self._failure(f"Airflow not healthy after {timeout} s; last health answer: {last}")

    # -- REST API -------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT for the REST API (the simple auth manager hands one out when everyone is admin)."""
        if self._token is None:
            answer = self._request("GET", "/auth/token", auth=False)
            self._token = str(answer["access_token"])
        return self._token

    def _request(
        self, method: str, path: str, body: Any = None, *, auth: bool = True, raw: bool = False
    ) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        # Loopback only: never through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise LiveAirflowError(f"{method} {path}: HTTP {exc.code}: {detail[:2000]}") from None
        if raw:
            return text
        return json.loads(text) if text else None

    def get(self, path: str, **query: Any) -> Any:
        """``GET /api/v2<path>?<query>`` as JSON."""
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return self._request("GET", f"/api/v2{path}{suffix}")

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """
        Wait until the dag-processor has parsed ``dag_id`` without an import error.

        :raises LiveAirflowError: The DAG file failed to import, or the time ran out.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get(f"/dags/{dag_id}")
                return
            except LiveAirflowError as exc:
                if "HTTP 404" not in str(exc):
                    raise
            errors = self.get("/importErrors").get("import_errors", [])
            if errors:
                raise self._failure(f"import errors: {errors}")
            time.sleep(1)
        raise self._failure(f"DAG {dag_id} not parsed after {timeout} s")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """
        Trigger a DAG run now; return its run id.

        :param conf: The run's ``conf``.
        """
        answer = self._request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})}
        )
        return str(answer["dag_run_id"])

    def run_dag(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, timeout: float = 180
    ) -> tuple[str, str]:
        """
        Wait for the DAG to be parsed, trigger it, wait for the run to finish.

        :return: ``(run_id, final state)``.
        """
        self.wait_for_dag(dag_id)
        run_id = self.trigger(dag_id, conf)
        return run_id, self.wait_for_run(dag_id, run_id, timeout)

    def run_state(self, dag_id: str, run_id: str) -> str:
        """The DAG run's state."""
        return str(self.get(f"/dags/{dag_id}/dagRuns/{_quote(run_id)}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        """
        Wait until the run has finished; return its state (``success`` or ``failed``).

        :raises LiveAirflowError: It has not finished after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in FINISHED_STATES:
                return state
            time.sleep(1)
        raise self._failure(
            f"run {dag_id}/{run_id} not finished after {timeout} s: {self.task_states(dag_id, run_id)}"
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones one by one), as the API returns them."""
        instances: list[dict[str, Any]] = []
        while True:
            page = self.get(
                f"/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances", limit=100, offset=len(instances)
            )
            instances.extend(page["task_instances"])
            if not page["task_instances"] or len(instances) >= page["total_entries"]:
                return instances

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """One task instance as the API returns it (``state``, ``try_number``, ``pid``, ``hostname``, ...)."""
        path = f"/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}"
        answer: dict[str, Any] = self.get(f"{path}/{map_index}" if map_index >= 0 else path)
        return answer

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """
        Set a task instance's state through the REST API, as the UI's "Mark as failed" does.

        :param state: ``failed``, ``success``, ...
        """
        self._request(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}",
            {"new_state": state},
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        """``{(task_id, map_index): state}`` of the run."""
        return {(ti["task_id"], ti["map_index"]): ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value"
    ) -> Any:
        """
        A task instance's XCom value, deserialised (the task's output document for ``return_value``).

        :raises LiveAirflowError: There is no such XCom (HTTP 404).
        """
        answer = self.get(
            f"/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/xcomEntries/{key}",
            map_index=map_index,
            deserialize="true",
        )
        # As stored: a document stored as JSON text (not as an object) would come back as a string.
        return answer["value"]

    def extra_links(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, str | None]:
        """A task instance's extra links as the UI gets them: ``{link name: URL or None}``."""
        answer = self.get(
            f"/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/links", map_index=map_index
        )
        found: dict[str, str | None] = answer["extra_links"]
        return found

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The text of one try's task log (worker and triggerer parts, as the UI shows them)."""
        answer = self.get(
            f"/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/logs/{try_number}",
            map_index=map_index,
            full_content="true",
        )
        content = answer.get("content")
        if isinstance(content, list):
            lines = []
            for entry in content:
                if isinstance(entry, dict):
                    lines.append(
                        " ".join(str(entry.get(k, "")) for k in ("event", "error_detail") if entry.get(k))
                    )
                else:
                    lines.append(str(entry))
            return "\n".join(lines)
        return str(content)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a signalled component, kill it past ``timeout``, then kill what is left of its group."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(10)
    # Children that outlived the group leader (task processes) go too.
    _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
