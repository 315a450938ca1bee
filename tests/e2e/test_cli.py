"""The command line as users run it: the installed ``lambda-ue`` console script and
``python -m airflow_provider_lambda_ue``, as subprocesses, against real servers on loopback.

Every exit code of the contract's table is produced by a real cause: a function that raises, a
function that does not exist, IAM enforcement that rejects keys or denies the call (moto), a
refused port, real proxies (proxy.py) with a wrong password, stopped or with an untrusted
certificate, bad input, and a function slower than ``--wait-for-completion-timeout``. Each run
checks the whole contract of the process: stdout is exactly one JSON document whose
``exit_code`` is the process's exit code, the status description is the seed's, and no secret
that reached the process through its environment or a connection shows in stdout or stderr.

The subprocesses get a clean environment: nothing ``AWS_*``, proxy or Airflow from outside, an
``AIRFLOW_HOME`` of their own, dummy credentials whose secret is distinctive.

A run with a connection (``--aws-conn-id``, ``--proxy-conn-id``) imports Airflow (seconds of CPU
on a shared machine), so tests that need several runs start them concurrently (:func:`run_all`);
a run without one never imports it (:func:`test_no_airflow_without_a_connection`).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_lambda_ue import __version__
from airflow_provider_lambda_ue.cli import build_parser
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.command_line import ISSUE_OPTIONS, LAMBDA_UE
from tests.support.document_shape import (
    DOCUMENT_KEYS,
    RESULT_KEYS,
    STATUS_AUTHENTICATION,
    STATUS_AUTHORIZATION,
    STATUS_DECODE_WARNING,
    STATUS_READ_TIMEOUT,
    STATUS_SUCCESS,
    STATUS_VALIDATION,
)
from tests.support.fake_servers import FakeLambdaServer, log_tail_not_base64, subprocess_environment
from tests.support.local_lambda import (
    PRINT_AND_RETURN_HANDLER,
    RAISE_HANDLER,
    CountingFunction,
    create_iam_role,
    new_function,
    unique_function_name,
)
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyFactory, ProxyInfo
from tests.support.secrets import secret_forms

pytestmark = pytest.mark.timeout(900)

REGION = "us-east-1"
RUN_TIMEOUT = 600  # seconds per subprocess: Airflow's import alone takes several on a busy machine

#: The environment's AWS secret in every run: moto ignores it while IAM enforcement is off, and
#: being distinctive it proves that the secret never shows in the output.
ENV_SECRET = "env-secret-7QvZ3kXw9Lp2"
WRONG_PROXY_PASSWORD = "wrong-proxy-pw-Kd8#Hq2&"


#: Returns the event and the client context the function saw.
CONTEXT_HANDLER = """\
def handler(event, context):
    cc = context.client_context
    return {"event": event, "custom": cc.custom if cc else None, "env": cc.env if cc else None}
"""

_SECRET_ENV_KEYS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LAMBDA_UE_PROXY_PASSWORD")


# ---------------------------------------------------------------------------------------------------
# Running the command line
# ---------------------------------------------------------------------------------------------------


@dataclass
class Call:
    """
    One command-line run to make.

    :param args: Arguments after the program name.
    :param env: Variables added to the clean base environment (a None value removes one).
    :param module: Run ``python -m airflow_provider_lambda_ue`` instead of the console script.
    :param secrets: Further values that must not appear in the output (the environment's and the
        connections' secrets are found automatically).
    :param stdin: Text for stdin (else stdin is empty).
    :param python_options: Options for the interpreter (with ``module``), e.g. ``-X importtime``.
    """

    args: Sequence[str]
    env: Mapping[str, str | None] = field(default_factory=dict)
    module: bool = False
    secrets: Sequence[str] = ()
    stdin: str | None = None
    python_options: Sequence[str] = ()


@dataclass
class Run:
    """A finished run: exit code, stdout and stderr (text)."""

    call: Call
    returncode: int
    stdout: str
    stderr: str

    @cached_property
    def document(self) -> dict[str, Any]:
        """The output document: the WHOLE of stdout must be one JSON value."""
        try:
            document = json.loads(self.stdout)
        except ValueError as err:
            raise AssertionError(f"stdout is not one JSON document ({err}):\n{self}") from None
        assert isinstance(document, dict), self
        return document

    @property
    def status(self) -> str:
        """The document's status description."""
        return str(self.document["status_description"])

    @property
    def fields(self) -> dict[str, Any]:
        """The document's ``invocation.fields``."""
        return dict(self.document["invocation"]["fields"])

    @property
    def result(self) -> dict[str, Any]:
        """The document's ``result``."""
        return dict(self.document["result"])

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.call.args)}\nexit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr[-6000:]}"
        )


