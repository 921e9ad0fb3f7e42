"""Which ticks are due: one `tick.day` per UTC day and one `tick.month_end` per month once it is over, in
order, from the day after the last one emitted up to today. No I/O; `now` is passed in."""

from datetime import UTC, date, datetime, timedelta

from schemas.subscriptions import Tick


def day_tick(day: date, at: datetime) -> Tick:
    return Tick(kind="tick.day", tick_id=f"day:{day.isoformat()}", day=day, emitted_at=at)


def month_end_tick(last_day: date, at: datetime) -> Tick:
    period = last_day.strftime("%Y-%m")
    return Tick(kind="tick.month_end", tick_id=f"month-end:{period}", day=last_day, period=period, emitted_at=at)


def due_ticks(last_emitted: date | None, now: datetime) -> list[Tick]:
    """Every tick after `last_emitted` up to today. On the first day of a month the previous month's end comes
    first. A scheduler that has never run starts with today (it does not invent history)."""
    today = now.astimezone(UTC).date()
    day = (last_emitted + timedelta(days=1)) if last_emitted else today
    ticks: list[Tick] = []
    while day <= today:
        if day.day == 1 and last_emitted is not None:
            ticks.append(month_end_tick(day - timedelta(days=1), now))
        ticks.append(day_tick(day, now))
        day += timedelta(days=1)
    return ticks
