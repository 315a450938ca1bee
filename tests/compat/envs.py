"""One locked virtual environment per supported Airflow minor release (and Python), built with uv.

Users install Airflow with its constraint file, which pins every dependency to what was newest on
the day the release was cut. Those files live on GitHub; what the registry offers instead is each
file's upload time, so a lock here is ``uv pip compile --exclude-newer <release upload time>`` of
the package's own dependencies plus ``apache-airflow==X``: the same resolution the constraints
captured. The locks are committed under ``compat/`` (so an install is reproducible and offline
with a warm cache); the environments are built from them into ``.compat-envs/`` (ignored), and a
stamp of the lock's hash makes a second build install nothing.

Command line (from the repository root, with the main .venv's Python)::

    python -m tests.compat.envs lock    # (re)write compat/*.txt after a dependency change
    python -m tests.compat.envs build   # build every target's environment (prints each one's time)
    python -m tests.compat.envs list    # the targets, one "airflow python" line each

``LAMBDA_UE_COMPAT`` selects targets for ``build`` and the tier (e.g. ``3.0,3.3`` or
``3.1.8-py3.12``); unset means all of them.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
LOCK_DIR = REPO / "compat"
ENV_DIR = Path(os.environ.get("LAMBDA_UE_COMPAT_ENVS", REPO / ".compat-envs"))
#: Bump to rebuild every environment (a change in how they are built, not in what they hold).
BUILD_VERSION = "1"
#: The lowest amazon provider version the package claims (pyproject's floor); tested on the lowest
#: Airflow release, where a user with an older provider would be.
AMAZON_FLOOR = "9.4.0"
#: The first aiobotocore whose ``AioConfig`` takes a socket factory: below it the trigger cannot set
#: TCP keepalive timings and the operator does not defer (``async_client_problems``).
AIOBOTOCORE_DEFERRING = "3.1.0"


class CompatEnvError(Exception):
    """A lock or an environment cannot be made (the message says what to do)."""


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class Target:
    """
    One Airflow release on one Python.

    :param airflow: The Airflow version (the latest patch of a minor release).
    :param python: ``major.minor`` of the interpreter.
    :param released: The lock's cut-off (UTC): just after the release was uploaded.
    :param amazon: Pin the amazon provider to this version instead of the one of that day.
    :param upgrades: Requirements on top of the release's (a user who upgraded something).
    :param past_cutoff: Packages that may be newer than ``released`` (what ``upgrades`` needs).
    """

    airflow: str
    python: str
    released: str
    amazon: str | None = None
    upgrades: tuple[str, ...] = ()
    past_cutoff: tuple[str, ...] = ()

    @property
    def defers(self) -> bool:
        """
        Whether deferrable mode really defers here: it needs aiobotocore >= 3.1 (socket factory for
        TCP keepalive), newer than Airflow 3.0's constraints; with an older one the operator runs
        synchronously and says why.
        """
        return self.minor != "3.0" or any(r.startswith("aiobotocore") for r in self.upgrades)

    @property
    def name(self) -> str:
        """``airflow-3.0.6-py3.11``: the lock file's stem and the environment's folder."""
        return f"airflow-{self.airflow}-py{self.python}"

    @property
    def version(self) -> tuple[int, ...]:
        """The Airflow version as numbers, to compare: ``(3, 0, 6)``."""
        return _numbers(self.airflow)

    @property
    def python_version(self) -> tuple[int, ...]:
        """The Python version as numbers, to compare: ``(3, 11)``."""
        return _numbers(self.python)

    @property
    def minor(self) -> str:
        """``3.0``."""
        return ".".join(self.airflow.split(".")[:2])

    @property
    def lock_file(self) -> Path:
        return LOCK_DIR / f"{self.name}.txt"

    @property
    def venv(self) -> Path:
        return ENV_DIR / self.name

    def bin(self, program: str) -> Path:
        """A program of the environment (``airflow``, ``lambda-ue``, ``python``)."""
        return self.venv / "bin" / program


#: An hour after ``apache-airflow==X`` was uploaded: its parts (core, task SDK) follow it by minutes.
_RELEASED = {
    "3.0.6": "2025-08-29T17:00:00Z",
    "3.1.8": "2026-03-11T20:30:00Z",
    "3.2.2": "2026-05-29T06:20:00Z",
    "3.3.2": "2026-09-17T09:40:00Z",
}

#: Every minor release on 3.11 (the main suite's Python), but 3.3 there: the main suite runs Airflow
#: 3.3.2 on 3.11 itself, and 3.3.2's release-day lock runs on 3.13 below (on 3.11 the lock differs
#: only by pyyaml-ft). The other Pythons on the releases at the ends of their support (3.0 does not
#: support 3.13), which keeps the tier within its time budget.
TARGETS: tuple[Target, ...] = (
    # The lowest Airflow with the lowest amazon provider, and the aiobotocore deferral needs (and
    # the botocore it requires) so that the floor's async path is exercised too.
    Target(
        "3.0.6",
        "3.11",
        _RELEASED["3.0.6"],
        amazon=AMAZON_FLOOR,
        upgrades=(f"aiobotocore=={AIOBOTOCORE_DEFERRING}",),
        past_cutoff=("aiobotocore", "botocore", "boto3", "s3transfer"),
    ),
    Target("3.1.8", "3.11", _RELEASED["3.1.8"]),
    Target("3.2.2", "3.11", _RELEASED["3.2.2"]),
    # Airflow 3.0 exactly as its constraints pin it: deferrable mode runs synchronously there.
    Target("3.0.6", "3.10", _RELEASED["3.0.6"]),
    Target("3.1.8", "3.12", _RELEASED["3.1.8"]),
    Target("3.3.2", "3.13", _RELEASED["3.3.2"]),
)


def selected(spec: str | None = None) -> list[Target]:
    """
    The targets ``LAMBDA_UE_COMPAT`` (or ``spec``) names; all of them when it is unset or empty.

    :param spec: Comma-separated ``3.1``, ``3.1.8`` or ``3.1.8-py3.12`` (``airflow-`` optional).
    """
    spec = os.environ.get("LAMBDA_UE_COMPAT", "") if spec is None else spec
    wanted = [part.strip().removeprefix("airflow-") for part in spec.split(",") if part.strip()]
    if not wanted:
        return list(TARGETS)
    chosen = [
        target
        for target in TARGETS
        if any(w in (target.minor, target.airflow, target.name.removeprefix("airflow-")) for w in wanted)
    ]
    if not chosen:
        raise CompatEnvError(f"LAMBDA_UE_COMPAT={spec!r} names no target; known: {[t.name for t in TARGETS]}")
    return chosen


def uv() -> str:
    """The uv next to this Python (the main .venv has it), else the one on PATH."""
    local = Path(sys.executable).with_name("uv")
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise CompatEnvError("uv not found: run scripts/bootstrap.sh")
    return found


def interpreter(python: str) -> str:
    """
    The interpreter for ``major.minor``: ``LAMBDA_UE_PYTHON_3_12`` if set, else pyenv's newest patch.

    pyenv's shims only answer for the global version, so the versions folder is searched directly.
    """
    override = os.environ.get(f"LAMBDA_UE_PYTHON_{python.replace('.', '_')}")
    if override:
        return override
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(
        glob.glob(f"{root}/versions/{python}.*/bin/python{python}"),
        key=lambda path: [int(part) for part in Path(path).parents[1].name.split(".") if part.isdigit()],
    )
    if candidates:
        return candidates[-1]
    found = shutil.which(f"python{python}")
    if found:
        return found
    raise CompatEnvError(f"no Python {python}: set LAMBDA_UE_PYTHON_{python.replace('.', '_')}")


def lock_inputs(target: Target) -> str:
    """
    The requirements a lock resolves: the package's own (with ``deferrable``) and the release.

    Read from the installed package's metadata (bootstrap.sh reinstalls it when pyproject changes).
    """
    lines = []
    for text in requires("airflow-provider-lambda-ue") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or (
            marker.evaluate({"extra": "deferrable"}) and not marker.evaluate({"extra": ""})
        ):
            requirement.marker = None
            lines.append(str(requirement))
    lines.append(f"apache-airflow=={target.airflow}")
    if target.amazon:
        lines.append(f"apache-airflow-providers-amazon=={target.amazon}")
    lines.extend(target.upgrades)
    return "\n".join(lines) + "\n"


def inputs_digest(target: Target) -> str:
    """What a lock was made from; a lock whose digest differs is stale."""
    text = f"{lock_inputs(target)}{target.python}\n{target.released}\n{target.past_cutoff}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_DIGEST_PREFIX = "# lock inputs: "
_NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def lock(target: Target) -> Path:
    """Write ``compat/<target>.txt``: the resolution as of the release's upload time."""
    LOCK_DIR.mkdir(exist_ok=True)
    resolved = subprocess.run(
        [
            uv(),
            "pip",
            "compile",
            "-",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--python-version",
            target.python,
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--exclude-newer",
            target.released,
            *(f"--exclude-newer-package={name}={_NOW}" for name in target.past_cutoff),
        ],
        input=lock_inputs(target),
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        raise CompatEnvError(f"{target.name}: uv pip compile failed:\n{resolved.stderr}")
    header = (
        f"# Airflow {target.airflow} on Python {target.python}, resolved as of {target.released}\n"
        f"# (the release's upload time: what its constraint file pinned). Written by\n"
        f"# `python -m tests.compat.envs lock`; do not edit.\n"
    )
    if target.upgrades:
        header += (
            f"# On top of the release: {', '.join(target.upgrades)}; newer than the cut-off"
            f" (as of {_NOW}): {', '.join(target.past_cutoff)}.\n"
        )
    header += f"{_DIGEST_PREFIX}{inputs_digest(target)}\n"
    target.lock_file.write_text(header + resolved.stdout, encoding="utf-8")
    return target.lock_file


def check_lock(target: Target) -> None:
    """Fail if the target's lock is missing or was made from other inputs than today's pyproject."""
    if not target.lock_file.exists():
        raise CompatEnvError(f"{target.lock_file} is missing: run `python -m tests.compat.envs lock`")
    digest = next(
        (
            line.removeprefix(_DIGEST_PREFIX).strip()
            for line in target.lock_file.read_text(encoding="utf-8").splitlines()
            if line.startswith(_DIGEST_PREFIX)
        ),
        None,
    )
    if digest != inputs_digest(target):
        raise CompatEnvError(
            f"{target.lock_file.name} is stale (pyproject's dependencies changed): "
            "run `python -m tests.compat.envs lock`"
        )


@dataclass
class Built:
    """An environment ready for use, and what building it cost."""

    target: Target
    seconds: float
    installed: bool


def _digest(*paths: Path) -> str:
    sha = hashlib.sha256(BUILD_VERSION.encode())
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def _digest_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def build(target: Target) -> Built:
    """
    Build (or reuse) the target's environment: the lock synced exactly, then this package editable.

    Two stamps: the lock's (a new lock rebuilds the environment) and pyproject's (only this
    package is reinstalled, for its entry points). Bytecode is compiled at install time because
    these machines set PYTHONDONTWRITEBYTECODE and every ``airflow`` run would compile again.
    """
    check_lock(target)
    start = time.monotonic()
    installed = False
    env = {**os.environ, "VIRTUAL_ENV": str(target.venv)}
    env.pop("PYTHONPATH", None)
    lock_stamp = target.venv / f".lock-{_digest(target.lock_file)}"
    if not lock_stamp.exists():
        if target.venv.exists():
            shutil.rmtree(target.venv)
        ENV_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [uv(), "venv", "--quiet", "--python", interpreter(target.python), str(target.venv)],
            check=True,
            env=env,
        )
        subprocess.run(
            [uv(), "pip", "sync", "--quiet", "--compile-bytecode", str(target.lock_file)],
            check=True,
            env=env,
        )
        lock_stamp.touch()
        installed = True
    # The editable install points at this checkout: another clone sharing the folder reinstalls it.
    package_stamp = target.venv / f".package-{_digest(REPO / 'pyproject.toml')}-{_digest_text(str(REPO))}"
    if not package_stamp.exists():
        for old in target.venv.glob(".package-*"):
            old.unlink()
        subprocess.run(
            [
                uv(),
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--reinstall-package",
                "airflow-provider-lambda-ue",
                "-e",
                str(REPO),
            ],
            check=True,
            env=env,
        )
        package_stamp.touch()
        installed = True
    return Built(target, time.monotonic() - start, installed)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``lock``, ``build`` or ``list``."""
    parser = argparse.ArgumentParser(prog="python -m tests.compat.envs", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("lock", "build", "list"))
    args = parser.parse_args(argv)
    try:
        targets = selected()
    except CompatEnvError as err:
        print(err, file=sys.stderr)
        return 2
    for target in targets:
        if args.command == "list":
            print(target.airflow, target.python)
        elif args.command == "lock":
            try:
                print(f"locked {lock(target).relative_to(REPO)}", flush=True)
            except CompatEnvError as err:
                print(err, file=sys.stderr)
                return 1
        else:
            try:
                built = build(target)
            except CompatEnvError as err:
                print(f"compat env {target.name}: {err}", file=sys.stderr)
                return 1
            what = "built" if built.installed else "up to date"
            print(f"compat env {target.name}: {what} in {built.seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
