"""PostgreSQL and Redis servers of their own on loopback: the production harness's database and broker.

Each is Debian's program (``postgresql``, ``redis-server``; ``scripts/bootstrap.sh`` installs them
where missing), started as a :class:`~.processes.LoggedProcess` with its data in a folder of its
own, listening on ``127.0.0.1`` only, never as the system's service. PostgreSQL refuses to run as
root: a root test run starts it as the ``postgres`` user that Debian's package creates, with its
data in a temporary folder that user owns (pytest's temporary folders are the root user's alone).

Both are tuned for throw-away data (no fsync, no snapshots): a deployment keeps the defaults.

This module is for tests and the demo only; the runtime provider never imports it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from airflow_provider_lambda_ue.testing.processes import LoggedProcess, free_port

__all__ = ["LocalPostgres", "LocalRedis", "ServiceError", "postgres_programs"]


class ServiceError(RuntimeError):
    """A server's program is missing, or it did not start (with its output)."""


def postgres_programs() -> Path:
    """
    The folder of PostgreSQL's server programs: Debian keeps them off PATH, per major version.

    :raises ServiceError: PostgreSQL is not installed.
    """
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ServiceError("PostgreSQL is not installed: apt-get install postgresql (bootstrap.sh does)")


class LocalPostgres:
    """
    A PostgreSQL server with a database ``airflow`` owned by the role ``airflow`` (trusted on loopback).

    :param directory: Its log goes here, and its data too unless the run is root's.
    :param env: The environment of its programs.
    """

    user = "airflow"
    database = "airflow"

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self.directory = Path(directory)
        self.env = dict(env)
        self.port = free_port()
        self.process: LoggedProcess | None = None
        self._owner = "postgres" if os.geteuid() == 0 else None
        self._data: Path | None = None

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        """The database's SQLAlchemy URL (``driver`` e.g. ``db+postgresql`` for Celery's results)."""
        return f"{driver}://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 60) -> LocalPostgres:
        """Create the cluster, start the server and create the database."""
        programs = postgres_programs()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._data = self._data_folder()
        self._run(programs / "initdb", "-D", str(self._data), "-U", self.user, "--auth=trust", "-E", "UTF8")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            # Throw-away data: a deployment keeps fsync and its relatives on.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            # Schedulers, triggerers, the dag-processor, the api-server, Celery's result backend:
            # each holds a pool of connections.
            "max_connections": "300",
        }
        options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        self.process = LoggedProcess(
            [str(programs / "postgres"), "-D", str(self._data), *options],
            self.directory / "postgres.log",
            self.env,
            cwd=self._data,
            user=self._owner,
        ).start()
        deadline = time.monotonic() + timeout
        isready = [str(programs / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(isready, env=self.env, check=False).returncode != 0:
            if self.process.exit_code() is not None or time.monotonic() > deadline:
                raise ServiceError(f"PostgreSQL did not start:\n{self.process.output()[-3000:]}")
            time.sleep(0.2)
        address = ["-h", "127.0.0.1", "-p", str(self.port)]
        self._run(programs / "createdb", *address, "-U", self.user, self.database)
        return self

    def _data_folder(self) -> Path:
        if self._owner is None:
            return self.directory / "data"
        folder = Path(tempfile.mkdtemp(prefix="lambda-ue-postgres-"))
        owner = pwd.getpwnam(self._owner)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        return folder

    def _run(self, *argv: str | Path) -> None:
        done = subprocess.run(
            [str(arg) for arg in argv],
            env=self.env,
            cwd=self._data,
            user=self._owner,
            group=self._owner,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            name = Path(argv[0]).name
            raise ServiceError(f"{name} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        """Stop the server (a fast shutdown) and remove a temporary data folder."""
        if self.process is not None:
            self.process.stop(signal.SIGINT, timeout=30)
        if self._owner is not None and self._data is not None:
            shutil.rmtree(self._data, ignore_errors=True)


class LocalRedis:
    """
    A Redis server (database 0 is Celery's broker), in memory only.

    :param directory: Its log and working folder.
    :param env: The environment of its program.
    """

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self.directory = Path(directory)
        self.env = dict(env)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: LoggedProcess | None = None

    def start(self, timeout: float = 30) -> LocalRedis:
        """Start the server and wait until it answers ``PING``."""
        program = shutil.which("redis-server")
        if program is None:
            raise ServiceError("Redis is not installed: apt-get install redis-server (bootstrap.sh does)")
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [program, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = LoggedProcess(argv, self.directory / "redis.log", self.env).start()
        deadline = time.monotonic() + timeout
        while not self._pong():
            if self.process.exit_code() is not None or time.monotonic() > deadline:
                raise ServiceError(f"Redis did not start:\n{self.process.output()[-3000:]}")
            time.sleep(0.1)
        return self

    def _pong(self) -> bool:
        try:
            return self.command("PING").startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *words: str) -> bytes:
        """
        Send one command (``KEYS``, ``INFO``, ...) and return Redis's raw answer, as far as one read gets.

        :param words: The command and its arguments (no spaces inside one).
        """
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            return sock.recv(65536)

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout=30)
