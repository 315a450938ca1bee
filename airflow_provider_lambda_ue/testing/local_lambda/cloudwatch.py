"""An invocation's log the way Lambda writes it to CloudWatch Logs (server process; moto only inside).

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
written. The same lines make the ``LogType=Tail`` answer. ``LOCAL_LAMBDA_LOGS_DELAY_SECONDS`` in the
server's environment (or in one function's ``Environment.Variables``, for that function) delays the
writing, like CloudWatch's ingestion delay.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest, InvocationResult

log = logging.getLogger(__name__)

LOG_FORMAT_TEXT = "Text"
LOG_FORMAT_JSON = "JSON"

#: ``PutLogEvents`` takes at most 10,000 events per call.
_PUT_BATCH = 10_000
#: Environment variable of the server process: seconds between an invocation's end and its log.
LOGS_DELAY_ENV = "LOCAL_LAMBDA_LOGS_DELAY_SECONDS"
#: Lambda writes its JSON records without spaces.
_COMPACT = (",", ":")


def default_log_group(function_name: str) -> str:
    """Lambda's log group for a function without ``LoggingConfig.LogGroup``."""
    return f"/aws/lambda/{function_name}"


def logging_config(fn: Any) -> tuple[str, str]:
    """The function's log group and log format (``Text`` or ``JSON``)."""
    config = getattr(fn, "logging_config", None) or {}
    group = str(config.get("LogGroup") or default_log_group(str(fn.function_name)))
    log_format = LOG_FORMAT_JSON if str(config.get("LogFormat") or "") == LOG_FORMAT_JSON else LOG_FORMAT_TEXT
    return group, log_format


def keep_logging_config() -> None:
    """
    Make moto's functions keep ``LoggingConfig`` (moto ignores it) and report it as Lambda does.

    ``CreateFunction`` and ``UpdateFunctionConfiguration`` set it; ``GetFunctionConfiguration``
    answers it with Lambda's defaults filled in (``LogFormat`` ``Text``, ``LogGroup``
    ``/aws/lambda/<name>``); the invocation's log goes to that group in that format
    (this module). Idempotent.
    """
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_local_lambda_logging", False):
        return
    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def set_logging_config(self: Any, config: Any) -> None:
        self.logging_config = {str(k): v for k, v in config.items()} if isinstance(config, dict) else {}
        self.logs_group_name = logging_config(self)[0]

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        set_logging_config(self, spec.get("LoggingConfig"))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_configuration(self, *args, **kwargs)
        group, log_format = logging_config(self)
        config["LoggingConfig"] = {
            **getattr(self, "logging_config", {}),
            "LogFormat": log_format,
            "LogGroup": group,
        }
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            merged = {**getattr(self, "logging_config", {}), **(config_updates.get("LoggingConfig") or {})}
            set_logging_config(self, merged)
        return dict(original_update(self, config_updates))

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
    LambdaFunction._local_lambda_logging = True  # type: ignore[attr-defined]


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


def _batches(events: list[tuple[int, str]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(events), _PUT_BATCH):
        yield [
            {"timestamp": stamp, "message": message} for stamp, message in events[start : start + _PUT_BATCH]
        ]


def save(fn: Any, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    """
    Write the events to moto's CloudWatch Logs (creating the group and stream), now or after the delay.

    Failures are logged, not raised: the invocation's answer does not depend on its log.
    """

    def write() -> None:
        try:
            logs_backend = fn.logs_backend
            logs_backend.ensure_log_group(group)
            if stream not in logs_backend.groups[group].streams:
                logs_backend.create_log_stream(group, stream)
            for batch in _batches(events):
                logs_backend.put_log_events(group, stream, batch)
        except Exception:
            log.warning("could not store the log of %s", getattr(fn, "function_name", "?"), exc_info=True)

    delay = _delay_seconds(getattr(fn, "environment_vars", None) or {})
    if delay <= 0:
        write()
        return
    timer = threading.Timer(delay, write)
    timer.daemon = True
    timer.start()


def _delay_seconds(function_environment: dict[str, str]) -> float:
    """The function's own ``LOCAL_LAMBDA_LOGS_DELAY_SECONDS`` variable, else the server's, else 0."""
    value = function_environment.get(LOGS_DELAY_ENV) or os.environ.get(LOGS_DELAY_ENV) or "0"
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)
