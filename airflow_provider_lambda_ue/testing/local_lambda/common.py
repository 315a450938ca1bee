"""Constants and the errors of the local Lambda endpoint."""

from __future__ import annotations

import sys
from typing import Any

DEFAULT_REGION = "us-east-1"
"""Region used when none is given."""

DEFAULT_ROLE_NAME = "local-lambda-execution-role"
"""Name of the IAM role :meth:`LocalLambdaClient.ensure_role` creates for functions."""

DEFAULT_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
"""``Runtime`` of created functions: handlers run with the server's own interpreter."""

DUMMY_ACCESS_KEY_ID = "testing"
"""Access key id of the dummy credentials moto accepts while IAM enforcement is off."""

DUMMY_SECRET_ACCESS_KEY = "testing"
"""Secret access key of the dummy credentials."""

URL_LINE_PREFIX = "LOCAL_LAMBDA_URL="
"""Prefix of the single line ``serve`` prints on stdout once the endpoint is ready."""

LOG_TAIL_BYTES = 4096
"""Lambda returns the last 4 KB of the log with ``LogType=Tail``."""

INIT_TIMEOUT_SECONDS = 10.0
"""Limit of the init phase (interpreter start and module import), like Lambda's."""

LAMBDA_TRUST_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
"""Trust policy of the execution role created by :meth:`LocalLambdaClient.ensure_role`."""

_READ_TIMEOUT_SECONDS = 900.0
_RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_TIMEOUT",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


class LocalLambdaError(RuntimeError):
    """The local Lambda endpoint could not be started, stopped or configured."""


class LambdaApiError(Exception):
    """
    An error answer of the Lambda API, raised by the endpoint's code outside the moto modules.

    The moto backend answers it as moto's ``LambdaClientError`` (:mod:`.moto_backend`), so only the
    ``moto_*`` modules import moto.

    :param code: The error code botocore reads (``InvalidParameterValueException``, ...).
    :param message: The error message.
    :param status: The HTTP status of the answer.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
