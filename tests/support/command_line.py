"""The command line in the tests: the options the issue names (``lambda-ue invoke``), a parse helper.

Written out, not read from :func:`airflow_provider_lambda_ue.cli.build_parser`: ``tests/e2e/test_cli.py``
checks the parser against them, and the property tests (``tests/wire/test_properties.py``) draw
command lines from them.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_lambda_ue.cli import build_parser, fields_from_args

#: The options that take a value.
VALUE_OPTIONS = (
    "--function-name",
    "--invocation-type",
    "--log-type",
    "--qualifier",
    "--payload",
    "--client-context",
    "--region",
    "--role-arn",
    "--endpoint-url",
    "--proxy",
    "--proxy-type",
    "--proxy-ca-bundle-file",
    "--wait-for-completion-timeout",
    "--aws-conn-id",
    "--proxy-conn-id",
)
#: The flags (no value).
FLAG_OPTIONS = ("--use-proxy", "--fail-on-function-error", "--no-fail-on-function-error")
ISSUE_OPTIONS = (*VALUE_OPTIONS, *FLAG_OPTIONS)


def fields_of(*argv: str) -> dict[str, Any]:
    """The field set ``lambda-ue`` makes of the command line ``argv`` (no Airflow, nothing run)."""
    return fields_from_args(build_parser().parse_args(list(argv)))
