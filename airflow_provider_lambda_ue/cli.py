"""The command line: ``lambda-ue invoke``, the extension as a process with real exit codes.

stdout carries the output document as JSON and nothing else; progress, the decoded log tail and
the status go to stderr. The exit code is the document's. Fields take the same path as the
operator's (:mod:`airflow_provider_lambda_ue.invocation`): there is no second implementation.

Secrets never appear on the command line: AWS credentials come from the environment's chain or
an Airflow connection (``--aws-conn-id``, e.g. from an ``AIRFLOW_CONN_*`` variable); proxy
credentials from ``--proxy-conn-id`` or ``LAMBDA_UE_PROXY_USER``/``LAMBDA_UE_PROXY_PASSWORD``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, TextIO

from airflow_provider_lambda_ue import __version__
from airflow_provider_lambda_ue.fields import (
    ACTION_TRIGGER,
    DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    LOG_TYPE_NONE,
    PROXY_HTTP,
    LambdaInvokeFields,
)
from airflow_provider_lambda_ue.proxy_credentials import PROXY_PASSWORD_ENV, PROXY_USER_ENV

_EXAMPLES = """\
examples:
  lambda-ue invoke --function-name my-function --log-type Tail --payload '{"key": "value"}'
  lambda-ue invoke --function-name my-function:prod --invocation-type Event --payload @event.json
  lambda-ue invoke --function-name my-function | jq -r .result.payload
  lambda-ue invoke --function-name my-durable-function --durable-execution-name order-42 \
    --payload '{"order": 42}' --wait-for-completion-timeout 3600
  jq -c .order order.json | lambda-ue invoke --function-name my-function --payload @- --compact
  AIRFLOW_CONN_AWS_PROD='{"conn_type": "aws", "login": "AKIA...", "password": "...",
                          "extra": {"region_name": "eu-west-1"}}' \\
    lambda-ue invoke --aws-conn-id aws_prod --function-name my-function
  LAMBDA_UE_PROXY_USER=me LAMBDA_UE_PROXY_PASSWORD=... \\
    lambda-ue invoke --function-name my-function --role-arn arn:aws:iam::123456789012:role/invoker \\
      --proxy https://proxy.example:3129 --proxy-type "HTTPS with Credentials" \\
      --proxy-ca-bundle-file proxy-ca.pem

credentials (never options):
  AWS     the environment's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance
          or pod role), or --aws-conn-id: an Airflow connection (login = access key id,
          password = secret key), e.g. from an AIRFLOW_CONN_<ID> variable
  proxy   --proxy-conn-id (login, password), else LAMBDA_UE_PROXY_USER and LAMBDA_UE_PROXY_PASSWORD;
          with --proxy-conn-id the variables are ignored
  STS for --role-arn uses the same proxy settings; its endpoint may be set with AWS_ENDPOINT_URL_STS.

exit codes:
  0  SUCCESS (or DECODE_WARNING: the log tail was not base64)
  1  FAIL: function error, unknown function, service error
  2  AUTHENTICATION_ERROR        3  AUTHORIZATION_ERROR
  10 CONNECTION_ERROR            11 CONNECTION_ERROR (proxy)
  20 DATA_VALIDATION_ERROR (bad fields and bad arguments)
  21 READ_TIMEOUT_ERROR (the function is never run twice; a durable execution is left running)
  durable executions: FAILED, TIMED_OUT, STOPPED exit 1; a name already used with another payload 20

stdout holds the output document (JSON) and nothing else; progress, the decoded log tail and the
status go to stderr.
"""


class _ArgumentError(Exception):
    """An argument error, reported as DATA_VALIDATION_ERROR (exit 20) instead of argparse's exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


_stdin_text: str | None = None


def _read_stdin() -> str:
    """stdin's text, read once (the arguments may be parsed twice, see :func:`_argument_problems`)."""
    global _stdin_text  # noqa: PLW0603 - one process, one stdin
    if _stdin_text is None:
        _stdin_text = sys.stdin.read()
    return _stdin_text


