"""Keys that do not come from the connection (environment chain) are registered with the masker too.

botocore's DEBUG logging prints the session token; the connection's keys are masked when the
connection is read, but keys from the environment or from STS only when the hook registers them.
"""

from __future__ import annotations

import uuid

import pytest
from airflow.sdk.log import redact

from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook


def test_environment_credentials_are_masked_once_the_client_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"env-secret-{uuid.uuid4().hex}"
    token = f"env-token-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAMASKTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    hook = LambdaInvokeHook(aws_conn_id=None, region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert secret in str(redact(f"before {secret}")), "the masker must not know the key before the client"
    hook.get_conn()
    masked = str(redact(f"secret={secret} token={token}"))
    assert secret not in masked
    assert token not in masked
