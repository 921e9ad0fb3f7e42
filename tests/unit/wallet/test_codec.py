"""The wallet's documents: what is written is what asdict would write, and reads back to the same wallet or entry."""

from dataclasses import asdict
from datetime import UTC, datetime

from services.wallet.adapters.codec import entry_from_doc, entry_to_doc, wallet_from_doc, wallet_to_doc
from services.wallet.domain.model import (
    AutoRecharge,
    Bucket,
    DebitRequest,
    LedgerEntry,
    Movement,
    PendingPayment,
    Policy,
    Wallet,
)
from services.wallet.domain.rules import decide

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


def test_an_entry_a_debit_made_is_stored_as_asdict_would_store_it() -> None:
    wallet = Wallet("acme", balance=1_000_000, buckets=(Bucket("b-1", "purchased", 1_000_000, AT),), entry_count=3)
    [made] = decide(wallet, DebitRequest("usage:ev-1", 150_000, "sms", AT, "usage.events:ev-1"), at=AT).entries
    expected = asdict(made)
    expected["_id"] = expected.pop("entry_id")
    expected["movements"] = list(expected["movements"])

    assert entry_to_doc(made) == expected


def test_a_stored_entry_reads_back_to_the_same_entry() -> None:
    assert entry_from_doc(entry_to_doc(entry())) == entry()


def wallet() -> Wallet:
    """A wallet with every kind of field set: nested settings, buckets and a payment in flight."""
    return Wallet(
        tenant_id="acme", balance=9_850_000, version=7, policy=Policy("overdraft", 5_000_000),
        thresholds=(20_000_000, 0), credit_price=900_000, payment_method="pm-1", recharge_failures=1,
        recharged_month="2026-11", recharged_in_month=30_000_000, entry_count=12,
        buckets=(Bucket("b-1", "allowance", 4_850_000, AT, 10, AT), Bucket("b-2", "purchased", 5_000_000, AT)),
        pending=(PendingPayment("purchase:p-1", 10_000_000, 1_000, "purchase", "ada@acme.test", AT),),
        auto_recharge=AutoRecharge(10_000_000, "target", 50_000_000, 200_000_000, 3, True),
    )  # fmt: skip


def test_a_wallet_is_stored_as_asdict_writes_it_with_the_tenant_as_its_id() -> None:
    expected = asdict(wallet())
    expected["_id"] = expected.pop("tenant_id")
    for name in ("thresholds", "buckets", "pending"):  # tuples are written as arrays either way
        expected[name] = list(expected[name])

    assert wallet_to_doc(wallet()) == expected
    assert wallet_to_doc(Wallet("acme"))["auto_recharge"] is None


def test_a_stored_wallet_reads_back_to_the_same_wallet() -> None:
    assert wallet_from_doc(wallet_to_doc(wallet()), "acme") == wallet()
    assert wallet_from_doc(wallet_to_doc(Wallet("acme")), "acme") == Wallet("acme")
