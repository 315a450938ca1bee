"""Shared pytest configuration: fixture plugin modules, and the xdist groups that share a server.

Under ``--dist loadgroup`` (scripts/test.sh) the tests of one ``xdist_group`` run on one worker, so
a session-scoped server they all use starts once instead of once per worker:

* ``airflow-dags``: every test that runs ``airflow dags test`` (it uses ``airflow_env``), so that
  the two homes' fork servers, which import Airflow once each, serve all of their runs;
* ``production``: the production tier (tests/production), sharing one deployment (PostgreSQL,
  Celery, two schedulers, two triggerers). Its modules run in the order of their file names: those
  whose runs share the deployment (``test_batch_*``), then the shape and the secret search
  through every log, then the one that stalls a triggerer (``test_when_a_heartbeat_lapses.py``),
  last the one that kills a host (``test_when_a_host_dies.py``).

A module may declare a group of its own for a costly module-scoped fixture that its tests share
(``deferrable-iam``: an IAM-enforcing endpoint; ``imports``: the import probe). Ungrouped tests
are handed out in the order of :func:`_queue_rank`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.proxies",
    "tests.support.fake_servers",
    "tests.support.local_lambda",
    "tests.support.airflow_env",
    "tests.support.fault_lab",
]

PRODUCTION = Path(__file__).parent / "production"
E2E = Path(__file__).parent / "e2e"
#: End-to-end tests of a minute or more: the first end-to-end tests handed out, so that none of
#: them is what the run still waits for at its end.
LONG_E2E = (
    "tests/e2e/test_benchmarks_smoke.py::",
    "tests/e2e/test_release.py::test_getting_started_from_the_built_wheel",
    "tests/e2e/test_docs_examples.py::test_live_demo",
    "tests/e2e/test_demo_production.py::",
    "tests/e2e/test_docs_examples.py::test_shell_script_case_example",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers of this suite."""
    config.addinivalue_line(
        "markers",
        "proves(*names): the test sets each documented name (environment variable, option, connection "
        "extra) and asserts its effect; tests/unit/test_documented_names.py requires one for every name "
        "the docs give",
    )


def _group(item: pytest.Item) -> str | None:
    if item.path.is_relative_to(PRODUCTION):
        return "production"
    if "airflow_env" in getattr(item, "fixturenames", ()):
        return "airflow-dags"
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the marks into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each item with its group; order the queue that xdist hands out."""
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_queue_rank)


def _queue_rank(item: pytest.Item) -> int:
    """
    Where a test goes in the order xdist hands tests out (the groups go first, largest first).

    The groups (the production deployment, ``airflow dags test`` runs) keep both cores busy for most
    of the run, while the other tests go to the workers left. The wire and unit tests go there
    first: they mostly wait (timeouts, retries, servers' delays) and leave the cores to the groups. The
    end-to-end tests, whose subprocesses want the CPU, come last, when the groups are done and
    every worker takes them: the cores stay busy to the end instead of idling under waiting tests.
    """
    if not item.path.is_relative_to(E2E):
        return 0
    return 1 if item.nodeid.startswith(LONG_E2E) else 2


#: Tests run since the last :func:`gc.freeze` (a list: the hooks share it).
_unfrozen_tests = [0]
#: Within a module, freeze again after this many tests.
REFREEZE_EVERY = 10


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """
    Freeze what collection imported; then fail if xdist ignored the groups.

    ``gc.freeze()``: the tests collect garbage on purpose (a dropped client's pooled connections
    close only then, and proxy.py logs a connection once it is closed), and a full collection of a
    heap holding Airflow, botocore and moto's client takes about 0.2 CPU-seconds, hundreds of times
    per worker. Objects that exist now (modules, classes, the test items) are never garbage; frozen,
    collections walk only what the tests create. :func:`pytest_runtest_teardown` freezes again as
    the tests go on.

    A group that xdist did not apply would start its servers on every worker.
    """
    gc.collect()
    gc.freeze()
    _unfrozen_tests[0] = 0
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(
            f"--dist loadgroup ignored the xdist_group of {len(lost)} tests (e.g. {lost[0]}): "
            "this pytest and pytest-xdist do not work together (see pyproject.toml)"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """
    After a test's teardown, now and then collect what it left and freeze what survives.

    What the tests create and keep for longer (session and module fixtures: servers, clients,
    modules imported on first use) grows the heap that each explicit collection walks: a worker
    running wire tests spent about 45% of its CPU time collecting garbage. Frozen again after each
    module and every :data:`REFREEZE_EVERY` tests, it spends about 15% (eight wire modules, 253
    tests, in one process: 39.7 -> 26.4 CPU-seconds). After a module's last test its module
    fixtures are gone, and only what the session keeps is frozen; within a module, its fixtures
    are frozen too. A frozen object is never collected, so a module fixture that ends in a
    reference cycle stays in memory until the worker exits; its servers are stopped explicitly all
    the same.
    """
    yield
    _unfrozen_tests[0] += 1
    if (
        nextitem is None
        or getattr(nextitem, "module", None) is not getattr(item, "module", None)
        or _unfrozen_tests[0] >= REFREEZE_EVERY
    ):
        gc.collect()
        gc.freeze()
        _unfrozen_tests[0] = 0
