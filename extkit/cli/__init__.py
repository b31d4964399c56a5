"""The ``extkit`` command line: one subcommand per job, one module per subcommand.

The parser (the flags are a public contract) lives here; each command lives in its own module of
this package (``start``, ``invoke``, ``extensions``, ``new``), imported only when that command
runs, so ``extkit --help`` stays fast. Every command ends with an :class:`~.exit_codes.ExitCode`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Final, cast

from .exit_codes import CommandError, ExitCode

__all__ = ["build_parser", "count", "main", "port_number"]

#: subcommand -> "module:function" taking the parsed arguments and returning an exit code.
COMMANDS: Final = {
    "start": "extkit.cli.start:command_start",
    "invoke": "extkit.cli.invoke:command_invoke",
    "extensions": "extkit.cli.extensions:command_extensions",
    "new-app": "extkit.cli.new:command_new_app",
    "new-extension": "extkit.cli.new:command_new_extension",
}


def _whole_number(text: str, low: int, high: int | None, expected: str) -> int:
    digits = text.strip()
    if digits.isascii() and digits.isdigit():
        value = int(digits)
        if value >= low and (high is None or value <= high):
            return value
    raise argparse.ArgumentTypeError(f"{text!r} is not {expected}")


def port_number(text: str) -> int:
    """A TCP port to listen on, 1-65535 (``--port``): refused before anything starts."""
    return _whole_number(text, 1, 65535, "a port number; expected 1-65535")


def count(text: str) -> int:
    """A number of workers or threads, 1 or more (the flags and their environment variables)."""
    return _whole_number(text, 1, None, "a whole number of 1 or more")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extkit", description="Run function apps with worker extensions."
    )
    parser.add_argument("--version", action="store_true", help="print extkit's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    start = sub.add_parser("start", help="serve a function app over HTTP (and run its timers)")
    start.add_argument(
        "app_dir",
        nargs="?",
        default=".",
        metavar="APP_DIR",
        help="the function app's folder, the one with host.json (default: the current folder)",
    )
    start.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    start.add_argument(
        "--port",
        type=port_number,
        default=None,
        help="port to bind, 1-65535 (default: local.settings.json Host.LocalHttpPort, else 7071)",
    )
    start.add_argument(
        "--workers",
        type=count,
        default=None,
        help="worker processes, 1 or more (default: FUNCTIONS_WORKER_PROCESS_COUNT or 1)",
    )
    start.add_argument(
        "--threads",
        type=count,
        default=None,
        help="threads for sync functions (default: PYTHON_THREADPOOL_THREAD_COUNT or Python's)",
    )
    start.add_argument(
        "--log-format",
        choices=("json", "console"),
        default="console",
        help="log lines as JSON objects or as readable text (default console)",
    )
    start.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop (default auto: uvloop where it is installed, else asyncio)",
    )
    start.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="HTTP/1.1 parser (default auto: httptools where it is installed, else h11)",
    )

    invoke = sub.add_parser("invoke", help="run one invocation through the full engine, no server")
    invoke.add_argument("app_dir", metavar="APP_DIR", help="the function app's folder")
    invoke.add_argument(
        "function", metavar="FUNCTION", help="the name of the function to invoke (any case)"
    )
    body = invoke.add_mutually_exclusive_group()
    body.add_argument(
        "--data",
        metavar="TEXT",
        help="request body as text; makes the method POST (default: no body)",
    )
    body.add_argument(
        "--json",
        dest="json_body",
        metavar="JSON",
        help="request body as JSON, sent as application/json; makes the method POST "
        "(default: no body)",
    )
    invoke.add_argument(
        "--method",
        default=None,
        help="HTTP method (default: GET, or POST with --data or --json)",
    )
    invoke.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a query parameter, or a route parameter where the route has one of that name; "
        "repeatable (default: none)",
    )
    invoke.add_argument(
        "--log-format",
        choices=("json", "console"),
        default="console",
        help="logs on standard error as readable lines or as JSON objects (default: console)",
    )

    extensions = sub.add_parser("extensions", help="list installed and registered extensions")
    extensions.add_argument(
        "app_dir",
        nargs="?",
        default=None,
        metavar="APP_DIR",
        help="a function app's folder: also list what it registers once its code is imported, "
        "without running hooks (default: only the installed extensions)",
    )
    extensions.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (installed, app, disabled) for scripts (default: tables)",
    )

    new_app = sub.add_parser("new-app", help="write a runnable function app")
    new_app.add_argument(
        "path",
        nargs="?",
        default=".",
        metavar="PATH",
        help="the folder to write the app into, empty or new (default: the current folder)",
    )

    new_ext = sub.add_parser("new-extension", help="write a complete extension package")
    new_ext.add_argument(
        "name",
        metavar="NAME",
        help="the extension's name, e.g. stopwatch: it writes the package extkit-stopwatch with "
        "the class StopwatchExtension",
    )
    new_ext.add_argument(
        "--scope",
        choices=("app", "function"),
        default="app",
        help="app: runs around every function; function: runs for the functions an instance "
        "is bound to (default: app)",
    )
    new_ext.add_argument(
        "--dir",
        default=".",
        metavar="PATH",
        help="the folder to create extkit-NAME in (default: the current folder)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .. import __version__

        print(f"extkit {__version__}")
        return ExitCode.OK
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    module_name, _, function_name = COMMANDS[args.command].partition(":")
    command = cast(
        Callable[[argparse.Namespace], int],
        getattr(importlib.import_module(module_name), function_name),
    )
    try:
        return command(args)
    except CommandError as exc:
        sys.stdout.flush()
        print(f"extkit {args.command}: {exc}", file=sys.stderr, flush=True)
        return exc.code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
