"""The benchmark's process environment: Airflow home, connection, credentials, logging, bytecode.

Everything the three tools read from the environment is set here, identically for all of them:
a temporary ``AIRFLOW_HOME``; ``aws_default`` as an ``AIRFLOW_CONN_`` JSON connection with dummy
keys and the fake endpoint; the same dummy keys for raw boto3; no AWS config files, profiles,
retry settings or proxies from the caller's environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
#: Bytecode for every interpreter the benchmark starts. The set-up installs without compiling
#: bytecode and the shell may set PYTHONDONTWRITEBYTECODE; without a cache every fresh interpreter
#: would compile Airflow from source (seconds), which real deployments do not do.
PYCACHE = RESULTS / "pycache"

REGION = "us-east-1"
ACCESS_KEY_ID = "AKIDBENCHMARKDUMMY00"
SECRET_ACCESS_KEY = "benchmark/dummy/secret/key/not/real/0000000"

_DROPPED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "PYTHONDONTWRITEBYTECODE",
)


def benchmark_environment(workdir: Path, endpoint_url: str) -> dict[str, str]:
    """The variables to set (and, via :data:`_DROPPED`, unset) for the benchmark and its children."""
    home = workdir / "airflow_home"
    home.mkdir(parents=True, exist_ok=True)
    connection = {
        "conn_type": "aws",
        "login": ACCESS_KEY_ID,
        "password": SECRET_ACCESS_KEY,
        "extra": {"region_name": REGION, "endpoint_url": endpoint_url},
    }
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "*",
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
        "BENCH_ENDPOINT_URL": endpoint_url,
    }


def apply_environment(variables: dict[str, str]) -> None:
    """Set ``variables`` here (before Airflow is imported); drop the caller's AWS and proxy settings."""
    for name in _DROPPED:
        os.environ.pop(name, None)
    os.environ.update(variables)
    PYCACHE.mkdir(parents=True, exist_ok=True)
    sys.pycache_prefix = str(PYCACHE)
    sys.dont_write_bytecode = False


def child_environment() -> dict[str, str]:
    """The environment for child interpreters: this process's, as :func:`apply_environment` left it."""
    env = dict(os.environ)
    for name in _DROPPED:
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def configure_task_logging(log_file: Path) -> BinaryIO:
    """
    Log as a task process does: structlog JSON lines at INFO, to a file instead of the supervisor.

    Every tool's log calls are then formatted and written as they are in a real task (the amazon
    operator, for one, logs the whole payload).
    """
    from airflow.sdk.log import configure_logging

    stream: BinaryIO = log_file.open("ab")
    configure_logging(json_output=True, output=stream, sending_to_supervisor=True)
    return stream


class StubTaskInstance:
    """The part of ``context["ti"]`` the operators touch: ``xcom_push`` (recorded, not stored)."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []
        self.task_id = "bench"
        self.dag_id = "bench"
        self.run_id = "bench"
        self.try_number = 1
        self.map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


def minimal_context() -> dict[str, Any]:
    """A context with a stub task instance, as much as ``execute`` of either operator reads."""
    ti = StubTaskInstance()
    return {"ti": ti, "task_instance": ti}
