"""The wallet's documents: what is written is what asdict would write, and reads back to the same entry."""

from dataclasses import asdict
from datetime import UTC, datetime

from services.wallet.adapters.codec import entry_from_doc, entry_to_doc
from services.wallet.domain.model import LedgerEntry, Movement

AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def entry() -> LedgerEntry:
    return LedgerEntry(
        entry_id="e-1", tenant_id="acme", entry_type="sms", amount=-150_000, balance_after=9_850_000,
        occurred_at=AT, recorded_at=AT, command_id="usage:ev-1", source="usage.events:ev-1", site="lyon",
        personnel="p-7", sequence=12,
        movements=(Movement("b-1", -100_000, "allowance", 10, AT), Movement("b-2", -50_000, "purchased")),
    )  # fmt: skip


def test_a_ledger_entry_is_stored_with_every_field_and_its_movements_as_plain_documents() -> None:
    expected = asdict(entry())
    expected["_id"] = expected.pop("entry_id")
    expected["movements"] = list(expected["movements"])

    assert entry_to_doc(entry()) == expected


def test_a_stored_entry_reads_back_to_the_same_entry() -> None:
    assert entry_from_doc(entry_to_doc(entry())) == entry()
