"""``extkit invoke APP_DIR FUNCTION``: one invocation through the full engine, no server.

The request is built from the command line (``--data``, ``--json``, ``--param``, ``--method``),
the invocation goes through :func:`~extkit.bindings.invoke_http` (or ``invoke_timer``) as it does
in the host, the response body goes to stdout and the logs to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from urllib.parse import quote, urlencode

from ..bindings import INVOCATION_ID_HEADER, invoke_http, invoke_timer
from ..http import HttpRequest, HttpResponse
from ..loader import AppFunction, AppLoadError, LoadedApp, load_app
from .exit_codes import CommandError, ExitCode

__all__ = ["command_invoke"]

_ROUTE_PARAMETER: Final = re.compile(r"\{(\*{0,2})([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}")


def _split_params(raw: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--param {item!r}: expected NAME=VALUE")
        params[name] = value
    return params


def _route_path(fn: AppFunction, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Fill the route template from ``params`` (taking out the ones it uses); return the path and
    the converted route parameters."""
    from ..routing import split_path

    route = fn.route
    assert route is not None  # an HTTP function's
    template = route.template
    names = {name.lower(): name for name in route.names}
    values = {name: params.pop(key) for key in list(params) if (name := names.get(key.lower()))}

    def fill(found: re.Match[str]) -> str:
        value = values.get(found.group(2))
        if value is None:
            return ""
        return quote(value, safe="/" if found.group(1) else "")

    path = "/".join(part for part in _ROUTE_PARAMETER.sub(fill, template).split("/") if part)
    parts = split_path(path)
    matched = None if parts is None else route.match(parts)
    if matched is None:
        wanted = ", ".join(f"--param {name}=..." for name in names.values())
        raise CommandError(
            f"route {template!r} of {fn.name} needs values that fit it ({wanted}); "
            f"got {values or 'none'}"
        )
    return path, matched


def _build_request(fn: AppFunction, args: argparse.Namespace, prefix: str) -> HttpRequest:
    spec = fn.spec
    params = _split_params(args.param)
    headers: dict[str, str] = {}
    body: str | None = None
    if args.json_body is not None:
        try:
            json.loads(args.json_body)
        except ValueError as exc:
            raise CommandError(f"--json: not valid JSON: {exc}") from None
        body = args.json_body
        headers["Content-Type"] = "application/json"
    elif args.data is not None:
        body = args.data
        headers["Content-Type"] = "text/plain; charset=utf-8"
    method = (args.method or ("POST" if body is not None else "GET")).upper()
    if spec.methods is not None and method not in spec.methods:
        raise CommandError(
            f"{spec.name} accepts {', '.join(spec.methods)}, not {method} (use --method)"
        )
    path, route_params = _route_path(fn, params)
    url = "http://localhost/" + "/".join(part for part in (prefix, path) if part)
    if params:
        url += "?" + urlencode(params)
    return HttpRequest(
        method, url, headers=headers, params=params, route_params=route_params, body=body
    )


def _find(app: LoadedApp, name: str) -> AppFunction:
    found = app.get(name)
    if found is None:
        names = ", ".join(fn.name for fn in app.functions)
        raise CommandError(f"no function named {name!r} in {app.root}; its functions: {names}")
    return found


def _print_body(response: HttpResponse) -> None:
    body = response.get_body()
    textual = response.mimetype.startswith("text/") or response.mimetype.endswith("json")
    if textual and body and not body.endswith(b"\n"):
        body += b"\n"
    sys.stdout.flush()
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()


def command_invoke(args: argparse.Namespace) -> int:
    """``extkit invoke APP_DIR FUNCTION``: one invocation through the full engine, no server.

    The response body goes to stdout, logs to stderr. Exit status (:class:`.ExitCode`): ``OK``;
    ``FAILED`` when the invocation failed (an exception, a rejection, a timeout, or an HTTP status
    of 400 or more); ``USAGE`` for a bad command line (unknown function, bad ``--param`` or
    ``--json``, a method the function does not accept); ``APP_NOT_LOADED``. Function keys are not
    needed: this is a local, trusted call.
    """
    from ..logs import configure_logging

    configure_logging(args.log_format, stream=sys.stderr)
    try:
        app = load_app(args.app_dir)
    except AppLoadError as exc:
        raise CommandError(str(exc), ExitCode.APP_NOT_LOADED) from None
    for note in app.warnings:
        logging.getLogger("extkit.loader").warning("%s", note)
    level = app.settings.log_level()
    if level is not None:
        logging.getLogger().setLevel(level)
    fn = _find(app, args.function)
    if fn.spec.trigger == "http":
        request = _build_request(fn, args, app.settings.route_prefix)
    elif args.data is not None or args.json_body is not None or args.param:
        raise CommandError(f"{fn.name} is a {fn.spec.trigger} function: it takes no request")
    # The pool's thread, recorded as it starts: after a timeout, whether the function still runs.
    threads: list[threading.Thread] = []
    executor = ThreadPoolExecutor(
        1,
        thread_name_prefix="extkit-invoke",
        initializer=lambda: threads.append(threading.current_thread()),
    )
    timeout = app.settings.function_timeout
    try:
        if fn.spec.trigger == "http":
            response = asyncio.run(invoke_http(fn, request, executor=executor, timeout=timeout))
            _print_body(response)
            failed = response.status_code >= 400
            if failed:
                print(
                    f"extkit invoke: {fn.name} answered {response.status_code} "
                    f"(invocation {response.headers.get(INVOCATION_ID_HEADER)})",
                    file=sys.stderr,
                )
        else:
            from ..schedule import TimerRequest

            timer = TimerRequest(past_due=False)
            error = asyncio.run(invoke_timer(fn, timer, executor=executor, timeout=timeout))
            failed = error is not None
    finally:
        app.engine.shutdown()
        executor.shutdown(wait=False, cancel_futures=True)
    if failed and any(thread.is_alive() for thread in threads):
        # The function timed out and is still running on its thread; Python would wait for it
        # at exit. Its outcome is already reported, so leave without waiting.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(ExitCode.FAILED)
    return ExitCode.FAILED if failed else ExitCode.OK
