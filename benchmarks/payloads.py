"""Section 3: a 6 MB response and a 6 MB request: time, and peak memory relative to the payload size.

Time: the three tools interleaved in the benchmark's process (``reps`` rounds, rotating order, the
median per tool), so that a change of load hits all three alike. For the response, raw boto3 is
also timed decoding the bytes to text (``boto3_decoded``), which the operators do to return the
payload as an XCom-ready value.

Memory: each tool in its own fresh interpreter (``python -m benchmarks.payloads --worker``), so
that one tool's allocations cannot hide another's. In it, after a small warm-up invocation, for the
response and then the request:

* peak RSS: ``/proc/self/clear_refs`` resets the high-water mark, then one call; the figure is
  ``VmHWM`` after the call minus ``VmRSS`` before it (the process's real peak growth);
* ``tracemalloc`` peak: one more call with tracing on (Python's own allocations).

Clients are shared (operators' hooks via :func:`benchmarks.tools.reuse_client`), so the figures are
about payload handling, not client construction. What a call returns (the output document, the
amazon operator's text, boto3's bytes) is alive at the peak, as it is when it goes to XCom.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.environment import REPO, child_environment, configure_task_logging, minimal_context
from benchmarks.tools import (
    TOOLS,
    amazon_operator,
    boto3_client,
    boto3_invoke,
    hook_class,
    ours_operator,
    reuse_client,
    run_execute,
)

#: 6 MiB is Lambda's limit for a synchronous request and response; 1 KiB under it leaves room
#: for the JSON wrapping.
DEFAULT_SIZE = 6 * 1024 * 1024 - 1024
DIRECTIONS = ("response", "request")


def request_payload(size: int) -> str:
    """A JSON document of exactly ``size`` bytes."""
    return '{"data": "' + "x" * (size - 12) + '"}'


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _Calls:
    """Builds one invocation of a tool, ready to call (operators are built outside any clock)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.big_request = request_payload(size)
        self.client: Any = None
        self.count = 0

    def prepare(self, tool: str, direction: str, *, small: bool = False) -> Callable[[], Any]:
        if small:
            function, payload = "bench-warmup", '{"n": 1}'
        elif direction == "response":
            function, payload = f"big-r{self.size}", '{"n": 1}'
        else:
            function, payload = "big-request", self.big_request
        if tool.startswith("boto3"):
            if self.client is None:
                self.client = boto3_client()
            client = self.client
            if tool == "boto3_decoded":
                return lambda: boto3_invoke(client, function, payload).decode("utf-8", errors="replace")
            return lambda: boto3_invoke(client, function, payload)
        self.count += 1
        make = ours_operator if tool == "ours" else amazon_operator
        operator = make(function, payload, task_id=f"{tool}_{self.count}")
        context = minimal_context()
        return lambda: run_execute(operator, context)


class _Worker:
    """Peak memory of one tool's calls, in this (fresh) process."""

    def __init__(self, tool: str, size: int) -> None:
        self.tool = tool
        self.calls = _Calls(size)

    def prepare(self, direction: str, *, small: bool = False) -> Callable[[], Any]:
        return self.calls.prepare(self.tool, direction, small=small)

    def measure(self, direction: str) -> dict[str, Any]:
        call = self.prepare(direction)
        _trim()
        rss_before = _status_kb("VmRSS")
        reset = _reset_peak_rss()
        result = call()
        peak_rss_kb = _status_kb("VmHWM") - rss_before if reset else None
        returned_size = _returned_size(result)
        del result, call

        call = self.prepare(direction)
        _trim()
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = call()
        traced_peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        del result, call
        return {
            "tracemalloc_peak_bytes": traced_peak,
            "peak_rss_growth_bytes": peak_rss_kb * 1024 if peak_rss_kb is not None else None,
            "returned_bytes_approx": returned_size,
        }


def _returned_size(result: Any) -> int:
    if isinstance(result, (bytes, str)):
        return len(result)
    if isinstance(result, dict):
        return len(json.dumps(result, default=str))
    return 0


def worker(tool: str, size: int, log_file: Path) -> dict[str, Any]:
    """The memory figures for one tool (in this process)."""
    stream = configure_task_logging(log_file)
    work = _Worker(tool, size)
    with contextlib.ExitStack() as stack:
        if tool != "boto3":
            stack.enter_context(reuse_client(hook_class(tool)))
        work.prepare("response", small=True)()
        work.prepare("response", small=True)()
        out = {direction: work.measure(direction) for direction in DIRECTIONS}
    stream.flush()
    return out


def timing(size: int, reps: int) -> dict[str, dict[str, list[float]]]:
    """Seconds per call, per direction and tool: ``reps`` interleaved rounds in this process."""
    calls = _Calls(size)
    tools = {"response": [*TOOLS, "boto3_decoded"], "request": list(TOOLS)}
    seconds: dict[str, dict[str, list[float]]] = {d: {t: [] for t in tools[d]} for d in DIRECTIONS}
    with contextlib.ExitStack() as stack:
        for tool in ("ours", "amazon"):
            stack.enter_context(reuse_client(hook_class(tool)))
        for tool in TOOLS:
            calls.prepare(tool, "response", small=True)()
        for rep in range(reps):
            for direction in DIRECTIONS:
                names = tools[direction]
                shift = rep % len(names)
                for tool in names[shift:] + names[:shift]:
                    call = calls.prepare(tool, direction)
                    _trim()
                    start = time.perf_counter()
                    call()
                    seconds[direction][tool].append(time.perf_counter() - start)
                    del call
    return seconds


def measure(*, size: int, reps: int, workdir: Path) -> dict[str, Any]:
    """Time the tools here, measure their memory in a worker each; relate to boto3 and the size."""
    seconds = timing(size, reps)
    tools: dict[str, Any] = {}
    for tool in TOOLS:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.payloads",
                "--worker",
                tool,
                "--size",
                str(size),
                "--log-file",
                str(workdir / f"payloads-{tool}.log"),
            ],
            capture_output=True,
            text=True,
            env=child_environment(),
            cwd=REPO,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"payload worker for {tool} failed:\n{proc.stderr[-3000:]}")
        tools[tool] = json.loads(proc.stdout.strip().splitlines()[-1])

    for direction in DIRECTIONS:
        base = statistics.median(seconds[direction]["boto3"])
        for tool in TOOLS:
            figures = tools[tool][direction]
            figures["seconds_median"] = statistics.median(seconds[direction][tool])
            figures["seconds_runs"] = [round(s, 4) for s in seconds[direction][tool]]
            figures["time_ratio_to_boto3"] = figures["seconds_median"] / base if base > 0 else None
            figures["tracemalloc_peak_per_payload"] = figures["tracemalloc_peak_bytes"] / size
            rss = figures["peak_rss_growth_bytes"]
            figures["peak_rss_growth_per_payload"] = rss / size if rss is not None else None
    decoded = seconds["response"]["boto3_decoded"]
    tools["boto3"]["response"]["decoded_to_text"] = {
        "seconds_median": statistics.median(decoded),
        "time_ratio_to_boto3": statistics.median(decoded) / statistics.median(seconds["response"]["boto3"]),
    }
    return {"payload_bytes": size, "reps": reps, "tools": tools}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", choices=TOOLS, required=True)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--log-file", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        result = worker(args.worker, args.size, args.log_file)
    except BaseException:
        # Airflow's logging set-up sends uncaught exceptions to the task log: show them here too.
        traceback.print_exc(file=sys.__stderr__)
        raise
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
