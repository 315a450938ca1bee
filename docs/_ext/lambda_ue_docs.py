"""
The docs' generated tables: read from the code at build time, never retyped in a page.

A page asks for a table with the ``lambda-ue-table`` directive (MyST: a fence ``{lambda-ue-table}``
whose argument is ``fields``, ``seed-fields``, ``outcomes`` or ``cli``) and ``{extra}`name``` marks
a connection extra (rendered as code; ``tests/unit/test_documented_names.py`` collects them).

Each table is two steps: a *source* function that returns the specification's objects, and a
*render* function that turns them into a Markdown table. The sources are where the code's
interface is read:

* :func:`field_specs`: the field specification. Today it adapts ``LambdaInvokeFields``,
  ``DOCUMENT_ENTRIES``, the operator's ``template_fields`` and the ``lambda-ue`` parser; once
  ``airflow_provider_lambda_ue.fields.FIELDS`` exists it is ``return FIELDS``.
* :func:`outcome_specs`: the exit codes. Today it adapts ``taxonomy.py``'s classes and
  ``output.py``'s success statuses; once ``airflow_provider_lambda_ue.outcomes.OUTCOMES`` exists it
  is ``return OUTCOMES``.
* :func:`cli_parser`: ``airflow_provider_lambda_ue.cli.build_parser()``.

The render functions read only the attributes the coming specification names (``name``,
``summary``, ``default``, ``seed``, ``templated``, ``api``, ``document``, ``option``; ``exit_code``,
``status``, ``description``, ``exception``, ``retried``), so switching a source changes nothing else.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# ---------------------------------------------------------------------------------------------
# Sources: the one place each table reads the code
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """Today's stand-in for ``fields.Field`` (same attribute names)."""

    name: str
    summary: str
    default: Any
    seed: str | None
    templated: bool
    api: str | None
    document: tuple[str, ...]
    option: str | None


@dataclass(frozen=True)
class OutcomeSpec:
    """Today's stand-in for ``outcomes.Outcome`` (same attribute names)."""

    exit_code: int
    status: str
    description: str
    exception: str | None
    retried: bool


#: Today's code names neither the seed's labels nor the Invoke parameters as data: until FIELDS
#: (which carries ``seed`` and ``api``) lands, they are here, and only here.
_SEED_TODAY = {
    "action": "Action",
    "region_name": "AWS Region",
    "aws_conn_id": "AWS Credentials",
    "role_based_access": "Role Based Access",
    "role_arn": "Role ARN",
    "function_name": "Function Name",
    "invocation_type": "Invocation Type",
    "log_type": "Log Type",
    "payload": "Payload Source + Payload Script",
    "client_context": "Client Context Source + Client Context Script",
    "use_proxy": "Use Proxy",
    "proxy_type": "Proxy Type",
    "proxy": "Proxy",
    "proxy_ca_bundle_file": "Proxy CA Bundle File",
    "proxy_conn_id": "Proxy Credentials",
    "qualifier": "Qualifier",
    "wait_for_completion_timeout": "Wait For Completion Timeout",
    "endpoint_url": "Endpoint URL",
}
_API_TODAY = {
    "function_name": "FunctionName",
    "invocation_type": "InvocationType",
    "log_type": "LogType",
    "payload": "Payload",
    "client_context": "ClientContext",
    "qualifier": "Qualifier",
    "tenant_id": "TenantId",
    "durable_execution_name": "DurableExecutionName",
}


