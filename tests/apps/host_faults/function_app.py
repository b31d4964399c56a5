"""Fixture app for the fault suite: functions that fail in every way production can make them."""

import asyncio
import logging
import sys
import threading
import time

from witness import Boom, Witness  # noqa: F401 - importing them registers the extensions

from extkit import HttpRequest, HttpResponse
from extkit.app import AuthLevel, FunctionApp

app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)
logger = logging.getLogger("host_faults")


class AppFault(BaseException):
    """An app's own BaseException, as some libraries define them."""


def _fail(kind: str) -> None:
    if kind == "exit":
        sys.exit(3)
    if kind == "interrupt":
        raise KeyboardInterrupt
    if kind == "custom":
        raise AppFault("the app's own BaseException")
    if kind == "cancel":
        raise asyncio.CancelledError


@app.route(route="sync/{kind}")
def sync_fails(req: HttpRequest) -> str:
    _fail(req.route_params["kind"])
    return "sync ok"


@app.route(route="async/{kind}")
async def async_fails(req: HttpRequest) -> str:
    await asyncio.sleep(0)
    _fail(req.route_params["kind"])
    return "async ok"


@app.route(route="status/{code:int}")
def bad_status(req: HttpRequest) -> HttpResponse:
    return HttpResponse("odd", status_code=req.route_params["code"])


@app.route(route="header")
def bad_header(req: HttpRequest) -> HttpResponse:
    return HttpResponse("odd", headers={"x-next": "a\r\nset-cookie: stolen=1"})


@app.route(route="name")
def bad_header_name(req: HttpRequest) -> HttpResponse:
    return HttpResponse("odd", headers={"bad name": "value"})


@app.route(route="json")
def nested_json(req: HttpRequest) -> str:
    try:
        req.get_json()
    except ValueError as exc:
        return f"ValueError: {str(exc)[:60]}"
    return "parsed"


@app.route(route="sleep/{ms:int}")
def sleeps(req: HttpRequest) -> str:
    logger.info("slept: started")
    time.sleep(req.route_params["ms"] / 1000)
    return f"slept {threading.current_thread().name}"


@app.route(route="asleep/{ms:int}")
async def async_sleeps(req: HttpRequest) -> str:
    await asyncio.sleep(req.route_params["ms"] / 1000)
    return "slept"


@app.route(route="hang")
def hangs(req: HttpRequest) -> str:
    time.sleep(float(req.params.get("s", "3")))
    return "late"


@app.route(route="keyed", auth_level=AuthLevel.FUNCTION)
def keyed(req: HttpRequest) -> str:
    return "keyed ok"


_running = 0  # invocations of ``concurrent`` running now (all on the event loop)


@app.route(route="concurrent/{ms:int}")
async def concurrent(req: HttpRequest) -> str:
    """Answers how many invocations of it ran at once when it started (the peak is the largest)."""
    global _running
    _running += 1
    logger.info("concurrent: started")
    try:
        running = _running
        await asyncio.sleep(req.route_params["ms"] / 1000)
        return f"running {running}"
    finally:
        _running -= 1
