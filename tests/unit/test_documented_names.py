"""Every name the docs give is proven by a test that sets it and observes its effect.

The names: every environment variable (``AWS_...``, ``AIRFLOW__...``, ``LAMBDA_UE_...``), Airflow
configuration key (``[section] key``, the same as its ``AIRFLOW__SECTION__KEY`` variable), option
(``--...``) and connection extra (``{extra}`name``` in a page, or a key of an ``"extra"`` object in
a block) that README.md or a page of docs/ names, the tables generated from the code included.

The proofs: tests marked ``@pytest.mark.proves("NAME", ...)`` (registered in tests/conftest.py).
A reviewer reads the mark next to the test that sets the name and asserts what it does; this
module checks that every documented name has one, and that each marked test's own source (its
body and its other decorators) spells the name it claims, so a mark cannot drift from its test.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))

ENV = re.compile(
    r"(?<![\w$])(?:(?:AWS|LAMBDA_UE)_[A-Z0-9_]*[A-Z0-9]|AIRFLOW__[A-Z0-9]+(?:_[A-Z0-9]+)*__[A-Z0-9_]*[A-Z0-9])\b"
)
CONFIG = re.compile(r"`\[(\w+)\] (\w+)`")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?![\w-])")
EXTRA_ROLE = re.compile(r"\{extra\}`([\w.]+)`")
EXTRA_OBJECT = re.compile(r'"extra": \{([^{}]*)\}')
#: ```{literalinclude} PATH with its :start-after: and :end-before: markers: the code a page shows.
INCLUDE = re.compile(
    r'^```\{literalinclude\} (\S+)\n(?:.*\n)*?:start-after: "(.+)"\n:end-before: "(.+)"\n', re.M
)
JSON_KEY = re.compile(r'"(\w+)":')


def generated_text() -> str:
    """What the pages' generated tables say (docs/_ext/lambda_ue_docs.py reads it from the code)."""
    sys.path.insert(0, str(REPO / "docs" / "_ext"))
    try:
        import lambda_ue_docs
    finally:
        sys.path.remove(str(REPO / "docs" / "_ext"))
    return lambda_ue_docs.generated_text()


def names_in(text: str) -> set[str]:
    """Every documented name of ``text``, config keys as their ``AIRFLOW__`` variable."""
    found = set(ENV.findall(text)) | set(OPTION.findall(text)) | set(EXTRA_ROLE.findall(text))
    found |= {f"AIRFLOW__{section.upper()}__{key.upper()}" for section, key in CONFIG.findall(text)}
    for body in EXTRA_OBJECT.findall(text):
        found |= set(JSON_KEY.findall(body))
    return found


def included(page: Path) -> dict[str, str]:
    """The code a page includes from files (literalinclude, between its markers), by file."""
    shown = {}
    for path, start, end in INCLUDE.findall(page.read_text(encoding="utf-8")):
        text = (page.parent / path).read_text(encoding="utf-8")
        assert start in text and end in text, f"{page.name}: {path} has no {start!r} ... {end!r}"
        shown[path] = text.split(start, 1)[1].split(end, 1)[0]
    return shown


def documented() -> dict[str, list[str]]:
    """Name -> where the docs give it (page:line, an included file, or the generated tables)."""
    where: dict[str, list[str]] = {}
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for name in names_in(line):
                where.setdefault(name, []).append(f"{page.relative_to(REPO)}:{number}")
        for path, code in included(page).items():
            for name in names_in(code):
                where.setdefault(name, []).append(f"{page.relative_to(REPO)} (includes {path})")
    for name in names_in(generated_text()):
        where.setdefault(name, []).append("docs' generated tables")
    return where


@dataclass(frozen=True)
class Proof:
    test: str  # path::name
    names: tuple[str, ...]
    #: The test's source without its proves mark, and the module's definitions it uses (its
    #: fixtures, constants and helpers, two references deep): where it sets what it claims.
    source: str


def _is_proves(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func).endswith("mark.proves")


def _referenced(nodes: list[ast.AST]) -> set[str]:
    """The names ``nodes`` use, parameters (fixtures) included."""
    found: set[str] = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.arg):
                found.add(node.arg)
    return found