def field_specs() -> Sequence[Any]:
    """
    The field specification, in document order.

    SWITCH when ``FIELDS`` lands: replace the body with
    ``from airflow_provider_lambda_ue.fields import FIELDS; return FIELDS``.
    """
    from dataclasses import fields as dataclass_fields

    from airflow_provider_lambda_ue.fields import DOCUMENT_ENTRIES, LambdaInvokeFields
    from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

    summaries = _param_docs(LambdaInvokeFields.__doc__ or "")
    options = _cli_options()
    specs = []
    for field in dataclass_fields(LambdaInvokeFields):
        name = field.name
        specs.append(
            FieldSpec(
                name=name,
                summary=summaries.get(name, ""),
                default=inspect.signature(LambdaInvokeOperator.__init__).parameters[name].default,
                seed=_SEED_TODAY.get(name),
                templated=name in LambdaInvokeOperator.template_fields,
                api=_API_TODAY.get(name),
                document=tuple(entry.key for entry in DOCUMENT_ENTRIES if entry.parameter == name),
                option=options.get(name),
            )
        )
    return specs


def outcome_specs() -> Sequence[Any]:
    """
    The exit codes, in order.

    SWITCH when ``OUTCOMES`` lands: replace the body with
    ``from airflow_provider_lambda_ue.outcomes import OUTCOMES; return OUTCOMES``.
    """
    from airflow_provider_lambda_ue import exceptions
    from airflow_provider_lambda_ue.compat import AirflowFailException
    from airflow_provider_lambda_ue.output import STATUS_DECODE_WARNING, STATUS_SUCCESS

    specs = [
        OutcomeSpec(0, "SUCCESS", STATUS_SUCCESS, None, False),
        OutcomeSpec(0, "DECODE_WARNING", STATUS_DECODE_WARNING, None, False),
    ]
    for public in exceptions._PUBLIC_CLASSES:
        if public is exceptions.LambdaInvokeError:
            continue  # the base class: no exit code of its own
        if public is exceptions.LambdaProxyConnectionError:
            description = public(proxy_url="<url>").status_description
        elif public is exceptions.LambdaDataValidationError:
            description = f"{public().status_description} <details>"
        else:
            description = public.fixed_description or f"{public.status}: <description>"
        retried = not issubclass(public, AirflowFailException)
        specs.append(OutcomeSpec(public.exit_code, public.status, description, public.__name__, retried))
    return sorted(specs, key=lambda spec: spec.exit_code)


def cli_parser() -> argparse.ArgumentParser:
    """The ``lambda-ue`` parser: the command-line page is generated from it."""
    from airflow_provider_lambda_ue.cli import build_parser

    return build_parser()


def _invoke_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    invoke: argparse.ArgumentParser = commands.choices["invoke"]
    return invoke


def _cli_options() -> dict[str, str]:
    """Field name -> its ``lambda-ue invoke`` option, read from the parser (today's ``option``)."""
    from airflow_provider_lambda_ue.cli import OPTION_DEST

    by_dest = {
        action.dest: action.option_strings[0]
        for action in _invoke_parser(cli_parser())._actions
        if action.option_strings and action.help != argparse.SUPPRESS
    }
    reverse = {dest: name for name, dest in OPTION_DEST.items()}
    return {reverse.get(dest, dest): option for dest, option in by_dest.items()}


def _param_docs(docstring: str) -> dict[str, str]:
    """``:param name: text`` entries of a docstring, each as one line of text."""
    found: dict[str, str] = {}
    for match in re.finditer(r":param (\w+):(.*?)(?=\n\s*:param |\Z)", inspect.cleandoc(docstring), re.S):
        found[match.group(1)] = " ".join(match.group(2).split())
    return found


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


def _default(value: Any) -> str:
    """A default as Python spells it; a parameter without one is required."""
    return "required" if value is inspect.Parameter.empty else _code(repr(value))


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
            f"option {_code(spec.option)}" if spec.option else "",
        ]
        rows.append(
            [
                _code(spec.name) + (" (templated)" if spec.templated else ""),
                _default(spec.default),
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
            _code(spec.option) if spec.option else "(implied, see the command line)",
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
            _code(spec.description),
            _code(spec.exception) if spec.exception else "none",
            ("yes" if spec.retried else "no") if spec.exception else "",
        ]
        for spec in specs
    ]
    return _table(["exit", "status", "status description", "exception", "Airflow retries"], rows)


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
