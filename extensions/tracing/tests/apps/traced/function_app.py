"""A decorator-model app the tracing tests run under a real ``extkit start``."""

from __future__ import annotations

import asyncio
import logging

from extkit_tracing import TracingExtension
from opentelemetry import trace

import extkit
from extkit import HttpRequest, HttpResponse
from extkit.app import FunctionApp

TracingExtension.configure(service_name="traced-app")

app = FunctionApp(http_auth_level="anonymous")
log = logging.getLogger("traced_app")


@app.route(route="hello")
def hello(req: HttpRequest) -> str:
    tracer = trace.get_tracer("traced_app")
    with tracer.start_as_current_span("load-greeting"):
        log.info("greeting %s", req.params.get("name", "world"))

    def in_thread() -> None:
        tracer.start_span("thread-work").end()

    thread = extkit.Thread(target=in_thread)
    thread.start()
    thread.join()
    return f"Hello, {req.params.get('name', 'world')}"


@app.route(route="items/{id:int}", methods=["GET"])
def item(req: HttpRequest) -> HttpResponse:
    return HttpResponse(f"item {req.route_params['id']}", status_code=200)


@app.route(route="keyed", auth_level="function")
def keyed(req: HttpRequest) -> str:
    return "opened with a key"


@app.route(route="fail")
def fail(req: HttpRequest) -> str:
    raise ValueError("the database is down")


@app.route(route="down")
def down(req: HttpRequest) -> HttpResponse:
    return HttpResponse("maintenance", status_code=503)


@app.route(route="async-hello")
async def async_hello(req: HttpRequest) -> str:
    await asyncio.sleep(0)
    with trace.get_tracer("traced_app").start_as_current_span("async-work"):
        await asyncio.sleep(0)
    return "Hello from async"


@app.route(route="careless", auth_level="function")
def careless(req: HttpRequest) -> str:
    """Logs its request the careless ways, then fails with its URL in the message."""
    log.info("handling %s", req.url)
    log.info("request %r with headers %s", req, dict(req.headers))
    raise RuntimeError(f"the upstream call for {req.url} failed")
