"""Fixture app: a timer that runs on startup (and then once a year)."""

import logging

from probe import Probe  # noqa: F401 - importing it registers the extension

from extkit import Context
from extkit.app import FunctionApp
from extkit.schedule import TimerRequest

app = FunctionApp()
logger = logging.getLogger("host_timer")


@app.schedule(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
def yearly(timer: TimerRequest, context: Context) -> None:
    logger.info(
        "timer fired: is_startup=%s past_due=%s next=%s invocation=%s",
        timer.is_startup,
        timer.past_due,
        timer.schedule_status.next.isoformat() if timer.schedule_status else None,
        context.invocation_id,
    )
