"""A fork server for ``airflow dags test``: Airflow imported once, every run a fresh fork of it.

usage: python -m airflow_provider_lambda_ue.testing.dag_test_server

An ``airflow dags test`` process spends most of its CPU before the DAG runs: importing Airflow and
building the in-process Execution API (Cadwyn generates a router per API version), about 9 of its
13 CPU seconds on Airflow 3.3. This server pays that once for an Airflow home, then forks a child
per run, which sets the run's environment and argv and calls ``airflow``'s own ``main()``, exactly
what the ``airflow`` program runs. Each child starts from the same state (nothing of an earlier run
is in it: masked secrets, loaded DAGs, sessions), exits through the interpreter's normal shutdown,
and is reaped here. Started by :class:`~airflow_provider_lambda_ue.testing.dag_runner.AirflowEnv`;
it ends when its parent closes its standard input.

Protocol, one JSON object per line: the parent writes ``{"id", "argv", "env", "cwd", "stdout",
"stderr"}`` (two files for the child's output) to the server's standard input; the server answers
on its original standard output ``{"id", "pid": N}`` once the child runs, then ``{"id",
"returncode": N}``. The id lets the parent skip the answers of a run it gave up waiting for.
Everything else the server prints goes to standard error.

This module is for tests and the demo only; the runtime provider never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import os
import signal
import sys
import threading
import traceback
from typing import IO, Any, NoReturn

#: Imported before the first fork: what every ``airflow dags test`` of these DAGs imports anyway.
PRELOAD = (
    "airflow.__main__",
    "airflow.cli.commands.dag_command",
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.providers.amazon.aws.hooks.base_aws",
    "airflow_provider_lambda_ue.operators.lambda_invoke",
    "airflow_provider_lambda_ue.hooks.lambda_invoke",
)


def _preload() -> None:
    """Import :data:`PRELOAD` and build the in-process Execution API app (older releases lack parts)."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from airflow.cli import cli_parser

    cli_parser.get_parser()
    # Every run's first query would configure the ORM's mappers (relationships, about 0.25
    # CPU-seconds): do it once here, for all of them.
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    try:
        from airflow.sdk.execution_time.supervisor import in_process_api_server
    except ImportError:
        return
    # The app, and its versioned routers, which Cadwyn generates on the first request: one request
    # here, on an event loop of its own that ends with it. The app's transport starts a thread and a
    # loop, which a fork would not carry over, so each child builds that itself.
    asyncio.run(_request(in_process_api_server().app, "/"))


async def _request(app: Any, path: str) -> None:
    """One ASGI ``GET path`` to ``app``; the answer (a 404 will do) is dropped."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


def _become_run(request: dict[str, Any], channel: int) -> NoReturn:
    """In the forked child: take the run's files, environment and argv, then run ``airflow``."""
    os.close(channel)
    os.setpgid(0, 0)  # its own group, so a timeout stops what it spawned too
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    from airflow.__main__ import main

    # As the ``airflow`` program does; SystemExit unwinds to the interpreter's normal shutdown
    # (atexit handlers, flushed streams) with nothing of this server's loop catching it.
    sys.exit(main())


def serve(commands: IO[str], channel: int) -> None:
    """Fork a run per request line until ``commands`` ends; answer on the ``channel`` descriptor."""

    def answer(message: dict[str, Any]) -> None:
        os.write(channel, (json.dumps(message) + "\n").encode())

    for line in commands:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _become_run(request, channel)
            except Exception:
                # Never back into this loop: the child would read the parent's next requests and
                # fork runs of its own, a second server on the same pipe. (SystemExit, the normal
                # end, unwinds to the interpreter's shutdown.)
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(1)
        answer({"id": request.get("id"), "pid": pid})
        _, status = os.waitpid(pid, 0)
        answer({"id": request.get("id"), "returncode": os.waitstatus_to_exitcode(status)})


def main() -> None:
    """Preload, then serve; the protocol's answers leave on the original standard output."""
    channel = os.dup(1)
    os.dup2(2, 1)  # what Airflow prints while importing must not reach the protocol
    _preload()
    # What the preload built lives as long as each child: frozen, the children's garbage
    # collections do not walk it (nor write to its pages, which the fork shares).
    gc.collect()
    gc.freeze()
    # A fork carries only the calling thread: one started while preloading could hold a lock forever.
    others = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
    if others:
        raise SystemExit(f"threads running after the preload, cannot fork safely: {others}")
    serve(sys.stdin, channel)


if __name__ == "__main__":
    main()
