"""The three ways of invoking a function that the benchmarks compare, each through its public API.

``ours``
    :class:`~airflow_provider_lambda_ue.operators.lambda_invoke.LambdaInvokeOperator` ``.execute``.
``amazon``
    The amazon provider's ``LambdaInvokeFunctionOperator.execute``.
``boto3``
    What a PythonOperator (or ``@task``) callable does: ``boto3.client("lambda").invoke`` and read
    the payload.

Operators are called as the task runner calls them (with the executor-safeguard sentinel) with a
minimal context. The endpoint and the credentials come from the environment
(:mod:`benchmarks.environment`): the ``aws_default`` connection for the operators, the
environment's credential chain for boto3.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

TOOLS = ("ours", "amazon", "boto3")
LABELS = {
    "ours": "ours: LambdaInvokeOperator",
    "amazon": "amazon: LambdaInvokeFunctionOperator",
    "boto3": "raw boto3 (PythonOperator)",
}


def endpoint_url() -> str:
    return os.environ["BENCH_ENDPOINT_URL"]


def run_execute(operator: Any, context: dict[str, Any]) -> Any:
    """``operator.execute(context)`` the way the task runner calls it (no "outside the runner" guard)."""
    from airflow.sdk.bases.operator import ExecutorSafeguard

    sentinel = {f"{type(operator).__name__}__sentinel": ExecutorSafeguard.sentinel_value}
    return operator.execute(context, **sentinel)


def ours_operator(
    function_name: str, payload: str | None = None, *, timeout: int | None = None, task_id: str = "ours"
) -> Any:
    """Our operator with its defaults (``wait_for_completion_timeout`` when ``timeout`` is given)."""
    from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

    kwargs: dict[str, Any] = {}
    if timeout is not None:
        kwargs["wait_for_completion_timeout"] = timeout
    return LambdaInvokeOperator(task_id=task_id, function_name=function_name, payload=payload, **kwargs)


def amazon_operator(
    function_name: str,
    payload: str | None = None,
    *,
    read_timeout: int | None = None,
    task_id: str = "amazon",
) -> Any:
    """
    The amazon provider's operator with its defaults.

    It has no timeout parameter: ``botocore_config={"read_timeout": n}`` is its documented way to
    shorten the read timeout, and retries stay at its (botocore's) default.
    """
    from airflow.providers.amazon.aws.operators.lambda_function import LambdaInvokeFunctionOperator

    kwargs: dict[str, Any] = {}
    if read_timeout is not None:
        kwargs["botocore_config"] = {"read_timeout": read_timeout}
    return LambdaInvokeFunctionOperator(
        task_id=task_id, function_name=function_name, payload=payload, **kwargs
    )


def boto3_client(*, read_timeout: int | None = None, new_session: bool = False) -> Any:
    """
    ``boto3.client("lambda")`` with boto3's defaults, on the fake endpoint.

    :param read_timeout: Overrides botocore's 60 s read timeout (retries stay at the default).
    :param new_session: Build the client from a new ``boto3.session.Session`` (what a task process
        pays: it loads the service model from disk) rather than boto3's default session.
    """
    import boto3
    from botocore.config import Config

    config = Config(read_timeout=read_timeout) if read_timeout is not None else None
    factory: Any = boto3.session.Session() if new_session else boto3
    return factory.client("lambda", endpoint_url=endpoint_url(), config=config)


def boto3_invoke(client: Any, function_name: str, payload: str | bytes | None = None) -> bytes:
    """The PythonOperator callable's body: invoke, read the payload, fail on a function error."""
    kwargs: dict[str, Any] = {"FunctionName": function_name}
    if payload is not None:
        kwargs["Payload"] = payload
    response = client.invoke(**kwargs)
    body: bytes = response["Payload"].read()
    if response.get("FunctionError"):
        raise RuntimeError(body.decode(errors="replace"))
    return body


class ClientReuse:
    """Counts the clients a hook class really built while :func:`reuse_client` was active."""

    def __init__(self) -> None:
        self.built = 0
        self.calls = 0
        self.client: Any = None

    @property
    def effective(self) -> bool:
        """Whether the hooks did ask for clients here, and got one shared client."""
        return self.calls > 0 and self.built <= 1


@contextlib.contextmanager
def reuse_client(hook_class: type, state: ClientReuse | None = None) -> Iterator[ClientReuse]:
    """
    Make every ``hook_class`` instance share the first client one of them builds.

    Operators build a new hook (so a new client) for every ``execute``; with this, ``execute``
    costs what it costs apart from building the client. ``state`` carries the client from one
    activation to the next; its counters tell whether the sharing took effect.
    """
    state = state if state is not None else ClientReuse()
    lock = threading.Lock()
    had_own = "get_client_type" in hook_class.__dict__
    original: Callable[..., Any] = hook_class.get_client_type  # type: ignore[attr-defined]

    def get_client_type(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            state.calls += 1
            if state.client is None:
                state.client = original(self, *args, **kwargs)
                state.built += 1
            return state.client

    hook_class.get_client_type = get_client_type  # type: ignore[attr-defined]
    try:
        yield state
    finally:
        if had_own:
            hook_class.get_client_type = original  # type: ignore[attr-defined]
        else:
            del hook_class.get_client_type  # type: ignore[attr-defined]


def hook_class(tool: str) -> type:
    """The hook class whose client :func:`reuse_client` shares for ``tool``'s operator."""
    if tool == "ours":
        from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook

        return LambdaInvokeHook
    from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook

    return LambdaHook
