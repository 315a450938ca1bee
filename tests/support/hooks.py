"""Helpers shared by the ``test_hook_*`` modules (this module holds no tests).

The hook is always driven through the provider's real path: ``invocation.prepare`` (validation)
-> ``invocation.build_hook`` (connections) -> ``invocation.run`` (``LambdaInvokeHook.invoke`` and
the output document), against real servers on loopback. Connections come from
``AIRFLOW_CONN_<ID>`` environment variables, as Airflow reads them.
"""

from __future__ import annotations

import gc
import json
import logging
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from airflow_provider_lambda_ue import invocation
from airflow_provider_lambda_ue.exceptions import LambdaInvokeError
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
from tests.support.fake_servers import FakeLambdaServer

LOGGER_NAME = "tests.hook"
LOG = logging.getLogger(LOGGER_NAME)
REGION = "us-east-1"
AWS_CONN_ID = "aws_hook_test"
PROXY_CONN_ID = "proxy_hook_test"
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"

HookSetup = Callable[[LambdaInvokeHook], None]


def fake_fields(server: FakeLambdaServer | str, **fields: Any) -> dict[str, Any]:
    """
    Fields for a function behind a fake Lambda server: ``fake-function`` unless ``fields`` say otherwise.

    :param server: The server, or the endpoint URL itself (for a port nothing listens on).
    :param fields: field values (``raw_fields``), over the defaults.
    """
    url = server if isinstance(server, str) else server.url
    return {"function_name": "fake-function", "endpoint_url": url, **fields}


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
    *,
    conn_type: str = "aws",
    login: str | None = None,
    password: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Define an Airflow connection in the environment (JSON form of ``AIRFLOW_CONN_<ID>``)."""
    value = connection_json(conn_type=conn_type, login=login, password=password, **(extra or {}))
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    return conn_id


def connection_json(
    *, conn_type: str = "aws", login: str | None = None, password: str | None = None, **extra: Any
) -> str:
    """An ``AIRFLOW_CONN_<ID>`` value (JSON form)."""
    definition: dict[str, Any] = {"conn_type": conn_type}
    if login is not None:
        definition["login"] = login
    if password is not None:
        definition["password"] = password
    if extra:
        definition["extra"] = extra
    return json.dumps(definition)


def aws_connection(
    monkeypatch: pytest.MonkeyPatch,
    *,
    login: str | None = "testing",
    password: str | None = "testing",
    conn_id: str = AWS_CONN_ID,
    **extra: Any,
) -> str:
    """An ``aws`` connection with the given keys; region ``us-east-1`` unless ``extra`` says otherwise."""
    return set_connection(
        monkeypatch, conn_id, login=login, password=password, extra={"region_name": REGION, **extra}
    )


def proxy_connection(
    monkeypatch: pytest.MonkeyPatch, user: str | None, password: str | None, conn_id: str = PROXY_CONN_ID
) -> str:
    """A connection holding proxy credentials (any type will do; ``generic`` here)."""
    return set_connection(monkeypatch, conn_id, conn_type="generic", login=user, password=password)


def close_client(hook: LambdaInvokeHook) -> None:
    """
    Close the hook's client if it was created (never create it just to close it: that calls STS).

    With urllib3 2.x ``client.close()`` only forgets the connection pools; their connections close
    when the pools are garbage-collected, and a response object in a reference cycle keeps its pool
    alive until the cycle collector runs. proxy.py logs a connection only once it is closed, hence
    the explicit collection.
    """
    client = hook.__dict__.get("conn")
    if client is not None:
        client.close()
        del client
        gc.collect()


def run(
    *,
    proxy_credentials: tuple[str, str] | None = None,
    setup: HookSetup | None = None,
    keep: list[LambdaInvokeHook] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """
    Invoke through the real path and return the output document (or raise the contract's exception).

    :param proxy_credentials: Proxy ``(user, password)`` handed to ``build_hook`` (the CLI's way).
    :param setup: Called with the hook before invoking (e.g. to record backoff delays).
    :param keep: Receives the hook, for inspection after the call.
    :param fields: field values (``raw_fields``); ``aws_conn_id`` defaults to :data:`AWS_CONN_ID`.
    """
    raw = raw_fields(**{"aws_conn_id": AWS_CONN_ID, **fields})
    prepared = invocation.prepare(raw, LOG)
    hook = invocation.build_hook(prepared, proxy_credentials=proxy_credentials)
    if keep is not None:
        keep.append(hook)
    try:
        if setup is not None:
            setup(hook)
        return invocation.run(prepared, hook, LOG)
    finally:
        close_client(hook)


def assert_failure(error: LambdaInvokeError, exit_code: int) -> None:
    """The exception carries the exit code, and its output document says the same."""
    assert error.exit_code == exit_code, f"{type(error).__name__}: {error}"
    assert error.output is not None
    assert error.output["exit_code"] == exit_code
    assert error.output["status_description"] == error.status_description
    assert error.output["changed"] is False


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str] | None = None) -> str:
    """
    Everything logged: stdlib records (``caplog``: botocore, urllib3) with their raw arguments, and
    what Airflow's structlog loggers (the hook's ``self.log``, the connection wrapper) printed, which
    never reaches ``caplog``.
    """
    parts = [caplog.text, *(repr(record.args) for record in caplog.records)]
    if capsys is not None:
        captured = capsys.readouterr()
        parts += [captured.out, captured.err]
    return "\n".join(parts)


def everything_shown(
    error: BaseException,
    caplog: pytest.LogCaptureFixture | None = None,
    capsys: pytest.CaptureFixture[str] | None = None,
) -> str:
    """All text a user could see of a failure: the whole traceback chain, the document, the logs."""
    parts = ["".join(traceback.format_exception(error)), repr(error)]
    output = getattr(error, "output", None)
    if output is not None:
        parts.append(json.dumps(output))
    if caplog is not None:
        parts.append(logged(caplog, capsys))
    return "\n".join(parts)


def assert_no_secret(text: str, secrets: Iterable[str]) -> None:
    """No secret appears, neither as is nor percent-encoded."""
    from urllib.parse import quote

    for secret in secrets:
        assert secret not in text
        assert quote(secret, safe="") not in text


class DelayRecorder:
    """Stands in for the hook's sleep between attempts: records the delays, sleeps ``scale`` of them."""

    def __init__(self, scale: float = 0.0) -> None:
        self.delays: list[float] = []
        self.scale = scale

    def __call__(self, hook: LambdaInvokeHook) -> None:
        import time

        def sleep(seconds: float) -> None:
            self.delays.append(seconds)
            if self.scale:
                time.sleep(seconds * self.scale)

        hook._sleep = sleep
