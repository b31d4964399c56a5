"""Timer schedules: six-field NCRONTAB expressions, when they fire next, and ``TimerRequest``.

An expression has six fields, as in the reference::

    {second} {minute} {hour} {day} {month} {day-of-week}
    0 */5 * * * *          every five minutes
    0 30 9 * * Mon-Fri     09:30 on weekdays

Each field takes ``*``, a number, a range ``1-5``, a step ``*/15``, ``10-40/10`` or ``5/20`` (from 5
to the end), and comma lists of these. Months and days of the week also take names (``Jan``,
``January``, ``mon``; any unambiguous prefix of three letters or more). Days of the week run from
0 (Sunday) to 6; 7 is accepted for Sunday too. As in NCRONTAB (and unlike classic cron), a
moment must match *both* the day and the day-of-week field. A ``TimeSpan`` such as ``00:05:00``
(``hh:mm:ss``) means a fixed interval. ``%NAME%`` takes the expression from the app setting (the
environment variable) ``NAME``.

Times are UTC. A schedule that can never fire (``0 0 0 30 2 *``) is an error when parsed.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Final, final

__all__ = [
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "ScheduleError",
    "ScheduleStatus",
    "TimerRequest",
    "parse_schedule",
]


class ScheduleError(ValueError):
    """A schedule expression that is not valid, naming the field and what was expected."""


_MONTHS: Final = (
    *("january", "february", "march", "april", "may", "june"),
    *("july", "august", "september", "october", "november", "december"),
)
_DAYS: Final = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is the value low + i


_FIELDS: Final = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 6, _DAYS),
)
#: The longest run of days a valid schedule may wait between two firings: eight years cover
#: a leap day (29 Feb), the rarest date an expression can ask for.
_MAX_DAYS: Final = 366 * 8 + 1


def _value(field: _Field, text: str, expression: str) -> int:
    if text.isdigit():
        number = int(text)
        if field.name == "day-of-week" and number == 7:
            return 0  # Sunday, as classic cron spells it
        if not field.low <= number <= field.high:
            raise ScheduleError(
                f"schedule {expression!r}: {field.name} value {number} is out of range "
                f"{field.low}-{field.high}"
            )
        return number
    folded = text.lower()
    if field.names and len(folded) >= 3:
        for index, name in enumerate(field.names):
            if name.startswith(folded):
                return field.low + index
    expected = f"a number {field.low}-{field.high}"
    if field.names:
        expected += " or a name such as " + ", ".join(name[:3].title() for name in field.names)
    raise ScheduleError(f"schedule {expression!r}: {field.name} value {text!r} is not {expected}")


def _parse_field(field: _Field, text: str, expression: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(
                    f"schedule {expression!r}: {field.name} step {step_text!r} in {item!r} is "
                    "not a whole number above 0"
                )
            step = int(step_text)
        if body == "*":
            start, end = field.low, field.high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = _value(field, first, expression), _value(field, last, expression)
            if field.name == "day-of-week" and last == "7":
                end = 7  # Sun-... spelt 0-7 / 1-7: include Sunday at the end
            if start > end:
                raise ScheduleError(
                    f"schedule {expression!r}: {field.name} range {body!r} runs backwards"
                )
        elif body:
            start = _value(field, body, expression)
            end = field.high if slash else start
        else:
            raise ScheduleError(f"schedule {expression!r}: empty item in {field.name} {text!r}")
        values.update(
            value % 7 if field.name == "day-of-week" else value
            for value in range(start, end + 1, step)
        )
    return tuple(sorted(values))


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    """When a timer fired last and fires next (the reference's ``ScheduleStatus``)."""

    last: datetime | None
    next: datetime
    last_updated: datetime


class Schedule:
    """Base of schedules: ``next_after(moment)`` is the first firing strictly after ``moment``."""

    __slots__ = ("expression",)

    expression: str

    def next_after(self, moment: datetime) -> datetime:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.expression


@final
class CronSchedule(Schedule):
    """A six-field NCRONTAB schedule; each field is kept as a sorted tuple of allowed values."""

    __slots__ = ("days", "hours", "minutes", "months", "seconds", "weekdays")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        fields = expression.split()
        if len(fields) != 6:
            raise ScheduleError(
                f"schedule {expression!r} has {len(fields)} field(s); an NCRONTAB schedule has "
                "six: second minute hour day month day-of-week (e.g. '0 */5 * * * *')"
            )
        parsed = [
            _parse_field(f, text, expression) for f, text in zip(_FIELDS, fields, strict=True)
        ]
        self.seconds, self.minutes, self.hours, self.days, self.months, self.weekdays = parsed
        try:
            self.next_after(datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
        except ScheduleError:
            raise ScheduleError(f"schedule {expression!r} never fires (no such date)") from None

    def _first_time(self, after: time | None) -> time | None:
        """The first allowed time of day at or after ``after`` (midnight when ``None``)."""
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        if after is None:
            return time(hours[0], minutes[0], seconds[0])
        for hour in hours[bisect.bisect_left(hours, after.hour) :]:
            minute_floor = after.minute if hour == after.hour else 0
            for minute in minutes[bisect.bisect_left(minutes, minute_floor) :]:
                second_floor = after.second if (hour, minute) == (after.hour, after.minute) else 0
                index = bisect.bisect_left(seconds, second_floor)
                if index < len(seconds):
                    return time(hour, minute, seconds[index])
        return None

    def _day_matches(self, day: date) -> bool:
        return (
            day.month in self.months
            and day.day in self.days
            and (day.isoweekday() % 7) in self.weekdays
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment``, in ``moment``'s time zone (use UTC)."""
        start = moment.replace(microsecond=0) + timedelta(seconds=1)
        day = start.date()
        after: time | None = start.time()
        for _ in range(_MAX_DAYS):
            if self._day_matches(day):
                found = self._first_time(after)
                if found is not None:
                    return datetime.combine(day, found, tzinfo=moment.tzinfo)
            day += timedelta(days=1)
            after = None
        raise ScheduleError(f"schedule {self.expression!r} never fires")

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r})"


_TIMESPAN: Final = re.compile(
    r"(?:(?P<days>[0-9]+)\.)?(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
)


@final
class IntervalSchedule(Schedule):
    """A ``TimeSpan`` schedule (``hh:mm:ss``): fires every ``interval`` after the last firing."""

    __slots__ = ("interval",)

    def __init__(self, expression: str) -> None:
        found = _TIMESPAN.fullmatch(expression.strip())
        if found is None:
            raise ScheduleError(f"schedule {expression!r} is not a TimeSpan such as '00:05:00'")
        hours, minutes, seconds = int(found["h"]), int(found["m"]), int(found["s"])
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ScheduleError(f"schedule {expression!r}: TimeSpan fields out of range")
        self.expression = expression
        self.interval = timedelta(
            days=int(found["days"] or 0), hours=hours, minutes=minutes, seconds=seconds
        )
        if self.interval <= timedelta(0):
            raise ScheduleError(f"schedule {expression!r}: the interval must be above zero")

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval

    def __repr__(self) -> str:
        return f"IntervalSchedule({self.expression!r})"


_SETTING: Final = re.compile(r"%(?P<name>[A-Za-z_][A-Za-z0-9_.:-]*)%")


def parse_schedule(expression: str, environ: Mapping[str, str] | None = None) -> Schedule:
    """Parse a timer schedule: NCRONTAB, a ``TimeSpan``, or ``%SETTING%`` naming either.

    ``ScheduleError`` says what is wrong and what was expected.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError(
            f"schedule {expression!r} is empty; expected six NCRONTAB fields such as "
            "'0 */5 * * * *'"
        )
    text = expression.strip()
    setting = _SETTING.fullmatch(text)
    if setting is not None:
        env = os.environ if environ is None else environ
        value = env.get(setting["name"])
        if value is None or not value.strip():
            raise ScheduleError(
                f"schedule {expression!r} names the app setting {setting['name']!r}, which is not "
                "set (add it to local.settings.json Values or the environment)"
            )
        text = value.strip()
    if _TIMESPAN.fullmatch(text):
        return IntervalSchedule(text)
    return CronSchedule(text)


class TimerRequest:
    """What a timer-triggered function receives (the reference's ``func.TimerRequest``).

    ``past_due`` is true when this invocation runs later than its occurrence was due (the host was
    busy or stopped when it should have fired); ``schedule_status`` holds the last, next and
    last-updated times; ``scheduled_time`` is the occurrence this invocation stands for, and
    ``is_startup`` marks the ``runOnStartup`` invocation.
    """

    __slots__ = ("is_startup", "past_due", "schedule", "schedule_status", "scheduled_time")

    def __init__(
        self,
        *,
        past_due: bool = False,
        schedule: Schedule | None = None,
        schedule_status: ScheduleStatus | None = None,
        scheduled_time: datetime | None = None,
        is_startup: bool = False,
    ) -> None:
        self.past_due = past_due
        self.schedule = schedule
        self.schedule_status = schedule_status
        self.scheduled_time = scheduled_time
        self.is_startup = is_startup

    def __repr__(self) -> str:
        return (
            f"TimerRequest(past_due={self.past_due!r}, schedule={self.schedule!s}, "
            f"scheduled_time={self.scheduled_time!r})"
        )
