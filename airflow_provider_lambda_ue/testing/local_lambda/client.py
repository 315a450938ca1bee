"""Client-side helpers of the local Lambda endpoint: deployment packages and boto3 clients."""

from __future__ import annotations

import io
import json
import os
import threading
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from airflow_provider_lambda_ue.testing.local_lambda.common import (
    _READ_TIMEOUT_SECONDS,
    DEFAULT_REGION,
    DEFAULT_ROLE_NAME,
    DEFAULT_RUNTIME,
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    LAMBDA_TRUST_POLICY,
    LocalLambdaError,
)

# --------------------------------------------------------------------------------------------------
# Client-side helpers.
# --------------------------------------------------------------------------------------------------


def _looks_like_path(value: str) -> bool:
    return "\n" not in value and len(value) < 4096 and (value.endswith(".py") or os.sep in value)


def zip_handler(handler_source_or_path: str | os.PathLike[str], handler: str = "handler.handler") -> bytes:
    """
    Build a deployment package (zip bytes) for a handler.

    :param handler_source_or_path: Python source text, a path to a ``.py`` file or a path to a
        directory (zipped as a whole, relative to itself).
    :param handler: The function's ``Handler``; source text or a file is stored as the module it names
        (``handler.handler`` -> ``handler.py``, ``pkg.mod.fn`` -> ``pkg/mod.py``).
    :return: The zip bytes.
    :raises FileNotFoundError: when a path is given that does not exist.
    """
    module_name = handler.rpartition(".")[0] or handler
    member = module_name.replace(".", "/") + ".py"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if isinstance(handler_source_or_path, os.PathLike) or _looks_like_path(handler_source_or_path):
            path = Path(handler_source_or_path)
            if path.is_dir():
                for file in sorted(path.rglob("*")):
                    if file.is_file() and "__pycache__" not in file.parts:
                        archive.write(file, file.relative_to(path).as_posix())
            elif path.is_file():
                archive.writestr(member, path.read_bytes())
            else:
                raise FileNotFoundError(f"handler file or directory not found: {path}")
        else:
            archive.writestr(member, handler_source_or_path)
    return buffer.getvalue()


