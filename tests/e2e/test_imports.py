"""DAG parsing imports the operator module constantly: no boto3, botocore or amazon provider in it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY_PREFIXES = ("boto3", "botocore", "aiobotocore", "airflow.providers.amazon.aws", "moto")

_PROBE = """
import json, sys
before = set(sys.modules)
import airflow.sdk  # what any DAG file imports anyway
baseline = set(sys.modules)
for name in {modules!r}:
    __import__(name)
added = sorted(set(sys.modules) - baseline)
baseline_heavy = sorted(m for m in baseline if m.startswith({heavy!r}))
print(json.dumps({{"added": added, "baseline_heavy": baseline_heavy}}))
"""


@pytest.mark.parametrize(
    "modules",
    [
        ["airflow_provider_lambda_ue"],
        ["airflow_provider_lambda_ue.operators.lambda_invoke"],
        ["airflow_provider_lambda_ue.triggers.lambda_invoke"],
        ["airflow_provider_lambda_ue.exceptions", "airflow_provider_lambda_ue.validation"],
    ],
)
def test_import_does_not_load_aws_libraries(modules: list[str]) -> None:
    code = _PROBE.format(modules=modules, heavy=HEAVY_PREFIXES)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    heavy = [name for name in report["added"] if name.startswith(HEAVY_PREFIXES)]
    assert heavy == [], f"importing {modules} loaded {heavy}"
    # The probe must really have imported the modules (guards against a vacuous pass).
    assert all(name in report["added"] or name == "airflow_provider_lambda_ue" for name in modules)
    assert not report["baseline_heavy"] or all(
        not m.startswith(("boto3", "botocore")) for m in report["baseline_heavy"]
    )


def test_hook_module_is_where_boto3_comes_in() -> None:
    """The counterpart: the hook does import botocore, so the probe above can see such imports."""
    code = _PROBE.format(modules=["airflow_provider_lambda_ue.hooks.lambda_invoke"], heavy=HEAVY_PREFIXES)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any(name.startswith("botocore") for name in report["added"])
