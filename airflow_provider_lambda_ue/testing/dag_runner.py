"""Run DAGs end to end with ``airflow dags test`` in an isolated AIRFLOW_HOME (SQLite).

Used by the tests and the demo. The metadata database is migrated once; each run is a subprocess,
like a real ``airflow`` invocation, and its XComs, task states and rendered template fields are
read back from the database afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
_INHERITED_PREFIXES_DROPPED = ("AIRFLOW", "AWS_", "LAMBDA_UE_")
#: Variables a forked run cannot take over from a preloaded interpreter: Airflow reads its
#: ``AIRFLOW__`` settings into modules while importing, Python its own at start-up.
_READ_AT_IMPORT_PREFIXES = ("AIRFLOW__", "PYTHON")


@dataclass
class DagTestResult:
    """What one ``airflow dags test`` run left behind."""

    returncode: int
    output: str
    run_id: str | None
    run_state: str | None
    #: ``{(task_id, map_index): state}``
    task_states: dict[tuple[str, int], str] = field(default_factory=dict)
    #: ``{(task_id, map_index): return_value}``
    xcoms: dict[tuple[str, int], Any] = field(default_factory=dict)
    #: ``{(task_id, map_index, key): value}`` of the other XComs a task pushed (not the links').
    keyed_xcoms: dict[tuple[str, int, str], Any] = field(default_factory=dict)
    #: ``{(task_id, map_index): rendered template fields}``
    rendered: dict[tuple[str, int], Any] = field(default_factory=dict)
    #: ``{(task_id, map_index): {extra link XCom key (``_link_<class>``): URL}}``, as the UI reads them
    links: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def state(self, task_id: str, map_index: int = -1) -> str | None:
        """The final state of a task instance."""
        return self.task_states.get((task_id, map_index))

    def xcom(self, task_id: str, map_index: int = -1, *, key: str = "return_value") -> Any:
        """The task's XCom ``key`` (``return_value`` by default)."""
        if key == "return_value":
            return self.xcoms[(task_id, map_index)]
        return self.keyed_xcoms[(task_id, map_index, key)]


