"""Section 5: throughput of a fan-out: K invocations of a function that takes ``delay`` ms, in a thread pool.

``per_task_client`` is how mapped tasks run: every invocation builds its operator's hook, session
and client (raw boto3: a client from a new session per invocation). ``shared_client`` is the best
case, one client for all (raw boto3: one client; the operators' hook classes share one client via
:func:`benchmarks.tools.reuse_client`); only there do the operators' own costs show. The pool has
fewer threads than botocore's default connection pool (10), so no variant waits for or discards
connections. Operators are built before the clock starts. Each variant has its own function
name, so the endpoint's count checks that every variant sent exactly what it should.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.environment import minimal_context
from benchmarks.fake_lambda import FakeLambda
from benchmarks.tools import (
    amazon_operator,
    boto3_client,
    boto3_invoke,
    hook_class,
    ours_operator,
    reuse_client,
    run_execute,
)

VARIANTS = (
    "boto3/shared_client",
    "ours/shared_client",
    "amazon/shared_client",
    "boto3/per_task_client",
    "ours/per_task_client",
    "amazon/per_task_client",
)
PAYLOAD = '{"n": 1}'


def _calls(variant: str, function: str, k: int) -> list[Callable[[], Any]]:
    tool, mode = variant.split("/", 1)
    if tool == "boto3":
        if mode == "shared_client":
            client = boto3_client()
            return [lambda: boto3_invoke(client, function, PAYLOAD)] * k
        return [lambda: boto3_invoke(boto3_client(new_session=True), function, PAYLOAD)] * k
    make = ours_operator if tool == "ours" else amazon_operator
    operators: list[Any] = [make(function, PAYLOAD, task_id=f"{tool}_{i}") for i in range(k)]

    def call(index: int) -> None:
        # An operator keeps its hook (and client) after execute; a task process would exit here.
        operator, operators[index] = operators[index], None
        run_execute(operator, minimal_context())

    return [functools.partial(call, index) for index in range(k)]


def _run(variant: str, function: str, k: int, threads: int) -> float:
    tool, mode = variant.split("/", 1)
    calls = _calls(variant, function, k)
    with contextlib.ExitStack() as stack:
        if tool != "boto3" and mode == "shared_client":
            stack.enter_context(reuse_client(hook_class(tool)))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            start = time.perf_counter()
            futures = [pool.submit(call) for call in calls]
            for future in futures:
                future.result()
            return time.perf_counter() - start


def measure(
    fake: FakeLambda, *, k: int, k_per_task: int, delay_ms: int, threads: int, rounds: int
) -> dict[str, Any]:
    """
    Invocations/s per variant and its ratio to raw boto3 with the same client use.

    Shared-client variants run ``k`` invocations, ``rounds`` times, interleaved (ratios per round,
    then the median). Per-task-client variants, bound by building a client per invocation (see
    section 2b), run ``k_per_task`` invocations, ``rounds`` times, interleaved likewise.
    """
    # Warm-up (not counted): imports and provider discovery happen once per process.
    for variant in VARIANTS:
        _run(variant, "fan-warmup", min(threads, 4), threads)

    per_round: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    functions: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for mode, n, repeat in (("shared_client", k, rounds), ("per_task_client", k_per_task, rounds)):
        group = [variant for variant in VARIANTS if variant.endswith(mode)]
        for round_index in range(repeat):
            shift = round_index % len(group)
            for variant in group[shift:] + group[:shift]:
                function = f"fan-d{delay_ms}-{variant.replace('/', '-').replace('_', '')}"
                functions[variant], sizes[variant] = function, n
                per_round[variant].append(n / _run(variant, function, n, threads))

    stats = fake.stats()
    variants: dict[str, Any] = {}
    for variant in VARIANTS:
        mode = variant.split("/", 1)[1]
        base = per_round[f"boto3/{mode}"]
        variants[variant] = {
            "invocations": sizes[variant],
            "rounds": len(per_round[variant]),
            "invocations_per_second_median": statistics.median(per_round[variant]),
            "invocations_per_second_rounds": [round(v, 1) for v in per_round[variant]],
            "throughput_ratio_to_boto3_median": statistics.median(
                a / b for a, b in zip(per_round[variant], base, strict=True)
            ),
            "function": functions[variant],
            "function_runs": stats.get(functions[variant], {}).get("requests", 0),
            "function_runs_expected": sizes[variant] * len(per_round[variant]),
        }
    return {
        "k": k,
        "k_per_task_client": k_per_task,
        "delay_ms": delay_ms,
        "threads": threads,
        "rounds_shared_client": rounds,
        "ideal_invocations_per_second": threads * 1000.0 / delay_ms,
        "variants": variants,
    }
