"""The shapes AWS's service model gives Lambda's ``Invoke`` parameters, read from the installed botocore.

Validation checks ``FunctionName``, ``Qualifier``, ``TenantId`` and ``DurableExecutionName``
against the pattern and length botocore's Lambda model declares, so a form AWS adds (the
``$LATEST.PUBLISHED`` qualifier, the ``aws-eusc`` partition) is accepted as soon as botocore knows
it, and a parameter this botocore lacks is named before anything is sent.

The model is read once per process, through the botocore ``Loader`` the package's clients share
(:func:`~airflow_provider_lambda_ue._private_api.share_data_loader`): the client that invokes
afterwards finds it parsed. Imported by validation only, never at DAG parse.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from airflow_provider_lambda_ue.values import show


@dataclass(frozen=True)
class Shape:
    """
    A string parameter's constraints in the model.

    :param name: The parameter (``Qualifier``).
    :param pattern: Its pattern, matched against the whole value, ASCII only (AWS writes ``\\d``
        meaning 0-9; Python's would take any script's digits).
    :param min_length: Its shortest length.
    :param max_length: Its longest length.
    """

    name: str
    pattern: re.Pattern[str] | None
    min_length: int | None
    max_length: int | None

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not of this shape (None: it is)."""
        if self.max_length is not None and len(value) > self.max_length:
            return f"is longer than {self.max_length} characters"
        if self.min_length is not None and len(value) < self.min_length:
            return f"is shorter than {self.min_length} characters"
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return f"{show(value)} is not a valid {self.name} (AWS's pattern: {self.pattern.pattern})"
        return None


def invoke_parameter(name: str) -> Shape | None:
    """The shape of ``Invoke``'s parameter ``name``; None when this botocore's model has no such parameter."""
    return _invoke_shapes().get(name)


def botocore_version() -> str:
    """The installed botocore's version (for a message naming what it lacks)."""
    import botocore

    return str(botocore.__version__)


@functools.cache
def _invoke_shapes() -> dict[str, Shape]:
    import botocore.session

    from airflow_provider_lambda_ue import _private_api

    session = botocore.session.get_session()
    _private_api.share_data_loader(session)
    # The very call botocore's ClientCreator makes (the loader caches by the call's arguments), so
    # the Lambda client built afterwards finds the model parsed.
    model = session.get_component("data_loader").load_service_model("lambda", "service-2", api_version=None)
    shapes = model["shapes"]
    members = shapes[model["operations"]["Invoke"]["input"]["shape"]]["members"]
    found = {}
    for name, member in members.items():
        shape = shapes[member["shape"]]
        if shape.get("type") != "string":
            continue
        pattern = shape.get("pattern")
        found[name] = Shape(
            name=name,
            pattern=re.compile(pattern, re.ASCII) if pattern else None,
            min_length=shape.get("min"),
            max_length=shape.get("max"),
        )
    return found
