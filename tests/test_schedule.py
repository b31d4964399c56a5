"""NCRONTAB parsing and next-fire computation (``extkit.schedule``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from extkit.schedule import (
    CronSchedule,
    IntervalSchedule,
    ScheduleError,
    ScheduleStatus,
    TimerRequest,
    parse_schedule,
)

UTC = timezone.utc


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def firings(expression: str, start: datetime, count: int) -> list[datetime]:
    schedule = parse_schedule(expression)
    found, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        found.append(moment)
    return found


def test_every_second_fires_strictly_after_the_given_moment() -> None:
    assert firings("* * * * * *", at(2024, 1, 1, 0, 0, 0), 2) == [
        at(2024, 1, 1, 0, 0, 1),
        at(2024, 1, 1, 0, 0, 2),
    ]


def test_sub_second_moments_round_up_to_the_next_whole_second() -> None:
    moment = at(2024, 1, 1, 0, 0, 0) + timedelta(microseconds=999_999)
    assert parse_schedule("* * * * * *").next_after(moment) == at(2024, 1, 1, 0, 0, 1)


def test_steps_wrap_across_minutes_hours_days_months_and_years() -> None:
    assert firings("0 */5 * * * *", at(2023, 12, 31, 23, 52, 10), 3) == [
        at(2023, 12, 31, 23, 55, 0),
        at(2024, 1, 1, 0, 0, 0),
        at(2024, 1, 1, 0, 5, 0),
    ]


def test_lists_ranges_and_stepped_ranges() -> None:
    assert firings("0 0 9-17/4 * * *", at(2024, 3, 1, 0, 0, 0), 4) == [
        at(2024, 3, 1, 9, 0, 0),
        at(2024, 3, 1, 13, 0, 0),
        at(2024, 3, 1, 17, 0, 0),
        at(2024, 3, 2, 9, 0, 0),
    ]
    assert firings("10,20 0 0 * * *", at(2024, 3, 1, 0, 0, 15), 2) == [
        at(2024, 3, 1, 0, 0, 20),
        at(2024, 3, 2, 0, 0, 10),
    ]


def test_a_start_with_a_step_runs_to_the_end_of_the_field() -> None:
    assert firings("5/20 * * * * *", at(2024, 1, 1, 0, 0, 0), 4) == [
        at(2024, 1, 1, 0, 0, 5),
        at(2024, 1, 1, 0, 0, 25),
        at(2024, 1, 1, 0, 0, 45),
        at(2024, 1, 1, 0, 1, 5),
    ]


def test_weekday_names_and_ranges() -> None:
    # 2024-06-01 is a Saturday: the next weekday 09:30 is Monday the 3rd.
    assert firings("0 30 9 * * Mon-Fri", at(2024, 6, 1, 12, 0, 0), 2) == [
        at(2024, 6, 3, 9, 30, 0),
        at(2024, 6, 4, 9, 30, 0),
    ]
    assert parse_schedule("0 0 0 * * sunday").next_after(at(2024, 6, 1)) == at(2024, 6, 2)
    assert parse_schedule("0 0 0 * * 7").next_after(at(2024, 6, 1)) == at(2024, 6, 2)


def test_month_names() -> None:
    assert firings("0 0 0 1 Jan,jul *", at(2024, 2, 1), 2) == [at(2024, 7, 1), at(2025, 1, 1)]


def test_day_and_weekday_must_both_match_as_in_ncrontab() -> None:
    # The 13th that is a Friday: 2024-09-13, then 2024-12-13.
    assert firings("0 0 0 13 * Fri", at(2024, 6, 1), 2) == [at(2024, 9, 13), at(2024, 12, 13)]


def test_leap_day_waits_for_a_leap_year() -> None:
    assert firings("0 0 0 29 2 *", at(2024, 3, 1), 1) == [at(2028, 2, 29)]


def test_day_31_skips_short_months() -> None:
    assert firings("0 0 0 31 * *", at(2024, 4, 1), 2) == [at(2024, 5, 31), at(2024, 7, 31)]


def test_timespan_is_a_fixed_interval() -> None:
    schedule = parse_schedule("00:00:10")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(at(2024, 1, 1)) == at(2024, 1, 1, 0, 0, 10)
    assert parse_schedule("1.02:00:00").next_after(at(2024, 1, 1)) == at(2024, 1, 2, 2, 0, 0)


def test_setting_reference_is_resolved_from_the_environment() -> None:
    schedule = parse_schedule("%MY_SCHEDULE%", {"MY_SCHEDULE": "0 0 * * * *"})
    assert isinstance(schedule, CronSchedule)
    assert schedule.expression == "0 0 * * * *"
    with pytest.raises(ScheduleError, match="'MISSING', which is not set"):
        parse_schedule("%MISSING%", {})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * * *", "has 5 field"),
        ("0 0 0 30 2 *", "never fires"),
        ("60 * * * * *", "second value 60 is out of range 0-59"),
        ("* * 24 * * *", "hour value 24 is out of range 0-23"),
        ("* * * 0 * *", "day value 0 is out of range 1-31"),
        ("* * * * Foo *", "month value 'Foo' is not a number 1-12 or a name"),
        ("* * * * * Mo", "day-of-week value 'Mo'"),
        ("*/0 * * * * *", "step '0'"),
        ("*/x * * * * *", "step 'x'"),
        ("5-1 * * * * *", "runs backwards"),
        ("1,,2 * * * * *", "empty item"),
        ("", "is empty"),
        ("25:00:00", "out of range"),
    ],
)
def test_invalid_expressions_name_the_field_and_what_was_expected(
    expression: str, message: str
) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(expression)


def test_next_after_keeps_the_time_zone_it_is_given() -> None:
    found = parse_schedule("0 0 * * * *").next_after(at(2024, 1, 1, 10, 30))
    assert found.tzinfo is UTC


def test_timer_request_carries_past_due_and_status() -> None:
    schedule = parse_schedule("0 */5 * * * *")
    status = ScheduleStatus(last=None, next=at(2024, 1, 1, 0, 5), last_updated=at(2024, 1, 1))
    timer = TimerRequest(past_due=True, schedule=schedule, schedule_status=status)
    assert timer.past_due is True
    assert timer.schedule_status is status
    assert timer.is_startup is False
    assert "past_due=True" in repr(timer)
