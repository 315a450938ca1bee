"""The output document as the contract spells it: its keys ("The output document") and statuses.

:data:`CONTRACT_EXAMPLE` is written out here rather than read from the package, so the tests check
the builder against the contract instead of against itself; the key tuples are read from it, with
the keys added since (issue 17) appended. :data:`FIELD_KEYS` alone comes from the package (the
field specification), and ``tests/unit/test_output.py`` proves it equals the contract's. Tuples in
the contract's order: compare with ``set()`` where order does not matter. The ``STATUS_*``
constants are the contract's wording of ``status_description`` (its exit-code table), written out
for the same reason.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_lambda_ue import __version__
from airflow_provider_lambda_ue.fields import FIELDS

STATUS_SUCCESS = "SUCCESS: AWS Lambda function invoked successfully"
STATUS_DECODE_WARNING = (
    "DECODE_WARNING: AWS Lambda function invoked successfully, but log message could not be decoded"
)
STATUS_AUTHENTICATION = "AUTHENTICATION_ERROR: Account cannot be authenticated."
STATUS_AUTHORIZATION = "AUTHORIZATION_ERROR: Account is not authorized to perform the requested action."
STATUS_VALIDATION = "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated."
STATUS_READ_TIMEOUT = (
    "READ_TIMEOUT_ERROR: Did not receive a server response within the allotted time frame "
    "(wait_for_completion_timeout)."
)

# The contract's example document, with the package version.
CONTRACT_EXAMPLE: dict[str, Any] = {
    "exit_code": 0,
    "status_description": STATUS_SUCCESS,
    "changed": True,
    "invocation": {
        "extension": "airflow-provider-lambda-ue",
        "version": __version__,
        "fields": {
            "action": "Trigger Lambda function",
            "credentials_user": "****",
            "credentials_password": "****",
            "region": "us-east-1",
            "role_based_access": False,
            "role_arn": None,
            "function_name": "test-function",
            "invocation_type": "Event",
            "payload_source": None,
            "payload_script": None,
            "client_context_source": None,
            "client_context_script": None,
            "log_type": "None",
            "qualifier": None,
            "use_proxy": False,
            "proxy_type": None,
            "proxy": None,
            "proxy_credentials_user": None,
            "proxy_credentials_password": None,
            "proxy_ca_bundle_file": None,
            "wait_for_completion_timeout": 60,
            "endpoint_url": None,
        },
    },
    "result": {
        "status_code": 202,
        "log_result": None,
        "payload": None,
        "executed_version": None,
        "function_error": None,
    },
}

# Beyond the contract's lists (issue 17): appended, the contract's keys unchanged.
ADDED_FIELD_KEYS = ("tenant_id",)
ADDED_RESULT_KEYS = ("request_id",)

DOCUMENT_KEYS = tuple(CONTRACT_EXAMPLE)
INVOCATION_KEYS = tuple(CONTRACT_EXAMPLE["invocation"])
CONTRACT_FIELD_KEYS = tuple(CONTRACT_EXAMPLE["invocation"]["fields"])
FIELD_KEYS = tuple(key for field in FIELDS for key in field.document)
RESULT_KEYS = (*CONTRACT_EXAMPLE["result"], *ADDED_RESULT_KEYS)


def with_additions(example: dict[str, Any]) -> dict[str, Any]:
    """The contract's example with the keys added since, empty: ``tenant_id``, ``request_id``."""
    invocation = example["invocation"]
    added_fields = dict.fromkeys(ADDED_FIELD_KEYS)
    return {
        **example,
        "invocation": {**invocation, "fields": {**invocation["fields"], **added_fields}},
        "result": {**example["result"], **dict.fromkeys(ADDED_RESULT_KEYS)},
    }


def expected_fields(**given: Any) -> dict[str, Any]:
    """``invocation.fields`` of the contract's example (added keys empty), overlaid with ``given``."""
    fields: dict[str, Any] = with_additions(CONTRACT_EXAMPLE)["invocation"]["fields"]
    return {**fields, **given}
