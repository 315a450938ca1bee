"""Section 1: DAG-parse cost, the extra import time of each operator's module over ``airflow.sdk``.

Each sample starts from a fresh interpreter that has imported ``airflow.sdk`` (what every DAG
file imports) and times the import of the operator's module with ``perf_counter`` inside the
process (the interpreter's start-up and ``airflow.sdk`` itself are common to all and excluded).
See :func:`measure` for the two ways of getting there. Samples run interleaved, variant after
variant, so a burst of load spreads over all of them; the figure is the median. One warm-up
interpreter first imports everything once so that every sample reads compiled bytecode (see
:data:`benchmarks.environment.PYCACHE`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.environment import child_environment

#: variant -> modules a DAG file using that tool imports at its top.
VARIANTS: dict[str, list[str]] = {
    "ours": ["airflow_provider_lambda_ue.operators.lambda_invoke"],
    "amazon": ["airflow.providers.amazon.aws.operators.lambda_function"],
    # A PythonOperator whose callable imports boto3 inside (Airflow's advice for DAG files)...
    "boto3": ["airflow.providers.standard.operators.python"],
    # ...and the common pattern of importing boto3 at the top of the DAG file.
    "boto3_toplevel": ["airflow.providers.standard.operators.python", "boto3"],
}

_COMMON = """
import importlib, json, os, sys, time
def rss_kb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0
def probe(modules, sdk_ms):
    t1 = time.perf_counter()
    before, rss0 = set(sys.modules), rss_kb()
    for name in modules:
        importlib.import_module(name)
    t2 = time.perf_counter()
    added = set(sys.modules) - before
    heavy = sorted(m for m in added if m.split(".")[0] in ("boto3", "botocore", "aiobotocore")
                   or m.startswith("airflow.providers.amazon"))
    return {
        "sdk_ms": sdk_ms, "extra_ms": (t2 - t1) * 1000, "modules_added": len(added),
        "heavy_modules_added": heavy[:5], "rss_added_kb": rss_kb() - rss0,
    }
t0 = time.perf_counter()
import airflow.sdk
sdk_ms = (time.perf_counter() - t0) * 1000
"""

#: One fresh interpreter per sample.
_FRESH = (
    _COMMON
    + """
print(json.dumps(probe(__MODULES__, sdk_ms)))
"""
)

#: One fresh interpreter per round; it forks a child per variant once ``airflow.sdk`` is imported.
_FORK = (
    _COMMON
    + """
out = []
for modules in __ORDER__:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.write(write_end, json.dumps(probe(modules, sdk_ms)).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    out.append(json.loads(b"".join(chunks)))
print(json.dumps(out))
"""
)


def _interpreter(code: str, cwd: Path) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_environment(),
        cwd=cwd,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"import probe failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(*, runs: int, cwd: Path, mode: str = "fresh") -> dict[str, Any]:
    """
    ``runs`` samples per variant, interleaved, after one warm-up interpreter.

    :param mode: ``fresh`` (the default): a fresh interpreter per sample. ``fork``: a fresh
        interpreter per round imports ``airflow.sdk`` and forks one child per variant, which
        imports the variant's module (as Airflow 3's DAG processor forks a parsing process per
        file). A quarter of the interpreters, but every figure comes out higher (by about 5 ms on
        the reference machine: copy-on-write faults, refcount updates touch shared pages).
    """
    everything = sorted({module for modules in VARIANTS.values() for module in modules})
    _interpreter(_FRESH.replace("__MODULES__", repr(everything)), cwd)  # compiles bytecode for all; discarded

    names = list(VARIANTS)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for run in range(runs):
        shift = run % len(names)
        order = names[shift:] + names[:shift]
        if mode == "fork":
            found = _interpreter(_FORK.replace("__ORDER__", repr([VARIANTS[name] for name in order])), cwd)
            for name, sample in zip(order, found, strict=True):
                samples[name].append(sample)
        else:
            for name in order:
                samples[name].append(_interpreter(_FRESH.replace("__MODULES__", repr(VARIANTS[name])), cwd))

    result: dict[str, Any] = {"mode": mode, "runs_per_variant": runs, "variants": {}}
    for name in names:
        extra = [s["extra_ms"] for s in samples[name]]
        result["variants"][name] = {
            "modules": VARIANTS[name],
            "extra_import_ms_median": statistics.median(extra),
            "extra_import_ms_runs": [round(v, 1) for v in extra],
            "airflow_sdk_import_ms_median": statistics.median(s["sdk_ms"] for s in samples[name]),
            "modules_added": samples[name][-1]["modules_added"],
            "heavy_modules_added_sample": samples[name][-1]["heavy_modules_added"],
            "rss_added_kb_median": statistics.median(s["rss_added_kb"] for s in samples[name]),
        }
    ours = result["variants"]["ours"]["extra_import_ms_median"]
    result["ratio_to_ours"] = {
        name: (v["extra_import_ms_median"] / ours if ours > 0 else None)
        for name, v in result["variants"].items()
    }
    return result
