"""Assumed-role credentials are renewed on expiry, for the synchronous and the deferred path.

moto's STS will not issue credentials shorter than 900 s, so a scripted STS stands in for it: a
loopback server answering AssumeRole with numbered keys whose ``Expiration`` the test chooses.
botocore renews temporary credentials that have less than ten minutes left before every request
that signs with them; keys issued with five minutes left are therefore renewed on each Invoke, and
keys issued for an hour are not. The Lambda side is a fake server that records who signed each
request (the ``Credential=`` of its ``Authorization`` header and its session token).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk.log import redact

from airflow_provider_lambda_ue import invocation
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.hooks.client_pool import SHARED_CLIENTS
from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
from tests.support.fake_servers import (
    FakeLambdaFactory,
    FakeLambdaServer,
    RecordedRequest,
    ScriptedResponse,
    ok_response,
)
from tests.support.hooks import AWS_CONN_ID, LOG, aws_connection, close_client

ROLE_ARN = "arn:aws:iam::123456789012:role/refresh-role"
BASE_KEY = "AKIDREFRESHBASE0000"
ISSUED = 12


def issued_key(n: int) -> str:
    return f"ASIAREFRESH{n:04d}"


def issued_secret(n: int) -> str:
    return f"refresh-secret-{n:04d}-a9f3"


def issued_token(n: int) -> str:
    return f"refresh-token-{n:04d}-77c1"


def assume_role_answers(lifetime: timedelta) -> list[ScriptedResponse]:
    """AssumeRole answers with keys 1..ISSUED (the last repeats), each valid for ``lifetime``."""
    expiration = (datetime.now(timezone.utc) + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
    answers = []
    for n in range(1, ISSUED + 1):
        body = f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>{issued_key(n)}</AccessKeyId>
      <SecretAccessKey>{issued_secret(n)}</SecretAccessKey>
      <SessionToken>{issued_token(n)}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROAREFRESH:Airflow_{AWS_CONN_ID}</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/refresh-role/Airflow_{AWS_CONN_ID}</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>refresh-{n}</RequestId></ResponseMetadata>
</AssumeRoleResponse>"""
        answers.append(ScriptedResponse(status=200, headers={"Content-Type": "text/xml"}, body=body))
    return answers


def signer(request: RecordedRequest) -> tuple[str, str | None]:
    """The access key that signed a request, and the session token it carried."""
    match = re.search(r"Credential=([^/]+)/", request.headers.get("authorization", ""))
    assert match, f"unsigned request: {request.headers}"
    return match.group(1), request.headers.get("x-amz-security-token")


def assume_role_calls(sts: FakeLambdaServer) -> list[RecordedRequest]:
    return [r for r in sts.requests if b"Action=AssumeRole" in r.body]


@pytest.fixture
def servers(
    fake_lambda_factory: FakeLambdaFactory, clean_aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeLambdaServer, FakeLambdaServer]:
    """(sts, lambda): the scripted STS, reached through ``AWS_ENDPOINT_URL_STS``, and a fake Lambda."""
    sts = fake_lambda_factory()
    lam = fake_lambda_factory(script=[ok_response({"ok": True})])
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    aws_connection(monkeypatch, login=BASE_KEY, password="refresh-base-secret")
    return sts, lam


def prepared(lam: FakeLambdaServer, **fields: Any) -> invocation.Invocation:
    raw = raw_fields(
        function_name="refresh-fn",
        endpoint_url=lam.url,
        aws_conn_id=AWS_CONN_ID,
        role_based_access=True,
        role_arn=ROLE_ARN,
        **fields,
    )
    return invocation.prepare(raw, LOG)


def invoke_sync_twice(lam: FakeLambdaServer) -> None:
    """Two invocations on one hook, hence one client and one credentials object."""
    job = prepared(lam)
    hook = invocation.build_hook(job)
    try:
        for _ in range(2):
            assert invocation.run(job, hook, LOG)["exit_code"] == 0
    finally:
        close_client(hook)


def invoke_async_twice(lam: FakeLambdaServer) -> None:
    """Two invocations in one event loop while a third party holds the shared client: one client."""
    job = prepared(lam)
    assert job.request is not None
    request = job.request

    async def main() -> None:
        hook = LambdaInvokeHook.from_request(request)
        lease = await hook.lease_async_client()
        try:
            for _ in range(2):
                result = await LambdaInvokeHook.from_request(request).invoke_async(request)
                assert result.status_code == 200
        finally:
            await SHARED_CLIENTS.release(lease)

    asyncio.run(main())


#: The synchronous path, and the triggerer's, where one client serves concurrent invocations.
INVOKE_TWICE: dict[str, Callable[[FakeLambdaServer], None]] = {
    "sync": invoke_sync_twice,
    "deferred": invoke_async_twice,
}


def invoke_twice_with_keys_for(
    lifetime: timedelta, servers: tuple[FakeLambdaServer, FakeLambdaServer], path: str
) -> tuple[FakeLambdaServer, FakeLambdaServer]:
    """STS hands out keys valid for ``lifetime``; invoke twice on ``path``; the (STS, Lambda) servers."""
    sts, lam = servers
    sts.script(*assume_role_answers(lifetime))
    INVOKE_TWICE[path](lam)
    return sts, lam


@pytest.mark.parametrize("path", INVOKE_TWICE)
def test_keys_near_expiry_are_renewed_before_each_invoke_and_masked(
    servers: tuple[FakeLambdaServer, FakeLambdaServer], path: str
) -> None:
    sts, lam = invoke_twice_with_keys_for(timedelta(minutes=5), servers, path)

    signers = [signer(r) for r in lam.invocations]
    assert len(signers) == 2
    issued = {(issued_key(n), issued_token(n)) for n in range(1, ISSUED + 1)}
    # Every Invoke was signed with a key pair from STS, never the connection's own key ...
    assert set(signers) <= issued
    # ... and the second one with a renewed pair: the credentials were refreshed in between.
    assert signers[0] != signers[1]
    assert len(assume_role_calls(sts)) >= 3  # the first AssumeRole, then a renewal per signature
    # AssumeRole itself was signed with the connection's key.
    assert {signer(r)[0] for r in assume_role_calls(sts)} == {BASE_KEY}

    # A renewal happens long after the hook registered its first keys; its keys are masked too.
    for n in range(1, ISSUED + 1):
        if (issued_key(n), issued_token(n)) in signers:
            shown = str(redact(f"secret={issued_secret(n)} token={issued_token(n)}"))
            assert issued_secret(n) not in shown
            assert issued_token(n) not in shown


@pytest.mark.parametrize("path", INVOKE_TWICE)
def test_keys_far_from_expiry_are_reused(
    servers: tuple[FakeLambdaServer, FakeLambdaServer], path: str
) -> None:
    """The control: long-lived keys sign both Invokes with the first pair (one client, one AssumeRole)."""
    sts, lam = invoke_twice_with_keys_for(timedelta(hours=1), servers, path)

    assert [signer(r) for r in lam.invocations] == [(issued_key(1), issued_token(1))] * 2
    assert len(assume_role_calls(sts)) == 1
