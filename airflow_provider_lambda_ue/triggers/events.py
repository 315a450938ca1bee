"""What a trigger reports to its task: one small class per event, and its plain-data form.

A trigger yields ``TriggerEvent(event.payload())``; the worker that resumes the task reads it back
with :func:`read` and finishes (:func:`airflow_provider_lambda_ue.invocation.complete`). Payloads
are plain JSON data (Airflow stores them), never a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from airflow_provider_lambda_ue.durable import DurableExecution
from airflow_provider_lambda_ue.outcomes import InvocationFailure, failure_outcome
from airflow_provider_lambda_ue.output import InvokeResult


@dataclass(frozen=True)
class Resolved:
    """
    What the triggerer found reading the connections of a task that started there.

    The worker that finishes the task shows it in the document and links to the console in the
    region without reading the connections again (or importing boto3 to do so).

    :param credentials_set: AWS credentials came from the connection.
    :param proxy_credentials_set: Proxy credentials were resolved.
    :param region: The region the triggerer's client used.
    """

    credentials_set: bool | None
    proxy_credentials_set: bool | None
    region: str | None


@dataclass(frozen=True)
class Answered:
    """
    Lambda answered Invoke (a function error included: the worker judges it).

    :param result: The answer.
    :param started_ms: When Invoke was sent (epoch milliseconds): where the complete log is sought.
    :param resolved: Set when the task started in the triggerer.
    """

    status: ClassVar[str] = "success"
    result: InvokeResult
    started_ms: int | None = None
    resolved: Resolved | None = None


@dataclass(frozen=True)
class Failed:
    """
    The invocation (or a poll of a durable execution) failed.

    :param exit_code: The outcome's exit code.
    :param detail: What went wrong (no secret).
    :param proxy_url: The proxy, without credentials (exit code 11).
    :param request_id: The request id of the service's error answer to Invoke, if any.
    :param resolved: Set when the task started in the triggerer.
    """

    status: ClassVar[str] = "error"
    exit_code: int = 1
    detail: str = ""
    proxy_url: str | None = None
    request_id: str | None = None
    resolved: Resolved | None = None

    @classmethod
    def of(cls, failure: InvocationFailure, request_id: str | None, resolved: Resolved | None) -> Failed:
        """The event of ``failure``."""
        return cls(failure.exit_code, failure.detail, failure.proxy_url, request_id, resolved)

    def failure(self) -> InvocationFailure:
        """The failure again, on the worker."""
        return InvocationFailure(failure_outcome(self.exit_code), self.detail, proxy_url=self.proxy_url)


@dataclass(frozen=True)
class RunOnWorker:
    """
    The task started in the triggerer, but the worker must invoke (:func:`~.deferral.route`'s wait).

    :param reasons: Why, one sentence each.
    """

    status: ClassVar[str] = "run_on_worker"
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class DurableEnded:
    """
    The wait for a durable execution ended: the execution ended, or the deadline passed (RUNNING).

    :param result: The start's answer.
    :param execution: The execution as last seen.
    """

    status: ClassVar[str] = "durable"
    result: InvokeResult
    execution: DurableExecution


Event = Answered | Failed | RunOnWorker | DurableEnded
_KINDS: dict[str, type[Any]] = {kind.status: kind for kind in (Answered, Failed, RunOnWorker, DurableEnded)}


def payload(event: Event) -> dict[str, Any]:
    """The event as plain data, with its ``status`` (a value that is not set is left out)."""
    data: dict[str, Any] = {"status": event.status}
    for name, value in asdict(event).items():
        if name == "result":
            data[name] = event.result.to_dict()  # type: ignore[union-attr]
        elif value is not None:
            data[name] = list(value) if isinstance(value, tuple) else value
    return data


def read(data: dict[str, Any]) -> Event:
    """
    The event a trigger yielded, from its payload.

    :raises ValueError: For a payload that is no event of these triggers.
    """
    values = dict(data)
    kind = _KINDS.get(values.pop("status", None))
    if kind is None:
        raise ValueError(f"not an event of the Lambda triggers: {sorted(data)}")
    if "result" in values:
        values["result"] = InvokeResult(**values["result"])
    if "execution" in values:
        values["execution"] = DurableExecution(**values["execution"])
    if values.get("resolved") is not None:
        values["resolved"] = Resolved(**values["resolved"])
    if "reasons" in values:
        values["reasons"] = tuple(values["reasons"])
    event: Event = kind(**values)
    return event