@pytest.fixture(scope="session")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A clean environment: no AWS, proxy, CA bundle or Airflow settings from outside."""
    home = tmp_path_factory.mktemp("cli-airflow-home")
    return subprocess_environment(
        home,
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_DEFAULT_REGION": REGION},
    )


def secrets_of(env: Mapping[str, str], extra: Iterable[str] = ()) -> set[str]:
    """Every secret a run was given: secret variables, and passwords of ``AIRFLOW_CONN_*`` JSON."""
    found = {env[key] for key in _SECRET_ENV_KEYS if env.get(key)}
    for key, value in env.items():
        if key.startswith("AIRFLOW_CONN_") and value.lstrip().startswith("{"):
            password = json.loads(value).get("password")
            if password:
                found.add(password)
    found.update(extra)
    return {form for secret in found for form in secret_forms(secret)}


def assert_contract(
    run: Run, exit_code: int, status: str | None = None, *, prefix: str | None = None
) -> None:
    """Exit code, one JSON document on stdout with the same exit code, and the status description."""
    assert run.returncode == exit_code, str(run)
    assert set(run.document) == set(DOCUMENT_KEYS), str(run)
    assert set(run.result) == set(RESULT_KEYS), str(run)
    assert run.document["exit_code"] == run.returncode, str(run)
    assert run.document["invocation"]["extension"] == "airflow-provider-lambda-ue"
    assert run.document["invocation"]["version"] == __version__
    if status is not None:
        assert run.status == status, str(run)
    if prefix is not None:
        assert run.status.startswith(prefix), str(run)
    assert run.document["changed"] is (run.result["status_code"] in (200, 202, 204)), str(run)


class Runner:
    """Runs the command line as subprocesses and checks that no secret leaks in any run."""

    def __init__(self, base_env: Mapping[str, str]) -> None:
        self.base_env = dict(base_env)
        self.runs: list[Run] = []

    def environment(self, call: Call) -> dict[str, str]:
        env = dict(self.base_env)
        for key, value in call.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, call: Call) -> Run:
        env = self.environment(call)
        program = (
            [sys.executable, *call.python_options, "-m", "airflow_provider_lambda_ue"]
            if call.module
            else [str(LAMBDA_UE)]
        )
        completed = subprocess.run(
            [*program, *call.args],
            env=env,
            input=call.stdin if call.stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        run = Run(call, completed.returncode, completed.stdout, completed.stderr)
        self.check_secrets(run, env)
        self.runs.append(run)
        return run

    @staticmethod
    def check_secrets(run: Run, env: Mapping[str, str]) -> None:
        """No secret of ``env`` (or of the call's ``secrets``) in the run's stdout or stderr."""
        for secret in secrets_of(env, run.call.secrets):
            assert secret not in run.stdout, f"secret {secret!r} on stdout:\n{run}"
            assert secret not in run.stderr, f"secret {secret!r} on stderr:\n{run}"

    def __call__(self, *args: str, env: Mapping[str, str | None] | None = None, **kwargs: Any) -> Run:
        return self.run(Call(args, env or {}, **kwargs))

    def run_all(self, calls: Sequence[Call]) -> list[Run]:
        """Run ``calls`` concurrently (each process mostly waits on Airflow's import or a server)."""
        with ThreadPoolExecutor(max_workers=min(4, len(calls))) as pool:
            return list(pool.map(self.run, calls))


@pytest.fixture
def cli(base_env: dict[str, str]) -> Runner:
    """Run ``lambda-ue`` (``cli(*args, env=..., module=..., secrets=...)``), checking for leaks."""
    return Runner(base_env)


def endpoint_args(server: Any) -> list[str]:
    """``--endpoint-url`` of a local or fake Lambda endpoint."""
    return ["--endpoint-url", str(server.url)]


def connection_env(conn_id: str, **connection: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` holding ``connection`` as JSON."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection)}


def decoded_tail(run: Run) -> str:
    return base64.b64decode(run.result["log_result"]).decode("utf-8", errors="replace")


def test_leak_check_finds_every_secret_given(base_env: dict[str, str]) -> None:
    """The harness itself: the check looks for every secret, also in its URL-encoded forms."""
    env = {
        **base_env,
        "LAMBDA_UE_PROXY_PASSWORD": PROXY_PASSWORD,
        **connection_env("x", conn_type="aws", login="AKIAX", password="conn/secret+1"),
        "AIRFLOW_CONN_URI_FORM": "aws://a:b@",  # not JSON: not parsed, harmless
    }
    found = secrets_of(env, ["extra-secret"])
    assert {ENV_SECRET, PROXY_PASSWORD, quote(PROXY_PASSWORD, safe=""), "conn/secret+1"} <= found
    assert {"conn%2Fsecret%2B1", "extra-secret"} <= found
    assert "testing" not in found  # the access key id is not a secret
    runner = Runner(base_env)
    leaked = Run(Call(["invoke"]), 0, f"{{}} {quote(PROXY_PASSWORD, safe='')}", "")
    with pytest.raises(AssertionError, match="secret"):
        runner.check_secrets(leaked, env)


# ---------------------------------------------------------------------------------------------------
# --help
# ---------------------------------------------------------------------------------------------------


def _invoke_options() -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    invoke = subparsers.choices["invoke"]  # type: ignore[index]
    return {
        option
        for action in invoke._actions
        if action.help != "==SUPPRESS=="
        for option in action.option_strings
    }


@pytest.mark.proves("--help", "--version")
def test_help_documents_every_option(cli: Runner) -> None:
    top, invoke_help, module_help, version = cli.run_all(
        [
            Call(["--help"]),
            Call(["invoke", "--help"]),
            Call(["invoke", "--help"], module=True),
            Call(["--version"]),
        ]
    )
    for run in (top, invoke_help, module_help, version):
        assert run.returncode == 0, str(run)
    # Help is what the user asked for: on stdout, so it can be paged or grepped.
    assert "invoke" in top.stdout
    assert "lambda-ue invoke --help" in top.stdout
    assert module_help.stdout == invoke_help.stdout
    assert version.stdout.strip() == f"lambda-ue {__version__}"
    text = invoke_help.stdout
    options = _invoke_options()
    assert set(ISSUE_OPTIONS) <= options
    for option in sorted(options | set(ISSUE_OPTIONS)):
        assert option in text, f"{option} missing from lambda-ue invoke --help:\n{text}"
    # What a new user needs besides the options: secrets, exit codes, where the output goes.
    for needle in (
        "LAMBDA_UE_PROXY_USER",
        "LAMBDA_UE_PROXY_PASSWORD",
        "AIRFLOW_CONN_",
        "@path",
        "exit codes",
    ):
        assert needle in text
    for code in ("0", "1", "2", "3", "10", "11", "20", "21"):
        assert f"\n  {code} " in text or f"  {code} " in text


# ---------------------------------------------------------------------------------------------------
# Start-up: Airflow is imported only for a connection
# ---------------------------------------------------------------------------------------------------


def imported_modules(run: Run) -> set[str]:
    """The modules a ``python -X importtime`` run imported (its stderr's ``import time:`` lines)."""
    names = set()
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def airflow_modules(modules: Iterable[str]) -> set[str]:
    """Airflow's own modules among ``modules`` (not this package, whose name starts alike)."""
    return {name for name in modules if name == "airflow" or name.startswith("airflow.")}


def importtime(*args: str) -> Call:
    """A ``python -X importtime -m airflow_provider_lambda_ue`` run of ``args``."""
    return Call(["invoke", *args], module=True, python_options=["-X", "importtime"])


def test_no_airflow_without_a_connection(cli: Runner, local_lambda: LocalLambda, refused_url: str) -> None:
    name = new_function(local_lambda, "cli-no-airflow", PRINT_AND_RETURN_HANDLER)
    common = ["--region", REGION, "--log-type", "Tail"]
    full_log = ["--fetch-full-log", "--full-log-timeout", "60", "--logs-endpoint-url", str(local_lambda.url)]
    ok, refused, invalid, with_log = cli.run_all(
        [
            importtime("--function-name", name, *common, *endpoint_args(local_lambda), "--payload", "{}"),
            importtime("--function-name", name, *common, "--endpoint-url", refused_url),
            importtime("--function-name", "no such name!", *common, *endpoint_args(local_lambda)),
            # The complete log is read and masked without Airflow too.
            importtime("--function-name", name, *common, *endpoint_args(local_lambda), *full_log),
        ]
    )

    assert_contract(ok, 0, STATUS_SUCCESS)
    assert_contract(refused, 10, prefix="CONNECTION_ERROR: ")
    assert_contract(invalid, 20, prefix=STATUS_VALIDATION)
    assert_contract(with_log, 0, STATUS_SUCCESS)
    assert "INFO End of the complete log: " in with_log.stderr, str(with_log)
    for run in (ok, refused, invalid, with_log):
        modules = imported_modules(run)
        assert "airflow_provider_lambda_ue.cli" in modules, "no import times: the check would be vacuous"
        assert airflow_modules(modules) == set(), str(run)
        # Nor the heavy libraries the Airflow path brings: the client is plain botocore.
        assert not {"boto3", "aiobotocore", "aiohttp", "yaml"} & modules, str(run)
    assert "botocore.client" in imported_modules(ok)
    # The progress on stderr is the same as through the hook: the tail, the answer, the status.
    assert f"INFO Invoking {name} (RequestResponse)" in ok.stderr
    assert "INFO Lambda answered 200 (executed version $LATEST" in ok.stderr
    assert f"INFO {STATUS_SUCCESS}" in ok.stderr
    # A connection that is refused is retried (it never reached the function), and says so.
    assert "WARNING Invoke attempt 1/4 did not reach the function (EndpointConnectionError)" in refused.stderr


@pytest.mark.parametrize("option", ["--aws-conn-id", "--proxy-conn-id"])
def test_a_connection_goes_through_airflow(cli: Runner, local_lambda: LocalLambda, option: str) -> None:
    name = new_function(local_lambda, "cli-airflow", PRINT_AND_RETURN_HANDLER)
    secret = f"conn-secret-{uuid.uuid4().hex}"
    conn = connection_env("cli_startup_conn", conn_type="aws", login="testing", password=secret)
    call = importtime(
        "--function-name", name, "--region", REGION, *endpoint_args(local_lambda), option, "cli_startup_conn"
    )
    call.env = conn

    run = cli.run(call)

    assert_contract(run, 0, STATUS_SUCCESS)
    assert "airflow.providers.amazon.aws.hooks.base_aws" in airflow_modules(imported_modules(run)), str(run)
    fields = run.fields
    if option == "--aws-conn-id":
        # The connection's keys sign: the document shows them as set.
        assert fields["credentials_user"] == "****"
        assert fields["credentials_password"] == "****"
    else:
        assert fields["credentials_user"] is None
        assert fields["proxy_credentials_user"] is None  # no --proxy: the connection is not used


# ---------------------------------------------------------------------------------------------------
# Exit code 0
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["a", "true"])
def test_a_short_secret_leaves_the_document_json(
    base_env: dict[str, str], local_lambda: LocalLambda, secret: str
) -> None:
    """As Airflow's masker, secrets under 5 characters are not masked: "a" would cut every word."""
    name = unique_function_name("cli-short-secret")
    local_lambda.create_function(name, PRINT_AND_RETURN_HANDLER)
    completed = subprocess.run(
        [
            str(LAMBDA_UE),
            "invoke",
            "--function-name",
            name,
            "--region",
            REGION,
            "--compact",
            *endpoint_args(local_lambda),
        ],
        env={**base_env, "AWS_SECRET_ACCESS_KEY": secret},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    run = Run(Call([]), completed.returncode, completed.stdout, completed.stderr)
    assert_contract(run, 0, STATUS_SUCCESS)  # stdout parses as one document, its words intact
    assert len(run.stdout.strip().splitlines()) == 1
    assert "***" not in run.stdout


@pytest.mark.parametrize("module", [False, True], ids=["console-script", "python-m"])
@pytest.mark.proves("--function-name", "--log-type", "--payload")
def test_success_with_log_tail(cli: Runner, local_lambda: LocalLambda, module: bool) -> None:
    name = new_function(local_lambda, "cli-ok", PRINT_AND_RETURN_HANDLER)
    marker = f"tail-marker-{uuid.uuid4().hex}"

    run = cli(
        "invoke",
        "--function-name",
        name,
        "--log-type",
        "Tail",
        "--payload",
        json.dumps({"message": marker}),
        "--region",
        REGION,
        *endpoint_args(local_lambda),
        module=module,
    )

    assert_contract(run, 0, STATUS_SUCCESS)
    result = run.result
    assert result["status_code"] == 200
    assert result["function_error"] is None
    assert result["executed_version"] == "$LATEST"
    assert json.loads(result["payload"])["event"] == {"message": marker}
    assert marker in decoded_tail(run)
    fields = run.fields
    assert fields["function_name"] == name
    assert fields["log_type"] == "Tail"
    assert fields["region"] == REGION
    assert fields["payload_source"] == "Script"
    # Credentials from the environment's chain, not a connection: nothing to mask.
    assert fields["credentials_user"] is None
    assert fields["credentials_password"] is None
    # The decoded tail, line by line, and the status on stderr; none of it on stdout.
    assert any(line.endswith(f"| {marker}") for line in run.stderr.splitlines()), run.stderr
    assert STATUS_SUCCESS in run.stderr


@pytest.mark.proves("--fail-on-function-error", "--no-fail-on-function-error")
def test_function_error_exit_1_or_0_without_fail_on_function_error(
    cli: Runner, local_lambda: LocalLambda
) -> None:
    name = new_function(local_lambda, "cli-raise", RAISE_HANDLER)
    message = f"boom-{uuid.uuid4().hex[:8]}"
    common = ["invoke", "--function-name", name, "--payload", json.dumps({"message": message})]

    failed, tolerated = cli.run_all(
        [
            Call([*common, "--log-type", "Tail", "--fail-on-function-error", *endpoint_args(local_lambda)]),
            Call([*common, "--no-fail-on-function-error", *endpoint_args(local_lambda)]),
        ]
    )

    assert_contract(failed, 1, f"FAIL: Function error (Unhandled): ValueError: {message}")
    assert failed.result["function_error"] == "Unhandled"
    assert json.loads(failed.result["payload"])["errorMessage"] == message
    assert f"about to raise: {message}" in failed.stderr  # the decoded tail

    assert_contract(tolerated, 0, STATUS_SUCCESS)
    assert tolerated.result["function_error"] == "Unhandled"
    assert json.loads(tolerated.result["payload"])["errorType"] == "ValueError"
    assert "fail_on_function_error is off" in tolerated.stderr


@pytest.mark.proves("--compact")
def test_decode_warning(cli: Runner, fake_lambda: FakeLambdaServer) -> None:
    fake_lambda.script(*log_tail_not_base64({"answer": 42}))

    run = cli(
        "invoke",
        "--function-name",
        "any-function",
        "--log-type",
        "Tail",
        "--compact",
        *endpoint_args(fake_lambda),
    )

    assert_contract(run, 0, STATUS_DECODE_WARNING)
    assert run.stdout.count("\n") == 1  # --compact: one line, for BashOperator's XCom
    assert json.loads(run.result["payload"]) == {"answer": 42}
    assert run.result["log_result"] == "%%% this is not base64: <tail> %%%"
    assert "could not be decoded" in run.stderr
    assert len(fake_lambda.invocations) == 1


@pytest.mark.proves("--client-context")
def test_payload_and_client_context_from_files(
    cli: Runner, local_lambda: LocalLambda, tmp_path: Path
) -> None:
    name = new_function(local_lambda, "cli-files", CONTEXT_HANDLER)
    payload = {"order": 17, "items": ["a", "b"], "text": "grüße"}
    context = {"custom": {"tenant": "acme"}, "env": {"stage": "test"}}
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(payload), encoding="utf-8")
    context_file = tmp_path / "context.json"
    context_file.write_text(json.dumps(context), encoding="utf-8")

    args = ["invoke", "--function-name", name, *endpoint_args(local_lambda)]
    from_files, from_stdin = cli.run_all(
        [
            Call([*args, "--payload", f"@{payload_file}", "--client-context", f"@{context_file}"]),
            Call(
                [*args, "--payload", "@-", "--client-context", json.dumps(context)], stdin=json.dumps(payload)
            ),
        ]
    )

    for run in (from_files, from_stdin):
        assert_contract(run, 0, STATUS_SUCCESS)
        answer = json.loads(run.result["payload"])
        assert answer == {"event": payload, "custom": context["custom"], "env": context["env"]}
        fields = run.fields
        assert fields["payload_source"] == "Script"
        assert json.loads(fields["payload_script"]) == payload
        assert fields["client_context_source"] == "Script"
        assert json.loads(fields["client_context_script"]) == context


@pytest.mark.proves("--invocation-type", "--qualifier", "--region", "AWS_DEFAULT_REGION", "region_name")
def test_invocation_type_qualifier_and_region(cli: Runner, local_lambda: LocalLambda) -> None:
    """
    Each option changes what Lambda is asked: Event answers 202, DryRun 204, ``--qualifier 1`` runs
    version 1; ``--region`` finds a function that exists only in eu-west-1, and so does a
    connection's ``region_name`` extra, where the environment's region (``AWS_DEFAULT_REGION``,
    us-east-1 here) does not.
    """
    from airflow_provider_lambda_ue.testing.local_lambda import zip_handler

    name = new_function(local_lambda, "cli-choices", PRINT_AND_RETURN_HANDLER, publish=True)
    elsewhere = unique_function_name("cli-eu")
    local_lambda.client("lambda", region_name="eu-west-1").create_function(
        FunctionName=elsewhere,
        Runtime="python3.11",
        Role=local_lambda.ensure_role(),
        Handler="handler.handler",
        Code={"ZipFile": zip_handler(PRINT_AND_RETURN_HANDLER)},
    )
    args = ["invoke", *endpoint_args(local_lambda)]
    eu_connection = connection_env(
        "cli_eu", conn_type="aws", login="testing", password=ENV_SECRET, extra={"region_name": "eu-west-1"}
    )
    event, dry_run, version, in_region, env_region, connection_region = cli.run_all(
        [
            Call([*args, "--function-name", name, "--invocation-type", "Event"]),
            Call([*args, "--function-name", name, "--invocation-type", "DryRun"]),
            Call([*args, "--function-name", name, "--qualifier", "1"]),
            Call([*args, "--function-name", elsewhere, "--region", "eu-west-1"]),
            Call([*args, "--function-name", elsewhere], {"AWS_DEFAULT_REGION": REGION}),
            Call([*args, "--function-name", elsewhere, "--aws-conn-id", "cli_eu"], eu_connection),
        ]
    )

    assert_contract(event, 0, STATUS_SUCCESS)
    assert event.result["status_code"] == 202
    assert_contract(dry_run, 0, STATUS_SUCCESS)
    assert dry_run.result["status_code"] == 204
    assert_contract(version, 0, STATUS_SUCCESS)
    assert version.result["executed_version"] == "1"
    assert_contract(in_region, 0, STATUS_SUCCESS)
    assert in_region.fields["region"] == "eu-west-1"
    assert_contract(env_region, 1, prefix="FAIL: ")  # not in us-east-1
    assert env_region.result["status_code"] is None
    assert_contract(connection_region, 0, STATUS_SUCCESS)
    assert connection_region.result["status_code"] == 200


@pytest.mark.proves("--use-proxy")
def test_use_proxy_without_a_proxy_exit_20(cli: Runner, fake_lambda: FakeLambdaServer) -> None:
    run = cli("invoke", "--function-name", "f", "--use-proxy", *endpoint_args(fake_lambda))

    assert_contract(run, 20, prefix=STATUS_VALIDATION)
    assert "proxy" in run.status
    assert run.fields["use_proxy"] is True
    assert fake_lambda.request_count == 0


# ---------------------------------------------------------------------------------------------------
# Exit code 1
# ---------------------------------------------------------------------------------------------------


def test_unknown_function_exit_1(cli: Runner, local_lambda: LocalLambda) -> None:
    name = unique_function_name("cli-missing")

    run = cli("invoke", "--function-name", name, *endpoint_args(local_lambda))

    assert_contract(run, 1, prefix="FAIL: ")
    assert "ResourceNotFoundException" in run.status or "not found" in run.status.lower(), str(run)
    assert run.result["status_code"] is None
    assert run.fields["function_name"] == name


# ---------------------------------------------------------------------------------------------------
# Exit codes 2 and 3 (moto's IAM enforcement), --aws-conn-id and --role-arn
# ---------------------------------------------------------------------------------------------------


@pytest.mark.proves("--aws-conn-id", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
def test_authentication_authorization_and_connection_credentials(
    cli: Runner, local_lambda_iam: LocalLambda
) -> None:
    server = local_lambda_iam
    name = new_function(server, "cli-iam", PRINT_AND_RETURN_HANDLER)
    allowed = server.create_iam_user("cli-allowed", ["lambda:InvokeFunction"])
    denied = server.create_iam_user("cli-denied", [])
    server.enable_iam_enforcement()

    def env_credentials(key_id: str, secret: str) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}

    args = ["invoke", "--function-name", name, *endpoint_args(server)]
    conn = connection_env(
        "cli_iam_aws",
        conn_type="aws",
        login=allowed["aws_access_key_id"],
        password=allowed["aws_secret_access_key"],
        extra={"region_name": REGION},
    )
    every_secret = [allowed["aws_secret_access_key"], denied["aws_secret_access_key"]]
    unknown_key, wrong_secret, no_permission, via_connection = cli.run_all(
        [
            Call(args, env_credentials("AKIAUNKNOWNKEY000000", "unknown-secret-Rt5Yw")),
            Call(
                args,
                env_credentials(allowed["aws_access_key_id"], "wrong-secret-Zp3Xv"),
                secrets=every_secret,
            ),
            Call(args, env_credentials(denied["aws_access_key_id"], denied["aws_secret_access_key"])),
            # The environment's keys are unknown to IAM: success proves the connection's are used.
            Call([*args, "--aws-conn-id", "cli_iam_aws"], conn, secrets=every_secret),
        ]
    )

    assert_contract(unknown_key, 2, STATUS_AUTHENTICATION)
    assert_contract(wrong_secret, 2, STATUS_AUTHENTICATION)
    assert_contract(no_permission, 3, STATUS_AUTHORIZATION)
    for run in (unknown_key, wrong_secret, no_permission):
        assert run.result["status_code"] is None
        assert run.fields["credentials_password"] is None  # the chain's keys, not a connection's

    assert_contract(via_connection, 0, STATUS_SUCCESS)
    assert via_connection.fields["credentials_user"] == "****"
    assert via_connection.fields["credentials_password"] == "****"
    assert allowed["aws_access_key_id"] not in via_connection.stdout


@pytest.mark.proves("--role-arn", "AWS_ENDPOINT_URL_STS")
def test_role_arn_assumed_through_sts(cli: Runner, local_lambda_iam: LocalLambda) -> None:
    server = local_lambda_iam
    name = new_function(server, "cli-role", PRINT_AND_RETURN_HANDLER)
    # May assume the role but not invoke; and one that may do neither.
    assumer = server.create_iam_user("cli-assumer", ["sts:AssumeRole"])
    outsider = server.create_iam_user("cli-outsider", ["lambda:GetFunction"])
    role_arn = create_iam_role(
        server, "cli-invoker", assumers=["cli-assumer", "cli-outsider"], actions=["lambda:InvokeFunction"]
    )
    server.enable_iam_enforcement()

    sts_env = {"AWS_ENDPOINT_URL_STS": server.url}

    def as_user(user: Mapping[str, str]) -> dict[str, str]:
        return {
            **sts_env,
            "AWS_ACCESS_KEY_ID": user["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": user["aws_secret_access_key"],
        }

    args = ["invoke", "--function-name", name, "--log-type", "Tail", *endpoint_args(server)]
    direct, assumed, not_allowed_to_assume = cli.run_all(
        [
            Call(args, as_user(assumer)),
            Call([*args, "--role-arn", role_arn], as_user(assumer)),
            Call([*args, "--role-arn", role_arn], as_user(outsider)),
        ]
    )

    assert_contract(direct, 3, STATUS_AUTHORIZATION)
    assert_contract(assumed, 0, STATUS_SUCCESS)
    assert assumed.fields["role_based_access"] is True
    assert assumed.fields["role_arn"] == role_arn
    assert assumed.result["status_code"] == 200
    assert_contract(not_allowed_to_assume, 3, STATUS_AUTHORIZATION)
    assert not_allowed_to_assume.fields["role_arn"] == role_arn


# ---------------------------------------------------------------------------------------------------
# Exit codes 10 and 11, proxies
# ---------------------------------------------------------------------------------------------------


@pytest.mark.proves("--endpoint-url")
def test_refused_endpoint_exit_10(cli: Runner, refused_url: str) -> None:
    run = cli("invoke", "--function-name", "any-function", "--endpoint-url", refused_url)

    assert_contract(run, 10, prefix="CONNECTION_ERROR: ")
    assert "ProxyConnectionError" not in run.status
    assert run.result["status_code"] is None
    assert run.document["changed"] is False


@pytest.mark.proves(
    "--proxy", "--proxy-conn-id", "--proxy-type", "LAMBDA_UE_PROXY_USER", "LAMBDA_UE_PROXY_PASSWORD"
)
def test_proxy_credentials_from_environment_and_connection(
    cli: Runner, local_lambda: LocalLambda, http_proxy_auth: ProxyInfo
) -> None:
    name = new_function(local_lambda, "cli-proxy", PRINT_AND_RETURN_HANDLER)
    args = ["invoke", "--function-name", name, *endpoint_args(local_lambda), "--proxy", http_proxy_auth.url]
    env_user = {"LAMBDA_UE_PROXY_USER": PROXY_USER}
    proxy_conn = connection_env("cli_proxy", conn_type="http", login=PROXY_USER, password=PROXY_PASSWORD)

    from_env, wrong_password, from_connection, missing_credentials = cli.run_all(
        [
            Call(args, {**env_user, "LAMBDA_UE_PROXY_PASSWORD": PROXY_PASSWORD}),
            Call(args, {**env_user, "LAMBDA_UE_PROXY_PASSWORD": WRONG_PROXY_PASSWORD}),
            # The connection wins over the variables (whose password is wrong here).
            Call(
                [*args, "--proxy-conn-id", "cli_proxy", "--proxy-type", "HTTPS with Credentials"],
                {**proxy_conn, **env_user, "LAMBDA_UE_PROXY_PASSWORD": WRONG_PROXY_PASSWORD},
            ),
            Call([*args, "--proxy-type", "HTTPS with Credentials"]),
        ]
    )

    assert_contract(from_env, 0, STATUS_SUCCESS)
    assert from_env.fields["use_proxy"] is True  # --proxy implies --use-proxy
    assert from_env.fields["proxy"] == http_proxy_auth.url
    assert from_env.fields["proxy_credentials_user"] == "****"
    assert from_env.fields["proxy_credentials_password"] == "****"

    assert_contract(
        wrong_password,
        11,
        f"CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {http_proxy_auth.url}",
    )
    assert wrong_password.result["status_code"] is None

    assert_contract(from_connection, 0, STATUS_SUCCESS)
    assert from_connection.fields["proxy_type"] == "HTTPS with Credentials"
    assert from_connection.fields["proxy_credentials_password"] == "****"

    assert_contract(missing_credentials, 20, prefix=STATUS_VALIDATION)
    assert "proxy" in missing_credentials.status

    # Two invocations really went through the proxy; the wrong password got no further than it.
    relayed = http_proxy_auth.wait_for_connections(2, timeout=30)
    assert len(relayed) == 2, http_proxy_auth.access_log()
    assert all(name in entry.target for entry in relayed)
    for run in cli.runs:
        assert PROXY_PASSWORD not in run.stdout + run.stderr


def test_stopped_proxy_exit_11(cli: Runner, local_lambda: LocalLambda, proxy_factory: ProxyFactory) -> None:
    proxy = proxy_factory()
    proxy.stop()

    run = cli("invoke", "--function-name", "any-function", *endpoint_args(local_lambda), "--proxy", proxy.url)

    assert_contract(
        run, 11, f"CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {proxy.url}"
    )


@pytest.mark.proves("--proxy-ca-bundle-file")
def test_tls_proxy_trusted_and_untrusted(
    cli: Runner,
    local_lambda: LocalLambda,
    tls_proxy: ProxyInfo,
    tls_proxy_untrusted: ProxyInfo,
    ca_bundle: str,
) -> None:
    name = new_function(local_lambda, "cli-tls-proxy", PRINT_AND_RETURN_HANDLER)

    def through(proxy: ProxyInfo) -> Call:
        return Call(
            [
                "invoke",
                "--function-name",
                name,
                *endpoint_args(local_lambda),
                "--use-proxy",
                "--proxy",
                proxy.url,
                "--proxy-type",
                "HTTPS",
                "--proxy-ca-bundle-file",
                ca_bundle,
            ]
        )

    trusted, untrusted = cli.run_all([through(tls_proxy), through(tls_proxy_untrusted)])

    assert_contract(trusted, 0, STATUS_SUCCESS)
    assert trusted.fields["proxy_ca_bundle_file"] == ca_bundle
    assert_contract(
        untrusted,
        11,
        f"CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {tls_proxy_untrusted.url}",
    )
    assert tls_proxy_untrusted.connections() == []


# ---------------------------------------------------------------------------------------------------
# Exit code 20
# ---------------------------------------------------------------------------------------------------


def test_bad_fields_exit_20_before_any_request(
    cli: Runner, fake_lambda: FakeLambdaServer, tmp_path: Path
) -> None:
    run = cli(
        "invoke",
        "--function-name",
        "not a function name!",
        "--invocation-type",
        "Sometimes",
        "--log-type",
        "Verbose",
        "--payload",
        "{not json",
        "--client-context",
        "[1, 2]",
        "--wait-for-completion-timeout",
        "0",
        "--proxy",
        "ftp://proxy.invalid:21",
        "--proxy-ca-bundle-file",
        str(tmp_path / "missing.pem"),
        *endpoint_args(fake_lambda),
    )

    assert_contract(run, 20, prefix=STATUS_VALIDATION)
    for field_name in (
        "function_name",
        "invocation_type",
        "log_type",
        "payload",
        "client_context",
        "wait_for_completion_timeout",
        "proxy",
        "proxy_ca_bundle_file",
    ):
        assert field_name in run.status, f"{field_name} not named:\n{run}"
    assert fake_lambda.request_count == 0
    assert run.fields["function_name"] == "not a function name!"
    assert run.document["changed"] is False


def test_argument_errors_exit_20_naming_the_option(cli: Runner, tmp_path: Path) -> None:
    missing_file = tmp_path / "missing.json"
    unknown, no_function, misspelt, unreadable = cli.run_all(
        [
            Call(["invoke", "--function-name", "f", "--colour", "blue"], module=True),
            Call(["invoke", "--payload", "{}"]),
            Call(["invoke", "--functon-name", "f"]),
            Call(["invoke", "--function-name", "f", "--payload", f"@{missing_file}"]),
        ]
    )

    assert_contract(unknown, 20, prefix=STATUS_VALIDATION)
    assert "unrecognized arguments: --colour blue" in unknown.status
    assert "--colour" in unknown.stderr
    assert unknown.fields["function_name"] == "f"  # what could be read is shown

    assert_contract(no_function, 20, prefix=STATUS_VALIDATION)
    assert "--function-name" in no_function.status
    assert "--function-name" in no_function.stderr
    assert no_function.fields["payload_script"] == "{}"

    # A misspelt option: both the unknown one and the missing one are named.
    assert_contract(misspelt, 20, prefix=STATUS_VALIDATION)
    assert "unrecognized arguments: --functon-name f" in misspelt.status
    assert "required: --function-name" in misspelt.status

    assert_contract(unreadable, 20, prefix=STATUS_VALIDATION)
    assert "argument --payload" in unreadable.status
    assert str(missing_file) in unreadable.status

    for run in (unknown, no_function, misspelt, unreadable):
        assert run.result["status_code"] is None
        assert "lambda-ue invoke --help" in run.stderr
        assert "Traceback" not in run.stderr


def test_inline_url_passwords_never_printed(cli: Runner, fake_lambda: FakeLambdaServer) -> None:
    """A password in a URL that does not parse (no scheme, a "," or "/" in it) is not in any output."""
    halves = ["Half0neSecret", "Half7woSecret"]
    invoke = ["invoke", "--function-name", "echo", "--compact"]
    runs = cli.run_all(
        [
            Call([*invoke, "--proxy", f"me:{halves[0]}@proxy.corp:3128"], secrets=halves),
            Call([*invoke, "--proxy", f"http://u:{halves[0]},{halves[1]}@proxy.corp:3128"], secrets=halves),
            Call([*invoke, "--proxy", f"http://u:{halves[0]}/{halves[1]}@proxy.corp:3128"], secrets=halves),
            Call([*invoke, "--endpoint-url", f"user:{halves[0]}@host:port"], secrets=halves),
            Call(
                [*invoke, *endpoint_args(fake_lambda), "--logs-endpoint-url", f"http://u:{halves[1]}@l:1"],
                secrets=halves,
            ),
        ]
    )
    for run in runs:  # Runner checks stdout and stderr for the secrets
        assert_contract(run, 20, prefix=STATUS_VALIDATION)
        assert "credentials" in run.status, run
        assert len(run.stdout.strip().splitlines()) == 1, run
    assert fake_lambda.request_count == 0


# ---------------------------------------------------------------------------------------------------
# The complete log (CloudWatch Logs)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.proves("--fetch-full-log", "--logs-endpoint-url", "--full-log-required", "--full-log-timeout")
def test_complete_log_options(cli: Runner, local_lambda: LocalLambda) -> None:
    """
    ``--fetch-full-log`` prints the log from the ``--logs-endpoint-url`` endpoint (without it the
    logs client would call AWS); ``--full-log-required`` turns a log that is not there within
    ``--full-log-timeout`` seconds into exit 1 (the log arrives after 60 s, which the default
    timeout would have waited for).
    """
    name = unique_function_name("cli-full-log")
    late = unique_function_name("cli-full-log-late")
    local_lambda.create_function(name, PRINT_AND_RETURN_HANDLER)
    local_lambda.create_function(
        late, PRINT_AND_RETURN_HANDLER, environment={"LOCAL_LAMBDA_LOGS_DELAY_SECONDS": "60"}
    )
    logs = ["--logs-endpoint-url", local_lambda.url]
    fetched, required_late = cli.run_all(
        [
            Call(
                ["invoke", "--function-name", name, *endpoint_args(local_lambda), *logs, "--fetch-full-log"]
            ),
            Call(
                [
                    "invoke",
                    "--function-name",
                    late,
                    *endpoint_args(local_lambda),
                    *logs,
                    "--full-log-required",
                    "--full-log-timeout",
                    "3",
                ]
            ),
        ]
    )

    assert_contract(fetched, 0, STATUS_SUCCESS)
    request_id = fetched.result["request_id"]
    assert f"INFO | START RequestId: {request_id}" in fetched.stderr, str(fetched)
    assert f"INFO | REPORT RequestId: {request_id}" in fetched.stderr, str(fetched)

    assert_contract(required_late, 1, prefix="FAIL: the function ran, but its complete log could not be read")
    assert required_late.result["status_code"] == 200  # the function ran; only its log is missing
    # The log arrives after 60 s: the default timeout would have waited for it and exited 0.
    assert "could not be read" in required_late.stderr, str(required_late)


# ---------------------------------------------------------------------------------------------------
# Exit code 21
# ---------------------------------------------------------------------------------------------------


@pytest.mark.proves("--wait-for-completion-timeout")
def test_read_timeout_exit_21_runs_the_function_once(
    cli: Runner, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    sleep_seconds = 6
    function = counting_function_factory(sleep_seconds=sleep_seconds, timeout=60)

    run = cli(
        "invoke",
        "--function-name",
        function.name,
        "--wait-for-completion-timeout",
        "2",
        *endpoint_args(function.server),
    )

    assert_contract(run, 21, STATUS_READ_TIMEOUT)
    assert run.fields["wait_for_completion_timeout"] == 2
    assert run.result["status_code"] is None
    # The function did run; give a second execution (a retried Invoke) every chance to show up.
    assert function.wait_for_count(1, timeout=120) == 1
    assert function.wait_for_count(2, timeout=sleep_seconds + 10) == 1
