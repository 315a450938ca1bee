"""In-process tests of :mod:`airflow_provider_lambda_ue.cli` without a network: argument handling,
help and version output, the mapping onto the field set, and unforeseen failures.

The command line as a process, against real servers, is tested in ``test_cli.py``.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from airflow_provider_lambda_ue import __version__, cli
from airflow_provider_lambda_ue import invocation as path
from airflow_provider_lambda_ue.cli import build_parser, fields_from_args, run
from airflow_provider_lambda_ue.fields import FIELDS, raw_fields
from tests.support.command_line import fields_of
from tests.support.document_shape import STATUS_VALIDATION


def run_cli(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = run(list(argv), out)
    document = json.loads(out.getvalue())
    assert document["exit_code"] == code
    return code, document


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["invoke", "--help"], "--proxy-ca-bundle-file"),
        (["--help"], "invoke"),
        (["--version"], f"lambda-ue {__version__}"),
    ],
)
def test_help_and_version_go_to_the_document_stream(argv: list[str], needle: str) -> None:
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        run(argv, out)
    assert exited.value.code == 0
    assert needle in out.getvalue()


def test_unknown_option_is_named_even_when_function_name_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, document = run_cli("invoke", "--functon-name", "f", "--log-type", "Tail")

    assert code == 20
    status = document["status_description"]
    assert status.startswith(STATUS_VALIDATION)
    assert "the following arguments are required: --function-name" in status
    assert "unrecognized arguments: --functon-name f" in status
    # What could be read is shown in the document.
    assert document["invocation"]["fields"]["log_type"] == "Tail"
    err = capsys.readouterr().err
    assert "--functon-name" in err
    assert "lambda-ue invoke --help" in err


def test_argument_errors_do_not_hide_the_fields_problems() -> None:
    """An unknown or missing option and bad fields are named in one document (issue 29's fuzzing)."""
    code, document = run_cli("invoke", "--action", "bogus", "--payload", "{x", "--bogus")

    assert code == 20
    status = document["status_description"]
    assert "unrecognized arguments: --bogus" in status
    assert "the following arguments are required: --function-name" in status
    assert "action: unknown action 'bogus'" in status
    assert "payload: is not valid JSON" in status
    assert "function_name: is required" not in status  # named once: as the missing option


@pytest.mark.parametrize(
    "argv",
    [
        ["invoke", "--function-name", "f", "--proxi", "me:S3cretPa,ss/w0rd@proxy.corp:3128"],
        ["invoke", "--function-name", "f", "--endpont-url=http://u:S3cretPa,ss/w0rd@host:4566"],
        ["http://u:S3cretPa,ss/w0rd@host:4566", "invoke"],
    ],
    ids=["misspelt-option", "misspelt-option=value", "no-command"],
)
def test_a_password_in_an_unknown_argument_is_never_printed(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt --proxy leaves its URL among the unknown arguments (issue 29's fuzzing)."""
    code, document = run_cli(*argv)
    assert code == 20
    assert "***@" in document["status_description"]
    captured = capsys.readouterr()
    for text in (json.dumps(document), captured.err, captured.out):
        assert "S3cretPa" not in text
        assert "w0rd" not in text


def test_no_command_is_an_argument_error() -> None:
    code, document = run_cli()
    assert code == 20
    assert "COMMAND" in document["status_description"] or "command" in document["status_description"]


@pytest.mark.proves("--action")
def test_the_seeds_action_option_takes_its_only_action() -> None:
    """Hidden from --help (nothing to choose), kept for task definitions that spell it out."""
    args, problems = cli.parse(
        ["invoke", "--function-name", "f", "--action", "trigger lambda function"], bytes
    )
    assert problems == []
    assert args is not None
    assert (
        path.prepare(fields_from_args(args), logging.getLogger("tests.cli_unit")).request.action
        == "Trigger Lambda function"
    )
    code, document = run_cli("invoke", "--function-name", "f", "--action", "Delete Lambda function")
    assert code == 20
    assert "action: unknown action 'Delete Lambda function'" in document["status_description"]


def test_abbreviations_are_not_accepted() -> None:
    code, document = run_cli("invoke", "--function", "f")
    assert code == 20
    assert "--function" in document["status_description"]


def test_fields_from_args_turns_options_into_the_field_set() -> None:
    fields = fields_of(
        "invoke",
        "--function-name", "f:prod",
        "--role-arn", "arn:aws:iam::123456789012:role/r",
        "--proxy", "http://127.0.0.1:3128",
        "--no-fail-on-function-error",
        "--wait-for-completion-timeout", "120",
    )  # fmt: skip
    assert fields["function_name"] == "f:prod"
    assert fields["role_based_access"] is True
    assert fields["use_proxy"] is True  # --proxy implies --use-proxy
    assert fields["fail_on_function_error"] is False
    assert fields["wait_for_completion_timeout"] == "120"  # validation turns it into 120
    assert fields["aws_conn_id"] is None  # the environment's chain unless --aws-conn-id


def test_unforeseen_failure_is_exit_1_with_a_document_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cannot use http://someone:hunter2-secret@proxy.invalid:3128")

    monkeypatch.setattr(path, "build_invoker", broken)

    code, document = run_cli("invoke", "--function-name", "f", "--endpoint-url", "http://127.0.0.1:9")

    assert code == 1
    assert document["status_description"].startswith("FAIL: RuntimeError: cannot use http://")
    captured = capsys.readouterr()
    assert "hunter2-secret" not in json.dumps(document)
    assert "hunter2-secret" not in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_payload_from_stdin_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    class Buffer:
        @staticmethod
        def read() -> bytes:
            reads.append(1)
            return b'{"from": "stdin"}'

    monkeypatch.setattr("sys.stdin", type("Stdin", (), {"buffer": Buffer}))
    cli._stdin_bytes.cache_clear()
    try:
        # An argument error: what could be read, stdin included, still shows in the document.
        code, document = run_cli("invoke", "--payload", "@-", "--client-context", "@-", "--bogus")
    finally:
        cli._stdin_bytes.cache_clear()
    assert code == 20
    fields = document["invocation"]["fields"]
    assert fields["payload_script"] == fields["client_context_script"] == '{"from": "stdin"}'
    assert reads == [1]


@pytest.mark.parametrize("argv_or_stdin", ["argv", "stdin"])
def test_bytes_that_are_not_utf8_are_exit_20(monkeypatch: pytest.MonkeyPatch, argv_or_stdin: str) -> None:
    """As argv and stdin decode them: a surrogate escape in argv, undecodable bytes on stdin."""
    payload = b'{"a": "\xff"}'
    if argv_or_stdin == "argv":
        given = payload.decode("utf-8", "surrogateescape")
    else:
        given = "@-"
        monkeypatch.setattr("sys.stdin", type("Stdin", (), {"buffer": io.BytesIO(payload)}))
    cli._stdin_bytes.cache_clear()
    try:
        code, document = run_cli("invoke", "--function-name", "f", "--payload", given, "--compact")
    finally:
        cli._stdin_bytes.cache_clear()
    assert code == 20
    assert "not UTF-8" in document["status_description"]
    assert "payload" in document["status_description"]


def test_payload_file_that_is_not_utf8(tmp_path: Any) -> None:
    payload = tmp_path / "latin1.json"
    payload.write_bytes('{"name": "Müller"}'.encode("latin-1"))
    code, document = run_cli("invoke", "--function-name", "f", "--payload", f"@{payload}")
    assert code == 20
    assert "argument --payload" in document["status_description"]
    assert "not UTF-8" in document["status_description"]


def test_compact_document_is_one_line() -> None:
    out = io.StringIO()
    code = run(["invoke", "--function-name", "f", "--log-type", "Bogus", "--compact"], out)
    assert code == 20
    assert out.getvalue().count("\n") == 1
    assert json.loads(out.getvalue())["exit_code"] == 20
    out = io.StringIO()
    run(["invoke", "--function-name", "f", "--compact", "--bogus"], out)  # argument errors too
    assert out.getvalue().count("\n") == 1


def test_every_field_has_an_option_or_is_implied() -> None:
    args = vars(build_parser().parse_args(["invoke", "--function-name", "f"]))
    for field in FIELDS:
        assert field.implied_by or field.name in args, field.name
    assert fields_from_args(build_parser().parse_args(["invoke", "--function-name", "f"])) == (
        raw_fields(function_name="f", aws_conn_id=None)
    )