def _json_argument(value: str) -> str:
    """``@path`` reads the file, ``@-`` stdin; anything else is JSON text (validated with the fields)."""
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        if path == "-":
            return _read_stdin()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot read {path!r}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"cannot read {path!r}: not UTF-8 text") from None


def build_parser(*, lenient: bool = False) -> argparse.ArgumentParser:
    """
    The ``lambda-ue`` argument parser.

    :param lenient: Do not require ``--function-name`` (used to read what was given when the
        strict parse failed, so an argument error can report every problem and show the fields).
    """
    parser = _Parser(
        prog="lambda-ue",
        # Abbreviated options change meaning when options are added: scripts must spell them out.
        allow_abbrev=False,
        description="Invoke AWS Lambda functions like the ue-aws-lambda Universal Extension. "
        "Run 'lambda-ue invoke --help' for the options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    invoke = commands.add_parser(
        "invoke",
        allow_abbrev=False,
        help="invoke a Lambda function and print the output document",
        description="Invoke a Lambda function; print the output document as JSON on stdout and exit "
        "with the extension's exit code.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fn = invoke.add_argument_group("function")
    fn.add_argument(
        "--function-name", required=not lenient, help="name, name:alias, partial or full ARN (required)"
    )
    fn.add_argument(
        "--invocation-type",
        default=None,
        help="RequestResponse (default), Event or DryRun; with --durable-execution-name the default is "
        "Event (started, then polled until it ends)",
    )
    fn.add_argument("--log-type", default=LOG_TYPE_NONE, help="None (default) or Tail")
    fn.add_argument("--qualifier", help="version or alias")
    fn.add_argument("--tenant-id", help="tenant of a function with tenant isolation (Invoke's TenantId)")
    fn.add_argument(
        "--durable-execution-name",
        help="start the durable execution of this name (1-64 of [a-zA-Z0-9-_]), or report the one "
        "already started with it, and wait until it ends (at most --wait-for-completion-timeout)",
    )
    fn.add_argument(
        "--payload", type=_json_argument, help="JSON text, @path to read it from a file, or @- from stdin"
    )
    fn.add_argument(
        "--client-context",
        type=_json_argument,
        help="JSON object text, @path to read it from a file, or @- from stdin",
    )
    fn.add_argument(
        "--wait-for-completion-timeout",
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT_SECONDS}); "
        "a timeout exits 21 and never runs the function twice",
    )
    fn.add_argument(
        "--fail-on-function-error",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="exit 1 when the function reports an error (default); --no-... exits 0 with function_error set",
    )
    fn.add_argument("--action", default=ACTION_TRIGGER, help=argparse.SUPPRESS)

    aws = invoke.add_argument_group("AWS")
    aws.add_argument("--region", help="AWS region (default: the connection's or the environment's)")
    aws.add_argument(
        "--aws-conn-id",
        help="Airflow aws connection with the credentials (e.g. from AIRFLOW_CONN_<ID>); "
        "default: the environment's credential chain",
    )
    aws.add_argument("--role-arn", help="assume this IAM role with STS (turns role-based access on)")
    aws.add_argument("--endpoint-url", help="custom Lambda endpoint URL (http or https)")

    logs = invoke.add_argument_group("complete log (CloudWatch Logs)")
    logs.add_argument(
        "--fetch-full-log",
        action="store_true",
        help="after the invocation, print its complete log from CloudWatch Logs on stderr "
        "(RequestResponse and Event); a log that cannot be read is a warning",
    )
    logs.add_argument(
        "--full-log-required",
        action="store_true",
        help="exit 1 when the complete log cannot be read (implies --fetch-full-log)",
    )
    logs.add_argument(
        "--full-log-timeout",
        default=DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
        help="seconds to wait for the complete log to appear and end "
        f"(default {DEFAULT_FULL_LOG_TIMEOUT_SECONDS})",
    )
    logs.add_argument(
        "--logs-endpoint-url",
        help="custom CloudWatch Logs endpoint URL (default: AWS_ENDPOINT_URL_LOGS, the connection's, AWS's)",
    )

    proxy = invoke.add_argument_group("proxy")
    proxy.add_argument("--use-proxy", action="store_true", help="send Lambda and STS traffic through --proxy")
    proxy.add_argument("--proxy", help="proxy URL, or two comma-separated (for http, for https endpoints)")
    proxy.add_argument(
        "--proxy-type", default=PROXY_HTTP, help='HTTP (default), HTTPS or "HTTPS with Credentials"'
    )
    proxy.add_argument("--proxy-ca-bundle-file", help="CA bundle that verifies a TLS proxy")
    proxy.add_argument(
        "--proxy-conn-id",
        help="Airflow connection with the proxy user and password "
        f"(else {PROXY_USER_ENV}/{PROXY_PASSWORD_ENV})",
    )

    output = invoke.add_argument_group("output")
    output.add_argument(
        "--compact",
        action="store_true",
        help="print the document on one line (BashOperator pushes the last line of stdout to XCom)",
    )
    return parser


