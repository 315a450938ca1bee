"""The provider registers with Airflow: ``airflow providers list`` shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

import airflow_provider_lambda_ue
from airflow_provider_lambda_ue import get_provider_info


def test_entry_point_resolves_to_get_provider_info() -> None:
    (entry,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider")
    ]
    assert entry.load() is get_provider_info
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-lambda-ue"
    assert (
        info["versions"]
        == [airflow_provider_lambda_ue.__version__]
        == [version("airflow-provider-lambda-ue")]
    )


def test_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.run(
        [str(airflow), "providers", "list", "--output", "plain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert ["airflow-provider-lambda-ue", airflow_provider_lambda_ue.__version__] in [
        row[:1] + row[-1:] for row in rows
    ]
