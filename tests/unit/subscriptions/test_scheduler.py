"""Which ticks the scheduler publishes: deterministic ids, in order, caught up after downtime."""

from datetime import UTC, date, datetime

from services.scheduler.domain import due_ticks

NOW = datetime(2026, 12, 2, 0, 5, tzinfo=UTC)


def test_a_scheduler_that_never_ran_starts_with_today() -> None:
    assert [t.tick_id for t in due_ticks(None, NOW)] == ["day:2026-12-02"]


def test_after_downtime_every_missed_day_is_published_in_order_with_the_month_end_before_the_first() -> None:
    ticks = due_ticks(date(2026, 11, 29), NOW)

    assert [t.tick_id for t in ticks] == [
        "day:2026-11-30",
        "month-end:2026-11",
        "day:2026-12-01",
        "day:2026-12-02",
    ]
    month_end = ticks[1]
    assert (month_end.kind, month_end.day, month_end.period) == ("tick.month_end", date(2026, 11, 30), "2026-11")


def test_running_again_the_same_day_publishes_nothing_new_and_a_rerun_repeats_the_same_ids() -> None:
    assert due_ticks(date(2026, 12, 2), NOW) == []
    first = [t.tick_id for t in due_ticks(date(2026, 11, 30), NOW)]
    again = [t.tick_id for t in due_ticks(date(2026, 11, 30), NOW)]
    assert first == again
