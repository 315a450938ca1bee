"""Benchmarks: us against the amazon provider's LambdaInvokeFunctionOperator and raw boto3.

    .venv/bin/python benchmarks/run.py            # the full run (a few minutes)
    .venv/bin/python benchmarks/run.py --quick    # a tiny configuration (the smoke test's)

Prints the machine, the versions, the run counts and a table; writes everything as JSON to
``benchmarks/results/latest.json`` (``--output`` elsewhere). Every figure that compares tools is
a ratio measured within this run, against a purpose-built instant Lambda endpoint on loopback
(:mod:`benchmarks.fake_lambda`), because absolute times on a shared machine mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    # Run as a script: import the helpers as the ``benchmarks`` package, not as top-level modules.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

SECTIONS = ("import_cost", "per_invocation", "large_payloads", "read_timeout", "fanout")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.payloads import DEFAULT_SIZE

    quick = args.quick
    config: dict[str, Any] = {
        "quick": quick,
        "import_mode": args.import_mode,
        "import_runs_per_variant": 1 if quick else 7,
        "per_call_rounds": 1 if quick else 7,
        "per_call_batch_reused": 3 if quick else 40,
        "per_call_batch_fresh": 1 if quick else 3,
        "payload_bytes": 64 * 1024 if quick else DEFAULT_SIZE,
        "payload_reps": 1 if quick else 5,
        "read_timeout_seconds": 1,
        "function_sleep_ms": 1500 if quick else 3000,
        "fanout_k": 8 if quick else 200,
        "fanout_k_per_task_client": 4 if quick else 12,
        "fanout_rounds": 1 if quick else 5,
        "fanout_delay_ms": 10 if quick else 50,
        "fanout_threads": 4 if quick else 8,
    }
    for key in list(config):
        override = getattr(args, key, None)
        if override is not None and key not in ("quick", "import_mode"):
            config[key] = override
    return config


def _profile(out_dir: Path, calls: int) -> dict[str, str]:
    """cProfile of ``calls`` executes per operator and mode; the top of each goes to a text file."""
    import cProfile
    import io
    import pstats

    from benchmarks.environment import minimal_context
    from benchmarks.tools import amazon_operator, hook_class, ours_operator, reuse_client, run_execute

    files: dict[str, str] = {}
    for tool, make in (("ours", ours_operator), ("amazon", amazon_operator)):
        for mode in ("reused", "fresh"):
            operators = [make("bench-profile", '{"n": 1}', task_id=f"{tool}_{i}") for i in range(calls + 1)]
            context = minimal_context()
            profiler = cProfile.Profile()
            if mode == "reused":
                with reuse_client(hook_class(tool)):
                    run_execute(operators[0], context)
                    profiler.enable()
                    for operator in operators[1:]:
                        run_execute(operator, context)
                    profiler.disable()
            else:
                run_execute(operators[0], context)
                profiler.enable()
                for operator in operators[1:]:
                    run_execute(operator, context)
                profiler.disable()
            text = io.StringIO()
            stats = pstats.Stats(profiler, stream=text).sort_stats("cumulative")
            stats.print_stats(45)
            path = out_dir / f"profile-{tool}-{mode}.txt"
            path.write_text(f"{calls} executes of {tool} ({mode} client)\n{text.getvalue()}")
            files[f"{tool}/{mode}"] = str(path)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny configuration (seconds, not minutes)")
    parser.add_argument("--output", type=Path, default=_HERE / "results" / "latest.json")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--profile", action="store_true", help="also write cProfile tops of execute")
    parser.add_argument(
        "--import-mode",
        choices=("fresh", "fork"),
        default="fresh",
        help="fresh: an interpreter per import sample; fork: children forked after airflow.sdk",
    )
    parser.add_argument("--import-runs", dest="import_runs_per_variant", type=int)
    parser.add_argument("--rounds", dest="per_call_rounds", type=int)
    parser.add_argument("--fanout-k", dest="fanout_k", type=int)
    parser.add_argument("--payload-bytes", dest="payload_bytes", type=int)
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {SECTIONS}")

    from benchmarks import environment, report
    from benchmarks.fake_lambda import FakeLambda

    config = _config(args)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="lambda-ue-bench-"))
    results: dict[str, Any] = {
        "schema": 1,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": report.machine(),
        "versions": report.versions(),
        "git": report.git_state(),
        "config": config,
    }
    try:
        with FakeLambda() as fake:
            environment.apply_environment(environment.benchmark_environment(workdir, fake.endpoint_url))
            log_stream = environment.configure_task_logging(workdir / "task.log")
            results["endpoint"] = (
                "purpose-built instant Invoke endpoint on loopback (benchmarks/fake_lambda.py)"
            )

            def progress(section: str) -> None:
                print(f"[{time.perf_counter() - started:6.1f} s] {section}", file=sys.stderr, flush=True)

            if "import_cost" in only:
                from benchmarks import imports

                progress("1/5 DAG-parse import cost (fresh interpreters)")
                results["import_cost"] = imports.measure(
                    runs=config["import_runs_per_variant"], cwd=workdir, mode=config["import_mode"]
                )
            if "per_invocation" in only:
                from benchmarks import percall

                progress("2/5 per-invocation overhead")
                results["per_invocation"] = percall.measure(
                    rounds=config["per_call_rounds"],
                    batch_reused=config["per_call_batch_reused"],
                    batch_fresh=config["per_call_batch_fresh"],
                )
            if "large_payloads" in only:
                from benchmarks import payloads

                progress("3/5 large payloads (a fresh interpreter per tool)")
                results["large_payloads"] = payloads.measure(
                    size=config["payload_bytes"], reps=config["payload_reps"], workdir=workdir
                )
            if "read_timeout" in only:
                from benchmarks import timeouts

                progress("4/5 read timeout")
                results["read_timeout"] = timeouts.measure(
                    fake,
                    read_timeout=config["read_timeout_seconds"],
                    function_sleep_ms=config["function_sleep_ms"],
                )
            if "fanout" in only:
                from benchmarks import fanout

                progress("5/5 fan-out throughput")
                results["fanout"] = fanout.measure(
                    fake,
                    k=config["fanout_k"],
                    k_per_task=config["fanout_k_per_task_client"],
                    delay_ms=config["fanout_delay_ms"],
                    threads=config["fanout_threads"],
                    rounds=config["fanout_rounds"],
                )
            if args.profile:
                progress("profile")
                args.output.parent.mkdir(parents=True, exist_ok=True)
                results["profiles"] = _profile(args.output.parent, calls=20)
            log_stream.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    results["machine"]["load_average_at_end"] = report.load_average()
    results["duration_seconds"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, args.output)

    print(report.preamble(results))
    print()
    print(report.table(results))
    print()
    print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
