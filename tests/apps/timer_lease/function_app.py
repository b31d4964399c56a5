"""Fixture app: a timer that fires every second and logs which tick it is."""

import logging
import os

from extkit import FunctionApp, TimerRequest

app = FunctionApp()
logger = logging.getLogger("timer_lease")


@app.schedule(schedule="* * * * * *", arg_name="timer")
def every_second(timer: TimerRequest) -> None:
    logger.info("tick", extra={"tick": timer.scheduled_time.isoformat(), "pid": os.getpid()})
