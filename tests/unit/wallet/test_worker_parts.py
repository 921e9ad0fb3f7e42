"""How the wallet worker cuts a batch of records into the parts it applies, one transaction each, counts what it
applied and publishes what the commands made."""

from collections.abc import Iterator

from prometheus_client import REGISTRY

from schemas import topics
from services.wallet.ports import Applied
from services.wallet.worker import _count, in_parts, published


def test_records_are_applied_in_order_in_parts_of_at_most_the_batch_size_never_splitting_a_record() -> None:
    records = [["a1", "a2"], ["b1", "b2", "b3"], ["c1"], ["d1", "d2"]]

    assert list(in_parts(records, 4)) == [["a1", "a2"], ["b1", "b2", "b3", "c1"], ["d1", "d2"]]
    assert list(in_parts(records, 100)) == [["a1", "a2", "b1", "b2", "b3", "c1", "d1", "d2"]]


def test_a_record_with_more_lines_than_the_batch_size_is_a_part_of_its_own() -> None:
    assert list(in_parts([["a"], ["b1", "b2", "b3"], ["c"]], 2)) == [["a"], ["b1", "b2", "b3"], ["c"]]


def test_records_with_nothing_to_apply_make_no_part() -> None:
    assert list(in_parts([[], []], 3)) == []
    assert list(in_parts([], 3)) == []


def test_records_are_read_as_the_parts_are_made_so_a_long_batch_is_never_all_in_memory() -> None:
    read: list[int] = []

    def records() -> Iterator[list[int]]:
        for n in range(1, 7):
            read.append(n)
            yield [n, n]

    parts = in_parts(records(), 4)
    assert next(parts) == [1, 1, 2, 2]
    assert read == [1, 2, 3], "the part is made with one record read ahead"
    assert list(parts) == [[3, 3, 4, 4], [5, 5, 6, 6]]


def test_a_batch_counts_the_events_of_the_commands_it_applied_by_kind_and_not_those_of_duplicates() -> None:
    def counted(kind: str) -> float:
        return REGISTRY.get_sample_value("creditflow_wallet_outcomes_total", {"kind": kind}) or 0.0

    recorded = {"topic": "wallet.events", "event": {"kind": "entry.recorded"}}
    crossed = {"topic": "wallet.events", "event": {"kind": "threshold.crossed"}}
    before = counted("entry.recorded"), counted("threshold.crossed")

    _count([Applied("applied", [recorded]), Applied("applied", [recorded, crossed]), Applied("duplicate", [recorded])])

    assert (counted("entry.recorded"), counted("threshold.crossed")) == (before[0] + 2, before[1] + 1)


def test_a_rejection_is_published_on_the_wallet_events_and_again_alone_for_those_who_need_only_rejections() -> None:
    entry = {"kind": "entry.recorded", "event_id": "e1"}
    rejected = {"kind": "debit.rejected", "event_id": "rejected:t1:usage:x"}
    crossed = {"kind": "threshold.crossed", "event_id": "c1"}
    made = [{"topic": topics.WALLET_EVENTS, "event": e} for e in (entry, rejected, crossed)]
    requested = {"topic": topics.PAYMENTS_REQUESTS, "event": {"kind": "payment.requested"}}

    assert published("t1", [*made, requested]) == [
        (topics.WALLET_EVENTS, "t1", entry),
        (topics.WALLET_EVENTS, "t1", rejected),
        (topics.WALLET_REJECTIONS, "t1", rejected),
        (topics.WALLET_EVENTS, "t1", crossed),
        (topics.PAYMENTS_REQUESTS, "t1", requested["event"]),
    ]
