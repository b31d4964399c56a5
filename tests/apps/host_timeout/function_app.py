"""Fixture app: functions that run past the app's one-second functionTimeout."""

import asyncio
import logging
import time

from probe import Probe  # noqa: F401 - importing it registers the extension

from extkit import HttpRequest
from extkit.app import AuthLevel, FunctionApp

app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)
logger = logging.getLogger("host_timeout")


@app.route(route="slow-sync")
def slow_sync(req: HttpRequest) -> str:
    time.sleep(2)
    return "too late"


@app.route(route="slow-async")
async def slow_async(req: HttpRequest) -> str:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        logger.info("slow-async was cancelled")
        raise
    return "too late"


@app.route(route="quick")
def quick(req: HttpRequest) -> str:
    return "in time"


@app.route(route="stuck")
def stuck(req: HttpRequest) -> str:
    logger.info("stuck function started")
    time.sleep(10)
    return "much too late"
