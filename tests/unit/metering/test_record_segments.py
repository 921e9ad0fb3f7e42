"""Usage records live in one collection per month of receipt; a month leaves whole once past the dedup window."""

from datetime import UTC, datetime, timedelta

from services.metering.adapters.mongo import expired_segments, live_segments, segment_of

WINDOW = timedelta(days=35)


def test_a_record_goes_to_the_month_it_was_received_in() -> None:
    assert segment_of(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "usage_records_2026_11"
    assert segment_of(datetime(2026, 12, 1, 0, 0, tzinfo=UTC)) == "usage_records_2026_12"


def test_a_lookup_reads_every_month_a_record_of_the_window_can_be_in_newest_first() -> None:
    assert live_segments(datetime(2026, 11, 22, tzinfo=UTC), WINDOW) == [
        "usage_records_2026_11",
        "usage_records_2026_10",
    ]
    # 35 days (and a day of clock margin) before 2 March reach into January.
    assert live_segments(datetime(2026, 3, 2, tzinfo=UTC), WINDOW) == [
        "usage_records_2026_03",
        "usage_records_2026_02",
        "usage_records_2026_01",
    ]


def test_on_the_last_day_of_a_month_the_next_one_is_read_too_a_worker_whose_clock_runs_ahead_writes_there() -> None:
    assert live_segments(datetime(2026, 12, 31, 12, tzinfo=UTC), WINDOW)[:2] == [
        "usage_records_2027_01",
        "usage_records_2026_12",
    ]


def test_a_month_expires_once_its_last_record_is_older_than_the_window_and_the_margin() -> None:
    names = [
        "usage_records_2026_09",
        "usage_records_2026_10",
        "usage_records_2026_11",
        "usage_distinct",
        "usage_records",
    ]
    # The last October record (received 31 Oct 23:59) is still within 35 days + 1 on 6 December.
    assert expired_segments(names, datetime(2026, 12, 6, tzinfo=UTC), WINDOW) == ["usage_records_2026_09"]
    assert expired_segments(names, datetime(2026, 12, 7, 1, tzinfo=UTC), WINDOW) == [
        "usage_records_2026_09",
        "usage_records_2026_10",
    ]


def test_what_a_lookup_reads_is_never_expired() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for hours in range(0, 24 * 800, 7):
        now = start + timedelta(hours=hours)
        live = live_segments(now, WINDOW)
        assert not set(live) & set(expired_segments(live, now, WINDOW))
        # and every moment of the window is covered by a month that is read
        for days in range(36):
            assert segment_of(now - timedelta(days=days)) in live
