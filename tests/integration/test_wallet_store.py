"""The wallet's documents on the real MongoDB protocol: what one usage debit writes, and how a redelivery is
recognised whichever document holds the command's marker."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas import wallet as wire
from services.wallet.adapters.mongo import MongoWalletStore
from services.wallet.service import WalletService

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


class _Admins:
    async def admins(self, tenant_id: str) -> frozenset[str] | None:
        return frozenset({"admin@acme.example"})


def _debit(command_id: str, amount: str = "0.15") -> wire.Debit:
    return wire.Debit(command_id=command_id, tenant_id="acme", issued_at=NOW, amount=Decimal(amount),
                      entry_type="sms", occurred_at=NOW, source=f"usage.events:{command_id}")  # fmt: skip


@pytest.fixture
async def wallet(ops) -> AsyncIterator[tuple[WalletService, MongoWalletStore, object]]:
    db = ops.mongo[f"wallet_store_{uuid.uuid4().hex[:8]}"]
    store = MongoWalletStore(ops.mongo, db)
    await store.create_indexes()
    yield WalletService(store, _Admins(), lambda: NOW), store, db
    await ops.mongo.drop_database(db.name)


async def test_a_debit_writes_one_ledger_entry_that_carries_its_marker(wallet) -> None:
    service, store, db = wallet
    await service.handle(wire.Configure(command_id="setup", tenant_id="acme", issued_at=NOW, policy="overdraft",
                                        overdraft_limit=Decimal(100)))  # fmt: skip
    markers_before = await db["applied_commands"].count_documents({})

    first = await service.handle(_debit("usage:e-1"))

    assert first.status == "applied"
    assert await db["applied_commands"].count_documents({}) == markers_before, "no marker document of its own"
    [entry] = [d async for d in db["ledger"].find({"command_id": "usage:e-1"})]
    assert entry["fingerprint"] and entry["events"] == "own", "the entry's own event: rebuilt, not copied"
    again = await service.handle(_debit("usage:e-1"))
    assert (again.status, again.events) == ("duplicate", first.events), "a redelivery republishes the same events"
    assert await store.sum_of_entries("acme") == (-150_000, 1)
    assert (await service.handle(_debit("usage:e-1", "5"))).status == "conflict"
    assert (await store.marker("acme", "usage:e-1")).events == first.events
    assert await store.ledger("acme") == [await store.entry("acme", entry["_id"])], "an entry reads back whole"


async def test_a_command_that_makes_no_entry_keeps_a_marker_document(wallet) -> None:
    service, store, db = wallet
    rejected = await service.handle(_debit("usage:e-2"))  # a new wallet has the hard policy and no credits

    assert [e["event"]["kind"] for e in rejected.events] == ["debit.rejected"]
    assert await db["ledger"].count_documents({}) == 0
    assert await db["applied_commands"].count_documents({"command_id": "usage:e-2"}) == 1
    assert (await service.handle(_debit("usage:e-2"))).status == "duplicate"
    assert set(await store.markers("acme", "usage:")) == {"usage:e-2"}
    assert await store.count_markers("usage:") == 1


async def test_a_marker_stored_before_markers_moved_into_entries_still_makes_a_redelivery_a_duplicate(
    wallet,
) -> None:
    service, store, db = wallet
    await service.handle(wire.Configure(command_id="setup", tenant_id="acme", issued_at=NOW, policy="overdraft",
                                        overdraft_limit=Decimal(100)))  # fmt: skip
    first = await service.handle(_debit("usage:e-3"))
    # The layout of earlier versions: the entry without the marker, the marker in `applied_commands`.
    [entry] = [d async for d in db["ledger"].find({"command_id": "usage:e-3"})]
    await db["ledger"].update_one({"_id": entry["_id"]}, {"$unset": {"fingerprint": "", "events": ""}})
    await db["applied_commands"].insert_one({"_id": "acme|usage:e-3", "tenant_id": "acme", "command_id": "usage:e-3",
                                             "fingerprint": entry["fingerprint"], "events": first.events,
                                             "recorded_at": NOW})  # fmt: skip

    again = await service.handle(_debit("usage:e-3"))

    assert (again.status, again.events) == ("duplicate", first.events)
    assert await store.sum_of_entries("acme") == (-150_000, 1)
    assert await store.count_markers("usage:") == 1


async def test_a_marker_copies_its_events_when_the_entry_alone_cannot_give_them_back_and_replays_are_exact(
    ops, wallet
) -> None:
    """A debit that crossed a threshold published two events, and a clock finer than MongoDB's milliseconds would
    rebuild another time: those markers copy their events. Either way a redelivery republishes exactly what was
    published first, also after a refund has changed the entry."""
    service, store, db = wallet
    await service.handle(_grant("grant-1", "1"))
    await service.handle(wire.Configure(command_id="thresholds", tenant_id="acme", issued_at=NOW,
                                        thresholds=[Decimal("0.5")]))  # fmt: skip
    fine_clock = WalletService(store, _Admins(), lambda: NOW.replace(microsecond=250))

    plain = await service.handle(_debit("usage:e-1", "0.1"))
    crossing = await service.handle(_debit("usage:e-2", "0.5"))
    fine = await fine_clock.handle(_debit("usage:e-3", "0.1"))
    refunded = plain.events[0]["event"]["entry_id"]
    await service.handle(wire.Refund(command_id="refund-1", tenant_id="acme", issued_at=NOW, reason="test",
                                     entry_id=refunded, amount=Decimal("0.05")))  # fmt: skip

    assert [e["event"]["kind"] for e in crossing.events] == ["entry.recorded", "threshold.crossed"]
    stored = {d["command_id"]: d["events"] async for d in db["ledger"].find({"command_id": {"$regex": "^usage:"}})}
    assert stored == {"usage:e-1": "own", "usage:e-2": crossing.events, "usage:e-3": fine.events}
    for command_id, first in (("usage:e-1", plain), ("usage:e-2", crossing), ("usage:e-3", fine)):
        again = await service.handle(_debit(command_id, first.events[0]["event"]["amount"].lstrip("-")))
        assert (again.status, again.events) == ("duplicate", first.events), command_id
    assert (await store.markers("acme", "usage:"))["usage:e-1"].events == plain.events
    assert (await store.entry("acme", refunded)).reversed_amount == 50_000, "replayed after the refund changed it"


def _grant(command_id: str, amount: str) -> wire.Grant:
    return wire.Grant(command_id=command_id, tenant_id="acme", issued_at=NOW, amount=Decimal(amount),
                      grant_kind="purchased", source="test")  # fmt: skip


async def test_a_worker_keeping_a_wallet_another_worker_changed_decides_on_the_stored_one(ops, wallet) -> None:
    """Two workers of the group (the tenant's partition moved between them): each keeps the wallets it wrote.
    A kept wallet that is no longer the stored one never decides anything: the version guard sends the batch
    round again with the stored wallet, whether the stale decision would have applied or rejected."""
    first_worker, store, db = wallet
    second_worker = WalletService(MongoWalletStore(ops.mongo, db, cache_size=10), _Admins(), lambda: NOW)
    first_worker.store = MongoWalletStore(ops.mongo, db, cache_size=10)  # keeps wallets too

    await first_worker.handle(_grant("grant-1", "0.15"))  # first keeps a balance of 0.15
    assert (await second_worker.handle(_debit("usage:e-1"))).status == "applied"  # stored balance 0
    stale_would_apply = await first_worker.handle(_debit("usage:e-2"))
    assert [e["event"]["kind"] for e in stale_would_apply.events] == ["debit.rejected"]

    await second_worker.handle(_grant("grant-2", "1"))  # first keeps a balance of 0; stored 1
    stale_would_reject = await first_worker.handle(_debit("usage:e-3"))
    assert stale_would_reject.events[0]["event"]["kind"] == "entry.recorded"

    wallet_now = await store.wallet("acme")
    assert wallet_now.balance == 850_000
    assert await store.sum_of_entries("acme") == (850_000, 4), "two grants, two debits"
