"""An invocation's log events laid out the way Lambda writes them to CloudWatch Logs (no moto).

* **Log group**: the function's ``LoggingConfig.LogGroup``, else ``/aws/lambda/<name>``.
* **Log stream**: one per execution environment, named ``YYYY/MM/DD/[<version>]<32 hex digits>``.
  An invocation takes an idle environment of its function version (the stream it wrote last) or
  starts a new one; invocations running at the same time each have their own. The handler process
  is still a fresh interpreter every time: only the log layout is that of warm environments, so a
  stream holds several invocations one after another, as Lambda's do.
* **Text format** (``LoggingConfig.LogFormat`` ``Text``, the default): ``INIT_START`` when an
  environment starts, ``START RequestId: <id> Version: <version>``, the handler's output line by
  line, ``END RequestId: <id>`` and ``REPORT RequestId: <id>\\tDuration: ...`` (``Init Duration``
  only for the first invocation of an environment).
* **JSON format** (``LogFormat`` ``JSON``): ``{"time", "type": "platform.initStart", "record"}``,
  ``platform.start`` and ``platform.report`` records (no END line: ``platform.report`` closes the
  invocation), and each output line as ``{"timestamp", "level", "requestId", "message"}``
  (``tenantId`` too for a tenant's invocation).

Events are timestamped from the START time to the END time in order, so they sort as they were
written. The same lines make the ``LogType=Tail`` answer. :mod:`.moto_logs` writes them into moto.
"""

from __future__ import annotations

import datetime
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest, InvocationResult

LOG_FORMAT_TEXT = "Text"
LOG_FORMAT_JSON = "JSON"

#: Lambda writes its JSON records without spaces.
_COMPACT = (",", ":")


def default_log_group(function_name: str) -> str:
    """Lambda's log group for a function without ``LoggingConfig.LogGroup``."""
    return f"/aws/lambda/{function_name}"


def stream_name(version: str, when: datetime.datetime | None = None) -> str:
    """A new execution environment's stream name: ``YYYY/MM/DD/[$LATEST]<hex>``."""
    day = when or datetime.datetime.now(datetime.timezone.utc)
    return f"{day:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


@dataclass
class Environment:
    """
    An execution environment as its log shows it.

    :param stream: Its log stream.
    :param invocations: Invocations it has served (0: the next one is its cold start).
    """

    stream: str
    invocations: int = 0


class EnvironmentPool:
    """Idle execution environments per function version (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, str], list[Environment]] = {}

    def acquire(self, account: str, function_name: str, version: str) -> Environment:
        """An idle environment of the version (the most recently used), or a new one."""
        with self._lock:
            idle = self._idle.get((account, function_name, version))
            if idle:
                return idle.pop()
        return Environment(stream=stream_name(version))

    def release(self, account: str, function_name: str, version: str, environment: Environment) -> None:
        """Hand an environment back once its invocation has ended."""
        environment.invocations += 1
        with self._lock:
            self._idle.setdefault((account, function_name, version), []).append(environment)


ENVIRONMENTS = EnvironmentPool()
"""The server's execution environments."""


def iso_time(millis: int) -> str:
    """``2024-01-31T12:00:00.123Z``, as Lambda writes times."""
    when = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _output_lines(result: InvocationResult) -> list[tuple[str, str]]:
    """
    The handler's output lines, then the runtime's own, as ``(level, text)``.

    The runtime's lines (its ``[ERROR]`` line for an exception, a timeout, an exit) are ``ERROR``.
    """
    output = result.output.decode("utf-8", errors="replace").splitlines()
    lines = [("ERROR" if line.startswith("[ERROR] ") else "INFO", line) for line in output]
    lines += [("ERROR", line) for line in result.runtime_log.splitlines()]
    return lines


@dataclass(frozen=True)
class _Timeline:
    """
    When an invocation's events happened, in epoch milliseconds.

    :param init_ms: Its environment's init phase started (cold starts only log it).
    :param started_ms: START.
    :param ended_ms: END and REPORT.
    :param lines: The output lines as ``(time, level, text)``.
    """

    init_ms: int
    started_ms: int
    ended_ms: int
    lines: list[tuple[int, str, str]]


