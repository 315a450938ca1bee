"""The benchmark command runs end to end in its tiny configuration and writes every section.

No timing is asserted: figures on a shared machine are the benchmark's business, not a test's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("ours", "amazon", "boto3")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=870,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "| figure" in proc.stdout
    data = json.loads(out.read_text())

    for key in ("machine", "versions", "config", "git", "duration_seconds"):
        assert key in data, key
    assert data["config"]["quick"] is True
    assert data["machine"]["cpu_count"]
    assert data["versions"]["airflow-provider-lambda-ue"]

    imports = data["import_cost"]["variants"]
    assert set(imports) >= {"ours", "amazon", "boto3", "boto3_toplevel"}
    assert all(v["extra_import_ms_runs"] for v in imports.values())

    per_call = data["per_invocation"]["variants"]
    for variant in (
        "ours/reused",
        "ours/fresh",
        "amazon/reused",
        "amazon/fresh",
        "boto3/reused",
        "boto3/fresh",
    ):
        assert per_call[variant]["ms_per_call_median"] > 0, variant
        assert per_call[variant]["ratio_to_bare_boto3_median"] > 0, variant
    assert data["per_invocation"]["client_reuse_effective"] == {"ours": True, "amazon": True}

    payloads = data["large_payloads"]["tools"]
    for tool in TOOLS:
        for direction in ("response", "request"):
            figures = payloads[tool][direction]
            assert figures["seconds_median"] > 0
            assert figures["tracemalloc_peak_per_payload"] > 0
            assert "peak_rss_growth_per_payload" in figures

    timeouts = data["read_timeout"]["tools"]
    for tool in TOOLS:
        assert timeouts[tool]["function_runs"] >= 1, tool  # the slow function was reached
        assert timeouts[tool]["error"], tool  # and the caller timed out

    fanout = data["fanout"]
    for variant, figures in fanout["variants"].items():
        assert figures["function_runs"] == figures["function_runs_expected"] > 0, variant
        assert figures["invocations_per_second_median"] > 0
