"""moto's server behind :class:`DurableRouter`, serving in a thread (server process; moto internals)."""

from __future__ import annotations

import threading

from airflow_provider_lambda_ue.testing.local_lambda.durable import DurableRouter, DurableRunner


class MotoServer:
    """
    moto's server (what ``moto.server.ThreadedMotoServer`` runs) behind :class:`DurableRouter`.

    :param host: Address to listen on.
    :param port: TCP port; 0 picks a free one.
    :param durable_runner: Where the durable-execution API goes.
    """

    def __init__(self, host: str, port: int, durable_runner: DurableRunner) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = DurableRouter(DomainDispatcherApplication(create_backend_app), durable_runner)
        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    def start(self) -> None:
        """Start serving in a background thread."""
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        """The bound address."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        """Stop serving and wait for the serving thread."""
        self._server.shutdown()
        self._thread.join()
