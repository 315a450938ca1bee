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
import functools
import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TextIO

from airflow_provider_lambda_ue import __version__
from airflow_provider_lambda_ue.fields import CONNECTION, FIELDS, FLAG, JSON, URL_FIELDS, Field, raw_fields

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


#: The option groups of ``lambda-ue invoke --help``: a title per field topic (:attr:`.Field.topic`).
_TOPICS = {
    "function": "function",
    "aws": "AWS",
    "log": "complete log (CloudWatch Logs)",
    "proxy": "proxy",
}


class _ArgumentError(Exception):
    """An argument error, reported as DATA_VALIDATION_ERROR (exit 20) instead of argparse's exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


def build_parser() -> argparse.ArgumentParser:
    """
    The ``lambda-ue`` argument parser: an option per field of the specification (:data:`.fields.FIELDS`).

    No option is required here: :func:`parse` names every problem of a command line at once.
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
    groups = {topic: invoke.add_argument_group(title) for topic, title in _TOPICS.items()}
    for field in FIELDS:
        if field.cli_option is not None:
            _add_option(groups[field.topic], field, field.cli_option)
    output = invoke.add_argument_group("output")
    output.add_argument(
        "--compact",
        action="store_true",
        help="print the document on one line (BashOperator pushes the last line of stdout to XCom)",
    )
    return parser


def _add_option(group: Any, field: Field, option: str) -> None:
    """
    The option of ``field``: a switch for a flag, text otherwise (``@path`` for JSON).

    A connection is read only when its option names one: without ``--aws-conn-id`` the credentials
    are the environment's, and Airflow is never imported.
    """
    default = None if field.kind == CONNECTION else field.default
    help_text = field.summary
    if field.required and field.default is None:
        help_text += " Required."
    implied = [other.name for other in FIELDS if other.implied_by == field.name]
    if implied:
        help_text += f" Turns {', '.join(implied)} on."
    if field.kind == FLAG:
        if default:  # on by default: --no-<option> turns it off
            group.add_argument(
                option, dest=field.name, action=argparse.BooleanOptionalAction, default=True, help=help_text
            )
        else:
            group.add_argument(option, dest=field.name, action="store_true", help=help_text)
        return
    if field.kind == JSON:
        help_text += " @path reads it from a file, @- from stdin."
    if default is not None:
        help_text += f" (default {default})"
    # A field with one choice has nothing to choose: its option is kept for exported task definitions.
    shown = argparse.SUPPRESS if len(field.choices) == 1 else help_text
    group.add_argument(
        option,
        dest=field.name,
        metavar="CONN_ID" if field.kind == CONNECTION else option[2:].upper().replace("-", "_"),
        default=default,
        help=shown,
    )


def fields_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """
    Map parsed arguments onto the field set: each field's option, and the fields other options imply.

    ``--role-arn`` implies role-based access, and ``--proxy`` implies ``--use-proxy``.
    """
    given = vars(args)
    values = {field.name: given[field.name] for field in FIELDS if field.name in given}
    for field in FIELDS:
        if field.implied_by is not None:
            values[field.name] = bool(values.get(field.name)) or bool(given.get(field.implied_by))
    return raw_fields(**values)


def parse(argv: Sequence[str], stdin: Callable[[], bytes]) -> tuple[argparse.Namespace | None, list[str]]:
    """
    Parse an ``invoke`` command line and read its ``@path`` arguments; name every problem.

    :param stdin: Reads stdin's bytes (once: an ``@-`` payload and client context share them).
    :return: The arguments (None where argparse could not read them), and the problems: unknown
        options, a missing required one, files that cannot be read or are not UTF-8 text.
    """
    from airflow_provider_lambda_ue.masking import redact_url

    problems: list[str] = []
    try:
        args, extras = build_parser().parse_known_args(argv)
    except _ArgumentError as err:
        return None, [redact_url(str(err))]  # "invalid choice: '<what was given>'"
    if extras:
        # A misspelt --proxy or --endpoint-url leaves its URL here: without its user info.
        problems.append(f"unrecognized arguments: {' '.join(redact_url(extra) for extra in extras)}")
    missing = [f.cli_option for f in FIELDS if f.required and getattr(args, f.name, None) is None]
    if missing:
        problems.append(f"the following arguments are required: {', '.join(str(m) for m in missing)}")
    for field in FIELDS:
        value = getattr(args, field.name, None)
        if field.kind == JSON and isinstance(value, str) and value.startswith("@"):
            text, problem = _read_argument(value[1:], stdin)
            setattr(args, field.name, text)
            if problem:
                problems.append(f"argument {field.cli_option}: {problem}")
    return args, problems


