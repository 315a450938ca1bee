"""
The docs' generated tables: read from the code at build time, never retyped in a page.

A page asks for a table with the ``lambda-ue-table`` directive (MyST: a fence ``{lambda-ue-table}``
whose argument is ``fields``, ``seed-fields``, ``outcomes`` or ``cli``) and ``{extra}`name``` marks
a connection extra (rendered as code; ``tests/unit/test_documented_names.py`` collects them).

Each table is two steps: a *source* function that returns the specification's objects, and a
*render* function that turns them into a Markdown table. The sources are where the code's
interface is read:

* :func:`field_specs`: the field specification, ``airflow_provider_lambda_ue.fields.FIELDS``;
* :func:`outcome_specs`: the exit-code table, ``airflow_provider_lambda_ue.outcomes.OUTCOMES``;
* :func:`deferral_rules`: the deferral rule's reasons, ``airflow_provider_lambda_ue.deferral.RULES``;
* :func:`cli_parser`: ``airflow_provider_lambda_ue.cli.build_parser()``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# ---------------------------------------------------------------------------------------------
# Sources: the one place each table reads the code
# ---------------------------------------------------------------------------------------------


def field_specs() -> Sequence[Any]:
    """The field specification, in document order (``airflow_provider_lambda_ue.fields.FIELDS``)."""
    from airflow_provider_lambda_ue.fields import FIELDS

    return FIELDS


def outcome_specs() -> Sequence[Any]:
    """The exit-code table, in exit-code order (``airflow_provider_lambda_ue.outcomes.OUTCOMES``)."""
    from airflow_provider_lambda_ue.outcomes import OUTCOMES

    return OUTCOMES


def deferral_rules() -> Sequence[Any]:
    """The deferral rule's reasons (``airflow_provider_lambda_ue.deferral.RULES``)."""
    from airflow_provider_lambda_ue.deferral import RULES

    return RULES


def cli_parser() -> argparse.ArgumentParser:
    """The ``lambda-ue`` parser: the command-line page is generated from it."""
    from airflow_provider_lambda_ue.cli import build_parser

    return build_parser()


def _invoke_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    invoke: argparse.ArgumentParser = commands.choices["invoke"]
    return invoke


# ---------------------------------------------------------------------------------------------
# Render: Markdown tables from the specifications
# ---------------------------------------------------------------------------------------------


def _code(value: Any) -> str:
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rst_to_md(text: str) -> str:
    """Docstring markup in a table cell: ``x`` -> `x`, roles dropped."""
    text = re.sub(r":\w+:`~?\.?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _default(spec: Any) -> str:
    """A field's default as Python spells it; a required field without one says so."""
    return "required" if spec.required and spec.default is None else _code(repr(spec.default))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fields_table(specs: Sequence[Any]) -> str:
    """The fields reference: every field, its default, its names elsewhere, what it does."""
    rows = []
    for spec in specs:
        elsewhere = [
            f"Invoke {_code(spec.api)}" if spec.api else "",
            ("document " + ", ".join(_code(key) for key in spec.document)) if spec.document else "",
            f"option {_code(spec.cli_option)}" if spec.cli_option else "",
        ]
        rows.append(
            [
                _code(spec.name) + (" (templated)" if spec.templated else ""),
                _default(spec),
                spec.seed or "(beyond the seed)",
                "; ".join(part for part in elsewhere if part),
                _rst_to_md(spec.summary),
            ]
        )
    return _table(["parameter", "default", "seed field", "also", "what it does"], rows)


def seed_fields_table(specs: Sequence[Any]) -> str:
    """The seed's fields, each with the parameter, option and document key it became."""
    rows = [
        [
            spec.seed,
            _code(spec.name),
            _code(spec.cli_option) if spec.cli_option else "(implied, see the command line)",
            ", ".join(_code(key) for key in spec.document),
        ]
        for spec in specs
        if spec.seed
    ]
    return _table(["Stonebranch field", "parameter", "`lambda-ue invoke`", "`invocation.fields`"], rows)


def outcomes_table(specs: Sequence[Any]) -> str:
    """Every exit code: status, the seed's wording, the exception, whether Airflow retries it."""
    rows = [
        [
            str(spec.exit_code),
            spec.status,
            _code(spec.describe("<description>", "<url>")),
            _code(spec.exception) if spec.exception else "none",
            ("yes" if spec.retried else "no") if spec.exception else "",
            spec.raised_for,
        ]
        for spec in specs
    ]
    return _table(["exit", "status", "status description", "exception", "Airflow retries", "when"], rows)


def deferral_table(rules: Sequence[Any]) -> str:
    """Where a deferrable task runs: each step, and every reason that keeps it on a worker."""
    steps = {
        "start": "starts on a worker (and defers from there) when",
        "wait": "invokes synchronously on the worker when",
        "end": "ends on a worker (the trigger hands back) when",
    }
    rows = [[steps[rule.step], rule.summary] for rule in rules]
    return _table(["the task", "reason"], rows)


def cli_table(parser: argparse.ArgumentParser) -> str:
    """``lambda-ue invoke``'s options, group by group, as its ``--help`` says them."""
    invoke = _invoke_parser(parser)
    rows = []
    for group in invoke._action_groups:
        for action in group._group_actions:
            if action.help == argparse.SUPPRESS or not action.option_strings:
                continue
            names = ", ".join(_code(option) for option in action.option_strings)
            value = "" if action.nargs == 0 else _code(action.metavar or action.dest)
            default = action.default
            shown = "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else _code(default)
            rows.append([names, value, shown, group.title or "", action.help or ""])
    return _table(["option", "value", "default", "group", ""], rows)


TABLES = {
    "fields": lambda: fields_table(field_specs()),
    "seed-fields": lambda: seed_fields_table(field_specs()),
    "outcomes": lambda: outcomes_table(outcome_specs()),
    "cli": lambda: cli_table(cli_parser()),
    "deferral": lambda: deferral_table(deferral_rules()),
}


def generated_text() -> str:
    """Every generated table, for checks that read what the pages show (the documented names)."""
    return "\n".join(render() for render in TABLES.values())


# ---------------------------------------------------------------------------------------------
# Sphinx
# ---------------------------------------------------------------------------------------------


class TableDirective(SphinxDirective):
    """``{lambda-ue-table} NAME``: one of :data:`TABLES`, parsed as Markdown into the page."""

    required_arguments = 1
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if name not in TABLES:
            raise self.error(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        container = nodes.container()
        self.state.nested_parse(StringList(TABLES[name]().splitlines(), source=f"<{name}>"), 0, container)
        return container.children


def extra_role(  # noqa: PLR0917 - docutils calls roles with these positional arguments
    name: str, rawtext: str, text: str, lineno: int, inliner: Any, options: Any = None, content: Any = None
) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """``{extra}`name```: a connection extra, shown as code (and found by the name check)."""
    return [nodes.literal(rawtext, text)], []


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("lambda-ue-table", TableDirective)
    app.add_role("extra", extra_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
