"""Deferrable mode against worker slots: N concurrent synchronous invocations of a T-second function.

Two ways to hold N RequestResponse invocations open at once, each measured in a fresh process:

``triggers``
    N :class:`LambdaInvokeTrigger` instances (rebuilt from their serialised kwargs, as the
    triggerer does) running in one asyncio event loop: what one triggerer process does.
``threads``
    N threads, each running the worker's synchronous path (:meth:`LambdaInvokeHook.invoke`): the
    cheapest possible stand-in for N worker slots. Real worker slots are processes (Celery, the
    Kubernetes executor), so the per-process figure printed at the end, times N, is closer to what
    N waiting tasks cost without deferral.

The function is a purpose-built asyncio HTTP server in its own process that answers every Invoke
after sleeping T seconds (moto's executor would start a Python process per invocation and measure
itself). Its request counter confirms that every invocation was sent exactly once.

Printed per mode and N: wall time, invocations per second, peak RSS of the measuring process and its
growth over the post-import baseline, per invocation; with ``--tracemalloc`` also Python's own peak
allocations (slower: it traces every allocation).

One command (default: N = 10, 100 and 1000, T = 5 s, threads up to N = 100; under three minutes
on two shared cores)::

    .venv/bin/python benchmarks/deferrable_bench.py
    .venv/bin/python benchmarks/deferrable_bench.py --n 1000 --max-threads 1000   # ~7 minutes
    .venv/bin/python benchmarks/deferrable_bench.py --n 50 200 --seconds 10 --tracemalloc
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
FUNCTION = "bench-function"
_PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------------------
# The fake Lambda: asyncio, keep-alive, sleeps T seconds per Invoke, counts requests


class _Counter:
    invocations = 0


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path = request_line.split(" ")[:2]
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            if method == "GET" and path == "/__stats":
                body = json.dumps({"invocations": _Counter.invocations}).encode()
            else:
                _Counter.invocations += 1
                await asyncio.sleep(delay)
                body = b'{"ok": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"X-Amz-Executed-Version: $LATEST\r\n"
                b"x-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _serve(delay: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, delay), LOOPBACK, 0, backlog=4096, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def fake_lambda(delay: float) -> Iterator[str]:
    """Start the fake Lambda in its own process; yield its URL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--seconds", str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["port"]
        yield f"http://{LOOPBACK}:{port}"
    finally:
        process.terminate()
        process.wait(15)


def invocations_seen(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/__stats", timeout=30) as response:
        return int(json.loads(response.read())["invocations"])


# ------------------------------------------------------------------------------------------------
# One measured run (a fresh process per mode and N)


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class _PeakRss:
    """Samples the process's RSS every 10 ms in a background thread."""

    def __init__(self) -> None:
        self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _request(url: str, delay: float) -> Any:
    from airflow_provider_lambda_ue.fields import LambdaInvokeFields
    from airflow_provider_lambda_ue.invocation import prepare

    fields = LambdaInvokeFields(
        function_name=FUNCTION,
        region_name="us-east-1",
        endpoint_url=url,
        payload={"bench": True},
        wait_for_completion_timeout=int(delay) + 120,
    )
    return prepare(fields, logging.getLogger("bench")).request


def _run_triggers(url: str, n: int, delay: float) -> list[bool]:
    from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger

    kwargs = json.loads(
        json.dumps(LambdaInvokeTrigger(request=_request(url, delay).to_dict()).serialize()[1])
    )

    async def one() -> bool:
        async for event in LambdaInvokeTrigger(**kwargs).run():
            return bool(event.payload.get("status") == "success")
        return False

    async def all_of_them() -> list[bool]:
        return list(await asyncio.gather(*(one() for _ in range(n))))

    return asyncio.run(all_of_them())


def _run_threads(url: str, n: int, delay: float) -> list[bool]:
    from airflow_provider_lambda_ue.exceptions import LambdaInvokeError
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook

    request = _request(url, delay)

    def one() -> bool:
        try:
            return LambdaInvokeHook.from_request(request).invoke(request).status_code == 200
        except LambdaInvokeError:
            return False

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: one(), range(n)))