#: Fields whose option has another name (``--region``), and fields the options imply instead.
OPTION_DEST = {"region_name": "region"}
IMPLIED_FIELDS = ("role_based_access", "use_proxy")


def fields_from_args(args: argparse.Namespace) -> LambdaInvokeFields:
    """
    Map parsed arguments onto the field set: ``--<field-name>`` for each field, by the field model.

    ``--role-arn`` implies role-based access, and ``--proxy`` implies ``--use-proxy``.
    """
    given = {
        name: getattr(args, OPTION_DEST.get(name, name))
        for name in LambdaInvokeFields.names()
        if name not in IMPLIED_FIELDS
    }
    return LambdaInvokeFields(
        **given,
        role_based_access=bool(args.role_arn),
        use_proxy=args.use_proxy or bool(args.proxy),
    )


class _RedactingFormatter(logging.Formatter):
    """Every line with the registered secrets cut out (:func:`.masking.redact_secrets`)."""

    def format(self, record: logging.LogRecord) -> str:
        from airflow_provider_lambda_ue.masking import redact_secrets

        return redact_secrets(super().format(record))


def _stderr_logger() -> logging.Logger:
    log = logging.getLogger("lambda_ue")
    log.handlers[:] = []
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    if not logging.root.handlers:
        # Without Airflow nothing configures logging: botocore's warnings would reach stderr through
        # logging's last-resort handler, unmasked. (With a connection, Airflow's logging is in place.)
        root = logging.StreamHandler(sys.stderr)
        root.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.WARNING)
        logging.root.addHandler(root)
    return log


def _write_document(document: dict[str, Any], out: TextIO, *, compact: bool = False) -> int:
    from airflow_provider_lambda_ue.masking import redact_secrets

    # The document never holds a secret by construction; this is the last line of defence, and it
    # keeps the JSON valid (a secret's JSON-escaped form is cut out too).
    out.write(redact_secrets(json.dumps(document, indent=None if compact else 2)) + "\n")
    out.flush()
    return int(document["exit_code"])


