"""
Every touch of a library's private API, in one place: boto3, botocore, aiobotocore, ``AwsBaseHook``, Airflow.

A boto3, botocore, aiobotocore, amazon provider or Airflow upgrade is audited here and nowhere else.
Each function or mixin names the private attribute it reads, writes or overrides and what the
package uses it for; where the attribute may be gone, the function degrades (returns None, does
nothing) rather than fails, and the tests that pin the behaviour say which one broke.

Imports are lazy: the operator module imports :mod:`.masking`, which imports this one.
"""

from __future__ import annotations

import functools
import inspect
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

# -- botocore ---------------------------------------------------------------------------------


def config_options(config: Config | None) -> dict[str, Any]:
    """
    The options a botocore ``Config`` was given (``Config._user_provided_options``).

    What ``Config.merge`` combines; read to rebuild a ``Config`` as an aiobotocore ``AioConfig``
    and to digest the settings of a shared async client.
    """
    return dict(getattr(config, "_user_provided_options", None) or {})


def client_socket_options(client: Any) -> list[tuple[int, int, int]] | None:
    """
    The socket options of a sync client's connection pool.

    ``client._endpoint.http_session._socket_options``, a list.

    Extended in place with the TCP keepalive timings botocore's ``tcp_keepalive`` does not set.
    None when the client has no such list (an aiobotocore client, or botocore changed).
    """
    http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    options = getattr(http_session, "_socket_options", None)
    return options if isinstance(options, list) else None


def signing_credentials(client: Any) -> Any:
    """The credentials a client signs with (``client._request_signer._credentials``), or None."""
    return getattr(getattr(client, "_request_signer", None), "_credentials", None)


def wrap_credential_refresh(credentials: Any, wrap: Callable[[Callable[[], Any]], Callable[[], Any]]) -> None:
    """
    Replace the refresh callback of refreshable credentials (``_refresh_using``) by ``wrap(callback)``.

    The one place every renewal of assumed-role keys passes (sync, or awaited by aiobotocore).
    Done once per credentials object: a callback already wrapped (``functools.wraps`` sets
    ``__wrapped__``) is left alone.
    """
    refresh = getattr(credentials, "_refresh_using", None)
    if refresh is None or getattr(refresh, "__wrapped__", None) is not None:
        return
    credentials._refresh_using = wrap(refresh)


def set_session_credentials(session: Any, credentials: Any) -> None:
    """
    Make a botocore session sign with ``credentials`` (``Session._credentials``).

    botocore has no public setter for a credentials *object* (``set_credentials`` takes fixed keys),
    and refreshable assumed-role credentials must stay refreshable; ``AwsBaseHook`` sets the same
    attribute for its role sessions.
    """
    session._credentials = credentials


#: One botocore ``Loader`` per set of search paths, shared by every session the hooks create.
_SHARED_LOADERS: dict[tuple[str, ...], Any] = {}


def share_data_loader(session: Any) -> None:
    """
    Give a session the process's shared botocore ``Loader`` for its search paths (``data_loader``).

    Every boto3 session has a loader of its own, and each client built from a new session parses
    botocore's JSON again (endpoints, the Lambda model, its endpoint rule set): about 0.1 CPU-second
    per client, paid by every invocation a triggerer or a threaded caller starts with a new hook.
    botocore caches what a loader parsed on the loader, and shares it between the clients of one
    session; sharing the loader extends that to every session with the same search paths (the key,
    so ``AWS_DATA_PATH`` and boto3's own data folder still count).

    Reads the botocore session of a boto3 session (``boto3.Session._session``); an aiobotocore
    session is a botocore session itself. ``register_component`` is botocore's public setter. Does
    nothing where either is missing.

    :param session: A ``boto3.session.Session`` or a botocore (aiobotocore) session.
    """
    botocore_session = getattr(session, "_session", session)
    get_component = getattr(botocore_session, "get_component", None)
    register_component = getattr(botocore_session, "register_component", None)
    if get_component is None or register_component is None:
        return
    own = get_component("data_loader")
    search_paths = getattr(own, "search_paths", None)
    if search_paths is None:
        return
    shared = _SHARED_LOADERS.setdefault(tuple(search_paths), own)
    if shared is not own:
        register_component("data_loader", shared)


# -- AwsBaseHook ------------------------------------------------------------------------------


