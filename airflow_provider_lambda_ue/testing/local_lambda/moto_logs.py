"""Each invocation's log written into moto's CloudWatch Logs (server process; moto internals).

:mod:`.cloudwatch` lays the events out as Lambda does; they go to the function's log group
(:func:`~.moto_request.logging_config`) and its execution environment's stream.
``LOCAL_LAMBDA_LOGS_DELAY_SECONDS`` in the server's environment (or in one function's
``Environment.Variables``, for that function) delays the writing, like CloudWatch's ingestion delay.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.cloudwatch import (
    Environment,
    invocation_log,
    log_bytes,
    now_ms,
)
from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest, InvocationResult
from airflow_provider_lambda_ue.testing.local_lambda.moto_request import logging_config

log = logging.getLogger(__name__)

#: ``PutLogEvents`` takes at most 10,000 events per call.
_PUT_BATCH = 10_000
#: Environment variable of the server process: seconds between an invocation's end and its log.
LOGS_DELAY_ENV = "LOCAL_LAMBDA_LOGS_DELAY_SECONDS"


def write_log(
    fn: Any, request: InvocationRequest, environment: Environment, result: InvocationResult
) -> bytes:
    """
    Write the invocation's log to moto's CloudWatch Logs the way Lambda does.

    :param fn: moto's function.
    :param request: The invocation.
    :param environment: The execution environment it ran in (its stream; cold or not).
    :param result: Its outcome.
    :return: The log's text (what ``LogType=Tail`` cuts the tail from).
    """
    group, log_format = logging_config(fn)
    cold = environment.invocations == 0
    events = invocation_log(request, result, log_format=log_format, cold=cold, ended_ms=now_ms())
    save(fn, group, request.log_stream_name, events)
    return log_bytes(events, cold=cold)


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
