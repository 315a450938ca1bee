"""The client without Airflow (``hooks/environment.py``), failures as contract classes, the CLI's masker.

No server: the clients are built but never called. The command line's runs without Airflow, against
real servers, are in ``tests/e2e/test_cli.py`` and ``tests/e2e/test_leaks.py``.
"""

from __future__ import annotations

import json
import pickle
import uuid
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_lambda_ue import _private_api, exceptions
from airflow_provider_lambda_ue.exceptions import public
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.hooks.environment import EnvironmentInvoker
from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
from airflow_provider_lambda_ue.hooks.transport import KEEPALIVE_OPTIONS
from airflow_provider_lambda_ue.masking import REDACTED, mask, redact_secrets
from airflow_provider_lambda_ue.outcomes import OUTCOMES, InvocationFailure, Outcome
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.validation import validate


@pytest.mark.parametrize("outcome", [o for o in OUTCOMES if o.exception], ids=lambda o: o.key)
def test_a_failure_of_the_shared_path_is_raised_as_its_contract_class(outcome: Outcome) -> None:
    failure = InvocationFailure(outcome, "detail", proxy_url="http://proxy:3128")
    error = exceptions.public(failure)

    assert type(error).__name__ == outcome.exception
    assert type(error) is getattr(exceptions, outcome.exception)
    assert isinstance(error, InvocationFailure)
    assert type(pickle.loads(pickle.dumps(error))) is type(error)
    assert str(error) == str(failure)
    assert (error.exit_code, error.status, error.status_description) == (
        failure.exit_code,
        failure.status,
        failure.status_description,
    )
    # Failures that retrying cannot help (or must not repeat) are not retried by Airflow.
    assert isinstance(public(error), AirflowFailException) is (not outcome.retried)
    assert exceptions.public(error) is error


def test_redact_secrets_cuts_every_registered_secret_and_keeps_json_valid() -> None:
    secret = f'pw-"quoted"\\-{uuid.uuid4().hex}'
    other = f"other-{uuid.uuid4().hex}"
    assert redact_secrets(f"x {secret} y") == f"x {secret} y", "not registered yet"
    mask(secret, other, None, "")

    document = {"detail": f"a {secret} b", "more": [other], "changed": True}
    redacted = redact_secrets(document)

    assert redacted == {"detail": f"a {REDACTED} b", "more": [REDACTED], "changed": True}
    assert redact_secrets(f"plain {secret}") == f"plain {REDACTED}"


def test_secrets_shorter_than_airflows_minimum_are_not_masked() -> None:
    """As Airflow's masker: a secret "a" or "true" would otherwise cut the document's words."""
    mask("a", "true", "1234")
    document = {"status_description": "SUCCESS: AWS Lambda function invoked successfully", "changed": "true"}
    assert redact_secrets(document) == document
    assert json.loads(json.dumps(redact_secrets(document))) == document


def _request(**fields: Any) -> InvokeRequest:
    return validate(raw_fields(function_name="f", region_name="us-east-1", aws_conn_id=None, **fields))


PROXIED: dict[str, Any] = {
    "use_proxy": True,
    "proxy": "http://127.0.0.1:9,https://127.0.0.1:10",
    "proxy_type": "HTTPS",
    "wait_for_completion_timeout": 42,
    "endpoint_url": "http://127.0.0.1:9",
}


@pytest.mark.parametrize("fields", [{}, PROXIED], ids=["plain", "proxied"])
def test_the_hook_and_the_invoker_without_airflow_build_one_config(fields: dict[str, Any]) -> None:
    request = _request(**fields)
    credentials = ("user", f"pw-{uuid.uuid4().hex}")

    hook = LambdaInvokeHook.from_request(request, proxy_credentials=credentials)
    invoker = EnvironmentInvoker.from_request(request, proxy_credentials=credentials)

    hook_options = _private_api.config_options(hook.invoke_config())
    assert hook_options == _private_api.config_options(invoker.invoke_config())
    assert hook_options["retries"] == {"mode": "standard", "total_max_attempts": 1}
    assert hook.proxy_url == invoker.proxy_url
    assert hook.proxy_credentials == invoker.proxy_credentials
    assert (hook.read_timeout, hook.connect_timeout) == (invoker.read_timeout, invoker.connect_timeout)
    if fields:
        assert hook_options["read_timeout"] == 42
        assert invoker.proxy_url == "http://127.0.0.1:9"
        assert "proxy_ca_bundle" in hook_options["proxies_config"]


