# pytest passes fixtures as positional parameters; several per test is the point here.
"""The fault matrix: every failure the contract names, produced for real on loopback.

The faults, the lab that builds their servers and the checks live in :mod:`tests.support.fault_lab`
(``tests/e2e/test_leaks.py`` runs the same faults with distinctive secrets and greps every output).
The command line's half is there: ``test_no_secret_on_the_command_line`` checks every fault's
document, requests and process tree through ``lambda-ue``, as this module checks the shared path.
"""

from __future__ import annotations

import pytest

from tests.support.fault_lab import (
    FAULT_IDS,
    FAULTS,
    Fault,
    Lab,
    Secrets,
    apply_environment,
    assert_document,
    assert_no_connections,
    assert_no_new_children,
    assert_requests,
    base_environment,
    children,
    run_in_process,
)

pytestmark = pytest.mark.timeout(900)


# ---------------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_aws_env")
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_fault_through_the_shared_path(
    fault: Fault, lab: Lab, secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = fault.build(lab, secrets)
    apply_environment(monkeypatch, {**base_environment(secrets), **scenario.env})
    before = children()

    outcome = run_in_process(scenario)

    assert_document(fault, scenario, outcome)
    assert_requests(scenario)
    ports = lab.ports()
    lab.release()
    assert_no_connections(ports)
    assert_no_new_children(before)


def test_the_matrix_covers_every_exit_code() -> None:
    """Every exit code of the contract is produced by at least one real fault."""
    assert {fault.exit_code for fault in FAULTS} == {0, 1, 2, 3, 10, 11, 20, 21}
    assert len(set(FAULT_IDS)) == len(FAULT_IDS)
