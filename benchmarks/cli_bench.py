"""``lambda-ue invoke`` against ``aws lambda invoke`` and a bare boto3 script, side by side.

Each tool is run as a fresh process (what a shell script, a CI job or a container pays), against
the same function on the local Lambda endpoint, in alternating order so that drift on a shared
machine hits every tool alike. Wall time is measured around the process; peak memory is the
process's own maximum resident set size, from ``wait4``, both taken by a small parent process
of their own (``measure_process.py``: a child of this one would inherit its peak memory).

Run::

    .venv/bin/python benchmarks/cli_bench.py            # 7 rounds
    .venv/bin/python benchmarks/cli_bench.py --rounds 15 --aws /path/to/aws

The aws CLI is looked up on PATH (``--aws`` to name it). It pins its own botocore, so install it
in an environment of its own, not in ``.venv``: ``python3 -m venv /tmp/awscli && /tmp/awscli/bin/pip
install awscli``, then ``--aws /tmp/awscli/bin/aws``. Without it, the aws CLI's column is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda

FUNCTION = "cli-bench-echo"
HANDLER = "def handler(event, context):\n    return event\n"
PAYLOAD = '{"key": "value"}'
BOTO3_SCRIPT = Path(__file__).with_name("bare_boto3_invoke.py")
MEASURE_SCRIPT = Path(__file__).with_name("measure_process.py")


@dataclass
class Samples:
    """What one tool's runs measured."""

    label: str
    command: list[str]
    #: Where the tool writes the function's answer, when not to stdout.
    answer_file: str | None = None
    seconds: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds)

    @property
    def memory_mib(self) -> float:
        return statistics.median(self.peak_kib) / 1024


def run_once(samples: Samples, env: dict[str, str]) -> tuple[float, int]:
    """
    Run the tool once.

    :return: Wall seconds and the process's peak resident set size in KiB.
    :raises RuntimeError: If the command does not exit 0 (a failing tool measures nothing).
    """
    command = samples.command
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        # Measured from a small parent of its own (see measure_process.py): a child of this process
        # would start from this process's peak memory.
        completed = subprocess.run(
            [sys.executable, "-I", "-S", str(MEASURE_SCRIPT), result.name, *command],
            env=env,
            capture_output=True,
            check=False,
        )
        measured = json.loads(Path(result.name).read_text(encoding="utf-8") or "{}")
    out, err = completed.stdout, completed.stderr
    if completed.returncode != 0 or not measured:
        tail = err.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{command[0]} exited {completed.returncode}: {tail}")
    if samples.answer_file:
        out = Path(samples.answer_file).read_bytes()
    if b"value" not in out:
        raise RuntimeError(f"{command[0]} did not print the function's answer: {out[:500]!r}")
    return float(measured["seconds"]), int(measured["peak_kib"])


def tools(url: str, region: str, aws: str | None, outfile: str) -> list[Samples]:
    """The commands compared, each invoking :data:`FUNCTION` with :data:`PAYLOAD`."""
    bin_dir = Path(sys.executable).parent
    lambda_ue = str(bin_dir / "lambda-ue")
    found = [
        Samples(
            "lambda-ue invoke",
            [
                lambda_ue,
                "invoke",
                "--function-name",
                FUNCTION,
                "--endpoint-url",
                url,
                "--region",
                region,
                "--payload",
                PAYLOAD,
                "--compact",
            ],
        ),
        Samples(
            "bare boto3 script",
            [sys.executable, str(BOTO3_SCRIPT), url, region, FUNCTION, PAYLOAD],
        ),
    ]
    if aws:
        # aws-cli v1 reads --payload as the JSON text itself and writes the answer to a file.
        found.insert(
            1,
            Samples(
                "aws lambda invoke",
                [
                    aws,
                    "lambda",
                    "invoke",
                    "--function-name",
                    FUNCTION,
                    "--endpoint-url",
                    url,
                    "--region",
                    region,
                    "--payload",
                    PAYLOAD,
                    outfile,
                ],
                answer_file=outfile,
            ),
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="runs per tool, alternating (default 7)")
    parser.add_argument("--aws", default=shutil.which("aws"), help="the aws CLI (default: on PATH)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch, LocalLambda() as server:
        server.create_function(FUNCTION, HANDLER)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "AIRFLOW", "LAMBDA_UE_", "HTTP_PROXY", "HTTPS_PROXY"))
        }
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AIRFLOW_HOME=scratch,
            NO_PROXY="*",
        )
        measured = tools(server.url, server.region, args.aws, str(Path(scratch) / "answer.json"))
        for samples in measured:  # one warm-up each: the first run pays for cold file caches
            run_once(samples, env)
        for _ in range(args.rounds):
            for samples in measured:
                seconds, peak = run_once(samples, env)
                samples.seconds.append(seconds)
                samples.peak_kib.append(peak)

    reference = {s.label: s for s in measured}
    aws_samples = reference.get("aws lambda invoke")
    boto3_samples = reference["bare boto3 script"]
    python = sys.version.split()[0]
    print(f"{args.rounds} alternating runs per tool, medians; python {python}, {os.cpu_count()} cores")
    header = f"{'tool':<24} {'wall s':>8} {'peak MiB':>9} {'x aws (wall/mem)':>18} {'x boto3 (wall/mem)':>20}"
    print(header)
    print("-" * len(header))
    for s in measured:
        vs_aws = "n/a"
        if aws_samples:
            vs_aws = f"{s.wall / aws_samples.wall:.2f} / {s.memory_mib / aws_samples.memory_mib:.2f}"
        vs_boto3 = f"{s.wall / boto3_samples.wall:.2f} / {s.memory_mib / boto3_samples.memory_mib:.2f}"
        print(f"{s.label:<24} {s.wall:>8.3f} {s.memory_mib:>9.1f} {vs_aws:>18} {vs_boto3:>20}")
    if not aws_samples:
        print("(the aws CLI was not found: pass --aws PATH to compare against it)")
    if args.json:
        Path(args.json).write_text(
            json.dumps({s.label: {"seconds": s.seconds, "peak_kib": s.peak_kib} for s in measured}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
