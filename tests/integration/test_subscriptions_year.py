"""A tenant's year of subscription on the real stack, driven by a fake clock: the scheduler is run at chosen
instants (catching up every day in between) and commands carry their business day.

Checks invoices (amounts, VAT, sequential numbers, paid), allowance grants and month-end app fees in the
wallet against values computed by hand, the 15-day rule, and that a second scheduler run over the same
period charges nothing twice."""

import asyncio
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from creditflow.supervisor import Supervisor
from schemas import subscriptions as wire
from services.scheduler.adapters.mongo import MongoLease
from tests.conftest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = "admin@acme.example"
USERS = ["ann@acme.example", "bob@acme.example"]


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


class Year:
    def __init__(self, ops: Any, tenant_id: str) -> None:
        self.ops, self.tenant_id, self.n = ops, tenant_id, 0

    async def command(self, cls: type, day: str, **fields: Any) -> list[dict[str, Any]]:
        self.n += 1
        command = cls(command_id=f"y{self.n}", tenant_id=self.tenant_id, issued_at=at(day), by=ADMIN, **fields)
        outcome = await self.ops.send_subscription(command, wait=60)
        return list(outcome["events"])

    async def until(self, day: str) -> None:
        """The scheduler runs at 00:05 on `day`; wait until subscriptions has processed that day's tick."""
        await self.ops.run_scheduler_once(at(day, 0).replace(minute=5))
        async with self.ops.subscription_store() as store:
            await eventually(lambda: store.tick_done(f"day:{day}"), timeout=180, interval=0.5)


async def test_a_year_of_subscription(ops, workers: Supervisor, tenant_id) -> None:
    workers.workers["scheduler"].stop()  # the test is the clock now
    try:
        await _year(ops, tenant_id)
    finally:
        workers.workers["scheduler"].start()


