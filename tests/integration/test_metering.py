"""Metering on the real stack: every rejection reason dead-lettered, duplicates charged once."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from schemas import topics
from schemas.usage import UsageEvent
from services.metering.adapters.mongo import MongoUsageStore
from services.metering.domain.model import Priced
from services.metering.domain.rules import billing_period
from services.metering.ports import ToRecord
from shared.mongo import CommandCounter, make_client
from tests.conftest import eventually
from tests.integration.conftest import publish, read_topic

pytestmark = pytest.mark.integration
ADMIN = "admin@acme.example"


def sms(tenant_id: str, event_id: str, **extra: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "tenant_id": tenant_id,
        "type": "sms",
        "quantity": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        **extra,
    }


async def test_bad_inputs_go_to_the_dead_letter_topic_with_their_reason_and_the_consumer_keeps_going(
    ops, producer, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(10), by=ADMIN)
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    bad = {
        "malformed_json": b"{oops",
        "schema_violation": sms(tenant_id, "e-schema", colour="blue"),
        "unsupported_schema_version": sms(tenant_id, "e-version", schema_version=7),
        "unknown_tenant": sms("nobody-" + tenant_id, "e-tenant"),
        "unknown_meter": sms(tenant_id, "e-meter", type="telepathy"),
        "invalid_quantity": sms(tenant_id, "e-qty", quantity=-1),
        "timestamp_in_future": sms(tenant_id, "e-future", occurred_at=future),
        "timestamp_too_old": sms(tenant_id, "e-old", occurred_at=old),
        "oversize": sms(tenant_id, "e-big", properties={"blob": "x" * 20_000}),
    }
    for payload in bad.values():
        await publish(producer, topics.USAGE_EVENTS, tenant_id, payload)
    await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, "e-good"))

    letters = await read_topic(ops.settings, topics.USAGE_DLQ, tenant_id, expect=len(bad))

    assert sorted(letter["reason"] for letter in letters) == sorted(bad)
    malformed = next(letter for letter in letters if letter["reason"] == "malformed_json")
    assert base64.b64decode(malformed["original_base64"]) == b"{oops"
    async with ops.wallet_store() as store:
        await eventually(lambda: _balance_is(store, tenant_id, 9_850_000))


async def _balance_is(store, tenant_id: str, micros: int) -> bool:
    return (await store.wallet(tenant_id)).balance == micros


async def test_a_duplicate_is_charged_once_and_a_conflicting_payload_is_dead_lettered(ops, producer, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(20), by=ADMIN)
    event = sms(tenant_id, "dup-1")

    await publish(producer, topics.USAGE_EVENTS, tenant_id, event)
    await publish(producer, topics.USAGE_EVENTS, tenant_id, json.loads(json.dumps(event)))  # same event again
    await publish(producer, topics.USAGE_EVENTS, tenant_id, {**event, "quantity": 40})  # same id, other payload
    await publish(
        producer,
        topics.USAGE_EVENTS,
        tenant_id,
        sms(tenant_id, "dup-2", type="document", quantity=2, properties={"recipients": 5}),
    )

    [letter] = await read_topic(ops.settings, topics.USAGE_DLQ, tenant_id, expect=1)
    assert letter["reason"] == "conflict"
    async with ops.wallet_store() as store:
        await eventually(lambda: _balance_is(store, tenant_id, 20_000_000 - 150_000 - 10_000_000))
        assert len(await store.ledger(tenant_id)) == 3
    async with ops.usage_store() as usage:
        rows = await usage.usage(tenant_id)
    assert {(r["meter"], r["count"], r["credits"]) for r in rows} == {("sms", 1, "0.15"), ("document", 1, "10")}


async def test_the_producer_client_keys_by_tenant_and_a_resend_with_its_key_is_charged_once(ops, tenant_id) -> None:
    from creditflow.client import UsageClient

    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(1), by=ADMIN)

    async with UsageClient(ops.settings.kafka_bootstrap_servers) as client:
        event = await client.send(tenant_id, "apf", 1, site="Insypro", personnel="Jean-Luc Lemaire")
        await client.publish(event)  # the producer retries after a timeout it could not interpret

    async with ops.wallet_store() as store:
        await eventually(lambda: _balance_is(store, tenant_id, 900_000))
        [entry, _topup] = await store.ledger(tenant_id)
    assert (entry.entry_type, entry.site, entry.personnel) == ("apf", "Insypro", "Jean-Luc Lemaire")
    assert entry.command_id == f"usage:{event.event_id}"


async def test_a_price_change_applies_from_its_instant_by_occurred_at_and_tiers_count_the_period(
    ops, producer, tenant_id
) -> None:
    from schemas.prices import PriceSet, PriceTier

    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(100), by=ADMIN)
    now = datetime.now(UTC)
    change = now - timedelta(hours=1)
    tiers = [PriceTier(up_to=Decimal(2), unit_price=Decimal("0.20")), PriceTier(up_to=None, unit_price=Decimal("0.05"))]
    await ops.set_price(
        PriceSet(change_id="p1", tenant_id=tenant_id, meter="sms", effective_from=change, tiers=tiers, issued_at=now)
    )

    late = sms(tenant_id, "before-change", occurred_at=(change - timedelta(minutes=1)).isoformat())
    await publish(producer, topics.USAGE_EVENTS, tenant_id, late)  # arrives after the change, occurred before
    for i in range(3):
        await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, f"after-{i}"))

    async with ops.wallet_store() as store:
        await eventually(lambda: _balance_is(store, tenant_id, 100_000_000 - 150_000 - 200_000 - 50_000 * 2))
        amounts = {e.command_id: e.amount for e in await store.ledger(tenant_id) if e.entry_type == "sms"}
    # The late event costs the old flat price; it is still the period's first unit, so the tiers count it.
    assert amounts == {
        "usage:before-change": -150_000,
        "usage:after-0": -200_000,
        "usage:after-1": -50_000,
        "usage:after-2": -50_000,
    }


async def test_usage_per_billing_period_matches_the_wallets_usage_entries_and_counts_rejections(
    ops, producer, tenant_id
) -> None:
    from services.wallet.ports import LedgerQuery

    now = datetime.now(UTC)
    anchor = (now - timedelta(days=3)).date()  # the period started three days ago
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en", billing_anchor=anchor)
    await ops.top_up(tenant_id, Decimal(1), by=ADMIN)
    people = ["Ann", "Bob", "Ann", "Cyd", "Ann", "Bob", "Ann"]  # 7 SMS at 0.15: the 7th does not fit in 1 credit
    for i, person in enumerate(people):
        await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, f"p-{i}", personnel=person, quantity=1))
    await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, "p-big", quantity=0))  # invalid: DLQ

    period = billing_period(now, anchor)
    async with ops.usage_store() as usage:

        async def row() -> dict[str, object] | None:
            rows = await usage.usage(tenant_id, period.key)
            return rows[0] if rows and rows[0]["rejected_count"] == 1 else None

        found = await eventually(row)
        # the rejection seen again (a replayed wallet event): counted once
        assert "p-6" in await usage.recorded_amounts(tenant_id)
        assert await usage.mark_rejected(tenant_id, "p-6") is False
        assert (await usage.usage(tenant_id, period.key))[0]["rejected_count"] == 1
    assert found is not None
    assert (found["period"], found["count"], found["credits"], found["charged"]) == (period.key, 7, "1.05", "0.9")
    assert found["distinct"] == {"personnel": 3}
    assert found["max_quantity"] == "1"
    async with ops.wallet_store() as store:
        entries = await store.ledger(
            tenant_id, query=LedgerQuery(entry_type="sms", since=period.start, until=period.end)
        )
    assert sum(e.amount for e in entries) == -900_000  # what the usage report says was charged


async def test_distinct_values_count_each_value_once_across_batches(ops, producer, tenant_id) -> None:
    """A value seen in an earlier batch is found, not written again; a new one is added."""
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(10), by=ADMIN)
    period = billing_period(datetime.now(UTC), None)
    async with ops.usage_store() as usage:

        async def counted(n: int) -> dict[str, object] | None:
            rows = await usage.usage(tenant_id, period.key)
            return rows[0] if rows and rows[0]["count"] == n else None

        await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, "d-0", personnel="Ann", site="Lyon"))
        await eventually(lambda: counted(1))  # recorded: the next events come in another batch
        await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, "d-1", personnel="Ann", site="Lyon"))
        await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, "d-2", personnel="Bob", site="Lyon"))
        found = await eventually(lambda: counted(3))

    assert found is not None
    assert found["distinct"] == {"personnel": 2, "site": 1}


def _to_record(tenant_id: str, event_id: str, at: datetime, quantity: int = 1) -> ToRecord:
    event = UsageEvent(event_id=event_id, tenant_id=tenant_id, type="sms", quantity=quantity, occurred_at=at)
    period = billing_period(at, None)

    def pricing(used_before: Decimal) -> Priced:
        return Priced(Decimal("0.15") * quantity, Decimal(quantity), "sms", period, at)

    return ToRecord(event, f"fp-{event_id}-{quantity}", period, pricing)


async def test_an_event_received_again_the_next_month_is_still_a_duplicate_and_old_months_are_dropped_whole(
    ops, tenant_id
) -> None:
    """Records are kept per month of receipt: a lookup reads the months the dedup window covers, and a month
    leaves (dropped, not swept record by record) once its last record is older than the window."""
    october = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
    november = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    # A database of its own: the running worker's maintenance would drop these past months.
    async with ops.usage_store(database=f"metering-{tenant_id}") as store:
        [[first]] = await store.record_runs([(tenant_id, [_to_record(tenant_id, "e-1", october)])], at=october)
        [[again, other, conflict]] = await store.record_runs(
            [
                (
                    tenant_id,
                    [
                        _to_record(tenant_id, "e-1", october),
                        _to_record(tenant_id, "e-2", november),
                        _to_record(tenant_id, "e-1", october, quantity=2),
                    ],
                )
            ],
            at=november,
        )

        assert (first.status, again.status, other.status, conflict.status) == ("new", "duplicate", "new", "conflict")
        assert again.amount == Decimal("0.15")
        assert await store.record_collections() == ["usage_records_2026_10", "usage_records_2026_11"]
        assert await store.recorded_amounts(tenant_id) == {"e-1": 150_000, "e-2": 150_000}

        assert await store.maintain(datetime(2026, 12, 6, tzinfo=UTC)) == [], "October's last day is in the window"
        assert await store.maintain(datetime(2026, 12, 7, 1, tzinfo=UTC)) == ["usage_records_2026_10"]
        assert await store.recorded_amounts(tenant_id) == {"e-2": 150_000}
        assert "usage_records_2026_12" in await store.record_collections(), "the current month is made ahead"


async def test_records_of_the_former_ttl_collection_still_count_until_it_is_empty_and_dropped(ops, tenant_id) -> None:
    at = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    async with ops.usage_store(database=f"metering-{tenant_id}") as store:
        legacy = store._db["usage_records"]  # what a deployment made before the monthly collections
        await legacy.insert_one(
            {"_id": f"{tenant_id}|old-1", "tenant_id": tenant_id, "event_id": "old-1", "fingerprint": "fp-old-1-1",
             "meter": "sms", "entry_type": "sms", "quantity": "1", "amount": 150_000, "period": "2026-11-01"}
        )  # fmt: skip
        await store.maintain(at)

        [[seen]] = await store.record_runs([(tenant_id, [_to_record(tenant_id, "old-1", at)])], at=at)

        assert seen.status == "duplicate"
        await legacy.delete_many({})  # its TTL index empties it within the window
        assert await store.maintain(at) == ["usage_records"]


async def test_a_worker_keeping_an_aggregate_another_worker_added_to_prices_from_the_stored_units(
    ops, tenant_id
) -> None:
    """Two metering workers (the tenant's partition moved between them) each keep the units of the aggregates
    they wrote. A kept figure that is no longer the stored one never prices an event: the guarded update fails
    and the batch is priced again from the stored units (a tier boundary would otherwise be crossed late)."""
    at = datetime.now(UTC)
    seen_before: list[Decimal] = []

    def counted(event_id: str) -> ToRecord:
        item = _to_record(tenant_id, event_id, at)

        def pricing(used_before: Decimal) -> Priced:
            seen_before.append(used_before)
            return item.pricing(used_before)

        return ToRecord(item.event, item.fingerprint, item.period, pricing)

    database = ops.mongo[f"metering-{tenant_id}"]
    first = MongoUsageStore(ops.mongo, database, dedup_window=timedelta(days=35), cache_size=10)
    second = MongoUsageStore(ops.mongo, database, dedup_window=timedelta(days=35), cache_size=10)
    try:
        await first.record_runs([(tenant_id, [counted("e-1"), counted("e-2")])], at=at)  # first keeps 2 units
        await second.record_runs([(tenant_id, [counted("e-3")])], at=at)  # stored: 3
        seen_before.clear()
        [[recorded]] = await first.record_runs([(tenant_id, [counted("e-4")])], at=at)

        assert recorded.status == "new"
        assert seen_before[-1] == 3, "priced from the stored units, not the kept ones"
        [row] = await first.usage(tenant_id)
        assert (row["count"], row["units"]) == (4, "4")
    finally:
        await ops.mongo.drop_database(database.name)


async def test_a_flat_priced_aggregate_two_workers_add_to_is_only_incremented_and_a_tiered_event_then_reads_it(
    ops, tenant_id
) -> None:
    """A flat price does not look at the units its period had before: its aggregate is incremented, not read, and
    the increment needs no guard, so a worker whose partition moved and back prices nothing twice. A tiered event
    after them is priced from the stored units (none were kept from the flat batches)."""
    at = datetime.now(UTC)
    priced: list[tuple[str, Decimal]] = []

    def counted(event_id: str, *, tiered: bool) -> ToRecord:
        item = _to_record(tenant_id, event_id, at)

        def pricing(used_before: Decimal) -> Priced:
            priced.append((event_id, used_before))
            return item.pricing(used_before)

        return ToRecord(item.event, item.fingerprint, item.period, pricing, tiered)

    database = ops.mongo[f"metering-{tenant_id}"]
    first = MongoUsageStore(ops.mongo, database, dedup_window=timedelta(days=35), cache_size=10)
    second = MongoUsageStore(ops.mongo, database, dedup_window=timedelta(days=35), cache_size=10)
    try:
        await first.record_runs([(tenant_id, [counted("e-1", tiered=False), counted("e-2", tiered=False)])], at=at)
        await second.record_runs([(tenant_id, [counted("e-3", tiered=False)])], at=at)
        priced.clear()
        [[recorded]] = await first.record_runs([(tenant_id, [counted("e-4", tiered=False)])], at=at)

        assert recorded.status == "new"
        assert [event_id for event_id, _ in priced] == ["e-4"], "priced once: no guard failed, nothing ran again"
        [row] = await first.usage(tenant_id)
        assert (row["count"], row["units"], row["credits"]) == (4, "4", "0.6")

        priced.clear()
        await first.record_runs([(tenant_id, [counted("e-5", tiered=True)])], at=at)
        assert priced == [("e-5", Decimal(4))], "a tiered event is priced from the stored units, read once"
        [row] = await first.usage(tenant_id)
        assert (row["count"], row["units"]) == (5, "5")
    finally:
        await ops.mongo.drop_database(database.name)


async def test_only_events_that_can_have_come_last_month_are_looked_up_in_last_months_records(ops, tenant_id) -> None:
    """A record is looked for in the months it can be in: an event that occurred after this month began (with the
    clock margin and how far ahead of its receipt an event may occur) was first received this month."""
    counter = CommandCounter(keep_reads=100)
    client = make_client(ops.settings, app_name="test-segments", counter=counter)
    mid_december = datetime(2026, 12, 15, 12, tzinfo=UTC)
    store = MongoUsageStore(client, client[f"metering-{tenant_id}"], dedup_window=timedelta(days=35),
                            max_future=timedelta(minutes=5))  # fmt: skip
    try:
        await store.maintain(datetime(2026, 11, 20, tzinfo=UTC))  # November's collection exists
        await store.maintain(mid_december)

        def finds() -> list[str]:
            return [c for c in counter.collections_read if c.startswith("usage_records")]

        counter.collections_read.clear()
        await store.record_runs([(tenant_id, [_to_record(tenant_id, "e-now", mid_december)])], at=mid_december)
        assert finds() == [], "December is written to: its insert checks it"
        counter.collections_read.clear()
        november = datetime(2026, 11, 30, 23, tzinfo=UTC)
        await store.record_runs([(tenant_id, [_to_record(tenant_id, "e-old", november)])], at=mid_december)
        assert finds() == ["usage_records_2026_11"]
    finally:
        await client.drop_database(f"metering-{tenant_id}")
        await client.close()


async def test_a_batch_inserts_into_its_month_unread_and_a_stored_record_still_counts_once(ops, tenant_id) -> None:
    """The month a batch writes to is not read before its inserts: a record already there (a redelivered event)
    fails the insert on its `_id`, the transaction aborts and the batch runs again reading it. The redelivered
    event is a duplicate with its stored amount, a changed payload a conflict, each event counts once. Redeliveries
    come in bursts: after a batch that found stored records the next reads first, until one finds none."""
    counter = CommandCounter(keep_reads=100)
    client = make_client(ops.settings, app_name="test-insert-first", counter=counter)
    at = datetime(2026, 12, 15, 12, tzinfo=UTC)
    store = MongoUsageStore(client, client[f"metering-{tenant_id}"], dedup_window=timedelta(days=35),
                            max_future=timedelta(minutes=5))  # fmt: skip

    def finds() -> list[str]:
        found = [c for c in counter.collections_read if c.startswith("usage_records")]
        counter.collections_read.clear()
        return found

    async def record(*items: ToRecord) -> list[str]:
        [results] = await store.record_runs([(tenant_id, list(items))], at=at)
        return [r.status for r in results]

    try:
        await store.maintain(at)
        counter.collections_read.clear()
        assert await record(_to_record(tenant_id, "e-1", at), _to_record(tenant_id, "e-2", at)) == ["new", "new"]
        assert finds() == []

        again = await record(
            _to_record(tenant_id, "e-1", at),
            _to_record(tenant_id, "e-2", at, quantity=2),
            _to_record(tenant_id, "e-3", at),
        )

        assert again == ["duplicate", "conflict", "new"]
        assert finds() == ["usage_records_2026_12"], "read once the insert collided"
        [row] = await store.usage(tenant_id)
        assert (row["count"], row["credits"]) == (3, "0.45")
        assert await store.recorded_amounts(tenant_id) == {"e-1": 150_000, "e-2": 150_000, "e-3": 150_000}
        finds()  # the reads of the amounts
        assert await record(_to_record(tenant_id, "e-4", at)) == ["new"]
        assert finds() == ["usage_records_2026_12"], "the batch after one that found stored records reads first"
        assert await record(_to_record(tenant_id, "e-5", at)) == ["new"]
        assert finds() == [], "the batch after one that found none inserts unread again"
    finally:
        await client.drop_database(f"metering-{tenant_id}")
        await client.close()
