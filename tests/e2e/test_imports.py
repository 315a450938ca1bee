"""DAG parsing imports the operator module constantly: no boto3, botocore or amazon provider in it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

HEAVY_PREFIXES = ("boto3", "botocore", "aiobotocore", "airflow.providers.amazon.aws", "moto")

#: The module lists that must not bring in an AWS library, each probed from the same baseline
#: (``module:function``: import the module, then call the function).
PROBED = (
    ("airflow_provider_lambda_ue",),
    ("airflow_provider_lambda_ue.operators.lambda_invoke",),
    ("airflow_provider_lambda_ue.triggers.lambda_invoke",),
    ("airflow_provider_lambda_ue.exceptions", "airflow_provider_lambda_ue.validation"),
    # Called, too: whether a task may defer is decided in each task process that defers.
    ("airflow_provider_lambda_ue.deferral:async_client_problems",),
)
#: The counterpart, which must bring botocore in: it shows that the probe detects such imports.
HOOK = ("airflow_provider_lambda_ue.hooks.lambda_invoke",)

# One interpreter imports what any DAG file imports anyway (``airflow.sdk``, about 3 CPU-seconds),
# then forks a child per module list: each child starts from exactly that baseline, imports its
# list and reports what was added, one JSON line each, in order.
_PROBE = """
import json, os, sys
import airflow.sdk
baseline = set(sys.modules)
baseline_heavy = sorted(m for m in baseline if m.startswith({heavy!r}))
for modules in {lists!r}:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        for name in modules:
            module, _, call = name.partition(":")
            __import__(module)
            if call:
                getattr(sys.modules[module], call)()
        added = sorted(set(sys.modules) - baseline)
        print(json.dumps({{"added": added, "baseline_heavy": baseline_heavy}}), flush=True)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (modules, status)
"""

# All of this module's tests on one worker, so that the probe runs once per test run.
pytestmark = pytest.mark.xdist_group("imports")


@pytest.fixture(scope="module")
def reports() -> dict[tuple[str, ...], dict[str, Any]]:
    """``{module list: {"added": modules the list's import added, "baseline_heavy": ...}}``."""
    lists = [*PROBED, HOOK]
    code = _PROBE.format(lists=[list(modules) for modules in lists], heavy=HEAVY_PREFIXES)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(lists), proc.stdout + proc.stderr
    return {modules: json.loads(line) for modules, line in zip(lists, lines, strict=True)}


@pytest.mark.parametrize("modules", PROBED, ids="+".join)
def test_import_does_not_load_aws_libraries(
    modules: tuple[str, ...], reports: dict[tuple[str, ...], dict[str, Any]]
) -> None:
    report = reports[modules]
    heavy = [name for name in report["added"] if name.startswith(HEAVY_PREFIXES)]
    assert heavy == [], f"importing {modules} loaded {heavy}"
    # The probe must really have imported the modules (guards against a vacuous pass).
    imported = [name.partition(":")[0] for name in modules]
    assert all(name in report["added"] or name == "airflow_provider_lambda_ue" for name in imported)
    assert not report["baseline_heavy"] or all(
        not m.startswith(("boto3", "botocore")) for m in report["baseline_heavy"]
    )


def test_hook_module_is_where_boto3_comes_in(reports: dict[tuple[str, ...], dict[str, Any]]) -> None:
    """The counterpart: the hook does import botocore, so the probe above can see such imports."""
    assert any(name.startswith("botocore") for name in reports[HOOK]["added"])
