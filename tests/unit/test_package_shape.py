"""The package's shape (issue 26): no import cycle, modules of at most 400 lines, functions of at most 60.

Every module and every function of ``airflow_provider_lambda_ue`` (``testing/`` included) is a case
of its own, so an offender fails under its own name - ``test_module_in_no_import_cycle[<module>]``,
``test_module_at_most_400_lines[<path>]``, ``test_function_at_most_60_lines[<path>::<function>]`` -
and its fix shows as that case passing. The package is read with ``ast``; nothing of it is imported.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.imports import imported_from

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "airflow_provider_lambda_ue"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _module_paths() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, not ``__init__``)."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _import_graph(sources: Mapping[str, str], packages: set[str]) -> dict[str, set[str]]:
    """
    Which modules of ``sources`` each one imports (imports anywhere in it, see :func:`imported_from`).

    ``from pkg import sub`` in a module of ``pkg`` counts as importing ``pkg`` too: it reads the
    package's namespace, so a package ``__init__`` that re-exports its modules would be in a cycle
    with such a module.

    :param sources: Each module's source by dotted name.
    :param packages: The names in ``sources`` that are packages (their ``__init__``).
    """
    graph = {}
    for name, source in sources.items():
        package = name if name in packages else name.rpartition(".")[0]
        graph[name] = (imported_from(source, package) & sources.keys()) - {name}
    return graph


def _shortest_cycle(graph: Mapping[str, set[str]], start: str) -> list[str] | None:
    """The shortest import path from ``start`` back to itself (a breadth-first walk), None without one."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for imported in sorted(graph[current]):
            if imported == start:
                path = [current]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if imported not in came_from:
                came_from[imported] = current
                queue.append(imported)
    return None


def _functions(
    node: ast.AST, prefix: str = ""
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method below ``node``, qualified (``Class.method``, ``outer.inner``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not isinstance(child, ast.ClassDef):
                yield f"{prefix}{child.name}", child
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


MODULES = _module_paths()
SOURCES = {name: path.read_text(encoding="utf-8") for name, path in MODULES.items()}
GRAPH = _import_graph(SOURCES, {name for name, path in MODULES.items() if path.name == "__init__.py"})


def _relative(name: str) -> str:
    return MODULES[name].relative_to(PACKAGE_DIR).as_posix()


#: ``(path::function, its length in lines)``, the length measured as ``scripts/code_shape.py`` does.
FUNCTIONS = [
    (f"{_relative(name)}::{qualified}", (function.end_lineno or function.lineno) - function.lineno + 1)
    for name, source in SOURCES.items()
    for qualified, function in _functions(ast.parse(source))
]


def test_the_walk_sees_the_whole_package() -> None:
    assert {
        "airflow_provider_lambda_ue",
        "airflow_provider_lambda_ue.cli",
        "airflow_provider_lambda_ue.hooks.invoker",
        "airflow_provider_lambda_ue.testing.local_lambda",
        "airflow_provider_lambda_ue.testing.local_lambda.client",
    } <= MODULES.keys()
    assert (
        "airflow_provider_lambda_ue.testing.local_lambda.client"
        in GRAPH["airflow_provider_lambda_ue.testing.local_lambda"]
    )
    assert "__init__.py::get_provider_info" in dict(FUNCTIONS)


def test_the_cycle_check_sees_every_spelling_of_an_import() -> None:
    """A package ``__init__`` re-exports a module that reads the package back from inside a function."""
    sources = {
        "pkg": "from pkg.a import thing\n",
        "pkg.a": "def later():\n    from pkg.b import other\n",
        "pkg.b": "from pkg import c\n",
        "pkg.c": "import os\n",
        "pkg.d": "import pkg.c\n",
    }
    graph = _import_graph(sources, {"pkg"})
    assert graph["pkg.b"] == {"pkg", "pkg.c"}
    assert _shortest_cycle(graph, "pkg.a") == ["pkg.a", "pkg.b", "pkg", "pkg.a"]
    assert _shortest_cycle(graph, "pkg.c") is None
    assert _shortest_cycle(graph, "pkg.d") is None


def test_function_names_are_qualified() -> None:
    source = "class A:\n    def f(self):\n        def g():\n            pass\nasync def h():\n    pass\n"
    assert [name for name, _ in _functions(ast.parse(source))] == ["A.f", "A.f.g", "h"]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_module_in_no_import_cycle(module: str) -> None:
    cycle = _shortest_cycle(GRAPH, module)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


#: ``(path, its length in lines)``.
MODULE_LINES = sorted((_relative(name), len(source.splitlines())) for name, source in SOURCES.items())


@pytest.mark.parametrize(("module", "lines"), MODULE_LINES, ids=[where for where, _ in MODULE_LINES])
def test_module_at_most_400_lines(module: str, lines: int) -> None:
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines"


@pytest.mark.parametrize(("function", "lines"), FUNCTIONS, ids=[where for where, _ in FUNCTIONS])
def test_function_at_most_60_lines(function: str, lines: int) -> None:
    assert lines <= MAX_FUNCTION_LINES, f"{function} has {lines} lines"
