"""The console URLs the operator's extra links must resolve to, written out by hand (not by the package).

Shared by the tiers that read the links back from a real Airflow (``airflow dags test``, the live
Airflow's REST API, the compatibility tier): each compares with these literal forms.
"""

from __future__ import annotations

__all__ = ["FUNCTION_LINK_KEY", "LOG_LINK_KEY", "expected_links", "function_url", "log_url"]

CONSOLE = "https://console.aws.amazon.com"
#: The XComs Airflow keeps the URLs in (``_link_<class name>``), what the API server reads.
FUNCTION_LINK_KEY = "_link_LambdaFunctionLink"
LOG_LINK_KEY = "_link_LambdaInvocationLogLink"


def function_url(name: str, path: str = "", region: str = "us-east-1") -> str:
    """The Lambda console's page of function ``name`` (``path``: ``/aliases/A``, ``/versions/V``)."""
    return f"{CONSOLE}/lambda/home?region={region}#/functions/{name}{path}?tab=code"


def log_url(name: str, request_id: str, region: str = "us-east-1") -> str:
    """The CloudWatch console's events of ``/aws/lambda/<name>`` filtered by ``"<request id>"``."""
    return (
        f"{CONSOLE}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        f"$252Faws$252Flambda$252F{name}/log-events$3FfilterPattern$3D$2522{request_id}$2522"
    )


def expected_links(name: str, request_id: str, path: str = "", region: str = "us-east-1") -> dict[str, str]:
    """``{link XCom key: URL}`` of an invocation of ``name`` answered with ``request_id``."""
    return {
        FUNCTION_LINK_KEY: function_url(name, path, region),
        LOG_LINK_KEY: log_url(name, request_id, region),
    }
