"""Airflow's REST API (``/api/v2``) as the live harnesses' tests and demos use it.

Runs are triggered, and their states, XComs, links and task logs read, the way a user's tooling
would: a JWT from the simple auth manager (every visitor an admin), JSON over loopback, never
through a proxy from the environment.

This module is for tests and the demo only; the runtime provider never imports it.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = ["FINISHED_STATES", "AirflowApi", "LiveAirflowError"]

FINISHED_STATES = frozenset({"success", "failed"})
"""DAG run states after which nothing runs any more."""


class LiveAirflowError(RuntimeError):
    """A component did not start, a request failed, or a wait timed out (with the logs' ends)."""


class AirflowApi:
    """
    A client of one Airflow's REST API.

    :param url: The API server's ``http://host:port``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._token: str | None = None

    def _failure(self, message: str) -> LiveAirflowError:
        """The error for a failed wait; a harness adds its components' logs."""
        return LiveAirflowError(message)

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

    def post(self, path: str, body: Any) -> Any:
        """``POST /api/v2<path>`` with a JSON body; the answer as JSON."""
        return self._request("POST", f"/api/v2{path}", body)

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
        answer = self.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
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

    def set_connection(self, connection_id: str, **fields: Any) -> None:
        """
        Create a connection in the metadata database, or replace it, as an administrator would.

        :param fields: ``conn_type``, ``login``, ``password``, ``extra``, ... as the API names them.
        """
        with contextlib.suppress(LiveAirflowError):
            self._request("DELETE", f"/api/v2/connections/{_quote(connection_id)}")
        self.post("/connections", {"connection_id": connection_id, **fields})

    def alive_jobs(self, job_type: str) -> list[dict[str, Any]]:
        """
        The running jobs of a kind whose heartbeat is recent: one per live scheduler, triggerer, ...

        :param job_type: ``SchedulerJob``, ``TriggererJob`` or ``DagProcessorJob``.
        """
        answer = self.get("/jobs", job_type=job_type, job_state="running", is_alive="true", limit=100)
        jobs: list[dict[str, Any]] = answer["jobs"]
        return jobs


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")