def _read_argument(path: str, stdin: Callable[[], bytes]) -> tuple[str | None, str | None]:
    """``(text, None)`` of a file (``-``: stdin), or ``(None, why not)``."""
    where = "stdin" if path == "-" else repr(path)
    try:
        if path == "-":
            data = stdin()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except OSError as err:
        return None, f"cannot read {where}: {err.strerror}"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, f"cannot read {where}: not UTF-8 text"


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

    # The document never holds a secret by construction; this is the last line of defence. The
    # values are masked, not the JSON text, so the document stays JSON whatever a secret is.
    out.write(json.dumps(redact_secrets(document), indent=None if compact else 2) + "\n")
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


def invoke(raw: dict[str, Any], log: logging.Logger) -> dict[str, Any]:
    """Run the shared path for ``lambda-ue invoke``; the output document of whatever happened."""
    from airflow_provider_lambda_ue import invocation as path
    from airflow_provider_lambda_ue import outcomes
    from airflow_provider_lambda_ue.classifier import classify
    from airflow_provider_lambda_ue.masking import redact_credentials
    from airflow_provider_lambda_ue.output import invalid

    current = None
    try:
        with _starting():
            # The variables are a source of proxy credentials here only; the hook masks what it reads.
            current = path.prepare(raw, log, proxy_environ=os.environ)
            # Airflow is imported only for a connection (--aws-conn-id, --proxy-conn-id): the hook.
            invoker = path.build_invoker(current, log, proxy_environ=os.environ)
        return path.run(current, invoker, log)
    except outcomes.InvocationFailure as err:
        failure = err
        if err.detail and err.detail not in err.status_description:
            # The seed's fixed wording (exit 2, 3, 21) hides the cause; stderr shows it.
            log.error("%s: %s", err.status, redact_credentials(err.detail))
    except Exception as exc:
        # Anything unforeseen is a FAIL (exit 1) with a document, never a bare traceback: the
        # caller relies on a document on stdout, and a traceback could show a secret.
        log.error("Unexpected %s: %s", type(exc).__name__, redact_credentials(str(exc)))
        failure = classify(exc)
        if failure.outcome is outcomes.FAIL:  # classify's catch-all quotes the message as it is
            failure = outcomes.InvocationFailure(outcomes.FAIL, redact_credentials(failure.detail))
    if failure.output is None:
        failure = current.failed(failure) if current is not None else invalid(raw, failure)
    assert failure.output is not None
    return failure.output


def run(argv: Sequence[str], out: TextIO) -> int:
    """
    Parse ``argv``, run the command and write the output document to ``out``.

    ``--help`` and ``--version`` print to ``out`` as well (the console script's stdout). Every
    argument problem is named in one document (exit 20) before anything else happens.

    :return: The exit code.
    """
    from airflow_provider_lambda_ue import outcomes
    from airflow_provider_lambda_ue.output import invalid

    log = _stderr_logger()
    with contextlib.redirect_stdout(out):
        args, problems = parse(argv, _stdin_bytes)
    raw = fields_from_args(args) if args is not None and args.command == "invoke" else raw_fields()
    if problems and args is not None and args.command == "invoke":
        problems += _field_problems(raw, problems)
    if problems:
        sys.stderr.write("".join(f"lambda-ue: error: {problem}\n" for problem in problems))
        sys.stderr.write("(see 'lambda-ue invoke --help')\n")
        document = invalid(
            raw, outcomes.InvocationFailure(outcomes.DATA_VALIDATION, problems=problems)
        ).output
        assert document is not None
    else:
        document = invoke(raw, log)
    log.info("%s", document["status_description"])
    # From argv itself: an argument error may leave nothing parsed, and --compact must still hold.
    return _write_document(document, out, compact="--compact" in argv)


def _field_problems(raw: dict[str, Any], argument_problems: list[str]) -> list[str]:
    """
    The problems of the fields read, beside the argument errors: one document names them all.

    A required field argparse already named as a missing option is not named again.
    """
    from airflow_provider_lambda_ue.masking import mask_inline_url_passwords
    from airflow_provider_lambda_ue.outcomes import InvocationFailure
    from airflow_provider_lambda_ue.validation import validate

    mask_inline_url_passwords(*(raw.get(name) for name in URL_FIELDS))  # as prepare() does
    try:
        validate(raw, proxy_environ=os.environ)
    except InvocationFailure as err:
        said = " ".join(argument_problems)
        named = {f"{fd.name}: is required" for fd in FIELDS if fd.cli_option and fd.cli_option in said}
        return [problem for problem in err.problems if problem not in named]
    return []


@functools.cache
def _stdin_bytes() -> bytes:
    """stdin's bytes, read once (``@-`` may be given to two options)."""
    return sys.stdin.buffer.read()


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
