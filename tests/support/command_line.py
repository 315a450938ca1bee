"""The command line in the tests: the options the issue names, a parse helper, ``lambda-ue`` as a process.

The options are written out, not read from :func:`airflow_provider_lambda_ue.cli.build_parser`:
``tests/e2e/test_cli.py`` checks the parser against them, and the property tests
(``tests/wire/test_properties.py``) draw command lines from them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow_provider_lambda_ue.cli import build_parser, fields_from_args
from tests.support.fake_servers import subprocess_environment

#: The console script the package installs next to this interpreter.
LAMBDA_UE = Path(sys.executable).with_name("lambda-ue")
#: The environment's dummy keys and region: ``lambda-ue`` without a connection against a local endpoint.
DUMMY_KEYS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

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


def run_lambda_ue(
    home: Path, *args: str, module: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """
    ``lambda-ue ARGS`` as a process in a clean environment with :data:`DUMMY_KEYS`; not checked.

    :param home: Its ``AIRFLOW_HOME`` (see :func:`tests.support.fake_servers.subprocess_environment`).
    :param module: Run ``python -m airflow_provider_lambda_ue`` instead of the console script.
    :param timeout: Seconds the process may take.
    """
    command = [sys.executable, "-m", "airflow_provider_lambda_ue"] if module else [str(LAMBDA_UE)]
    env = subprocess_environment(home, DUMMY_KEYS)
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
