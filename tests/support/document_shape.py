"""The output document's key set, as the contract spells it ("The output document").

Written out here rather than read from the package, so the tests check the builder against the
contract instead of against itself. Tuples in the contract's order: compare with ``set()`` where
order does not matter.
"""

from __future__ import annotations

DOCUMENT_KEYS = ("exit_code", "status_description", "changed", "invocation", "result")
INVOCATION_KEYS = ("extension", "version", "fields")
FIELD_KEYS = (
    "action",
    "credentials_user",
    "credentials_password",
    "region",
    "role_based_access",
    "role_arn",
    "function_name",
    "invocation_type",
    "payload_source",
    "payload_script",
    "client_context_source",
    "client_context_script",
    "log_type",
    "qualifier",
    "use_proxy",
    "proxy_type",
    "proxy",
    "proxy_credentials_user",
    "proxy_credentials_password",
    "proxy_ca_bundle_file",
    "wait_for_completion_timeout",
    "endpoint_url",
    # Beyond the contract's list (issue 17): appended, the contract's keys unchanged.
    "tenant_id",
)
RESULT_KEYS = ("status_code", "log_result", "payload", "executed_version", "function_error", "request_id")