async def _year(ops: Any, tenant_id: str) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="fr")
    await ops.grant(tenant_id, Decimal(1000), kind="purchased", source="credits for the app fees")
    year = Year(ops, tenant_id)
    await ops.run_scheduler_once(at("2027-01-31", 0))  # catches up from wherever the scheduler was

    info = wire.BillingInfo(company_name="Acme SA", address_line1="Rue Neuve 1", postal_code="1000", city="Bruxelles",
                            country="BE", vat_number="BE0999999999")  # fmt: skip
    await year.command(wire.SetBillingInfo, "2027-01-31", billing_info=info)
    card = wire.Card(brand="Visa", last4="4242", exp_month=12, exp_year=2030, funding="credit")
    await year.command(wire.SetPaymentMethod, "2027-01-31", method="card", card=card)
    started = await year.command(wire.Start, "2027-01-31", plan="team", interval="monthly", seats=3)
    assert [e["kind"] for e in started] == ["subscription.started", "invoice.issued"]
    assert (started[0]["period_last_day"], started[0]["renews_on"]) == ("2027-02-27", "2027-02-28")
    named = [wire.AppUser(user_id=USERS[0], name="Ann Martin"), USERS[1]]  # a display name, and a bare id
    await year.command(wire.AssignApp, "2027-01-31", app="inspecteur", users=named)

    await year.until("2027-02-10")
    await year.command(wire.ChangePlan, "2027-02-10", plan="business")  # upgrade mid-cycle: 18 of 28 days left
    await year.command(wire.ChangeSeats, "2027-02-15", seats=5)  # 2 more users: 13 of 28 days left
    await year.until("2027-03-05")
    scheduled = await year.command(wire.ChangePlan, "2027-03-05", plan="team")  # downgrade: at the renewal
    assert [(e["kind"], e["scheduled"], e["effective_on"]) for e in scheduled] == [
        ("subscription.plan_changed", True, "2027-03-31")
    ]
    await year.until("2027-03-20")
    [refused] = await year.command(wire.ChangePlan, "2027-03-20", plan="enterprise")
    assert (refused["kind"], refused["reason"]) == ("subscription.change_refused", "within_15_days_of_renewal")
    await year.until("2027-04-10")
    [cancelled] = await year.command(wire.Cancel, "2027-04-10")
    assert (cancelled["kind"], cancelled["last_day_of_access"]) == ("subscription.cancellation_scheduled", "2027-04-29")
    await year.command(wire.Reactivate, "2027-04-12")
    await year.until("2027-12-31")

    # --- invoices: amounts computed by hand (21 % VAT, half-even to the cent) ---
    expected = [
        ("start", 4500, 945),  # Team 3 users x 15.00
        ("upgrade", 2893, 608),  # -45.00 x 18/28 + 90.00 x 18/28 = -28.93 + 57.86
        ("seats", 2786, 585),  # 2 users x 30.00 x 13/28
        ("renewal", 15000, 3150),  # 28 Feb: Business 5 users
        ("renewal", 7500, 1575),  # 31 Mar: the downgrade to Team applies
        *[("renewal", 7500, 1575)] * 9,  # 30 Apr, 31 May, ... 31 Dec (reactivated: it renews)
    ]
    async with ops.subscription_store() as store:

        async def all_paid() -> list[Any] | None:
            found = sorted(await store.invoices(tenant_id), key=lambda i: i.number or "")
            return found if len(found) >= len(expected) and all(i.status == "paid" for i in found) else None

        invoices = await eventually(all_paid, timeout=120, interval=0.5)
    assert [(i.reason, i.subtotal, i.vat) for i in invoices] == expected
    assert all(i.total == i.subtotal + i.vat for i in invoices)
    numbers = [int(str(i.number).rsplit("-", 1)[1]) for i in invoices]
    assert numbers == sorted(numbers), "in the order they were issued"
    # the seller's counter is shared by every tenant (other tests' subscriptions renew in 2027 too): its whole
    # sequence for the year has no gap and no number twice
    async with ops.subscription_store() as store:
        seller = [d["number"] async for d in store._invoices.find({"number": {"$regex": "^CF-2027-"}}, {"number": 1})]
    sequence = sorted(int(n.rsplit("-", 1)[1]) for n in seller)
    assert sequence == list(range(1, len(sequence) + 1)), "sequential, no gaps, no duplicates"
    renewals = [i.period_start.isoformat() for i in invoices if i.reason == "renewal"]
    assert renewals == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30", "2027-07-31",
                        "2027-08-31", "2027-09-30", "2027-10-31", "2027-11-30", "2027-12-31"]  # fmt: skip

    # --- the wallet: one allowance per monthly anniversary, one fee per user per month end ---
    grants, fees = await _wallet_effects(ops, tenant_id, grants=12, fees=22)
    assert [(g.command_id.rsplit(":", 1)[1], g.amount // 1_000_000) for g in grants][:3] == [
        ("2027-01-31", 50),
        ("2027-02-28", 200),  # Business since 10 February
        ("2027-03-31", 50),  # Team again
    ]
    assert [g.amount for g in grants[3:]] == [50_000_000] * 9
    assert {f.command_id for f in fees} == {
        f"fee:{tenant_id}:inspecteur:{user}:2027-{month:02d}" for user in USERS for month in range(1, 12)
    }
    assert all(f.amount == -2_500_000 and f.entry_type == "monthly_fee:inspecteur" for f in fees)
    assert {(f.personnel, f.description) for f in fees} == {
        ("Ann Martin", "App d'inspecteur frais mensuels"),
        (USERS[1], "App d'inspecteur frais mensuels"),
    }

    # --- a second scheduler (or a rerun after a crash) publishes the same ticks again: nothing twice ---
    client = ops._client()
    try:
        await MongoLease(client[ops.settings.database_name("scheduler")]).record_emitted(date(2027, 10, 28))
    finally:
        await client.close()
    await year.until("2027-12-31")  # republishes day:2027-10-29 .. day:2027-12-31 and month-end:2027-10, -11
    async with ops.subscription_store() as store:
        assert len(await store.invoices(tenant_id)) == len(expected)
    await _wallet_effects(ops, tenant_id, grants=12, fees=22)
    assert await ops.reconcile(tenant_id) == {tenant_id: []}

    # --- a day tick touched the tenant only on the days something was due: its renewals and allowances ---
    async with ops.subscription_store() as store:
        mine = {"_id": {"$regex": f"^{re.escape(tenant_id)}\\|tick:day:"}}
        ticked = {d["_id"] async for d in store._applied.find(mine)}
    assert sorted(t.rsplit(":", 1)[1] for t in ticked) == renewals


async def _wallet_effects(ops: Any, tenant_id: str, *, grants: int, fees: int) -> tuple[list[Any], list[Any]]:
    from services.wallet.ports import LedgerQuery

    async with ops.wallet_store() as store:

        async def found() -> tuple[list[Any], list[Any]] | None:
            g = await store.ledger(tenant_id, limit=1000, query=LedgerQuery(entry_type="grant"))
            allowance = sorted((e for e in g if e.command_id.startswith("allowance:")), key=lambda e: e.command_id)
            f = await store.ledger(tenant_id, limit=1000, query=LedgerQuery(entry_type="monthly_fee:inspecteur"))
            return (allowance, f) if len(allowance) >= grants and len(f) >= fees else None

        result = await eventually(found, timeout=120, interval=0.5)
        await asyncio.sleep(2)  # anything applied twice would have arrived by now
        again = await found()
    assert result is not None and again is not None
    assert (len(again[0]), len(again[1])) == (grants, fees), "nothing applied twice"
    return result


async def test_a_day_tick_reads_an_account_when_something_is_due_and_one_stored_before_that_field_existed(
    ops, tenant_id
) -> None:
    from services.subscriptions.adapters.codec import account_to_doc
    from services.subscriptions.domain.model import Account, Subscription

    sub = Subscription(subscription_id=f"{tenant_id}:s", plan="team", interval="monthly", seats=1,
                       anchor=date(2027, 1, 31), period_start=date(2027, 1, 31), period_end=date(2027, 2, 28),
                       allowance_months=1)  # fmt: skip
    doc = account_to_doc(Account(tenant_id, subscription=sub, version=1))
    assert doc.pop("next_due") == "2027-02-28"  # the renewal and the next allowance
    async with ops.subscription_store() as store:

        async def due_on(day: date) -> bool:
            return tenant_id in [t async for t in store.due_tenants(day)]

        await store._accounts.insert_one(doc)  # as stored before accounts had `next_due`
        try:
            assert await due_on(date(2027, 2, 1)), "read until it has the field"
            await store.create_indexes()  # what every worker does at start: adds the field where it is missing
            assert (await store._accounts.find_one({"_id": tenant_id}))["next_due"] == "2027-02-28"
            assert not await due_on(date(2027, 2, 27))
            assert await due_on(date(2027, 2, 28)) and await due_on(date(2027, 3, 5))
        finally:  # no subscription left running for other tests' ticks to renew
            await store._accounts.delete_one({"_id": tenant_id})


async def test_what_a_crash_left_in_the_outbox_is_found_by_the_relay_whatever_day_the_messages_speak_of(
    ops, tenant_id
) -> None:
    """A tick of a simulated or caught-up day writes messages about that day. If the worker dies before publishing
    them, the redelivered tick does not read the account again (its next due day has moved on): only the outbox
    relay sends them, and it finds them by when they were written, not by the day they speak of."""
    from datetime import timedelta

    from services.subscriptions.adapters.mongo import MongoSubscriptionStore
    from services.subscriptions.domain.rules import Outcome

    store = MongoSubscriptionStore(ops.mongo, ops.mongo[f"subscriptions-{tenant_id}"])  # no worker's relay here
    await store.create_indexes()
    grant = {"id": f"wallet.commands|allowance:{tenant_id}:2027-08-01", "topic": "wallet.commands", "key": tenant_id,
             "payload": {"kind": "grant"}}  # fmt: skip
    try:
        status, messages = await store.apply(
            tenant_id, "tick:day:2027-08-01", "day:2027-08-01", lambda account: Outcome(account, []),
            lambda outcome, invoices: [grant], invoice_prefix="CF", at=datetime(2027, 8, 1, 0, 5, tzinfo=UTC),
        )  # fmt: skip
        assert (status, messages) == ("applied", [grant])  # ... and the worker died before publishing them

        def soon() -> datetime:
            return datetime.now(UTC) + timedelta(seconds=1)

        assert [m["id"] for m in await store.unpublished(soon())] == [grant["id"]]
        await store.mark_published([grant["id"]])
        assert await store.unpublished(soon()) == []
    finally:
        await ops.mongo.drop_database(f"subscriptions-{tenant_id}")
