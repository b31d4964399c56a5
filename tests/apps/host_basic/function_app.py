"""Fixture app for the host's end-to-end tests: one function per behaviour under test."""

import asyncio
import json
import logging
import os
import time

from probe import Probe, request_marker  # noqa: F401 - importing Probe registers it

from extkit import Context, HttpRequest, HttpResponse, Out
from extkit.app import AuthLevel, FunctionApp

app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)
logger = logging.getLogger("host_basic")


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: HttpRequest) -> dict[str, object]:
    value = req.route_params["id"]
    return {"id": value, "type": type(value).__name__}


@app.route(route="items/{name:alpha}", methods=["GET", "POST"])
def item_by_name(req: HttpRequest) -> dict[str, object]:
    return {"name": req.route_params["name"], "method": req.method}


@app.route(route="files/{*path}")
def files(req: HttpRequest) -> dict[str, object]:
    return {"path": req.route_params.get("path"), "params": req.params}


@app.route(route="echo", methods=["POST"])
def echo(req: HttpRequest) -> HttpResponse:
    try:
        data = req.get_json()
    except ValueError as exc:
        return HttpResponse(f"bad JSON: {exc}", status_code=400)
    return HttpResponse(json.dumps({"got": data}), mimetype="application/json")


@app.route(route="size", methods=["POST"])
def size(req: HttpRequest) -> str:
    return str(len(req.get_body()))


def _markers(context: Context) -> dict[str, str]:
    return {
        "on_entry": context.app_ext_attributes["marker_on_entry"],
        "in_function": request_marker.get(),
        "invocation_id": context.invocation_id,
    }


@app.route(route="marker/async")
async def marker_async(req: HttpRequest, context: Context) -> dict[str, str]:
    return _markers(context)


@app.route(route="marker/sync")
def marker_sync(req: HttpRequest, context: Context) -> dict[str, str]:
    return _markers(context)


@app.route(route="text")
def text(req: HttpRequest) -> str:
    return "plain text"


@app.route(route="raw")
def raw(req: HttpRequest) -> bytes:
    return b"\x00\x01\x02"


@app.route(route="nothing")
def nothing(req: HttpRequest) -> None:
    return None


@app.route(route="custom")
def custom(req: HttpRequest) -> HttpResponse:
    return HttpResponse("made", status_code=201, headers={"X-Custom": "yes"})


@app.route(route="named", binding_arg_name="res")
def named(req: HttpRequest, res: Out[HttpResponse]) -> None:
    res.set(HttpResponse("from the named output", status_code=202))


@app.route(route="wrong-type")
def wrong_type(req: HttpRequest) -> int:
    return 42


@app.route(route="boom")
def boom(req: HttpRequest) -> str:
    raise RuntimeError("the function failed on purpose")


@app.route(route="trace")
def trace(req: HttpRequest, context: Context) -> dict[str, object]:
    return {
        "trace_parent": context.trace_context.trace_parent,
        "trace_state": context.trace_context.trace_state,
        "invocation_id": context.invocation_id,
    }


@app.route(route="secure", auth_level=AuthLevel.FUNCTION)
def secure(req: HttpRequest) -> str:
    return "function-level secret"


@app.route(route="admin-only", auth_level=AuthLevel.ADMIN)
def admin_only(req: HttpRequest) -> str:
    return "admin-level secret"


@app.route(route="sleep/{ms:int}")
def sleep(req: HttpRequest) -> str:
    ms = req.route_params["ms"]
    logger.info("sleep started for %d ms", ms)
    time.sleep(ms / 1000)
    logger.info("sleep finished after %d ms", ms)
    return f"slept {ms} ms"


@app.route(route="asleep/{ms:int}")
async def asleep(req: HttpRequest) -> str:
    ms = req.route_params["ms"]
    logger.info("asleep started for %d ms", ms)
    await asyncio.sleep(ms / 1000)
    return f"slept {ms} ms"


@app.route(route="pid")
def pid(req: HttpRequest) -> str:
    return str(os.getpid())