def _definitions(tree: ast.Module, source: str) -> dict[str, tuple[ast.AST, str]]:
    """The module's top-level functions and assignments, by name: their node and source."""
    found: dict[str, tuple[ast.AST, str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = (node, ast.get_source_segment(source, node) or "")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = (node, ast.get_source_segment(source, node) or "")
    return found


def proofs() -> Iterator[Proof]:
    """Every test marked ``proves``, with the names it claims."""
    for path in sorted(TESTS.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "mark.proves(" not in source:
            continue
        tree = ast.parse(source)
        definitions = _definitions(tree, source)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            marks = [d for d in node.decorator_list if _is_proves(d)]
            if not marks:
                continue
            names = tuple(
                str(arg.value) for mark in marks for arg in mark.args if isinstance(arg, ast.Constant)
            )
            kept: list[ast.AST] = [d for d in node.decorator_list if not _is_proves(d)]
            parts = [ast.get_source_segment(source, d) or "" for d in kept]
            parts += [ast.get_source_segment(source, statement) or "" for statement in node.body]
            frontier: list[ast.AST] = [*kept, node.args, *node.body]
            seen = {node.name}
            for _ in range(2):
                used = _referenced(frontier) - seen
                seen |= used
                frontier = [definitions[name][0] for name in used if name in definitions]
                parts += [definitions[name][1] for name in used if name in definitions]
            yield Proof(f"{path.relative_to(REPO)}::{node.name}", names, "\n".join(parts))


def spelled(name: str, source: str) -> bool:
    """Whether a test's source sets ``name``: the name itself, or each part of a dotted extra."""
    if name.startswith("AIRFLOW__"):
        _, section, key = name.split("__", 2)
        return name in source or (f'"{section.lower()}"' in source and f'"{key.lower()}"' in source)
    return all(part in source for part in name.split("."))


def test_every_documented_name_is_proven_by_a_test() -> None:
    where = documented()
    claimed: dict[str, list[str]] = {}
    for proof in proofs():
        for name in proof.names:
            claimed.setdefault(name, []).append(proof.test)
    unproven = {name: places for name, places in sorted(where.items()) if name not in claimed}
    assert not unproven, "documented names that no test proves (@pytest.mark.proves):\n" + "\n".join(
        f"  {name}: {', '.join(places[:3])}" for name, places in unproven.items()
    )


def test_each_proof_spells_the_names_it_claims() -> None:
    found = list(proofs())
    assert found, "no test is marked proves"
    wrong = [(p.test, name) for p in found for name in p.names if not spelled(name, p.source)]
    assert not wrong, f"marked tests whose source never sets the name they claim: {wrong}"


def test_included_code_is_read_between_its_markers() -> None:
    operator_page = REPO / "docs" / "operator.md"
    shown = included(operator_page)
    assert "../example_dags/example_lambda_sync_tail.py" in shown
    assert "LAMBDA_UE_ENDPOINT_URL" in shown["../example_dags/example_lambda_sync_tail.py"]
    assert all("[START" not in code and "from airflow" not in code for code in shown.values())


def test_the_extraction_finds_each_kind_of_name() -> None:
    text = (
        "Set `AWS_ENDPOINT_URL_STS` or `AIRFLOW__CORE__DAGS_FOLDER`, `[operators] default_deferrable`, "
        "`LAMBDA_UE_PROXY_USER`, `lambda-ue invoke --full-log-timeout 10 --no-fail-on-function-error`, "
        '{extra}`service_config.sts.endpoint_url`, "extra": {"region_name": "eu-west-1"}; '
        "not `$AWS_X`, `LAMBDA_UE_*`, `--no-...`, a -- dash or `-W`."
    )
    assert names_in(text) == {
        "AWS_ENDPOINT_URL_STS",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE",
        "LAMBDA_UE_PROXY_USER",
        "--full-log-timeout",
        "--no-fail-on-function-error",
        "service_config.sts.endpoint_url",
        "region_name",
    }
    assert spelled("service_config.sts.endpoint_url", 'service_config={"sts": {"endpoint_url": url}}')
    assert spelled(
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", 'conf_vars({("operators", "default_deferrable"): "True"})'
    )
    assert not spelled("--payload", "run(['--function-name', name])")
