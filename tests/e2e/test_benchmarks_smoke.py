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


def _measure(tmp_path: Path, *command: str) -> dict[str, int | float]:
    result = tmp_path / "measured.json"
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / "benchmarks" / "measure_process.py"), str(result), *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    measured: dict[str, int | float] = json.loads(result.read_text())
    assert proc.returncode == measured["exit_code"]
    return measured


def test_cli_bench_measures_each_tool_s_own_peak_memory(tmp_path: Path) -> None:
    """``measure_process.py`` reports the child's peak, not the one it would inherit from this process."""
    ballast = bytearray(150 << 20)  # this process's peak now exceeds 150 MiB
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident, not just reserved

    small = _measure(tmp_path, sys.executable, "-I", "-S", "-c", "pass")
    large = _measure(
        tmp_path,
        sys.executable,
        "-I",
        "-S",
        "-c",
        "x = bytearray(100 << 20); x[::4096] = b'y' * len(x[::4096])",
    )
    failing = _measure(tmp_path, sys.executable, "-I", "-S", "-c", "raise SystemExit(3)")

    assert int(small["peak_kib"]) < 60 * 1024, small
    assert int(large["peak_kib"]) >= 100 * 1024, large
    assert float(small["seconds"]) > 0
    assert failing["exit_code"] == 3
    del ballast
