"""The machine, the versions, and the printed table."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

from benchmarks.environment import REPO
from benchmarks.tools import LABELS, TOOLS

DISTRIBUTIONS = (
    "airflow-provider-lambda-ue",
    "apache-airflow",
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-amazon",
    "apache-airflow-providers-standard",
    "boto3",
    "botocore",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_state() -> dict[str, Any]:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return {}
    return {"commit": head or None, "uncommitted_changes": bool(dirty)}


# -- the table ----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _x(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def _rate(value: float) -> str:
    return f"{value:.1f}/s" if value < 10 else f"{value:.0f}/s"


def _mods(variant: dict[str, Any]) -> str:
    return f"+{variant['modules_added']} modules, +{variant['rss_added_kb_median'] / 1024:.1f} MB"


def _rows(results: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    rows: list[tuple[str, dict[str, str]]] = []
    imports = results.get("import_cost")
    if imports:
        v, ratio = imports["variants"], imports["ratio_to_ours"]
        rows.append(
            (
                f"1. DAG parse: import over airflow.sdk (median of {imports['runs_per_variant']}; x ours)",
                {
                    "ours": f"{_ms(v['ours']['extra_import_ms_median'])}; {_mods(v['ours'])}",
                    "amazon": f"{_ms(v['amazon']['extra_import_ms_median'])} ({_x(ratio['amazon'])}); "
                    f"{_mods(v['amazon'])}",
                    "boto3": f"{_ms(v['boto3']['extra_import_ms_median'])} ({_x(ratio['boto3'])}); "
                    f"{_mods(v['boto3'])}; boto3 at top: "
                    f"{_ms(v['boto3_toplevel']['extra_import_ms_median'])} ({_x(ratio['boto3_toplevel'])})",
                },
            )
        )
    per = results.get("per_invocation")
    if per:
        v = per["variants"]

        def cell(variant: str) -> str:
            return f"{_ms(v[variant]['ms_per_call_median'])} ({_x(v[variant]['ratio_to_bare_boto3_median'])})"

        rounds = per["rounds"]
        rows.append(
            (
                f"2a. execute, client reused: per call (x bare boto3 invoke; median of {rounds} rounds)",
                {"ours": cell("ours/reused"), "amazon": cell("amazon/reused"), "boto3": cell("boto3/reused")},
            )
        )
        rows.append(
            (
                "2b. execute, client built fresh: per call (x bare boto3 invoke)",
                {
                    "ours": cell("ours/fresh"),
                    "amazon": cell("amazon/fresh"),
                    "boto3": f"new session: {cell('boto3/fresh')}; "
                    f"default session: {cell('boto3/fresh_default_session')}",
                },
            )
        )
        rows.append(
            (
                "2c. fresh client vs raw boto3 with a new session (x)",
                {
                    "ours": _x(v["ours/fresh"]["ratio_to_boto3_fresh_client_median"]),
                    "amazon": _x(v["amazon/fresh"]["ratio_to_boto3_fresh_client_median"]),
                    "boto3": "1.00x",
                },
            )
        )
    payloads = results.get("large_payloads")
    if payloads:
        mib = payloads["payload_bytes"] / (1024 * 1024)
        t = payloads["tools"]
        for direction in ("response", "request"):
            cells = {
                tool: f"{_ms(t[tool][direction]['seconds_median'] * 1000)} "
                f"({_x(t[tool][direction]['time_ratio_to_boto3'])}); "
                f"{_x(t[tool][direction]['tracemalloc_peak_per_payload'])} / "
                f"{_x(t[tool][direction]['peak_rss_growth_per_payload'])}"
                for tool in TOOLS
            }
            decoded = t["boto3"][direction].get("decoded_to_text")
            if decoded:
                cells["boto3"] += (
                    f"; decoded to text: {_ms(decoded['seconds_median'] * 1000)} "
                    f"({_x(decoded['time_ratio_to_boto3'])})"
                )
            rows.append(
                (
                    f"3. {mib:.1f} MiB {direction}: time (x boto3; median of {payloads['reps']}); "
                    "peak traced / RSS growth (x payload)",
                    cells,
                )
            )
    timeouts = results.get("read_timeout")
    if timeouts:
        t = timeouts["tools"]
        rows.append(
            (
                f"4. read timeout {timeouts['read_timeout_seconds']} s, function takes "
                f"{timeouts['function_sleep_ms'] / 1000:g} s: runs of the function; caller failed after",
                {
                    tool: f"{t[tool]['function_runs']} run(s); "
                    f"{t[tool]['seconds_until_caller_gave_up']:.1f} s ({t[tool]['error']})"
                    for tool in TOOLS
                },
            )
        )
    fan = results.get("fanout")
    if fan:
        v = fan["variants"]
        for mode, label, k in (
            ("shared_client", "shared client", fan["k"]),
            ("per_task_client", "client per task", fan["k_per_task_client"]),
        ):
            rounds = v[f"ours/{mode}"]["rounds"]
            rows.append(
                (
                    f"5. fan-out K={k}, {fan['delay_ms']} ms each, {fan['threads']} threads, {label}: "
                    f"inv/s (x boto3{f'; median of {rounds} rounds' if rounds > 1 else ''})",
                    {
                        tool: f"{_rate(v[f'{tool}/{mode}']['invocations_per_second_median'])} "
                        f"({_x(v[f'{tool}/{mode}']['throughput_ratio_to_boto3_median'])})"
                        for tool in TOOLS
                    },
                )
            )
    return rows


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table: one row per figure, one column per tool."""
    header = ["figure", *(LABELS[tool] for tool in TOOLS)]
    body = [[label, *(cells.get(tool, "") for tool in TOOLS)] for label, cells in _rows(results)]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(row) for row in body)
    return "\n".join(out)


def preamble(results: dict[str, Any]) -> str:
    m, v, c = results["machine"], results["versions"], results["config"]
    load = f"load average {m.get('load_average_at_start')} at start, {m.get('load_average_at_end')} at end"
    lines = [
        f"Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['platform']}, "
        f"{m['python_implementation']} {m['python']}; {load}",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in v.items()),
        "Runs: " + ", ".join(f"{key}={value}" for key, value in c.items()),
        f"Wall time: {results.get('duration_seconds', 0):.0f} s; python {sys.executable}",
    ]
    return "\n".join(lines)
