"""Section 2: per-invocation overhead of ``execute`` against a bare boto3 ``invoke``, as ratios.

Every variant invokes the same instant function on the same endpoint. Variants run in rounds, in
a rotating order; each round times a batch of calls per variant, and every ratio is taken within
its round (so a burst of load from elsewhere hits numerator and denominator alike). The figures
are the medians over the rounds.

``reused``: the operator's ``execute`` with its hook class sharing one client (see
:func:`benchmarks.tools.reuse_client`), for raw boto3 one client. ``fresh``: a new operator per
call, which builds its hook, boto3 session and client, as every task instance does; for raw boto3
``boto3.session.Session().client(...)`` per call (``fresh_default_session``: ``boto3.client(...)``,
whose default session keeps the service model loaded).
"""

from __future__ import annotations

import functools
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.environment import minimal_context
from benchmarks.tools import (
    ClientReuse,
    amazon_operator,
    boto3_client,
    boto3_invoke,
    hook_class,
    ours_operator,
    reuse_client,
    run_execute,
)

FUNCTION = "bench-percall"
PAYLOAD = '{"n": 1}'
BASELINE = "boto3/reused"

#: (variant, batch kind)
VARIANTS: tuple[tuple[str, str], ...] = (
    ("boto3/reused", "reused"),
    ("ours/reused", "reused"),
    ("amazon/reused", "reused"),
    ("boto3/fresh", "fresh"),
    ("boto3/fresh_default_session", "fresh"),
    ("ours/fresh", "fresh"),
    ("amazon/fresh", "fresh"),
)


class _Runner:
    """Builds, per variant, a batch function: ``batch(n) -> seconds for n calls``."""

    def __init__(self) -> None:
        self.shared_boto3 = boto3_client()
        self.reuse: dict[str, ClientReuse] = {"ours": ClientReuse(), "amazon": ClientReuse()}

    def _operator(self, tool: str, index: int) -> Any:
        make = ours_operator if tool == "ours" else amazon_operator
        return make(FUNCTION, PAYLOAD, task_id=f"{tool}_{index}")

    def batch(self, variant: str, n: int) -> float:
        tool, mode = variant.split("/", 1)
        if tool == "boto3":
            calls: list[Callable[[], Any]]
            if mode == "reused":
                client = self.shared_boto3
                calls = [lambda: boto3_invoke(client, FUNCTION, PAYLOAD)] * n
            elif mode == "fresh":
                calls = [lambda: boto3_invoke(boto3_client(new_session=True), FUNCTION, PAYLOAD)] * n
            else:
                calls = [lambda: boto3_invoke(boto3_client(), FUNCTION, PAYLOAD)] * n
            return _timed(calls)
        # Operators are built before the clock starts: constructing them is DAG-parse work.
        operators: list[Any] = [self._operator(tool, i) for i in range(n)]
        context = minimal_context()

        def call(index: int) -> None:
            # An operator keeps its hook (and client) after execute; a task process would exit here.
            operator, operators[index] = operators[index], None
            run_execute(operator, context)

        calls = [functools.partial(call, index) for index in range(n)]
        if mode == "reused":
            with reuse_client(hook_class(tool), self.reuse[tool]):
                return _timed(calls)
        return _timed(calls)


def _timed(calls: list[Callable[[], Any]]) -> float:
    gc.collect()
    start = time.perf_counter()
    for call in calls:
        call()
    return time.perf_counter() - start


def measure(*, rounds: int, batch_reused: int, batch_fresh: int) -> dict[str, Any]:
    """Run the rounds; return per-variant medians (ms per call) and ratios to the baseline."""
    runner = _Runner()
    # Warm-up round (discarded): imports, provider discovery, connection parsing, the first clients.
    for variant, _ in VARIANTS:
        runner.batch(variant, 2)

    per_call_ms: dict[str, list[float]] = {variant: [] for variant, _ in VARIANTS}
    ratios: dict[str, list[float]] = {variant: [] for variant, _ in VARIANTS}
    for round_index in range(rounds):
        shift = round_index % len(VARIANTS)
        order = VARIANTS[shift:] + VARIANTS[:shift]
        this_round: dict[str, float] = {}
        for variant, kind in order:
            n = batch_reused if kind == "reused" else batch_fresh
            this_round[variant] = runner.batch(variant, n) / n * 1000.0
        for variant, value in this_round.items():
            per_call_ms[variant].append(value)
            ratios[variant].append(value / this_round[BASELINE])

    variants: dict[str, Any] = {}
    for variant, kind in VARIANTS:
        variants[variant] = {
            "ms_per_call_median": statistics.median(per_call_ms[variant]),
            "ms_per_call_rounds": [round(v, 3) for v in per_call_ms[variant]],
            "ratio_to_bare_boto3_median": statistics.median(ratios[variant]),
            "calls_per_round": batch_reused if kind == "reused" else batch_fresh,
        }
    fresh_baseline = "boto3/fresh"
    for variant in ("ours/fresh", "amazon/fresh"):
        values = [a / b for a, b in zip(per_call_ms[variant], per_call_ms[fresh_baseline], strict=True)]
        variants[variant]["ratio_to_boto3_fresh_client_median"] = statistics.median(values)
    ours_vs_amazon = {
        mode: statistics.median(
            a / b for a, b in zip(per_call_ms[f"ours/{mode}"], per_call_ms[f"amazon/{mode}"], strict=True)
        )
        for mode in ("reused", "fresh")
    }
    return {
        "function": FUNCTION,
        "baseline": BASELINE,
        "rounds": rounds,
        "variants": variants,
        "ours_to_amazon_ratio_median": ours_vs_amazon,
        "client_reuse_effective": {tool: state.effective for tool, state in runner.reuse.items()},
        "clients_built_while_shared": {tool: state.built for tool, state in runner.reuse.items()},
    }
