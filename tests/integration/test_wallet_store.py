"""The wallet's documents on the real MongoDB protocol: what one usage debit writes, how a batch's entries are
stored together and read back one by one, and how a redelivery is recognised whichever document holds the
command's marker, in the layouts of earlier versions too."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas import wallet as wire
from services.wallet.adapters import mongo
from services.wallet.adapters.mongo import MongoWalletStore
from services.wallet.ports import LedgerQuery
from services.wallet.service import LineDebit, WalletService

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


class _Admins:
    async def admins(self, tenant_id: str) -> frozenset[str] | None:
        return frozenset({"admin@acme.example"})


def _debit(command_id: str, amount: str = "0.15") -> wire.Debit:
    return wire.Debit(command_id=command_id, tenant_id="acme", issued_at=NOW, amount=Decimal(amount),
                      entry_type="sms", occurred_at=NOW, source=f"usage.events:{command_id}")  # fmt: skip


async def _stored(db, command_prefix: str) -> list[dict]:
    """The entry documents of the commands whose id starts with the prefix, wherever they are stored."""
    found = []
    async for doc in db["ledger"].find({}):
        found += [e for e in mongo.entries_of(doc) if e["command_id"].startswith(command_prefix)]
    return found


def _line(n: int, *, site: str = "lyon", at: datetime = NOW) -> LineDebit:
    return LineDebit("acme", wire.UsageLine(command_id=f"usage:b-{n}", amount=Decimal("0.15"), entry_type="sms",
                                            occurred_at=at, source=f"usage.events:b-{n}", site=site))  # fmt: skip


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
    [entry] = await _stored(db, "usage:e-1")
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


async def test_a_debit_applied_before_is_a_duplicate_even_where_the_wallet_would_refuse_it_now(ops, wallet) -> None:
    """A worker writes a batch's entries before reading whether they are stored (the unique entry ids refuse a
    second copy). A redelivered debit the wallet would refuse now makes no entry to collide: it is looked up
    before its refusal is written, and it stays the duplicate of what it did."""
    service, store, db = wallet
    await service.handle(_grant("grant-1", "0.15"))
    first = await service.handle(_debit("usage:e-1"))  # the balance is 0 after it
    fresh_worker = WalletService(MongoWalletStore(ops.mongo, db, cache_size=10), _Admins(), lambda: NOW)

    again = await fresh_worker.handle(_debit("usage:e-1"))

    assert first.status == "applied"
    assert (again.status, again.events) == ("duplicate", first.events)
    assert await db["applied_commands"].count_documents({"command_id": "usage:e-1"}) == 0, "no refusal recorded"
    assert await store.sum_of_entries("acme") == (0, 2)
    assert (await fresh_worker.handle(_debit("usage:e-2"))).events[0]["event"]["kind"] == "debit.rejected"


async def test_a_debit_refused_before_is_a_duplicate_even_where_the_wallet_could_pay_it_now(ops, wallet) -> None:
    service, store, db = wallet
    refused = await service.handle(_debit("usage:e-1"))  # a new wallet has the hard policy and no credits
    await service.handle(_grant("grant-1", "1"))
    fresh_worker = WalletService(MongoWalletStore(ops.mongo, db, cache_size=10), _Admins(), lambda: NOW)

    again = await fresh_worker.handle(_debit("usage:e-1"))

    assert (again.status, again.events) == ("duplicate", refused.events)
    assert await store.sum_of_entries("acme") == (1_000_000, 1), "the grant alone"
    assert (await store.wallet("acme")).balance == 1_000_000


async def test_a_batch_redelivered_to_a_fresh_worker_is_recognised_whole(ops, wallet, monkeypatch) -> None:
    """The redelivered batch is written first, refused by the entries' unique ids, and run again reading them:
    every line is a duplicate of what it did, and the batch after it still tells its old line from its new one."""
    service, store, db = wallet
    monkeypatch.setattr(mongo, "BUCKET_SIZE", 3)
    await service.handle(_grant("grant-1", "10"))
    lines = [_line(n) for n in range(1, 8)]
    first = await service.handle_batch(list(lines))
    fresh_worker = WalletService(MongoWalletStore(ops.mongo, db, cache_size=10), _Admins(), lambda: NOW)

    again = await fresh_worker.handle_batch(list(lines))
    after = await fresh_worker.handle_batch([lines[0], _line(8)])

    assert [a.status for _, a in first] == ["applied"] * 7
    assert [(a.status, a.events) for _, a in again] == [("duplicate", a.events) for _, a in first]
    assert [a.status for _, a in after] == ["duplicate", "applied"]
    assert await store.sum_of_entries("acme") == (10_000_000 - 8 * 150_000, 9)
    assert (await store.wallet("acme")).balance == (await store.sum_of_entries("acme"))[0]


async def test_a_marker_stored_before_markers_moved_into_entries_still_makes_a_redelivery_a_duplicate(
    wallet,
) -> None:
    service, store, db = wallet
    await service.handle(wire.Configure(command_id="setup", tenant_id="acme", issued_at=NOW, policy="overdraft",
                                        overdraft_limit=Decimal(100)))  # fmt: skip
    first = await service.handle(_debit("usage:e-3"))
    # The layout of earlier versions: the entry stored alone without the marker, the marker in `applied_commands`.
    [bucket] = [d async for d in db["ledger"].find({"entries.command_id": "usage:e-3"})]
    [entry] = bucket["entries"]
    await db["ledger"].delete_one({"_id": bucket["_id"]})
    await db["ledger"].insert_one({k: v for k, v in entry.items() if k not in ("fingerprint", "events")})
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
    stored = {d["command_id"]: d["events"] for d in await _stored(db, "usage:")}
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


async def test_a_batchs_entries_are_stored_together_and_read_back_one_by_one_newest_first(wallet, monkeypatch) -> None:
    """Entries a batch makes for a tenant share a document (at most BUCKET_SIZE to one): the ledger's pages,
    cursors, filters, counts and sums see every entry on its own, in sequence order across documents, and a
    refund amends the one entry it names."""
    service, store, db = wallet
    monkeypatch.setattr(mongo, "BUCKET_SIZE", 3)
    await service.handle(_grant("grant-1", "10"))
    earlier = datetime(2026, 11, 20, 9, tzinfo=UTC)
    lines = [_line(n, site="paris" if n % 2 else "lyon", at=earlier if n < 3 else NOW) for n in range(1, 8)]

    await service.handle_batch(list(lines))

    assert await db["ledger"].count_documents({}) == 1 + 3, "the grant's, then 7 debits three to a document"
    sequences = [e.sequence for e in await store.ledger("acme", limit=50)]
    assert sequences == [8, 7, 6, 5, 4, 3, 2, 1]
    pages, before = [], None
    while page := await store.ledger("acme", limit=3, query=LedgerQuery(before_sequence=before)):
        pages.append([e.sequence for e in page])
        before = page[-1].sequence
    assert pages == [[8, 7, 6], [5, 4, 3], [2, 1]], "a cursor crosses documents"
    assert [e.sequence for e in await store.ledger("acme", limit=2, skip=2)] == [6, 5]
    paris = LedgerQuery(site="paris")
    assert [e.sequence for e in await store.ledger("acme", query=paris)] == [8, 6, 4, 2]
    assert await store.count_entries("acme", paris) == 4
    november = LedgerQuery(since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime(2026, 12, 1, tzinfo=UTC))
    assert [e.command_id for e in await store.ledger("acme", query=november)] == ["usage:b-2", "usage:b-1"]
    assert await store.count_entries("acme") == 8
    assert await store.sum_of_entries("acme") == (10_000_000 - 7 * 150_000, 8)

    refunded = (await store.ledger("acme", limit=1, query=LedgerQuery(before_sequence=6)))[0]
    refund = await service.handle(wire.Refund(command_id="refund-1", tenant_id="acme", issued_at=NOW, reason="test",
                                              entry_id=refunded.entry_id, amount=Decimal("0.15")))  # fmt: skip
    assert refund.status == "applied"
    amended = {e.sequence: e.reversed_amount for e in await store.ledger("acme", limit=50)}
    assert amended[5] == 150_000 and sum(amended.values()) == 150_000, "only the entry it names"
    assert (await store.entry("acme", refunded.entry_id)).reversed_amount == 150_000
    again = await service.handle_batch([lines[i] for i in (6, 0, 3, 1, 5, 2, 4)])  # looked up three ids at a time
    assert [applied.status for _, applied in again] == ["duplicate"] * 7, "each found inside its document"
    assert await store.count_markers("usage:b-") == 7
    assert sorted(await store.markers("acme", "usage:b-")) == [f"usage:b-{n}" for n in range(1, 8)]
    assert set(await store.markers("acme", "usage:b-2")) == {"usage:b-2"}, "picked out of the document it shares"
    assert set(await store.markers("acme", "grant-")) == {"grant-1"}
    assert (await store.wallet("acme")).balance == (await store.sum_of_entries("acme"))[0]


async def test_entries_stored_alone_by_earlier_versions_are_read_with_the_batches_stored_since(wallet) -> None:
    """The layout before buckets: one document per entry. Those entries keep their place in pages, sums and
    counts, a redelivery of their command is still a duplicate, and a refund still amends them."""
    service, store, db = wallet
    await service.handle(_grant("grant-1", "10"))
    await service.handle_batch([_line(1), _line(2)])
    for bucket in [d async for d in db["ledger"].find({})]:  # written as earlier versions did
        await db["ledger"].delete_one({"_id": bucket["_id"]})
        await db["ledger"].insert_many(bucket["entries"])
    await service.handle_batch([_line(3), _line(4)])

    assert [e.sequence for e in await store.ledger("acme")] == [5, 4, 3, 2, 1]
    assert [e.sequence for e in await store.ledger("acme", query=LedgerQuery(before_sequence=4))] == [3, 2, 1]
    assert await store.count_entries("acme") == 5
    assert await store.sum_of_entries("acme") == (10_000_000 - 4 * 150_000, 5)
    assert set(await store.markers("acme", "usage:")) == {"usage:b-1", "usage:b-2", "usage:b-3", "usage:b-4"}
    results = await service.handle_batch([_line(1), _line(4), _line(5)])
    assert [applied.status for _, applied in results] == ["duplicate", "duplicate", "applied"]
    alone = (await store.ledger("acme", query=LedgerQuery(before_sequence=3)))[0]
    await service.handle(wire.Refund(command_id="refund-1", tenant_id="acme", issued_at=NOW, reason="test",
                                     entry_id=alone.entry_id, amount=Decimal("0.05")))  # fmt: skip
    assert (await store.entry("acme", alone.entry_id)).reversed_amount == 50_000
    assert (await store.wallet("acme")).balance == (await store.sum_of_entries("acme"))[0]
