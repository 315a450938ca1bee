"""Failures of the shared path, judged by the contract's classes.

The path shared with the command line raises :class:`~airflow_provider_lambda_ue.outcomes.InvocationFailure`
(no Airflow); the operator and the hook raise the contract's Airflow classes, which derive from it.
:func:`raises` checks either as the contract's class its outcome stands for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from airflow_provider_lambda_ue.exceptions import LambdaInvokeError, public
from airflow_provider_lambda_ue.outcomes import InvocationFailure


@contextlib.contextmanager
def raises(cls: type[LambdaInvokeError]) -> Iterator[pytest.ExceptionInfo[InvocationFailure]]:
    """``pytest.raises`` for a failure whose outcome is ``cls``'s (or a subclass's)."""
    with pytest.raises(InvocationFailure) as info:
        yield info
    assert isinstance(public(info.value), cls), f"{type(public(info.value)).__name__} is not a {cls.__name__}"


def is_failure(error: BaseException, cls: type[LambdaInvokeError]) -> bool:
    """Whether ``error`` is a failure whose outcome is ``cls``'s (or a subclass's)."""
    return isinstance(error, InvocationFailure) and isinstance(public(error), cls)