class FrameCallerLookup:
    """
    ``AwsBaseHook``'s lookup of its caller for the user agent (``Caller/...``), from the frames alone.

    Overrides ``AwsBaseHook._find_operator_class_name`` and ``_find_executor_class_name``, which
    call ``inspect.stack()``: that reads the source lines of every frame on the stack, and finding
    each frame's module scans ``sys.modules``. Two such calls per client cost about 0.2 CPU-seconds
    under pytest and tens of milliseconds in a task process, where only the frames' code names,
    ``self`` and globals are read. Same walk (innermost frame first), same answers. A mixin placed
    before ``AwsBaseHook``; on an interpreter without frames both answer None (``Caller/Unknown``).
    """

    @staticmethod
    def _find_operator_class_name(target_function_name: str) -> str | None:
        frame = inspect.currentframe()
        try:
            while frame is not None:
                if frame.f_code.co_name == target_function_name:
                    # A KeyError, like AwsBaseHook's, when that frame has no self ("Unknown").
                    return type(frame.f_locals["self"]).__name__
                frame = frame.f_back
            return None
        finally:
            del frame  # a frame held by its own locals is a reference cycle

    @staticmethod
    def _find_executor_class_name() -> str | None:
        frame = inspect.currentframe()
        try:
            while frame is not None:
                classes = [name for name, obj in frame.f_globals.items() if inspect.isclass(obj)]
                if "BaseExecutor" in classes:
                    return classes[-1]
                frame = frame.f_back
            return None
        finally:
            del frame


def built_client(hook: AwsBaseHook) -> Any:
    """The client ``hook.conn`` has built (a ``cached_property``), None before; never builds one."""
    return hook.__dict__.get("conn")


def service_name(hook: Any) -> str:
    """The hook's client type (``AwsBaseHook._resolve_service_name``)."""
    name: str = hook._resolve_service_name(is_resource_type=False)
    return name


def config_with_user_agent(hook: Any, config: Config) -> Config:
    """``config`` with Airflow's user agent added (``AwsBaseHook._get_config``, stack inspection)."""
    with_user_agent: Config = hook._get_config(config)
    return with_user_agent


# -- Airflow ----------------------------------------------------------------------------------


def set_xcom_in_db(key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int) -> None:
    """
    Store an XCom in the metadata database, past any custom XCom backend (``BaseXCom._set_xcom_in_db``).

    What the task runner's ``finalize`` stores an extra link's URL with (Airflow 3.0 to 3.3): the API
    server reads ``_link_*`` XComs straight from the database. Used by the triggerer, which ends or
    starts tasks without a worker run and so without ``finalize``.
    """
    from airflow.sdk.bases.xcom import BaseXCom

    BaseXCom._set_xcom_in_db(
        key=key, value=value, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index
    )


# -- aiobotocore ------------------------------------------------------------------------------


@functools.cache
def proxy_tls_session_class(proxy_context: Callable[[dict[str, Any]], ssl.SSLContext | None]) -> type:
    """
    aiobotocore's HTTP session with the TLS context of a TLS proxy from ``proxy_context``.

    Overrides ``AIOHTTPSession._setup_proxy_ssl_context`` and reads its ``_proxy_config.settings``
    (``proxies_config``). ``proxy_context`` returns the context, or None for aiobotocore's own.
    """
    from aiobotocore.httpsession import AIOHTTPSession

    class ProxyContextHTTPSession(AIOHTTPSession):
        def _setup_proxy_ssl_context(self, proxy_url: str) -> Any:
            context = proxy_context(self._proxy_config.settings)
            return context if context is not None else super()._setup_proxy_ssl_context(proxy_url)

    return ProxyContextHTTPSession


def aiobotocore_has_proxy_tls_context() -> bool:
    """
    Whether aiobotocore gives a TLS proxy's hop a TLS context of its own.

    Reads ``aiobotocore.httpsession._ProxySSLTCPConnector``, which aiobotocore 3.x added.

    aiobotocore 3.x does (``proxy_ca_bundle``, no client certificate); earlier versions verify the
    proxy and the endpoint with one shared context.
    """
    import aiobotocore.httpsession

    return hasattr(aiobotocore.httpsession, "_ProxySSLTCPConnector")


# -- Airflow's Task SDK, in the triggerer ----------------------------------------------------------


def set_xcom(key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int) -> None:
    """
    Store an XCom through the Task SDK (``airflow.sdk.execution_time.xcom.XCom.set``), as a task does.

    The triggerer relays it to the Execution API; used where a trigger ends a task, so that the
    document is stored as the worker would store it (a downstream ``xcom_pull`` gets the dict).
    """
    from airflow.sdk.execution_time.xcom import XCom

    XCom.set(key=key, value=value, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)


def task_state(*, dag_id: str, task_id: str, run_id: str, map_index: int) -> str:
    """
    A task instance's state through the Task SDK (``RuntimeTaskInstance.get_task_states``).

    A trigger cannot tell a user's action from a triggerer going away otherwise (before Airflow 3.3
    both only cancel it; 3.3.2 calls ``on_kill`` for both).
    Blocking (a request to the supervisor): call it through ``compat.run_in_thread``.
    """
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    states = RuntimeTaskInstance.get_task_states(
        dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index
    )
    return str(states[run_id][task_id])
