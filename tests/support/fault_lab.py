# pytest passes fixtures as positional parameters; several per test is the point here.
"""The fault matrix: every failure the contract names, produced for real on loopback.

Each fault is built by a :class:`Fault` (real servers: moto with IAM enforcement, the local Lambda
endpoint, scripted fake Lambda servers, proxy.py, a proxy that always answers 407), then driven

* through the shared path (``invocation.prepare -> build_hook -> run``) in this process, and
* through the ``lambda-ue`` console script as a subprocess (``@pytest.mark.slow``: every run
  imports Airflow),

and each time the outcome is checked completely: the exit code, the exact status description in
the seed's wording (a pattern only where the seed has a ``<description>`` placeholder), the whole
output document (key sets, ``changed``, ``result.status_code``), how many requests each server
received (one for anything that may have reached the function, the hook's budget for throttling,
none for validation), and that nothing is left behind: no child process that was not there before,
no listening port of a stopped fake or proxy, no socket of this process still connected to them.

``tests/e2e/test_leaks.py`` runs the same faults with distinctive secrets and greps every output.
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import json
import logging
import re
import socket
import subprocess
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_provider_lambda_ue import __version__, invocation
from airflow_provider_lambda_ue.fields import MAX_SYNC_PAYLOAD_BYTES, raw_fields
from airflow_provider_lambda_ue.hooks.retry import DEFAULT_MAX_ATTEMPTS
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support import fake_servers as fs
from tests.support.command_line import LAMBDA_UE
from tests.support.document_shape import (
    DOCUMENT_KEYS,
    FIELD_KEYS,
    INVOCATION_KEYS,
    RESULT_KEYS,
    STATUS_AUTHENTICATION,
    STATUS_AUTHORIZATION,
    STATUS_DECODE_WARNING,
    STATUS_READ_TIMEOUT,
    STATUS_SUCCESS,
    STATUS_VALIDATION,
)
from tests.support.fake_servers import (
    AuthRequiredProxy,
    FakeLambdaServer,
    assert_port_released,
)
from tests.support.hooks import connection_json
from tests.support.hooks import fake_fields as shared_fake_fields
from tests.support.local_lambda import (
    ACCOUNT,
    ECHO_HANDLER,
    IamWorld,
    create_iam_role,
    new_function,
    unique_function_name,
)
from tests.support.proxies import ProxyInfo, TlsMaterial, start_proxy, tcp_listeners
from tests.support.servers import poll

LOG = logging.getLogger("tests.fault_matrix")
REGION = "us-east-1"
FUNCTION = "fault-function"
AWS_CONN_ID = "aws_fault"
PROXY_CONN_ID = "proxy_fault"
#: Holds the proxy credentials the command line takes from its environment, for the operator.
PROXY_ENV_CONN_ID = "proxy_fault_env"
CLI_TIMEOUT = 600  # seconds per subprocess: importing Airflow alone takes several on a busy machine
SETTLE_SECONDS = 2.0  # how long a resend would have had to show up after the failure

STATUS_PROXY = "CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {url}"


# ---------------------------------------------------------------------------------------------------
# Secrets and the environment every run gets
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secrets:
    """
    Distinctive credentials, so that a leak cannot hide behind a common word.

    The access key ids are not secret (AWS prints them in errors); everything else is.
    """

    access_key_id: str
    secret_key: str
    wrong_secret_key: str
    env_access_key_id: str
    env_secret_key: str
    env_session_token: str
    proxy_user: str
    proxy_password: str
    env_proxy_password: str

    @classmethod
    def make(cls) -> Secrets:
        tag = uuid.uuid4().hex
        return cls(
            access_key_id="AKIAFAULTLEAK" + tag[:7].upper(),
            secret_key=f"sEcReT-aws-{tag}",
            wrong_secret_key=f"sEcReT-aws-wrong-{tag}",
            env_access_key_id="AKIAFAULTLEAKENV" + tag[7:11].upper(),
            env_secret_key=f"sEcReT-env-{tag}",
            env_session_token=f"sEsSiOn-tOkEn-{tag}",
            proxy_user="fault-proxy-user",
            # Characters that must be percent-encoded in a URL's userinfo, and a '+' and '/'
            # whose encodings differ between quote() and quote_plus().
            proxy_password=f"pRoXy-{tag}-p@ss:w/rd%41+&#?",
            env_proxy_password=f"pRoXy-env-{tag}-@:/%+",
        )

    def secret_values(self) -> dict[str, str]:
        """Every value that must never be shown, by name."""
        return {
            "aws secret key": self.secret_key,
            "wrong aws secret key": self.wrong_secret_key,
            "environment secret key": self.env_secret_key,
            "environment session token": self.env_session_token,
            "proxy password": self.proxy_password,
            "environment proxy password": self.env_proxy_password,
        }


def base_environment(secrets: Secrets) -> dict[str, str]:
    """
    Variables every run gets, in-process and on the command line: the AWS connection, the proxy
    connection, the environment's AWS credentials (a session token too) and the command line's
    proxy credentials.
    """
    return {
        f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}": connection_json(
            login=secrets.access_key_id, password=secrets.secret_key, region_name=REGION
        ),
        f"AIRFLOW_CONN_{PROXY_CONN_ID.upper()}": connection_json(
            conn_type="generic", login=secrets.proxy_user, password=secrets.proxy_password
        ),
        f"AIRFLOW_CONN_{PROXY_ENV_CONN_ID.upper()}": connection_json(
            conn_type="generic", login=secrets.proxy_user, password=secrets.env_proxy_password
        ),
        "AWS_ACCESS_KEY_ID": secrets.env_access_key_id,
        "AWS_SECRET_ACCESS_KEY": secrets.env_secret_key,
        "AWS_SESSION_TOKEN": secrets.env_session_token,
        "AWS_DEFAULT_REGION": REGION,
        "LAMBDA_UE_PROXY_USER": secrets.proxy_user,
        "LAMBDA_UE_PROXY_PASSWORD": secrets.env_proxy_password,
    }


# ---------------------------------------------------------------------------------------------------
# Moto with IAM enforcement
# ---------------------------------------------------------------------------------------------------


def iam_world() -> Iterator[IamWorld]:
    """Start the endpoint, create what the faults need, turn enforcement on (a module fixture's body)."""
    with LocalLambda() as server:
        server.create_function(FUNCTION, ECHO_HANDLER)
        keys = {
            "invoker": server.create_iam_user("fault-invoker", ["lambda:InvokeFunction"]),
            "nobody": server.create_iam_user("fault-nobody", []),
        }
        role = create_iam_role(server, "fault-invoke-role", assumers=["fault-nobody"])
        server.enable_iam_enforcement()
        yield IamWorld(server, keys, {"fault-invoke-role": role})


@pytest.fixture(scope="module")
def fault_iam() -> Iterator[IamWorld]:
    yield from iam_world()


def create_known_function(server: LocalLambda) -> str:
    """A function on the shared local endpoint (for the unknown qualifier)."""
    name = new_function(server, "fault-known", ECHO_HANDLER)
    return name


@pytest.fixture(scope="module")
def known_function(local_lambda: LocalLambda) -> str:
    return create_known_function(local_lambda)


# ---------------------------------------------------------------------------------------------------
# The lab: servers for one fault, stopped and checked afterwards
# ---------------------------------------------------------------------------------------------------


class Lab:
    """
    Starts the servers a fault needs and, at :meth:`release`, stops them and checks that each left
    nothing behind (port released, proxy process tree gone).

    :param request: To reach the session's TLS material, local endpoint and the IAM world lazily.
    :param workdir: Scratch space (proxy.py's files, a broken CA bundle, big payloads).
    """

    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self._request = request
        self.workdir = workdir
        self.fakes: list[FakeLambdaServer] = []
        self.auth_proxies: list[AuthRequiredProxy] = []
        self.proxies: list[ProxyInfo] = []
        self._holders: list[socket.socket] = []
        self._released = False

    # -- resources ------------------------------------------------------------------------------

    def fake(self, script: list[fs.ScriptedResponse], *, tls: bool = False) -> FakeLambdaServer:
        context, bundle = None, None
        if tls:
            material: TlsMaterial = self._request.getfixturevalue("tls_material")
            context, bundle = material.server_context(), material.ca_bundle
        server = FakeLambdaServer(tls_context=context, ca_bundle=bundle, script=script)
        self.fakes.append(server)
        return server

    def auth_proxy(self) -> AuthRequiredProxy:
        proxy = AuthRequiredProxy()
        self.auth_proxies.append(proxy)
        return proxy

    def proxy(self, *, tls: bool = False, untrusted: bool = False) -> ProxyInfo:
        material = None
        if tls:
            name = "untrusted_tls_material" if untrusted else "tls_material"
            material = self._request.getfixturevalue(name)
        workdir = self.workdir / f"proxy-{uuid.uuid4().hex[:8]}"
        info = start_proxy(workdir, tls_material=material, auth=None, extra_args=())
        self.proxies.append(info)
        return info

    def refused_url(self, scheme: str = "http") -> str:
        """A loopback URL where nothing listens, the port held (bound, not listening) until release."""
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.bind(("127.0.0.1", 0))
        self._holders.append(holder)
        return f"{scheme}://127.0.0.1:{holder.getsockname()[1]}"

    def file(self, name: str, content: str) -> str:
        path = self.workdir / name
        path.write_text(content, encoding="utf-8")
        return str(path)

    @property
    def ca_bundle(self) -> str:
        return str(self._request.getfixturevalue("ca_bundle"))

    @property
    def local(self) -> LocalLambda:
        server: LocalLambda = self._request.getfixturevalue("local_lambda")
        return server

    @property
    def known_function(self) -> str:
        return str(self._request.getfixturevalue("known_function"))

    @property
    def iam(self) -> IamWorld:
        world: IamWorld = self._request.getfixturevalue("fault_iam")
        return world

    # -- teardown -------------------------------------------------------------------------------

    def ports(self) -> set[int]:
        """Every port this lab's servers listen (or listened) on."""
        return (
            {s.port for s in self.fakes}
            | {p.port for p in self.auth_proxies}
            | {p.port for p in self.proxies}
        )

    def release(self) -> None:
        """Stop everything; every port is released and every proxy process is gone."""
        if self._released:
            return
        self._released = True
        # Stop everything first, so that one failed check leaves nothing running.
        for holder in self._holders:
            holder.close()
        for server in [*self.fakes, *self.auth_proxies, *self.proxies]:
            server.stop()
        for port in {s.port for s in self.fakes} | {p.port for p in self.auth_proxies}:
            assert_port_released(port)
        try:
            for info in self.proxies:
                info.assert_fully_stopped()
                assert not tcp_listeners(info.port)
        finally:
            for info in self.proxies:
                info.release()


# ---------------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """
    One fault, ready to be run: the fields, the variables it adds, and what to check afterwards.

    :param fields: field values (``raw_fields``) (also the operator's parameters).
    :param status: The exact status description, or a pattern it must match in full.
    :param env: Variables this fault adds to :func:`base_environment` (names unique to the fault,
        so that every fault's variables can be merged into one DAG run).
    :param counted: ``(server, expected number of requests)``: exactly that many, once settled.
    :param settle: Seconds to wait before counting (a resend after a timeout would come late).
    :param check: Further checks of the document.
    :param secrets: Further secret values this fault uses (e.g. moto's generated secret keys).
    :param proxy_credentials: Proxy credentials given directly, as the command line takes them from
        ``LAMBDA_UE_PROXY_USER``/``LAMBDA_UE_PROXY_PASSWORD`` (the operator gets them from
        :data:`PROXY_ENV_CONN_ID`); the fields then name no proxy connection.
    """

    fields: dict[str, Any]
    status: str | re.Pattern[str]
    env: dict[str, str] = field(default_factory=dict)
    counted: list[tuple[FakeLambdaServer | AuthRequiredProxy, int]] = field(default_factory=list)
    settle: float = 0.0
    check: Callable[[dict[str, Any]], None] | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    proxy_credentials: tuple[str, str] | None = None


@dataclass(frozen=True)
class Fault:
    """
    A fault of the matrix and its contract outcome.

    :param id: Test id (also the task id in the leak DAG).
    :param exit_code: The contract's exit code.
    :param status_code: The expected ``result.status_code`` (None when Lambda never answered).
    :param build: Starts what the fault needs and returns the scenario.
    """

    id: str
    exit_code: int
    status_code: int | None
    build: Callable[[Lab, Secrets], Scenario]

    @property
    def changed(self) -> bool:
        return self.status_code in (200, 202, 204)


#: The faults' function, through the faults' connection (``fields`` override these).
fake_fields = partial(
    shared_fake_fields,
    function_name=FUNCTION,
    aws_conn_id=AWS_CONN_ID,
    region_name=REGION,
    payload={"fault": True},
)


def invoke_url(url: str, function: str = FUNCTION) -> str:
    """The Invoke URL botocore names in its connection errors, quoted as it quotes it."""
    return re.escape(f'"{url}/2015-03-31/functions/{function}/invocations"')


def _closed(
    script: Callable[[], list[fs.ScriptedResponse]], cause: str
) -> Callable[[Lab, Secrets], Scenario]:
    """The endpoint accepts, reads Invoke, then hangs up before a whole status line: exit 10, never resent."""

    def build(lab: Lab, secrets: Secrets) -> Scenario:
        server = lab.fake(script())
        status = re.compile(
            "CONNECTION_ERROR: Connection was closed before we received a valid response from endpoint "
            f"URL: {invoke_url(server.url)}\\. .*{cause}.*"
        )
        return Scenario(fake_fields(server), status, counted=[(server, 1)], settle=SETTLE_SECONDS)

    return build


def _closed_mid_headers(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake(fs.close_mid_headers())
    status = (
        "CONNECTION_ERROR: the connection was closed in the middle of the response: a 200 without "
        "request id and without length (the function may have run)"
    )
    return Scenario(fake_fields(server), status, counted=[(server, 1)], settle=SETTLE_SECONDS)


def _closed_mid_body(lab: Lab, secrets: Secrets) -> Scenario:
    """Complete headers announce 100 bytes, 10 come, then the connection closes."""
    server = lab.fake(fs.close_mid_body())
    status = re.compile(
        "CONNECTION_ERROR: An error occurred while reading from response stream: "
        ".*IncompleteRead\\(10 bytes read, 90 more expected\\).*"
    )
    return Scenario(fake_fields(server), status, counted=[(server, 1)], settle=SETTLE_SECONDS)


def _endpoint_refused(lab: Lab, secrets: Secrets) -> Scenario:
    url = lab.refused_url()
    status = re.compile(
        f"CONNECTION_ERROR: Could not connect to the endpoint URL: {invoke_url(url)} "
        "\\(.*Connection refused\\)"
    )
    return Scenario(fake_fields(url), status)


def _read_timeout(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake(fs.slow_response(120))

    def check(document: dict[str, Any]) -> None:
        [request] = server.requests
        assert request.headers.get("amz-sdk-request", "").startswith("attempt=1")

    return Scenario(
        fake_fields(server, wait_for_completion_timeout=1),
        STATUS_READ_TIMEOUT,
        counted=[(server, 1)],
        settle=SETTLE_SECONDS + 1,
        check=check,
    )


def _service_exception(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake(fs.service_exception())
    status = "FAIL: ServiceException when calling the Invoke operation: An internal error occurred."
    return Scenario(fake_fields(server), status, counted=[(server, 1)], settle=SETTLE_SECONDS)


def _bad_gateway(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake(fs.bad_gateway_html())
    status = "FAIL: 502 when calling the Invoke operation: Bad Gateway"
    return Scenario(fake_fields(server), status, counted=[(server, 1)], settle=SETTLE_SECONDS)


def _throttled(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake([fs.throttled_response()])
    status = "FAIL: TooManyRequestsException when calling the Invoke operation: Rate Exceeded."
    # The hook's budget: DEFAULT_MAX_ATTEMPTS sends in all, botocore's own retries off.
    return Scenario(
        fake_fields(server), status, counted=[(server, DEFAULT_MAX_ATTEMPTS)], settle=SETTLE_SECONDS
    )


def _proxy_refused(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake([fs.ok_response()])
    proxy = lab.proxy()
    proxy.stop()
    fields = fake_fields(server, use_proxy=True, proxy=proxy.url, proxy_conn_id=PROXY_CONN_ID)
    return Scenario(fields, STATUS_PROXY.format(url=proxy.url), counted=[(server, 0)])


def _proxy_407(tls_endpoint: bool) -> Callable[[Lab, Secrets], Scenario]:
    """
    A proxy refusing the credentials: forwarding (http endpoint, credentials from the proxy
    connection) or ``CONNECT`` (https endpoint, credentials given directly: the command line's
    environment variables).
    """

    def build(lab: Lab, secrets: Secrets) -> Scenario:
        server = lab.fake([fs.ok_response()], tls=tls_endpoint)
        proxy = lab.auth_proxy()
        password = secrets.env_proxy_password if tls_endpoint else secrets.proxy_password
        basic = base64.b64encode(f"{secrets.proxy_user}:{password}".encode()).decode()

        def check(document: dict[str, Any]) -> None:
            # The credentials were offered (so the leak tests search for something that was used).
            [request] = proxy.requests
            assert request.method == ("CONNECT" if tls_endpoint else "POST")
            assert request.headers.get("proxy-authorization") == f"Basic {basic}"

        fields = fake_fields(server, use_proxy=True, proxy=proxy.url)
        if not tls_endpoint:
            fields["proxy_conn_id"] = PROXY_CONN_ID
        return Scenario(
            fields,
            STATUS_PROXY.format(url=proxy.url),
            counted=[(server, 0), (proxy, 1)],
            settle=SETTLE_SECONDS,
            check=check,
            proxy_credentials=(secrets.proxy_user, password) if tls_endpoint else None,
        )

    return build


def _proxy_untrusted(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake([fs.ok_response()])
    proxy = lab.proxy(tls=True, untrusted=True)
    fields = fake_fields(
        server,
        use_proxy=True,
        proxy=proxy.url,
        proxy_type="HTTPS",
        proxy_ca_bundle_file=lab.ca_bundle,
        proxy_conn_id=PROXY_CONN_ID,
    )
    return Scenario(fields, STATUS_PROXY.format(url=proxy.url), counted=[(server, 0)])


def _ca_bundle_not_a_certificate(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake([fs.ok_response()])
    bundle = lab.file("not-a-certificate.pem", "-----BEGIN NOTHING-----\nthis is no certificate\n")
    proxy = lab.refused_url("https")
    fields = fake_fields(server, use_proxy=True, proxy=proxy, proxy_type="HTTPS", proxy_ca_bundle_file=bundle)
    # Validation shortens long paths in the middle (``/tmp/pytest-of-...``).
    shown_path = "'/[^ ]*(?:'|\\.\\.\\.)"  # the path, or its start and an ellipsis
    status = re.compile(
        re.escape(f"{STATUS_VALIDATION} proxy_ca_bundle_file: ") + shown_path + " holds no PEM certificate"
    )
    return Scenario(fields, status, counted=[(server, 0)])


def _iam_connection(conn_id: str, login: str, password: str, **extra: Any) -> dict[str, str]:
    return {
        f"AIRFLOW_CONN_{conn_id.upper()}": connection_json(
            login=login, password=password, region_name=REGION, **extra
        )
    }


def _unknown_access_key(lab: Lab, secrets: Secrets) -> Scenario:
    conn_id = "aws_fault_unknown_key"
    env = _iam_connection(conn_id, secrets.access_key_id, secrets.secret_key)
    fields = fake_fields(lab.iam.url, aws_conn_id=conn_id)
    return Scenario(fields, STATUS_AUTHENTICATION, env=env)


def _wrong_secret_key(lab: Lab, secrets: Secrets) -> Scenario:
    conn_id = "aws_fault_wrong_secret"
    key_id = lab.iam.keys["invoker"]["aws_access_key_id"]
    env = _iam_connection(conn_id, key_id, secrets.wrong_secret_key)
    fields = fake_fields(lab.iam.url, aws_conn_id=conn_id)
    return Scenario(fields, STATUS_AUTHENTICATION, env=env)


def _expired_token(lab: Lab, secrets: Secrets) -> Scenario:
    """The environment's session token has expired (credentials from the environment's chain)."""
    server = lab.fake(
        [
            fs.error_response(
                403, "ExpiredTokenException", "The security token included in the request is expired"
            )
        ]
    )

    def check(document: dict[str, Any]) -> None:
        [request] = server.requests
        assert request.headers.get("x-amz-security-token") == secrets.env_session_token
        assert f"Credential={secrets.env_access_key_id}/" in request.headers.get("authorization", "")
        assert document["invocation"]["fields"]["credentials_password"] is None

    return Scenario(
        fake_fields(server, aws_conn_id=None),
        STATUS_AUTHENTICATION,
        counted=[(server, 1)],
        settle=SETTLE_SECONDS,
        check=check,
    )


def _assume_role_denied(lab: Lab, secrets: Secrets) -> Scenario:
    """A user without ``sts:AssumeRole`` permission; STS is the IAM world's (connection extra)."""
    conn_id = "aws_fault_assume_role"
    keys = lab.iam.keys["nobody"]
    env = _iam_connection(
        conn_id,
        keys["aws_access_key_id"],
        keys["aws_secret_access_key"],
        service_config={"sts": {"endpoint_url": lab.iam.url}},
    )
    fields = fake_fields(
        lab.iam.url, aws_conn_id=conn_id, role_based_access=True, role_arn=lab.iam.roles["fault-invoke-role"]
    )
    return Scenario(
        fields,
        STATUS_AUTHORIZATION,
        env=env,
        secrets={"moto secret key of fault-nobody": keys["aws_secret_access_key"]},
    )


def _unknown_function(lab: Lab, secrets: Secrets) -> Scenario:
    name = unique_function_name("fault-missing")
    status = (
        "FAIL: ResourceNotFoundException when calling the Invoke operation: "
        f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    )
    return Scenario(fake_fields(lab.local.url, function_name=name), status)


def _unknown_qualifier(lab: Lab, secrets: Secrets) -> Scenario:
    name = lab.known_function
    status = (
        "FAIL: ResourceNotFoundException when calling the Invoke operation: "
        f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:no-such-alias"
    )
    return Scenario(fake_fields(lab.local.url, function_name=name, qualifier="no-such-alias"), status)


PAYLOAD_TOO_LARGE_BYTES = MAX_SYNC_PAYLOAD_BYTES + 1024


def big_payload() -> str:
    """A valid JSON payload just over the synchronous limit."""
    return json.dumps({"data": "x" * PAYLOAD_TOO_LARGE_BYTES})


def _payload_too_large(lab: Lab, secrets: Secrets) -> Scenario:
    server = lab.fake([fs.ok_response()])
    status = (
        f"{STATUS_VALIDATION} payload: is {len(big_payload())} bytes, over the "
        f"{MAX_SYNC_PAYLOAD_BYTES}-byte limit for RequestResponse invocations"
    )
    return Scenario(fake_fields(server, payload=big_payload()), status, counted=[(server, 0)])


def _log_tail(script: Callable[[], list[fs.ScriptedResponse]], status: str, tail: str) -> Any:
    def build(lab: Lab, secrets: Secrets) -> Scenario:
        server = lab.fake(script())

        def check(document: dict[str, Any]) -> None:
            assert document["result"]["log_result"] == tail
            assert document["result"]["function_error"] is None
            assert json.loads(document["result"]["payload"]) == {"ok": True}

        return Scenario(fake_fields(server, log_type="Tail"), status, counted=[(server, 1)], check=check)

    return build


FAULTS: list[Fault] = [
    Fault("endpoint_refused", 10, None, _endpoint_refused),
    Fault("closed_before_response", 10, None, _closed(fs.close_before_response, "RemoteDisconnected")),
    Fault("closed_mid_status_line", 10, None, _closed(fs.close_mid_status_line, "BadStatusLine")),
    Fault("closed_mid_headers", 10, None, _closed_mid_headers),
    Fault("closed_mid_body", 10, None, _closed_mid_body),
    Fault("read_timeout", 21, None, _read_timeout),
    Fault("service_exception_500", 1, None, _service_exception),
    Fault("bad_gateway_502_html", 1, None, _bad_gateway),
    Fault("throttled_beyond_budget", 1, None, _throttled),
    Fault("proxy_refused", 11, None, _proxy_refused),
    Fault("proxy_407_http_endpoint", 11, None, _proxy_407(tls_endpoint=False)),
    Fault("proxy_407_connect_https_endpoint", 11, None, _proxy_407(tls_endpoint=True)),
    Fault("proxy_untrusted_certificate", 11, None, _proxy_untrusted),
    Fault("ca_bundle_not_a_certificate", 20, None, _ca_bundle_not_a_certificate),
    Fault("unknown_access_key", 2, None, _unknown_access_key),
    Fault("wrong_secret_key", 2, None, _wrong_secret_key),
    Fault("expired_token", 2, None, _expired_token),
    Fault("assume_role_denied", 3, None, _assume_role_denied),
    Fault("unknown_function", 1, None, _unknown_function),
    Fault("unknown_qualifier", 1, None, _unknown_qualifier),
    Fault("payload_too_large", 20, None, _payload_too_large),
    Fault(
        "log_tail_cut_mid_character",
        0,
        200,
        _log_tail(fs.log_tail_split_utf8, STATUS_SUCCESS, fs.LOG_TAIL_SPLIT_UTF8_HEADER),
    ),
    Fault(
        "log_tail_not_base64",
        0,
        200,
        _log_tail(fs.log_tail_not_base64, STATUS_DECODE_WARNING, fs.NOT_BASE64_LOG_TAIL),
    ),
]
FAULT_IDS = [fault.id for fault in FAULTS]


# ---------------------------------------------------------------------------------------------------
# Running a scenario and checking the outcome
# ---------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run showed: the document, and every text a user could see of it."""

    document: dict[str, Any]
    exit_code: int
    #: Exception texts (str, repr, the traceback chain), stdout, stderr, logs: name -> text.
    texts: dict[str, str] = field(default_factory=dict)


def run_in_process(scenario: Scenario) -> Outcome:
    """
    The shared path, as the operator and the command line take it.

    Keeps no reference to the hook or the exception, so that their connections can be collected.
    """
    raw = raw_fields(**scenario.fields)
    try:
        prepared = invocation.prepare(raw, LOG)
        hook = invocation.build_hook(prepared, proxy_credentials=scenario.proxy_credentials)
        document = invocation.run(prepared, hook, LOG)
    except InvocationFailure as err:
        assert err.output is not None, f"{type(err).__name__} without a document: {err}"
        texts = {
            "str(exc)": str(err),
            "repr(exc)": repr(err),
            "exc.output": json.dumps(err.output),
            "traceback": "".join(traceback.format_exception(err)),
        }
        outcome = Outcome(err.output, err.exit_code, texts)
        assert err.output["exit_code"] == err.exit_code
        assert err.output["status_description"] == err.status_description
        return outcome
    return Outcome(document, 0, {"document": json.dumps(document)})


def cli_arguments(fields: Mapping[str, Any], workdir: Path) -> list[str]:
    """``lambda-ue invoke`` arguments for a scenario's fields (a big payload goes through a file)."""
    options = {
        "function_name": "--function-name",
        "qualifier": "--qualifier",
        "invocation_type": "--invocation-type",
        "log_type": "--log-type",
        "region_name": "--region",
        "aws_conn_id": "--aws-conn-id",
        "role_arn": "--role-arn",
        "endpoint_url": "--endpoint-url",
        "proxy": "--proxy",
        "proxy_type": "--proxy-type",
        "proxy_ca_bundle_file": "--proxy-ca-bundle-file",
        "proxy_conn_id": "--proxy-conn-id",
        "wait_for_completion_timeout": "--wait-for-completion-timeout",
    }
    args = ["invoke"]
    for name, value in fields.items():
        if value is None or name in ("use_proxy", "role_based_access"):
            continue  # --proxy implies use_proxy, --role-arn role-based access
        if name == "payload":
            text = value if isinstance(value, str) else json.dumps(value)
            if len(text) > 10_000:  # one argument may not exceed 128 KiB on Linux
                path = workdir / f"payload-{uuid.uuid4().hex[:8]}.json"
                path.write_text(text, encoding="utf-8")
                text = f"@{path}"
            args += ["--payload", text]
        else:
            args += [options[name], str(value)]
    return args


def without_connections(scenario: Scenario, env: Mapping[str, str]) -> tuple[Scenario, dict[str, str]]:
    """
    The scenario as the command line runs it without Airflow: every connection turned into variables.

    The AWS connection's keys become ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (no session
    token), its region ``AWS_DEFAULT_REGION`` and its STS endpoint ``AWS_ENDPOINT_URL_STS``; the
    proxy connection's login and password become ``LAMBDA_UE_PROXY_USER``/``LAMBDA_UE_PROXY_PASSWORD``.
    No ``AIRFLOW_CONN_*`` variable is left, so nothing can come from a connection.

    :param env: The variables the scenario runs with (:func:`base_environment` and its own).
    :return: The scenario without connection ids, and its variables.
    """
    fields = dict(scenario.fields)
    variables = dict(env)

    def connection(conn_id: str) -> dict[str, Any]:
        definition: dict[str, Any] = json.loads(variables[f"AIRFLOW_CONN_{conn_id.upper()}"])
        return definition

    aws_conn_id = fields.get("aws_conn_id")
    if aws_conn_id:
        conn = connection(aws_conn_id)
        variables["AWS_ACCESS_KEY_ID"] = conn["login"]
        variables["AWS_SECRET_ACCESS_KEY"] = conn["password"]
        variables.pop("AWS_SESSION_TOKEN", None)
        extra = conn.get("extra") or {}
        if extra.get("region_name"):
            variables["AWS_DEFAULT_REGION"] = extra["region_name"]
        sts_endpoint = (extra.get("service_config") or {}).get("sts", {}).get("endpoint_url")
        if sts_endpoint:
            variables["AWS_ENDPOINT_URL_STS"] = sts_endpoint
    fields["aws_conn_id"] = None
    proxy_conn_id = fields.pop("proxy_conn_id", None)
    if proxy_conn_id:
        conn = connection(proxy_conn_id)
        variables["LAMBDA_UE_PROXY_USER"] = conn["login"]
        variables["LAMBDA_UE_PROXY_PASSWORD"] = conn["password"]
    for name in [name for name in variables if name.startswith("AIRFLOW_CONN_")]:
        del variables[name]
    return dataclasses.replace(scenario, fields=fields), variables


def run_cli(scenario: Scenario, env: Mapping[str, str], workdir: Path) -> Outcome:
    """The console script as a subprocess; stdout must be exactly one JSON document."""
    completed = subprocess.run(
        [str(LAMBDA_UE), *cli_arguments(scenario.fields, workdir)],
        env=dict(env),
        input="",
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    shown = (
        f"exit {completed.returncode}\n--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
    )
    try:
        document = json.loads(completed.stdout)
    except ValueError as err:
        raise AssertionError(f"stdout is not one JSON document ({err}):\n{shown}") from None
    assert isinstance(document, dict), shown
    assert document["exit_code"] == completed.returncode, shown
    return Outcome(document, completed.returncode, {"stdout": completed.stdout, "stderr": completed.stderr})


def assert_document(fault: Fault, scenario: Scenario, outcome: Outcome) -> None:
    """The whole document: keys, exit code, status, ``changed``, ``result`` and the fields shown."""
    document = outcome.document
    shown = json.dumps({k: v for k, v in document.items() if k != "invocation"}, indent=1)[:4000]
    assert outcome.exit_code == fault.exit_code, shown
    assert set(document) == set(DOCUMENT_KEYS), shown
    assert document["exit_code"] == fault.exit_code, shown
    status = document["status_description"]
    if isinstance(scenario.status, re.Pattern):
        assert scenario.status.fullmatch(status), f"{status!r} does not match {scenario.status.pattern!r}"
    else:
        assert status == scenario.status, shown
    assert document["changed"] is fault.changed, shown
    assert set(document["invocation"]) == set(INVOCATION_KEYS)
    assert document["invocation"]["extension"] == "airflow-provider-lambda-ue"
    assert document["invocation"]["version"] == __version__
    fields = document["invocation"]["fields"]
    assert set(fields) == set(FIELD_KEYS), sorted(fields)
    assert fields["function_name"] == scenario.fields["function_name"]
    assert fields["endpoint_url"] == scenario.fields["endpoint_url"]
    for name in (
        "credentials_user",
        "credentials_password",
        "proxy_credentials_user",
        "proxy_credentials_password",
    ):
        assert fields[name] in (None, "****"), (name, fields[name])
    result = document["result"]
    assert set(result) == set(RESULT_KEYS), shown
    assert result["status_code"] == fault.status_code, shown
    if fault.status_code is None:
        # A service error keeps its answer's request id (issue 17); nothing else of a result exists.
        assert {**result, "request_id": None} == dict.fromkeys(RESULT_KEYS), shown
    if result["request_id"] is not None:
        # Only an answer of the service has one: never a connection failure or a read timeout.
        assert fault.exit_code not in (10, 11, 21), shown
    if scenario.check is not None:
        scenario.check(document)


def assert_requests(scenario: Scenario, *, settle: bool = True) -> None:
    """Each counted server received exactly the expected number of requests (after settling)."""
    if settle and scenario.settle:
        time.sleep(scenario.settle)
    for server, expected in scenario.counted:
        assert server.request_count == expected, (server, [(r.method, r.path) for r in server.requests])


def children() -> set[int]:
    """Process ids of every descendant of this process."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def assert_no_new_children(before: set[int], timeout: float = 30.0) -> None:
    """No process started since ``before`` survives (the local endpoint's handler runs may take a moment)."""
    new = poll(lambda: children() - before, lambda new: not new, timeout, 0.2)
    described = []
    for pid in new:
        try:
            described.append(f"{pid}: {psutil.Process(pid).cmdline()}")
        except psutil.NoSuchProcess:
            continue
    assert not described, f"stray child processes: {described}"


def assert_no_connections(ports: set[int], timeout: float = 15.0) -> None:
    """No socket of this process is still connected to one of ``ports`` (after garbage collection)."""

    def connected() -> list[Any]:
        gc.collect()
        connections = psutil.Process().net_connections(kind="tcp")
        return [conn for conn in connections if conn.raddr and conn.raddr.port in ports]

    left = poll(connected, lambda left: not left, timeout, 0.2)
    assert not left, f"sockets still connected to the fault's servers: {left}"


@pytest.fixture
def secrets() -> Secrets:
    return Secrets.make()


@pytest.fixture
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    made = Lab(request, tmp_path)
    yield made
    made.release()


def apply_environment(monkeypatch: pytest.MonkeyPatch, variables: Mapping[str, str]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
