"""The test suite's own layout: test modules by kind, shared code in ``tests/support``, and a fast tier
that stays fast (``tests/unit/conftest.py``)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.imports import imported_from
from tests.unit.conftest import SlowTierOnly

TESTS = Path(__file__).resolve().parents[1]


def _test_modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def test_no_test_module_imports_another_test_module() -> None:
    modules = _test_modules()
    names = {_module_name(path) for path in modules}
    assert "tests.unit.test_layout" in names  # the walk found this very file
    offenders = {}
    for path in modules:
        package = _module_name(path).rpartition(".")[0]
        found = imported_from(path.read_text(encoding="utf-8"), package) & names
        if found:
            offenders[_module_name(path)] = sorted(found)
    assert offenders == {}


def test_the_import_check_sees_every_spelling_of_a_cross_import() -> None:
    source = "import tests.e2e.test_cli\nfrom tests.wire import test_trigger\nfrom . import test_output\n"
    imported = imported_from(source, "tests.unit")
    assert {"tests.e2e.test_cli", "tests.wire.test_trigger", "tests.unit.test_output"} <= imported


def test_every_test_module_sits_in_a_directory_of_its_kind() -> None:
    """No test module directly under ``tests/``; shared code in ``tests/support`` holds no test."""
    assert [p.name for p in TESTS.glob("test_*.py")] == []
    assert [p.name for p in (TESTS / "support").rglob("test_*.py")] == []
    kinds = {path.relative_to(TESTS).parts[0] for path in _test_modules()}
    assert {"unit", "wire", "e2e"} <= kinds


def test_fast_tier_refuses_a_subprocess() -> None:
    with pytest.raises(SlowTierOnly, match="subprocess"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_fast_tier_refuses_a_listening_socket() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        with pytest.raises(SlowTierOnly, match="listen"):
            server.listen()


def test_fast_tier_refuses_an_asyncio_server() -> None:
    async def start() -> None:
        await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)

    with pytest.raises(SlowTierOnly, match="listen"):
        asyncio.run(start())


def test_the_long_tests_handed_out_first_exist() -> None:
    """``tests/conftest.py`` names the long end-to-end tests; a rename must not drop one silently."""
    from tests.conftest import LONG_E2E

    for prefix in LONG_E2E:
        path, _, name = prefix.partition("::")
        source = (TESTS.parent / path).read_text(encoding="utf-8")
        assert not name or f"def {name}(" in source, prefix
        assert name or "def test_" in source, prefix
