"""A local AWS Lambda endpoint that really runs Python handler code (tests and the demo only).

The endpoint is moto's server (every moto service: Lambda, IAM, STS, CloudWatch Logs, ...) on
``127.0.0.1`` with moto's docker-less Lambda backend, whose ``Invoke`` is replaced by an executor
that runs the function's Python handler in a subprocess, the way the Lambda Python runtime would:

* the function's deployment package (``Code.ZipFile``) is unpacked once per code SHA-256 into a
  temporary directory, which becomes ``LAMBDA_TASK_ROOT`` and the working directory;
* ``Handler`` (``module.function``) is imported and called with the JSON event and a context object
  (``aws_request_id``, ``function_name``, ``function_version``, ``invoked_function_arn``,
  ``memory_limit_in_mb``, ``log_group_name``, ``log_stream_name``, ``identity``, ``client_context``
  decoded from ``X-Amz-Client-Context`` and ``get_remaining_time_in_millis()``);
* the subprocess environment holds the function's ``Environment.Variables`` plus the variables the
  Lambda runtime defines (``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_REGION``, ``_HANDLER``, ...),
  temporary credentials of the function's execution role (from moto's STS) and
  ``AWS_ENDPOINT_URL`` pointing back at the local endpoint;
* the configured ``Timeout`` is enforced (from the moment the handler is called; module
  initialisation has its own 10 second limit, like Lambda's init phase): the process group is
  killed and the invocation answers ``X-Amz-Function-Error: Unhandled`` with
  ``{"errorMessage": "<date> <request id> Task timed out after N.00 seconds",
  "errorType": "Sandbox.Timedout"}``;
* an exception in the handler answers ``X-Amz-Function-Error: Unhandled`` with Lambda's error
  object ``{"errorMessage", "errorType", "requestId", "stackTrace"}``;
* the log is written to moto's CloudWatch Logs as Lambda writes it (:mod:`.cloudwatch`): in the
  group of the function's ``LoggingConfig`` (else ``/aws/lambda/<name>``), a stream per execution
  environment (``YYYY/MM/DD/[$LATEST]<hex>``, reused by invocations one after another), with
  ``INIT_START``/``START``/handler output/``END``/``REPORT`` lines, or ``platform.*`` and application
  records for the JSON log format; with ``LogType=Tail`` the invocation's last 4096 bytes - cut by
  bytes, so the tail may start inside a multi-byte UTF-8 character - are returned base64-encoded in
  ``X-Amz-Log-Result``;
* ``X-Amz-Executed-Version`` names the version that ran (``$LATEST`` or the published version a
  numeric qualifier or an alias resolves to);
* ``InvocationType=Event`` answers ``202`` with an empty body and runs the function in a background
  thread of the server; ``DryRun`` answers ``204`` without running anything.

Durable functions (created with ``DurableConfig``, handlers written with AWS's durable SDK) run
with AWS's own local durable runner as their control plane, started by the first durable request
(:mod:`.durable`): ``Invoke`` with ``DurableExecutionName`` starts an execution, idempotently, and the
``/2025-12-01/`` durable-execution API (get, stop, list, history, callbacks, and the handlers'
checkpoints) is the runner's.

Every invocation is a cold start (a fresh interpreter), memory size is reported but not enforced,
asynchronous invocations are not retried, and weighted alias routing is ignored (moto resolves an
alias to its primary version).

Usage from Python::

    with LocalLambda() as server:
        server.create_function("hello", "def handler(event, context):\\n    return event\\n")
        client = server.client("lambda")
        client.invoke(FunctionName="hello", Payload=b"{}")

and from the command line (see ``python -m airflow_provider_lambda_ue.testing serve --help``)::

    python -m airflow_provider_lambda_ue.testing serve --port 0 --functions DIR

The server always runs in its own process: handler subprocesses, Airflow task subprocesses and the
test process can all reach it, and moto's global state (such as IAM enforcement, which is a
process-wide setting in moto) never leaks into the process that uses it.

This package is for tests and the demo only; the runtime provider never imports it. moto is only
imported inside the server process.
"""

from __future__ import annotations

from airflow_provider_lambda_ue.testing.local_lambda.client import LocalLambdaClient, zip_handler
from airflow_provider_lambda_ue.testing.local_lambda.common import (
    DEFAULT_REGION,
    DEFAULT_ROLE_NAME,
    DEFAULT_RUNTIME,
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    LAMBDA_TRUST_POLICY,
    LOG_TAIL_BYTES,
    URL_LINE_PREFIX,
    LocalLambdaError,
)
from airflow_provider_lambda_ue.testing.local_lambda.durable import DurableRouter
from airflow_provider_lambda_ue.testing.local_lambda.durable_runner import DurableRunner
from airflow_provider_lambda_ue.testing.local_lambda.executor import HandlerExecutor
from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest, InvocationResult
from airflow_provider_lambda_ue.testing.local_lambda.moto_backend import install_executor
from airflow_provider_lambda_ue.testing.local_lambda.moto_patches import fix_moto_iam_checks
from airflow_provider_lambda_ue.testing.local_lambda.serve import serve
from airflow_provider_lambda_ue.testing.local_lambda.server import LocalLambda, local_lambda_server

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_ROLE_NAME",
    "DEFAULT_RUNTIME",
    "DUMMY_ACCESS_KEY_ID",
    "DUMMY_SECRET_ACCESS_KEY",
    "LAMBDA_TRUST_POLICY",
    "LOG_TAIL_BYTES",
    "URL_LINE_PREFIX",
    "DurableRouter",
    "DurableRunner",
    "HandlerExecutor",
    "InvocationRequest",
    "InvocationResult",
    "LocalLambda",
    "LocalLambdaClient",
    "LocalLambdaError",
    "fix_moto_iam_checks",
    "install_executor",
    "local_lambda_server",
    "serve",
    "zip_handler",
]