def _timeline(result: InvocationResult, ended_ms: int) -> _Timeline:
    started_ms = ended_ms - max(0, math.ceil(result.duration_ms))
    init_ms = started_ms - max(0, math.ceil(result.init_duration_ms))
    lines = _output_lines(result)
    span = max(0, ended_ms - started_ms)
    # Spread from START to END in order, so that the events sort as they were written.
    stamped = [
        (started_ms + (span * index) // max(1, len(lines)), level, text)
        for index, (level, text) in enumerate(lines)
    ]
    return _Timeline(init_ms, started_ms, ended_ms, stamped)


def invocation_log(
    request: InvocationRequest,
    result: InvocationResult,
    *,
    log_format: str,
    cold: bool,
    ended_ms: int,
) -> list[tuple[int, str]]:
    """
    The invocation's log events, ``(timestamp in ms, message)``, in order.

    :param request: The invocation.
    :param result: Its outcome.
    :param log_format: ``Text`` or ``JSON``.
    :param cold: Whether it is its environment's first invocation (``INIT_START``, init duration).
    :param ended_ms: When it ended (epoch milliseconds).
    """
    timeline = _timeline(result, ended_ms)
    if log_format == LOG_FORMAT_JSON:
        return _json_events(request, result, timeline, cold=cold)
    return _text_events(request, result, timeline, cold=cold)


def _billed_ms(result: InvocationResult) -> int:
    return max(1, math.ceil(result.duration_ms))


def _memory_used_mb(result: InvocationResult) -> int:
    return max(1, round(result.max_rss_kb / 1024))


def _runtime_version(request: InvocationRequest) -> str:
    return f"{request.runtime.replace('python', 'python:')}.local"


def _text_events(
    request: InvocationRequest, result: InvocationResult, timeline: _Timeline, *, cold: bool
) -> list[tuple[int, str]]:
    """The ``Text`` format: ``INIT_START`` (cold), ``START``, the output, ``END`` and ``REPORT``."""
    events: list[tuple[int, str]] = []
    if cold:
        events.append(
            (
                timeline.init_ms,
                f"INIT_START Runtime Version: {_runtime_version(request)}\t"
                f"Runtime Version ARN: arn:aws:lambda:{request.region}::runtime:local",
            )
        )
    events.append((timeline.started_ms, f"START RequestId: {request.request_id} Version: {request.version}"))
    events += [(stamp, text) for stamp, _, text in timeline.lines]
    events.append((timeline.ended_ms, f"END RequestId: {request.request_id}"))
    report_line = (
        f"REPORT RequestId: {request.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
        f"Billed Duration: {_billed_ms(result)} ms\tMemory Size: {request.memory_size} MB\t"
        f"Max Memory Used: {_memory_used_mb(result)} MB\t"
    )
    if cold:
        report_line += f"Init Duration: {result.init_duration_ms:.2f} ms\t"
    if result.timed_out:
        report_line += "Status: timeout\t"
    events.append((timeline.ended_ms, report_line))
    return events


def _json_events(
    request: InvocationRequest, result: InvocationResult, timeline: _Timeline, *, cold: bool
) -> list[tuple[int, str]]:
    """The ``JSON`` format: ``platform.initStart`` (cold), ``platform.start``, the output, the report."""
    tenant = {"tenantId": request.tenant_id} if request.tenant_id is not None else {}
    events: list[tuple[int, str]] = []
    if cold:
        init_start = {
            "initializationType": "on-demand",
            "phase": "init",
            "runtimeVersion": _runtime_version(request),
            "functionName": request.function_name,
            "functionVersion": request.version,
        }
        events.append((timeline.init_ms, _json_record(timeline.init_ms, "platform.initStart", init_start)))
    start = {
        "requestId": request.request_id,
        "functionArn": request.invoked_function_arn,
        "version": request.version,
        **tenant,
    }
    events.append((timeline.started_ms, _json_record(timeline.started_ms, "platform.start", start)))
    for stamp, level, text in timeline.lines:
        record = {"timestamp": iso_time(stamp), "level": level, "requestId": request.request_id, **tenant}
        events.append((stamp, json.dumps({**record, "message": text}, separators=_COMPACT)))
    status = "timeout" if result.timed_out else ("error" if result.function_error else "success")
    metrics = _json_metrics(request, result, cold=cold)
    report = {"requestId": request.request_id, "metrics": metrics, "status": status, **tenant}
    events.append((timeline.ended_ms, _json_record(timeline.ended_ms, "platform.report", report)))
    return events


def _json_metrics(request: InvocationRequest, result: InvocationResult, *, cold: bool) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "durationMs": round(result.duration_ms, 3),
        "billedDurationMs": _billed_ms(result),
        "memorySizeMB": request.memory_size,
        "maxMemoryUsedMB": _memory_used_mb(result),
    }
    if cold:
        metrics["initDurationMs"] = round(result.init_duration_ms, 3)
    return metrics


def _json_record(millis: int, kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"time": iso_time(millis), "type": kind, "record": record}, separators=_COMPACT)


def log_bytes(events: list[tuple[int, str]], *, cold: bool) -> bytes:
    """
    The invocation's log text (one line per event), what ``LogType=Tail`` cuts its tail from.

    :param events: What :func:`invocation_log` wrote.
    :param cold: As given to it: the first event, the environment's ``INIT_START``, is left out
        (it belongs to no invocation).
    """
    return "".join(f"{message}\n" for _, message in events[1 if cold else 0 :]).encode("utf-8")


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)
