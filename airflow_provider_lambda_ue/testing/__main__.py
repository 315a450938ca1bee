"""Command line of the local Lambda endpoint (tests and the demo only).

``python -m airflow_provider_lambda_ue.testing serve --port 0 --functions DIR [--region us-east-1]``
prints ``LOCAL_LAMBDA_URL=http://127.0.0.1:PORT`` on stdout once the endpoint is ready, then serves
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_lambda_ue.testing.local_lambda import DEFAULT_REGION, URL_LINE_PREFIX, serve


def build_parser() -> argparse.ArgumentParser:
    """
    Build the argument parser.

    :return: The parser with the ``serve`` sub-command.
    """
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_lambda_ue.testing",
        description="Local AWS Lambda endpoint (moto server) that really runs Python handlers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve",
        help="run the endpoint until SIGTERM/SIGINT",
        description=f"Serve moto (Lambda, IAM, STS, ...) with a real Python executor for Invoke. Prints "
        f"'{URL_LINE_PREFIX}http://HOST:PORT' on stdout once ready.",
    )
    serve_parser.add_argument("--port", type=int, default=0, help="TCP port, 0 for a free one (default: 0)")
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, keep it on loopback)"
    )
    serve_parser.add_argument(
        "--functions",
        metavar="DIR",
        help="create a function per *.py file of DIR (named after the file, handler <stem>.handler)",
    )
    serve_parser.add_argument(
        "--region",
        default=DEFAULT_REGION,
        help=f"region of the created functions (default: {DEFAULT_REGION})",
    )
    serve_parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="also shut down when stdin is closed (used when a parent process owns the server)",
    )
    serve_parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line.

    :param argv: Arguments without the program name (``sys.argv[1:]`` by default).
    :return: The exit code.
    """
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(
            args.port,
            host=args.host,
            region=args.region,
            functions=args.functions,
            exit_on_stdin_eof=args.exit_on_stdin_eof,
            verbose=args.verbose,
        )
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
