"""Fixtures of the compatibility tier, and its per-target summary at the end of the run.

``compat_target``
    Session-scoped and parametrized over the selected targets (``LAMBDA_UE_COMPAT``, see
    :mod:`tests.compat.envs`): pytest runs every test of one target before building the next,
    and under pytest-xdist (``--dist loadgroup``) all of one target's tests go to one worker.
``compat_env``
    The target's environment (built or reused, see :func:`tests.compat.envs.build`) and an
    AIRFLOW_HOME migrated by that environment's ``airflow``, whose DAG folder is ``example_dags``.

The local Lambda endpoint is the main suite's session-scoped ``local_lambda``: one for all targets.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv, create_airflow_env
from tests.compat import envs
from tests.compat.envs import Target

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"


@dataclass
class CompatEnv:
    """A built target: its programs, a migrated Airflow home and a copy of its new database."""

    target: Target
    airflow_env: AirflowEnv
    #: The home's SQLite database as ``airflow db migrate`` left it, before any run: a live
    #: Airflow of the target starts from a copy instead of migrating again.
    migrated_database: Path

    @property
    def lambda_ue(self) -> str:
        return str(self.target.bin("lambda-ue"))

    @property
    def airflow(self) -> str:
        return str(self.target.bin("airflow"))

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this environment's programs first on PATH (Airflow may start ``airflow``)."""
        return {
            **base,
            "PATH": f"{self.target.venv / 'bin'}{os.pathsep}{base.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.target.venv),
        }


@dataclass
class _Timing:
    build: float = 0.0
    migrate: float = 0.0
    installed: bool = False
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0


#: Set-up times of the targets this process built (a worker's, or the only process's).
_TIMINGS: dict[str, _Timing] = {}
#: What the summary reports: built from the test reports, so that it sees every worker's.
_SUMMARY: dict[str, _Timing] = {}
_PROPERTY = "compat_target"


# Each target's tests on one worker under ``--dist loadgroup``: they share its environment and home.
# The mark rides on the parameter, so it is there when xdist reads the marks into node ids.
# xdist hands the targets out in this order, each to the first worker nearly done with its last:
# the newest releases and Pythons first, since they take longest (in every run measured, 3.3 on
# 3.13 took the longest and a 3.0 target the shortest), so that no long target is what the tier
# waits for at its end.
@pytest.fixture(
    scope="session",
    params=[
        pytest.param(target, marks=pytest.mark.xdist_group(target.name), id=target.name)
        for target in sorted(envs.selected(), key=lambda t: (t.version, t.python_version), reverse=True)
    ],
)
def compat_target(request: pytest.FixtureRequest) -> Target:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def compat_env(compat_target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatEnv]:
    timing = _TIMINGS.setdefault(compat_target.name, _Timing())
    built = envs.build(compat_target)
    timing.build, timing.installed = built.seconds, built.installed
    start = time.monotonic()
    home = tmp_path_factory.mktemp(f"home-{compat_target.name}")
    airflow = str(compat_target.bin("airflow"))
    airflow_env = create_airflow_env(home, EXAMPLE_DAGS, extra_pythonpath=REPO, airflow=airflow)
    migrated = tmp_path_factory.mktemp(f"migrated-{compat_target.name}") / "airflow.db"
    shutil.copy2(home / "airflow.db", migrated)
    env = CompatEnv(compat_target, airflow_env, migrated)
    airflow_env.env.update(env.environment(airflow_env.env))
    timing.migrate = time.monotonic() - start
    yield env


def _target_of(item: pytest.Item) -> Target | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("compat_target") if callspec else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Tag each report with its target and that target's set-up times: under xdist the summary
    is written by the controller, which sees reports but not the workers' fixtures."""
    outcome = yield
    report = outcome.get_result()
    target = _target_of(item)
    if target is None:
        return
    timing = _TIMINGS.get(target.name, _Timing())
    report.user_properties.append(
        (
            _PROPERTY,
            {
                "target": target.name,
                "build": timing.build,
                "migrate": timing.migrate,
                "installed": timing.installed,
            },
        )
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the controller writes the summary
        return
    tags = [value for name, value in report.user_properties if name == _PROPERTY]
    if not tags:
        return
    tag = tags[-1]
    timing = _SUMMARY.setdefault(tag["target"], _Timing())
    timing.build = max(timing.build, tag["build"])
    timing.migrate = max(timing.migrate, tag["migrate"])
    timing.installed = timing.installed or tag["installed"]
    timing.seconds += report.duration
    if report.when == "call" or report.outcome != "passed":
        timing.outcomes[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per target: what passed, and how long building, migrating and testing took."""
    if not _SUMMARY:
        return
    terminalreporter.section("compatibility tier")
    by_name = {target.name: target for target in envs.TARGETS}
    order = [target.name for target in envs.TARGETS]
    for name, timing in sorted(_SUMMARY.items(), key=lambda item: order.index(item[0])):
        target = by_name[name]
        counts = ", ".join(f"{count} {what}" for what, count in sorted(timing.outcomes.items()))
        green = "GREEN" if set(timing.outcomes) == {"passed"} else "RED"
        pins = ([f"amazon provider {target.amazon}"] if target.amazon else []) + list(target.upgrades)
        amazon = f" ({', '.join(pins)})" if pins else ""
        build = f"built in {timing.build:.0f} s" if timing.installed else "env reused"
        terminalreporter.write_line(
            f"{green:5} Airflow {target.airflow} / Python {target.python}{amazon}: {counts or 'no test'} "
            f"in {timing.seconds:.0f} s ({build}, db migrate {timing.migrate:.0f} s)"
        )