@dataclass
class AirflowEnv:
    """An isolated Airflow installation: home folder, environment, and a way to run DAGs."""

    home: Path
    env: dict[str, str]
    #: The ``airflow`` program to run (another environment's, e.g. for the compatibility tier).
    airflow: str = AIRFLOW
    _fork_server: DagTestForkServer | None = field(default=None, init=False, repr=False, compare=False)

    def start_fork_server(self) -> None:
        """
        Serve later :meth:`dags_test` runs from a fork of an interpreter that has imported Airflow.

        Worth it for a home that runs several DAGs: each run then saves the import and the
        in-process Execution API's set-up (about 9 of 13 CPU seconds on Airflow 3.3). Starts in
        the background; the first run waits for it. Stopped by :meth:`close`.
        """
        if self._fork_server is None:
            python = str(Path(self.airflow).with_name("python"))
            self._fork_server = DagTestForkServer(python, self.env, self.home / "dag-test-server.log")

    @contextlib.contextmanager
    def forking(self) -> Iterator[AirflowEnv]:
        """:meth:`start_fork_server` for the ``with`` block, :meth:`close` after it."""
        self.start_fork_server()
        try:
            yield self
        finally:
            self.close()

    @property
    def forked_runs(self) -> int | None:
        """How many runs the fork server has forked; None without one."""
        return None if self._fork_server is None else self._fork_server.runs

    def close(self) -> None:
        """Stop the fork server, if one runs."""
        if self._fork_server is not None:
            self._fork_server.close()
            self._fork_server = None

    def dags_test(
        self, dag_id: str, extra_env: Mapping[str, str] | None = None, timeout: int = 300
    ) -> DagTestResult:
        """
        Run ``airflow dags test DAG_ID`` and collect its results from the metadata database.

        :param dag_id: The DAG to run.
        :param extra_env: Variables for this run (connections as ``AIRFLOW_CONN_*``, endpoints).
        """
        extra_env = extra_env or {}
        env = {**self.env, **extra_env}
        argv = [self.airflow, "dags", "test", dag_id]
        if self._fork_server is not None and not any(
            key.startswith(_READ_AT_IMPORT_PREFIXES) and self.env.get(key) != value
            for key, value in extra_env.items()
        ):
            returncode, output = self._fork_server.run(argv, env, timeout)
            return self._collect(dag_id, returncode, output)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return self._collect(dag_id, proc.returncode, proc.stdout + proc.stderr)

    def log_files(self) -> dict[Path, str]:
        """
        Every file under ``$AIRFLOW_HOME/logs`` and its text.

        ``airflow dags test`` writes task logs to its own output; whatever Airflow still writes
        to files (task or processor logs, depending on the version) is here.
        """
        logs = self.home / "logs"
        if not logs.is_dir():
            return {}
        return {
            path: path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(logs.rglob("*"))
            if path.is_file()
        }

    def clone(self, home: Path, dags_folder: Path) -> AirflowEnv:
        """
        A second installation with another DAG folder, from a copy of this one's migrated database.

        Much faster than :func:`create_airflow_env` (no migration); the two share nothing afterwards.

        :param home: The new (empty or non-existent) AIRFLOW_HOME folder.
        :param dags_folder: Its DAG folder.
        """
        home.mkdir(parents=True, exist_ok=True)
        # Only the database: airflow.cfg holds this home's absolute paths (database, logs).
        shutil.copy2(self.home / "airflow.db", home / "airflow.db")
        env = {**self.env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder)}
        return AirflowEnv(home=home, env=env, airflow=self.airflow)

    def _collect(self, dag_id: str, returncode: int, output: str) -> DagTestResult:
        db = sqlite3.connect(self.home / "airflow.db")
        try:
            row = db.execute(
                "SELECT id, run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            result = DagTestResult(returncode, output, row[1] if row else None, row[2] if row else None)
            if row is None:
                return result
            run_id = row[1]
            for task_id, map_index, state in db.execute(
                "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                (dag_id, run_id),
            ):
                result.task_states[(task_id, map_index)] = state
            for task_id, map_index, key, value in db.execute(
                "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ? "
                "AND key NOT LIKE '\\_link\\_%' ESCAPE '\\'",
                (dag_id, run_id),
            ):
                if key == "return_value":
                    result.xcoms[(task_id, map_index)] = _json(value)
                else:
                    result.keyed_xcoms[(task_id, map_index, key)] = _json(value)
            for task_id, map_index, key, value in db.execute(
                "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ? "
                "AND key LIKE '\\_link\\_%' ESCAPE '\\'",
                (dag_id, run_id),
            ):
                result.links.setdefault((task_id, map_index), {})[key] = _json(value)
            for task_id, map_index, value in db.execute(
                "SELECT task_id, map_index, rendered_fields FROM rendered_task_instance_fields "
                "WHERE dag_id = ? AND run_id = ?",
                (dag_id, run_id),
            ):
                result.rendered[(task_id, map_index)] = _json(value)
            return result
        finally:
            db.close()


class DagTestForkServer:
    """
    The parent's end of :mod:`~airflow_provider_lambda_ue.testing.dag_test_server`: one run at a time.

    :param python: The interpreter of the Airflow installation.
    :param env: The environment the server imports Airflow in (the home's, without a run's extras).
    :param log_path: Where the server's own output goes.
    """

    def __init__(self, python: str, env: Mapping[str, str], log_path: Path) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115 - kept open while the server runs
        self._process = subprocess.Popen(
            [python, "-m", "airflow_provider_lambda_ue.testing.dag_test_server"],
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            bufsize=0,  # unbuffered: select() below must see every answer that has arrived
        )
        self._log_path = log_path
        assert self._process.stdin is not None and self._process.stdout is not None
        self._commands: IO[bytes] = self._process.stdin
        self._answers: IO[bytes] = self._process.stdout
        #: Runs forked so far.
        self.runs = 0

    def run(self, argv: list[str], env: Mapping[str, str], timeout: float) -> tuple[int, str]:
        """
        Run ``argv`` (an ``airflow`` command line) in a forked child; its exit code and output.

        :raises subprocess.TimeoutExpired: As :func:`subprocess.run` does, after killing the child.
        """
        with tempfile.TemporaryDirectory(prefix="dag-test-") as folder:
            stdout, stderr = Path(folder, "stdout"), Path(folder, "stderr")
            request = {
                "id": self.runs,
                "argv": argv,
                "env": dict(env),
                "cwd": os.getcwd(),
                "stdout": str(stdout),
                "stderr": str(stderr),
            }
            data = (json.dumps(request) + "\n").encode()
            while data:
                data = data[self._commands.write(data) or 0 :]
            deadline = time.monotonic() + timeout
            run_id = self.runs
            self.runs += 1
            # The first answer may wait for the server's own start (the preload).
            pid = int(self._answer(deadline + 120, run_id)["pid"])
            try:
                returncode = int(self._answer(deadline, run_id)["returncode"])
            except subprocess.TimeoutExpired:
                # Its group (the child makes one at once), else the child itself.
                for kill in (os.killpg, os.kill):
                    with contextlib.suppress(ProcessLookupError):
                        kill(pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):  # a late answer is skipped later
                    self._answer(time.monotonic() + 30, run_id)
                raise subprocess.TimeoutExpired(argv, timeout) from None
            output = stdout.read_text(errors="replace") + stderr.read_text(errors="replace")
            return returncode, output

    def _answer(self, deadline: float, run_id: int) -> dict[str, Any]:
        """The server's next answer about run ``run_id``; those of runs given up on are skipped."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired("dag test server", 0)
            ready, _, _ = select.select([self._answers], [], [], remaining)
            if not ready:
                continue
            line = self._answers.readline()
            if not line:
                self.close()
                log = self._log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"the dag test server ended (exit {self._process.returncode}):\n{log}")
            answer: dict[str, Any] = json.loads(line)
            if answer.get("id") == run_id:
                return answer

    def close(self) -> None:
        """End the server (it stops reading) and wait for it."""
        with contextlib.suppress(OSError):
            self._commands.close()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._answers.close()
        self._log.close()


def _json(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        value = json.loads(value)
        # Some Airflow versions store JSON text inside the JSON column.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value


def clean_environment() -> dict[str, str]:
    """This process's environment without Airflow, AWS, ``LAMBDA_UE_`` or proxy settings; ``NO_PROXY=*``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_INHERITED_PREFIXES_DROPPED)
        and key.lower() not in ("http_proxy", "https_proxy")
    }
    env["NO_PROXY"] = "*"
    return env


