"""Section 4: how many times the function ran when the caller timed out, with each tool's defaults.

The function sleeps longer than the caller's read timeout. Only the read timeout is set, the one
way each tool offers: ``wait_for_completion_timeout`` for ours, ``botocore_config={"read_timeout":
n}`` for the amazon operator, ``Config(read_timeout=n)`` for boto3; retries stay at each tool's
default. The fake endpoint counts the Invoke requests it received: each one is a run of the
function. The three callers run concurrently (each on its own function name) to save wall time.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from benchmarks.environment import minimal_context
from benchmarks.fake_lambda import FakeLambda
from benchmarks.tools import TOOLS, amazon_operator, boto3_client, boto3_invoke, ours_operator, run_execute


def _attempt(tool: str, function: str, read_timeout: int, out: dict[str, Any]) -> None:
    start = time.perf_counter()
    try:
        if tool == "boto3":
            boto3_invoke(boto3_client(read_timeout=read_timeout), function)
        elif tool == "ours":
            run_execute(ours_operator(function, timeout=read_timeout), minimal_context())
        else:
            run_execute(amazon_operator(function, read_timeout=read_timeout), minimal_context())
    except Exception as exc:
        out["error"] = type(exc).__name__
        out["exit_code"] = getattr(exc, "exit_code", None)
    else:
        out["error"] = None
    out["seconds_until_caller_gave_up"] = time.perf_counter() - start


def measure(fake: FakeLambda, *, read_timeout: int, function_sleep_ms: int) -> dict[str, Any]:
    """Run the three callers against a function that outlasts ``read_timeout``; count its runs."""
    results: dict[str, dict[str, Any]] = {tool: {} for tool in TOOLS}
    functions = {tool: f"slow-d{function_sleep_ms}-{tool}" for tool in TOOLS}
    threads = [
        threading.Thread(target=_attempt, args=(tool, functions[tool], read_timeout, results[tool]))
        for tool in TOOLS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = fake.stats()
    for tool in TOOLS:
        results[tool]["function_runs"] = stats.get(functions[tool], {}).get("requests", 0)
    return {
        "read_timeout_seconds": read_timeout,
        "function_sleep_ms": function_sleep_ms,
        "settings": {
            "ours": f"wait_for_completion_timeout={read_timeout}, otherwise defaults",
            "amazon": f'botocore_config={{"read_timeout": {read_timeout}}}, otherwise defaults',
            "boto3": f"Config(read_timeout={read_timeout}), otherwise defaults",
        },
        "tools": results,
    }
