"""Fixture app for --workers: which process answered, and a timer that ticks every second."""

import logging
import os

from extkit import HttpRequest
from extkit.app import AuthLevel, FunctionApp
from extkit.schedule import TimerRequest

app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)
logger = logging.getLogger("host_workers")


@app.route(route="pid")
def pid(req: HttpRequest) -> str:
    return str(os.getpid())


@app.schedule(schedule="* * * * * *", arg_name="timer")
def tick(timer: TimerRequest) -> None:
    logger.info("tick in pid %d", os.getpid())
