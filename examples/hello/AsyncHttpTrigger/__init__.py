"""An ``async def`` function: it runs on the host's event loop, blocking work goes to a thread.

``asyncio.to_thread`` copies the invocation's context, so the log line written on that thread
carries this invocation's id too. ``shared_code`` is importable from every function.
"""

import asyncio
import logging

from shared_code import greetings

from extkit import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)


async def main(req: HttpRequest) -> HttpResponse:
    name = req.route_params["name"]
    logger.info("async greeting requested for %s", name)
    text = await asyncio.to_thread(greetings.compose, name)
    return HttpResponse(text)