class LocalLambdaClient:
    """
    Helpers that talk to a running local Lambda endpoint (any moto server, in fact).

    :param url: The endpoint, ``http://127.0.0.1:PORT``.
    :param region: Region of the clients and of created functions.
    """

    def __init__(self, url: str | None = None, region: str = DEFAULT_REGION) -> None:
        self._url = url
        self.region = region
        self._clients: dict[tuple[str, str, str, str, str | None], Any] = {}
        self._clients_lock = threading.Lock()
        self._roles: dict[str, str] = {}

    @property
    def url(self) -> str:
        """The endpoint URL (``http://127.0.0.1:PORT``)."""
        if not self._url:
            raise LocalLambdaError("the local Lambda endpoint is not running")
        return self._url

    @property
    def port(self) -> int:
        """The TCP port of the endpoint."""
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def environment(self) -> dict[str, str]:
        """
        Return environment variables that point AWS SDKs and the AWS CLI at this endpoint.

        :return: ``AWS_ENDPOINT_URL``, dummy credentials and the region.
        """
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(
        self,
        service_name: str = "lambda",
        *,
        aws_access_key_id: str = DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key: str = DUMMY_SECRET_ACCESS_KEY,
        aws_session_token: str | None = None,
        region_name: str | None = None,
    ) -> Any:
        """
        Return a (cached, thread-safe) boto3 client of this endpoint.

        Retries are off and the read timeout is 15 minutes, so a slow handler is never invoked twice
        by botocore retrying a timed-out read; proxy settings of the environment are ignored.

        :param service_name: boto3 service name (``lambda``, ``iam``, ``sts``, ``logs``...).
        :param aws_access_key_id: Access key id (moto's dummy one by default).
        :param aws_secret_access_key: Secret access key.
        :param aws_session_token: Session token, for temporary credentials.
        :param region_name: Region (this endpoint's region by default).
        :return: The boto3 client.
        """
        import boto3
        from botocore.config import Config

        region = region_name or self.region
        key = (service_name, aws_access_key_id, aws_secret_access_key, region, aws_session_token)
        with self._clients_lock:
            cached = self._clients.get(key)
            if cached is None:
                session = boto3.session.Session(
                    aws_access_key_id=aws_access_key_id,
                    aws_secret_access_key=aws_secret_access_key,
                    aws_session_token=aws_session_token,
                    region_name=region,
                )
                cached = cast(Any, session).client(
                    service_name,
                    endpoint_url=self.url,
                    config=Config(
                        retries={"total_max_attempts": 1, "mode": "standard"},
                        read_timeout=_READ_TIMEOUT_SECONDS,
                        connect_timeout=10,
                        proxies={},  # loopback: never through a proxy from the environment
                    ),
                )
                self._clients[key] = cached
            return cached

    def ensure_role(self, role_name: str = DEFAULT_ROLE_NAME) -> str:
        """
        Create the Lambda execution role if it does not exist (moto requires an existing role ARN).

        :param role_name: Name of the role.
        :return: The role ARN.
        """
        if role_name in self._roles:
            return self._roles[role_name]
        iam = self.client("iam")
        try:
            arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            try:
                arn = iam.create_role(
                    RoleName=role_name,
                    AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
                    Description="Execution role of functions on the local Lambda endpoint",
                )["Role"]["Arn"]
            except iam.exceptions.EntityAlreadyExistsException:
                arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        self._roles[role_name] = str(arn)
        return str(arn)

    def create_function(  # noqa: PLR0917 - the positional order is part of the documented API
        self,
        name: str,
        handler_source_or_path: str | os.PathLike[str],
        handler: str = "handler.handler",
        timeout: int = 3,
        environment: Mapping[str, str] | None = None,
        publish: bool = False,
        role: str | None = None,
        *,
        memory_size: int = 128,
        runtime: str = DEFAULT_RUNTIME,
        description: str = "",
        durable_config: Mapping[str, Any] | None = None,
        logging_config: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        Zip a handler and create a function from it (creating the execution role first if needed).

        :param name: ``FunctionName``.
        :param handler_source_or_path: Handler source text, a ``.py`` file or a directory (see
            :func:`zip_handler`).
        :param handler: ``Handler`` (``module.function``).
        :param timeout: ``Timeout`` in seconds.
        :param environment: ``Environment.Variables``.
        :param publish: Publish version 1 right away.
        :param role: Execution role ARN; :meth:`ensure_role` by default.
        :param memory_size: ``MemorySize`` in MB.
        :param runtime: ``Runtime``.
        :param description: ``Description``.
        :param durable_config: ``DurableConfig`` (``ExecutionTimeout``, ``RetentionPeriodInDays``):
            makes it a durable function, whose handler is written with AWS's durable SDK.
        :param logging_config: ``LoggingConfig`` (``LogFormat`` ``Text``/``JSON``, ``LogGroup``): where
            and how the invocations' logs are written to CloudWatch Logs.
        :return: The ``CreateFunction`` response.
        """
        kwargs: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Role": role or self.ensure_role(),
            "Handler": handler,
            "Code": {"ZipFile": zip_handler(handler_source_or_path, handler)},
            "Timeout": int(timeout),
            "MemorySize": int(memory_size),
            "Publish": publish,
            "Description": description,
        }
        if environment:
            kwargs["Environment"] = {"Variables": {str(k): str(v) for k, v in environment.items()}}
        if durable_config is not None:
            kwargs["DurableConfig"] = dict(durable_config)
        if logging_config is not None:
            kwargs["LoggingConfig"] = dict(logging_config)
        response: dict[str, Any] = self.client("lambda").create_function(**kwargs)
        return response

    def update_function_code(
        self,
        name: str,
        handler_source_or_path: str | os.PathLike[str],
        handler: str = "handler.handler",
        publish: bool = False,
    ) -> dict[str, Any]:
        """
        Replace a function's code.

        :param name: ``FunctionName``.
        :param handler_source_or_path: Handler source text, a ``.py`` file or a directory.
        :param handler: ``Handler`` the code is laid out for.
        :param publish: Publish a new version.
        :return: The ``UpdateFunctionCode`` response.
        """
        response: dict[str, Any] = self.client("lambda").update_function_code(
            FunctionName=name, ZipFile=zip_handler(handler_source_or_path, handler), Publish=publish
        )
        return response

    def create_functions_from_folder(
        self,
        folder: str | os.PathLike[str],
        *,
        timeout: int = 3,
        environment: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """
        Create one function per ``*.py`` file of ``folder``: named after the file stem, handler
        ``<stem>.handler``. Files whose name starts with ``_`` are skipped.

        :param folder: The directory.
        :param timeout: ``Timeout`` of every function.
        :param environment: ``Environment.Variables`` of every function.
        :return: The ``CreateFunction`` responses, in file name order.
        :raises NotADirectoryError: when ``folder`` is not a directory.
        """
        directory = Path(folder)
        if not directory.is_dir():
            raise NotADirectoryError(f"not a directory: {directory}")
        created = []
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            created.append(
                self.create_function(
                    path.stem, path, handler=f"{path.stem}.handler", timeout=timeout, environment=environment
                )
            )
        return created

    def create_iam_user(
        self,
        user_name: str,
        actions: Sequence[str] = ("lambda:InvokeFunction",),
        resource: str = "*",
    ) -> dict[str, str]:
        """
        Create an IAM user with an inline policy allowing ``actions`` and return an access key for it.

        Call this before :meth:`enable_iam_enforcement` (or with credentials allowed to use IAM).

        :param user_name: Name of the user.
        :param actions: Allowed actions; empty for a user without any permission.
        :param resource: Resource of the policy statement.
        :return: ``aws_access_key_id`` and ``aws_secret_access_key``, ready for :meth:`client`.
        """
        iam = self.client("iam")
        iam.create_user(UserName=user_name)
        if actions:
            iam.put_user_policy(
                UserName=user_name,
                PolicyName=f"{user_name}-policy",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}],
                    }
                ),
            )
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def _moto_api(self, path: str, data: bytes = b"") -> dict[str, Any]:
        import urllib.request

        # Not form-encoded (urllib's default), or Flask would swallow the body into request.form.
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method="POST", headers={"Content-Type": "text/plain"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            body = response.read()
        result: dict[str, Any] = json.loads(body) if body.strip().startswith(b"{") else {}
        return result

    def enable_iam_enforcement(self) -> None:
        """
        Make moto authenticate and authorise every later request (``POST /moto-api/reset-auth``).

        From then on only credentials of IAM users (or roles assumed through STS) with a policy that
        allows the action work; the dummy credentials are rejected. moto's setting is process-wide,
        so it affects every client of this endpoint.
        """
        # The body is the number of requests to let through unauthenticated: a bare number, not JSON.
        result = self._moto_api("/moto-api/reset-auth", b"0")
        if result.get("status") != "ok":
            raise LocalLambdaError(f"moto did not accept reset-auth: {result}")

    def disable_iam_enforcement(self) -> None:
        """Turn IAM enforcement off again (moto's default: no request is authenticated)."""
        result = self._moto_api("/moto-api/reset-auth", b"inf")
        if result.get("status") != "ok":
            raise LocalLambdaError(f"moto did not accept reset-auth: {result}")

    def reset(self) -> None:
        """Delete every resource of every moto service (``POST /moto-api/reset``)."""
        self._moto_api("/moto-api/reset")
        self._roles.clear()
