"""The durable-execution runner of the local endpoint: AWS's testing SDK's ``WebRunner``, started lazily.

See :mod:`airflow_provider_lambda_ue.testing.local_lambda.durable` for how the endpoint uses it.
Server process only.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.common import (
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
)

log = logging.getLogger(__name__)

DURABLE_API_PREFIX = "/2025-12-01/"
"""Path prefix of Lambda's durable-execution API (and of nothing moto serves)."""

_RUNNER_TIMEOUT_SECONDS = 60.0


class DurableRunnerError(Exception):
    """The runner answered an error status.

    :param status: HTTP status of the runner's answer.
    :param body: The answer's body (the runner's AWS-shaped error object).
    """

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"durable runner answered {status}: {body[:500]!r}")
        self.status = status
        self.body = body


class DurableRunner:
    """
    AWS's local durable runner (the testing SDK's ``WebRunner``) inside this process, started lazily.

    :param region: The region the runner emulates (every execution's ARN and function ARN).
    :param lambda_endpoint: Returns this endpoint's URL, where the runner invokes handlers; read when
        the runner starts (the URL is only known once the server listens).
    """

    def __init__(self, region: str, lambda_endpoint: Callable[[], str | None]) -> None:
        self.region = region
        self._lambda_endpoint = lambda_endpoint
        self._lock = threading.Lock()
        self._runner: Any = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._closed = False
        # Starts are checked and made under this lock, so two concurrent starts with one name
        # cannot both find no execution and both start one.
        self.start_lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the runner has been started (by a first durable request)."""
        return self._port is not None

    def _ensure_started(self) -> int:
        with self._lock:
            if self._closed:
                raise DurableRunnerError(
                    503,
                    b'{"Type": "ServiceException", "Message": "the local Lambda endpoint is shutting down"}',
                )
            if self._port is None:
                self._port = self._start()
            return self._port

    def _start(self) -> int:
        try:
            from aws_durable_execution_sdk_python_testing.runner import WebRunner, WebRunnerConfig
            from aws_durable_execution_sdk_python_testing.web.server import WebServiceConfig
        except ImportError as exc:
            body = json.dumps(
                {
                    "Type": "ServiceException",
                    "Message": "durable functions on the local Lambda endpoint need the package "
                    f"aws-durable-execution-sdk-python-testing (Python >= 3.11): {exc}",
                }
            ).encode()
            raise DurableRunnerError(500, body) from exc
        endpoint = self._lambda_endpoint()
        # The runner's boto3 clients take their credentials from the environment; moto accepts any.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY_ID)
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_ACCESS_KEY)
        # The runner logs every request and every invocation at INFO.
        logging.getLogger("aws_durable_execution_sdk_python_testing").setLevel(logging.WARNING)
        runner = WebRunner(
            WebRunnerConfig(
                web_service=WebServiceConfig(host="127.0.0.1", port=0),
                lambda_endpoint=endpoint or "",
                local_runner_endpoint="",
                local_runner_region=self.region,
            )
        )
        runner.start()
        # One of the two private touches of the testing SDK (the other is in shutdown): WebRunner has
        # no accessor for the port it bound (port 0 here, so parallel endpoints never collide).
        server = runner._server
        if server is None:  # pragma: no cover - start() creates it
            raise DurableRunnerError(500, b'{"Type": "ServiceException", "Message": "runner did not start"}')
        port = int(server.server_address[1])
        thread = threading.Thread(target=runner.serve_forever, name="durable-runner", daemon=True)
        thread.start()
        self._runner, self._thread = runner, thread
        log.info("durable runner listening on 127.0.0.1:%s, invoking handlers at %s", port, endpoint)
        return port

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """
        Send one HTTP request to the runner (starting it first if needed).

        :param method: HTTP method.
        :param path: Raw path with query string, percent-encoding kept (the runner splits the path
            before decoding its segments, so an execution ARN's ``/`` must stay ``%2F``).
        :param body: Request body.
        :param headers: Extra request headers.
        :return: Status, headers and body of the answer.
        """
        port = self._ensure_started()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_RUNNER_TIMEOUT_SECONDS)
        try:
            request_headers = {"Content-Type": "application/json", **(headers or {})}
            request_headers["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=request_headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """
        Send one JSON request to the runner and return its JSON answer.

        :param method: HTTP method.
        :param path: Raw path with query string.
        :param payload: JSON body, if any.
        :return: The decoded answer (``{}`` for an empty one).
        :raises DurableRunnerError: when the runner answers an error status.
        """
        body = json.dumps(payload).encode() if payload is not None else b""
        status, _, data = self.request(method, path, body)
        if status >= 400:
            raise DurableRunnerError(status, data)
        return json.loads(data) if data else {}

    def get_execution(self, arn: str) -> dict[str, Any]:
        """
        ``GetDurableExecution`` of the runner.

        :param arn: The execution's ARN.
        :return: The runner's answer (``Status``, ``Result``, ``Error``, ``InputPayload``...).
        """
        return self.call("GET", f"{DURABLE_API_PREFIX}durable-executions/{urllib.parse.quote(arn, safe='')}")

    def find_executions(self, function_name: str, execution_name: str) -> list[dict[str, Any]]:
        """
        Every execution of ``function_name`` named ``execution_name``, with its details.

        :param function_name: The function's name.
        :param execution_name: The ``DurableExecutionName``.
        :return: ``GetDurableExecution`` answers, oldest first.
        """
        query = urllib.parse.urlencode({"DurableExecutionName": execution_name, "MaxItems": "1000"})
        path = (
            f"{DURABLE_API_PREFIX}functions/{urllib.parse.quote(function_name, safe='')}/durable-executions"
        )
        listed = self.call("GET", f"{path}?{query}").get("DurableExecutions") or []
        return [self.get_execution(str(summary["DurableExecutionArn"])) for summary in listed]

    def start_execution(self, start_input: dict[str, Any]) -> str:
        """
        ``POST /start-durable-execution`` of the runner.

        :param start_input: The runner's ``StartDurableExecutionInput`` fields.
        :return: The new execution's ARN.
        """
        return str(self.call("POST", "/start-durable-execution", start_input)["ExecutionArn"])

    def shutdown(self) -> None:
        """Stop the runner (if it was started); later durable requests are refused."""
        with self._lock:
            self._closed = True
            runner, self._runner = self._runner, None
        if runner is not None:
            server = runner._server  # private, see _start: WebRunner.stop() closes but never stops it
            if server is not None:
                # shutdown() waits for serve_forever to notice; bounded, in case it never ran.
                stopper = threading.Thread(target=server.shutdown, name="durable-runner-stop", daemon=True)
                stopper.start()
                stopper.join(5)
            runner.stop()
        if self._thread is not None:
            self._thread.join(10)
