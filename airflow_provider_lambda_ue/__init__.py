"""Airflow provider for AWS Lambda, field-compatible with the ue-aws-lambda Universal Extension.

Importing this package must stay cheap: Airflow's provider discovery and every DAG parse load it.
Nothing here imports boto3, botocore or the amazon provider.
"""

from __future__ import annotations

from typing import Any

#: The version, written only here (pyproject.toml reads it); SemVer over the public names in the docs.
__version__ = "1.0.0"

DISTRIBUTION_NAME = "airflow-provider-lambda-ue"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": DISTRIBUTION_NAME,
        "name": "AWS Lambda (ue-aws-lambda compatible)",
        "description": "Invoke AWS Lambda functions with the field set, exit codes and output document "
        "of the Stonebranch ue-aws-lambda Universal Extension.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "AWS Lambda (ue-aws-lambda)",
                "external-doc-url": "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html",
                "tags": ["aws"],
            }
        ],
        "operators": [
            {
                "integration-name": "AWS Lambda (ue-aws-lambda)",
                "python-modules": ["airflow_provider_lambda_ue.operators.lambda_invoke"],
            }
        ],
        "hooks": [
            {
                "integration-name": "AWS Lambda (ue-aws-lambda)",
                "python-modules": ["airflow_provider_lambda_ue.hooks.lambda_invoke"],
            }
        ],
        "triggers": [
            {
                "integration-name": "AWS Lambda (ue-aws-lambda)",
                "python-modules": [
                    "airflow_provider_lambda_ue.triggers.lambda_invoke",
                    "airflow_provider_lambda_ue.triggers.durable_execution",
                ],
            }
        ],
        # The operator's links (the UI's buttons on a task instance), registered as Airflow expects.
        "extra-links": [
            "airflow_provider_lambda_ue.links.LambdaFunctionLink",
            "airflow_provider_lambda_ue.links.LambdaInvocationLogLink",
        ],
    }