def child(mode: str, url: str, n: int, delay: float, trace: bool) -> dict[str, Any]:
    """Measure one mode in this (fresh) process."""
    logging.disable(logging.WARNING)  # one log line per invocation would measure the logger
    for module in (
        "airflow_provider_lambda_ue.hooks.lambda_invoke",
        "airflow_provider_lambda_ue.triggers.lambda_invoke",
    ):
        importlib.import_module(module)  # the imports are part of the baseline, not of the run

    if trace:
        import tracemalloc

        tracemalloc.start()
    baseline = _rss()
    with _PeakRss() as peak:
        started = time.perf_counter()
        results = (_run_triggers if mode == "triggers" else _run_threads)(url, n, delay)
        wall = time.perf_counter() - started
    traced_peak = None
    if trace:
        import tracemalloc

        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "mode": mode,
        "n": n,
        "ok": sum(results),
        "wall": wall,
        "baseline_rss": baseline,
        "peak_rss": peak.peak,
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "traced_peak": traced_peak,
    }


def measure(mode: str, url: str, n: int, delay: float, trace: bool) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter and return its figures."""
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--url",
        url,
        "--n",
        str(n),
        "--seconds",
        str(delay),
    ]
    if trace:
        command.append("--tracemalloc")
    env = {
        **os.environ,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "login": "bench", "password": "bench"}),
        "NO_PROXY": "*",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE"):
        env.pop(name, None)
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=3600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} N={n} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


# ------------------------------------------------------------------------------------------------
# Report


def _mib(value: float) -> str:
    return f"{value / 1048576:8.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000], help="concurrent invocations")
    parser.add_argument("--seconds", type=float, default=5.0, help="T: how long the function runs")
    parser.add_argument(
        "--modes", nargs="+", default=["triggers", "threads"], choices=["triggers", "threads"]
    )
    parser.add_argument(
        "--max-threads",
        type=int,
        default=100,
        help="skip threads rows above this N (each thread builds a boto3 client under the GIL: "
        "N=1000 takes about 6 minutes on two shared cores)",
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also report Python's peak allocations")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["triggers", "threads"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 65536)), hard))
    if args.serve:
        asyncio.run(_serve(args.seconds))
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.url, args.n[0], args.seconds, args.tracemalloc)))
        return 0

    print(f"N concurrent RequestResponse invocations of a function taking T = {args.seconds:g} s")
    print(f"(fresh process per row; {os.cpu_count()} CPUs; Python {sys.version.split()[0]})\n")
    header = (
        f"{'mode':<9} {'N':>5} {'ok':>5} {'wall s':>8} {'inv/s':>8} "
        f"{'peak RSS MiB':>13} {'growth MiB':>11} {'KiB/inv':>8}"
    )
    if args.tracemalloc:
        header += f" {'traced MiB':>11}"
    print(header)
    with fake_lambda(args.seconds) as url:
        for n in args.n:
            for mode in args.modes:
                if mode == "threads" and n > args.max_threads:
                    print(f"{mode:<9} {n:>5}  skipped (above --max-threads {args.max_threads})", flush=True)
                    continue
                before = invocations_seen(url)
                row = measure(mode, url, n, args.seconds, args.tracemalloc)
                sent = invocations_seen(url) - before
                growth = row["peak_rss"] - row["baseline_rss"]
                line = (
                    f"{mode:<9} {n:>5} {row['ok']:>5} {row['wall']:>8.2f} {n / row['wall']:>8.1f} "
                    f"{_mib(row['peak_rss']):>13} {_mib(growth):>11} {growth / n / 1024:>8.1f}"
                )
                if args.tracemalloc:
                    line += f" {_mib(row['traced_peak'] or 0):>11}"
                if sent != n:
                    line += f"   (!) the function ran {sent} times"
                print(line, flush=True)
        single = measure("threads", url, 1, args.seconds, False)
    one_process = _mib(single["peak_rss"]).strip()
    print(
        f"\nOne process holding one synchronous invocation: {one_process} MiB RSS (the same imports;"
        " a real Airflow worker slot is a process with the task runner loaded too)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
