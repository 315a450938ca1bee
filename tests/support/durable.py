"""Durable functions on the local endpoint, for the tests of the provider's durable path (helpers).

The handlers are ``tests/handlers/durable_*.py`` (AWS's durable SDK); each appends one line to its
``COUNT_FILE`` when its step really runs, so a count of 1 means the work ran once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda import zip_handler
from tests.support.local_lambda import HANDLERS_DIR, read_count, unique_function_name

__all__ = ["DurableFunction", "create_durable_function", "executions_of"]


@dataclass
class DurableFunction:
    """
    A durable function on an endpoint and the file its steps count in.

    :param name: ``FunctionName``.
    :param count_file: One line per real run of the handler's step.
    """

    name: str
    count_file: Path

    @property
    def count(self) -> int:
        """Real step executions so far."""
        return read_count(self.count_file)


def create_durable_function(
    server: Any, directory: Path, handler_stem: str, *, execution_timeout: int = 300, name: str | None = None
) -> DurableFunction:
    """
    Create a durable function (``DurableConfig``) running ``tests/handlers/<handler_stem>.py``.

    :param server: The local endpoint (``LocalLambda`` or ``LocalLambdaClient``).
    :param directory: Where the count file goes.
    :param handler_stem: The handler module's stem, e.g. ``durable_step_wait``.
    :param execution_timeout: ``DurableConfig.ExecutionTimeout`` in seconds.
    :param name: ``FunctionName``; unique by default.
    """
    function_name = name or unique_function_name(handler_stem.replace("_", "-"))
    count_file = directory / f"{function_name}.count"
    server.client("lambda").create_function(
        FunctionName=function_name,
        Runtime="python3.11",
        Role=server.ensure_role(),
        Handler=f"{handler_stem}.handler",
        Code={"ZipFile": zip_handler(HANDLERS_DIR / f"{handler_stem}.py", f"{handler_stem}.handler")},
        Timeout=60,
        Environment={"Variables": {"COUNT_FILE": str(count_file)}},
        DurableConfig={"ExecutionTimeout": execution_timeout, "RetentionPeriodInDays": 1},
    )
    return DurableFunction(function_name, count_file)


def executions_of(client: Any, function_name: str) -> list[dict[str, Any]]:
    """
    Every durable execution of the function (``ListDurableExecutionsByFunction``), oldest first.

    :return: The listed summaries (``DurableExecutionArn``, ``DurableExecutionName``, ``Status``, ...).
    """
    items: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"FunctionName": function_name}
        if marker:
            kwargs["Marker"] = marker
        page = client.list_durable_executions_by_function(**kwargs)
        items.extend(page.get("DurableExecutions") or [])
        marker = page.get("NextMarker")
        if not marker:
            return sorted(items, key=lambda item: str(item.get("StartTimestamp")))