def create_airflow_env(
    home: Path, dags_folder: Path, extra_pythonpath: Path | None = None, airflow: str = AIRFLOW
) -> AirflowEnv:
    """
    Create and migrate an isolated Airflow home (SQLite) whose DAG folder is ``dags_folder``.

    Nothing is inherited from the caller's Airflow, AWS or proxy settings.

    :param home: The (empty) AIRFLOW_HOME folder.
    :param dags_folder: The DAG folder.
    :param extra_pythonpath: A folder to put on PYTHONPATH (e.g. the repository root).
    :param airflow: The ``airflow`` program (default: the one next to this Python).
    """
    airflow_env = existing_airflow_env(home, dags_folder, extra_pythonpath, airflow)
    migrate = [airflow, "db", "migrate"]
    subprocess.run(migrate, env=airflow_env.env, capture_output=True, check=True, timeout=600)
    return airflow_env


def existing_airflow_env(
    home: Path, dags_folder: Path, extra_pythonpath: Path | None = None, airflow: str = AIRFLOW
) -> AirflowEnv:
    """
    The :class:`AirflowEnv` of a home that :func:`create_airflow_env` made (with these arguments)
    earlier, possibly in another process; nothing is run.

    :param home: The AIRFLOW_HOME folder.
    :param dags_folder: The DAG folder.
    :param extra_pythonpath: A folder to put on PYTHONPATH (e.g. the repository root).
    :param airflow: The ``airflow`` program (default: the one next to this Python).
    """
    env = clean_environment()
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        # The home is migrated once when it is made: each run checking the migrations again loads
        # every Alembic revision script (about 0.9 CPU-seconds a process).
        AIRFLOW__DATABASE__CHECK_MIGRATIONS="False",
        NO_PROXY="*",
    )
    if extra_pythonpath is not None:
        env["PYTHONPATH"] = str(extra_pythonpath)
    return AirflowEnv(home=home, env=env, airflow=airflow)
