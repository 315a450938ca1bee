"""``lambda-ue invoke`` as a process, fed generated command lines (issue 29).

The command lines of :func:`tests.support.fuzz.command_lines`, run by the installed console script
with argv as bytes: a value that is not UTF-8 holds the byte 0xff (which the process decodes by
surrogateescape), ``@file`` arguments are written as bytes and stdin holds what ``@-`` reads.
Lambda, STS and CloudWatch Logs are the counting endpoint. Each run: an exit code of the contract,
stdout exactly one JSON document (UTF-8) whose ``exit_code`` is the process's, no traceback, bad
input exit 20 naming it with no connection made, and the planted secret nowhere.

Connections are left out (``--aws-conn-id`` makes the process import Airflow, seconds each); the
in-process tests (tests/wire/test_properties.py) give them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given

from airflow_provider_lambda_ue.fields import CONNECTION
from tests.support import fuzz
from tests.support.fake_servers import CountingEndpoint, subprocess_environment

LAMBDA_UE = Path(sys.executable).with_name("lambda-ue")
#: Linux refuses a single argument over 128 KiB: a longer value goes in an ``@file``.
LONGEST_ARGUMENT = 100_000

pytestmark = [pytest.mark.usefixtures("clean_aws_env"), fuzz.time_limit()]


def spilled(argv: list[str], directory: str) -> list[str]:
    """``argv`` with each value too long for an argument in a file of its own (``@path``)."""
    result = []
    for number, item in enumerate(argv):
        data = item.encode("utf-8", "surrogateescape")
        if len(data) <= LONGEST_ARGUMENT:
            result.append(item)
            continue
        path = Path(directory, f"long{number}.json")
        path.write_bytes(data)
        result.append(f"@{path}")
    return result


@fuzz.fuzz_settings(12)
@given(line=fuzz.command_lines(without=frozenset({CONNECTION})))
def test_command_line_as_a_process(
    counting_endpoint: CountingEndpoint, tmp_path_factory: pytest.TempPathFactory, line: fuzz.CommandLine
) -> None:
    assume(not any("\x00" in item for item in line.argv))  # no argument can hold a NUL byte
    endpoint = counting_endpoint
    home = tmp_path_factory.mktemp("home")
    with tempfile.TemporaryDirectory() as directory:
        argv = fuzz.substitute(line.written(directory), f"{endpoint.host}:{endpoint.port}")
        argv = spilled(argv, directory)
        endpoint.reset()
        process = subprocess.run(
            [os.fsencode(LAMBDA_UE), *(os.fsencode(item) for item in argv)],
            input=line.stdin,
            env=subprocess_environment(home, fuzz.environment(endpoint.url, line.case.secret)),
            capture_output=True,
            timeout=300,
            check=False,
        )
    stdout = process.stdout.decode("utf-8")  # the document is UTF-8 text, whatever argv held
    stderr = process.stderr.decode("utf-8", "backslashreplace")
    traffic = endpoint.connection_count + endpoint.request_count
    fuzz.check_command_line(line, process.returncode, stdout, stderr, traffic)