def test_the_invoker_without_airflow_builds_a_prepared_client(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"env-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAINVOKERTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    invoker = EnvironmentInvoker.from_request(_request(endpoint_url="http://127.0.0.1:9"))
    assert invoker.credentials_from_connection is False

    client = invoker.conn

    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    options = _private_api.client_socket_options(client)
    assert options is not None and all(option in options for option in KEEPALIVE_OPTIONS)
    # The environment's key is in the CLI's masker once the client exists.
    assert secret not in redact_secrets(f"key {secret}")


def test_the_invoker_without_airflow_reads_no_connection() -> None:
    with pytest.raises(ValueError, match="LambdaInvokeHook"):
        EnvironmentInvoker.from_request(
            validate(raw_fields(function_name="f", region_name="us-east-1", aws_conn_id="aws_x"))
        )


# --------------------------------------------------------------------------------------------
# The user agent's caller: the same answer as AwsBaseHook's, without inspect.stack()
# --------------------------------------------------------------------------------------------


class _SomeOperator:
    def execute(self, target: str) -> tuple[str | None, str | None]:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return (
            LambdaInvokeHook._find_operator_class_name(target),
            AwsBaseHook._find_operator_class_name(target),
        )


@pytest.mark.parametrize("target", ["execute", "no_such_function"])
def test_caller_lookup_answers_as_aws_base_hook(target: str) -> None:
    ours, theirs = _SomeOperator().execute(target)
    assert ours == theirs
    assert ours == ("_SomeOperator" if target == "execute" else None)


def test_executor_lookup_answers_as_aws_base_hook() -> None:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    def both() -> tuple[str | None, str | None]:
        return LambdaInvokeHook._find_executor_class_name(), AwsBaseHook._find_executor_class_name()

    # Outside an executor's module neither finds one.
    assert both() == (None, None)
    # Called from a module that defines executors: the last class of its globals, for both.
    namespace: dict[str, Any] = {"both": both}
    source = "class BaseExecutor: ...\nclass LocalExecutor(BaseExecutor): ...\ndef run(): return both()"
    exec(source, namespace)
    assert namespace["run"]() == ("LocalExecutor", "LocalExecutor")


def test_a_caller_frame_without_self_is_unknown_in_the_user_agent() -> None:
    hook = LambdaInvokeHook(aws_conn_id=None, region_name="us-east-1")

    def execute() -> str:  # an "execute" frame with no self: AwsBaseHook's lookup fails the same way
        return hook._get_caller()

    assert execute() == "Unknown"
    assert _SomeOperatorWithHook(hook).execute() == "_SomeOperatorWithHook"


class _SomeOperatorWithHook:
    def __init__(self, hook: LambdaInvokeHook) -> None:
        self.hook = hook

    def execute(self) -> str:
        return self.hook._get_caller()


def test_validation_and_the_client_parse_lambdas_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model validation reads its shapes from is the one the client is built from (one parse)."""
    import botocore.loaders

    from airflow_provider_lambda_ue import aws_model, masking

    loads: list[str] = []
    original = botocore.loaders.Loader.load_data_with_path

    def counting(self: Any, name: str) -> Any:
        if name.endswith("lambda/2015-03-31/service-2"):
            loads.append(name)
        return original(self, name)

    monkeypatch.setattr(botocore.loaders.Loader, "load_data_with_path", counting)
    monkeypatch.setattr(_private_api, "_SHARED_LOADERS", {})  # a process that has parsed nothing yet
    aws_model._invoke_shapes.cache_clear()
    monkeypatch.setattr(masking, "mask", lambda *secrets: None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNITTEST00000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-secret")
    try:
        request = validate(raw_fields(function_name="f", aws_conn_id=None, region_name="us-east-1"))
        EnvironmentInvoker.from_request(request).lambda_client()
    finally:
        aws_model._invoke_shapes.cache_clear()
    assert len(loads) == 1, loads
