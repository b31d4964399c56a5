"""A timer-only app: its invocations are timer spans with ``faas.cron`` and ``faas.time``."""

from __future__ import annotations

import logging

from extkit.app import FunctionApp
from extkit.schedule import TimerRequest

app = FunctionApp()
log = logging.getLogger("traced_timer")


@app.schedule(schedule="*/1 * * * * *", arg_name="timer")
def tick(timer: TimerRequest) -> None:
    log.info("tick (past due: %s)", timer.past_due)
