"""Fixture app for the load test: each function logs the request number it was called with."""

import asyncio
import logging

from extkit import HttpRequest
from extkit.app import AuthLevel, FunctionApp

app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)
logger = logging.getLogger("host_load")


def _note(n: int, where: str) -> None:
    logger.info("request %d %s", n, where, extra={"request_number": n})


@app.route(route="sync/{n:int}", methods=["GET"])
def sync_handler(req: HttpRequest) -> str:
    n = req.route_params["n"]
    _note(n, "sync")
    return f"sync {n}"


@app.route(route="async/{n:int}", methods=["GET"])
async def async_handler(req: HttpRequest) -> str:
    n = req.route_params["n"]
    _note(n, "async before")
    await asyncio.sleep(0)  # let other requests interleave
    await asyncio.to_thread(_note, n, "async in thread")
    return f"async {n}"