@contextlib.contextmanager
def _starting() -> Iterator[None]:
    """
    Start up without the garbage collector; then freeze what start-up built.

    Start-up (imports, Airflow's initialisation where a connection is read, the client) allocates
    objects that live until the process exits. Each collection meanwhile walks all of them again:
    a quarter of the CPU time of a run that reads a connection. Frozen, they are skipped by the
    collections of the invocation and its wait, too.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def invoke(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``lambda-ue invoke``: the shared path, then the document on stdout; returns the exit code."""
    from airflow_provider_lambda_ue import invocation as path
    from airflow_provider_lambda_ue.classifier import classify
    from airflow_provider_lambda_ue.masking import redact_credentials
    from airflow_provider_lambda_ue.taxonomy import LambdaFailError, LambdaInvokeError

    log = _stderr_logger()
    raw = fields_from_args(args)
    current = path.Invocation(raw=raw)
    document: dict[str, Any] | None
    try:
        with _starting():
            # The variables are a source of proxy credentials here only; the hook masks what it reads.
            current = path.prepare(raw, log, proxy_environ=os.environ)
            # Airflow is imported only for a connection (--aws-conn-id, --proxy-conn-id): the hook.
            invoker = path.build_invoker(current, log)
        document = path.run(current, invoker, log)
    except LambdaInvokeError as err:
        document = err.output if err.output is not None else current.failed(err).output
        if err.detail and err.detail not in err.status_description:
            # The seed's fixed wording (exit 2, 3, 21) hides the cause; stderr shows it.
            log.error("%s: %s", err.status, redact_credentials(err.detail))
    except Exception as exc:
        # Anything unforeseen is a FAIL (exit 1) with a document, never a bare traceback: the
        # caller relies on a document on stdout, and a traceback could show a secret.
        log.error("Unexpected %s: %s", type(exc).__name__, redact_credentials(str(exc)))
        error = classify(exc)
        if isinstance(error, LambdaFailError):  # classify's catch-all quotes the message as it is
            error = LambdaFailError(redact_credentials(error.detail))
        document = current.failed(error).output
    assert document is not None
    log.info("%s", document["status_description"])
    return _write_document(document, out, compact=args.compact)


def _argument_error(problems: list[str], given: argparse.Namespace | None, out: TextIO) -> int:
    """Exit 20 with a full document naming the offending options (and showing what was given)."""
    sys.stderr.write("".join(f"lambda-ue: error: {problem}\n" for problem in problems))
    sys.stderr.write("(see 'lambda-ue invoke --help')\n")
    sys.stderr.flush()

    from airflow_provider_lambda_ue.invocation import Invocation
    from airflow_provider_lambda_ue.taxonomy import LambdaDataValidationError

    raw = fields_from_args(given) if given is not None else LambdaInvokeFields()
    document = Invocation(raw=raw).failed(LambdaDataValidationError(problems=problems)).output
    assert document is not None
    return _write_document(document, out, compact=bool(getattr(given, "compact", False)))


def _argument_problems(message: str, argv: list[str]) -> tuple[list[str], argparse.Namespace | None]:
    """
    Every argument problem, not only the first one argparse stopped at, and what could be read.

    argparse reports a missing ``--function-name`` before unrecognized arguments, so a misspelt
    ``--functon-name x`` would otherwise be reported as a missing option only.

    :return: The problems, and the parsed ``invoke`` arguments (None when unreadable).
    """
    problems = [message]
    try:
        given, extras = build_parser(lenient=True).parse_known_args(argv)
    except _ArgumentError:
        return problems, None
    if extras and "unrecognized arguments" not in message:
        problems.append(f"unrecognized arguments: {' '.join(extras)}")
    return problems, given if getattr(given, "command", None) == "invoke" else None


def run(argv: Sequence[str], out: TextIO) -> int:
    """
    Parse ``argv``, run the command and write the output document to ``out``.

    ``--help`` and ``--version`` print to ``out`` as well (the console script's stdout).

    :return: The exit code.
    """
    arguments = list(argv)
    try:
        with contextlib.redirect_stdout(out):
            args = build_parser().parse_args(arguments)
    except _ArgumentError as err:
        return _argument_error(*_argument_problems(str(err), arguments), out)
    return invoke(args, out)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Entry point of the ``lambda-ue`` console script.

    stdout is reserved for the document: file descriptor 1 is pointed at stderr for the whole run,
    so whatever Airflow's, botocore's or anyone's logging prints lands there, and the document is
    written to a duplicate of the original stdout.
    """
    sys.stdout.flush()
    document_fd = os.dup(1)
    os.dup2(2, 1)
    with os.fdopen(document_fd, "w", encoding="utf-8") as out:
        return run(sys.argv[1:] if argv is None else argv, out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
