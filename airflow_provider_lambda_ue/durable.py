"""Lambda durable executions: names, generations, statuses and how each one ends the task.

A durable execution is started by ``Invoke`` with a ``DurableExecutionName``: a second start with
the same name and payload returns the same execution instead of starting one, so a start can be
repeated safely by a retry, a restarted worker or the command line run twice. Its status is read
with ``GetDurableExecution``; nothing here needs the connection that started it.

Generations: an Airflow retry must start a new execution when the earlier one ended FAILED,
TIMED_OUT or STOPPED (else ``retries`` would mean nothing), but must find the earlier one when it
is RUNNING or SUCCEEDED. Names are therefore numbered: generation 1 is the name itself, generation
``n`` the name with ``-r<n>``. A try walks the generations from the first (or from the one its
``task_state_store`` remembers), listing each name (``ListDurableExecutionsByFunction``): a failed
one sends it to the next, a RUNNING or SUCCEEDED one is the execution of this task, and the first
name with no execution is started. The walk needs nothing recorded between Invoke and its answer:
a worker killed there left an execution under a name the next try computes again.

The walk that starts, waits for and finishes an execution is :mod:`.durable_wait`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.output import InvokeResult

STATUS_RUNNING = "RUNNING"
STATUS_SUCCEEDED = "SUCCEEDED"
STATUS_FAILED = "FAILED"
STATUS_TIMED_OUT = "TIMED_OUT"
STATUS_STOPPED = "STOPPED"
#: The statuses an execution ends in.
TERMINAL_STATUSES = frozenset({STATUS_SUCCEEDED, STATUS_FAILED, STATUS_TIMED_OUT, STATUS_STOPPED})
#: Ended without a result: a retry starts the next generation.
FAILED_STATUSES = frozenset({STATUS_FAILED, STATUS_TIMED_OUT, STATUS_STOPPED})

#: Polls start this often and slow down (doubling) to ``poll_interval`` (seconds).
FIRST_POLL_SECONDS = 0.5
#: ``DurableExecutionName``'s longest (Invoke's model; a test checks they agree): a derived name
#: leaves room in it for the generation suffix.
MAX_DURABLE_NAME_LENGTH = 64

#: ``task_state_store`` key of the execution this task instance started (Airflow 3.3+).
STATE_STORE_KEY = "lambda_ue_durable_execution"

_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]+")
_HASH_LENGTH = 16
#: Room left in a derived name for the generation suffix (``-r`` and up to 3 digits).
_SUFFIX_ROOM = 5


def derive_execution_name(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
    """
    A ``DurableExecutionName`` for a task instance: the same for every try, unique per instance.

    A readable prefix (``dag.task``, disallowed characters as ``-``, cut to fit) and a hash of
    DAG, run, task and map index (the try number is left out so that retries find the name).
    At most 59 characters, so every generation suffix still fits the 64 allowed.

    :param dag_id: The DAG.
    :param run_id: The DAG run.
    :param task_id: The task.
    :param map_index: The map index (-1 or None when not mapped).
    :return: The name, e.g. ``my_dag-invoke-3f2a9c0d1e2b4a5c``.
    """
    index = -1 if map_index is None else int(map_index)
    identity = json.dumps([dag_id, run_id, task_id, index])
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    readable = _NOT_ALLOWED.sub("-", f"{dag_id}-{task_id}").strip("-") or "task"
    room = MAX_DURABLE_NAME_LENGTH - _SUFFIX_ROOM - _HASH_LENGTH - 1
    return f"{readable[:room].rstrip('-')}-{digest}"


def generation_name(name: str, generation: int) -> str:
    """
    The name of the ``generation``-th execution of a task (1: the name itself, n: ``<name>-r<n>``).

    A name too long for its suffix is cut: a given name of 64 characters loses its end, which two
    names may share, so such names should differ within their first 59 characters.
    """
    if generation <= 1:
        return name
    suffix = f"-r{generation}"
    return name[: MAX_DURABLE_NAME_LENGTH - len(suffix)] + suffix


@dataclass(frozen=True)
class DurableExecution:
    """
    A durable execution as ``GetDurableExecution`` reports it (plain data: triggers carry it).

    :param arn: ``DurableExecutionArn``.
    :param name: ``DurableExecutionName``.
    :param status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED.
    :param result: The result (JSON text) of a SUCCEEDED execution.
    :param error: The ``Error`` object of one that failed (``ErrorType``, ``ErrorMessage``, ...).
    """

    arn: str
    name: str | None = None
    status: str = STATUS_RUNNING
    result: str | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def from_response(cls, response: dict[str, Any]) -> DurableExecution:
        """From a ``GetDurableExecution`` answer (or a listed summary, without result and error)."""
        error = response.get("Error")
        return cls(
            arn=str(response["DurableExecutionArn"]),
            name=response.get("DurableExecutionName"),
            status=str(response.get("Status") or STATUS_RUNNING),
            result=response.get("Result"),
            error={k: v for k, v in error.items() if isinstance(v, (str, int, float, bool, list))}
            if isinstance(error, dict)
            else None,
        )

    @property
    def terminal(self) -> bool:
        """Whether the execution has ended."""
        return self.status in TERMINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DurableExecution:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    def error_payload(self) -> str:
        """The error as Lambda reports a function error (``errorType``, ``errorMessage``), as JSON text."""
        error = self.error or {}
        body: dict[str, Any] = {
            "errorType": error.get("ErrorType") or self.status,
            "errorMessage": error.get("ErrorMessage") or f"The durable execution ended {self.status}",
        }
        if error.get("StackTrace"):
            body["stackTrace"] = error["StackTrace"]
        return json.dumps(body)


def next_poll_delay(previous: float | None, poll_interval: float) -> float:
    """Seconds until the next ``GetDurableExecution``: quick at first, then every ``poll_interval``."""
    if previous is None:
        return min(FIRST_POLL_SECONDS, poll_interval)
    return min(previous * 2, poll_interval)


def with_execution(result: InvokeResult, execution: DurableExecution) -> InvokeResult:
    """
    The :class:`~airflow_provider_lambda_ue.output.InvokeResult` of the start, with the execution's outcome.

    The result payload lands where the seed's ``payload`` is; a failed execution's error object
    takes its place, with ``function_error`` set for FAILED (the function raised).
    """
    payload = result.payload
    function_error = result.function_error
    if execution.status == STATUS_SUCCEEDED:
        payload = execution.result
        function_error = None
    elif execution.status in FAILED_STATUSES:
        payload = execution.error_payload()
        function_error = "Unhandled" if execution.status == STATUS_FAILED else None
    return replace(
        result,
        payload=payload,
        function_error=function_error,
        durable_execution_arn=execution.arn,
        durable_execution_name=execution.name or result.durable_execution_name,
        durable_execution_status=execution.status,
    )
