"""Billing calendar and proration. Periods run from an anniversary to the next; a month-end anchor is
clamped to shorter months (31 January -> 28 or 29 February -> 31 March)."""

import calendar
from datetime import date


def add_months(anchor: date, months: int) -> date:
    """The anchor's day, `months` later, clamped to the length of that month."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(anchor.day, calendar.monthrange(year, month + 1)[1]))


def months_between(anchor: date, day: date) -> int:
    """How many whole monthly anniversaries of `anchor` have passed by `day` (0 on the anchor itself)."""
    months = (day.year - anchor.year) * 12 + day.month - anchor.month
    while months > 0 and add_months(anchor, months) > day:
        months -= 1
    while add_months(anchor, months + 1) <= day:
        months += 1
    return max(months, 0)


def div_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def prorate(amount_cents: int, *, period_start: date, period_end: date, on: date) -> int:
    """What is left of `amount_cents` for the rest of the period from `on` (included) to `period_end`
    (excluded): amount x remaining days / days in the period, rounded half-even to the cent.

    On the period's first day the whole amount; on its last day one day's worth."""
    total_days = (period_end - period_start).days
    remaining = (period_end - on).days
    if not 0 < remaining <= total_days:
        raise ValueError(f"{on} is not inside the period {period_start} .. {period_end}")
    return div_half_even(amount_cents * remaining, total_days)
