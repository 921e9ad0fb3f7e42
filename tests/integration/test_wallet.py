"""The wallet worker on the real Kafka and MongoDB protocols."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from schemas import topics
from services.wallet.ports import LedgerQuery
from tests.conftest import eventually
from tests.integration.conftest import publish, read_topic

pytestmark = pytest.mark.integration
ADMIN = "admin@acme.example"


def debit(tenant_id: str, command_id: str, amount: str = "0.15", at: datetime | None = None) -> dict[str, object]:
    now = (at or datetime.now(UTC)).isoformat()
    return {
        "kind": "debit",
        "command_id": command_id,
        "tenant_id": tenant_id,
        "issued_at": now,
        "amount": amount,
        "entry_type": "sms",
        "occurred_at": now,
        "source": "test",
    }


async def test_a_command_delivered_three_times_is_applied_once(ops, producer, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(10), by=ADMIN)

    command = debit(tenant_id, "sms-1")
    for _ in range(3):
        await publish(producer, topics.WALLET_COMMANDS, tenant_id, command)
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "sms-2"))
    await ops.command_outcome(tenant_id, "sms-2", timeout=30)

    async with ops.wallet_store() as store:
        assert (await store.wallet(tenant_id)).balance == 9_700_000
        assert len(await store.ledger(tenant_id)) == 3
        assert await store.sum_of_entries(tenant_id) == (9_700_000, 3)
    assert await read_topic(ops.settings, topics.WALLET_DLQ, tenant_id, expect=1, timeout=3) == []


async def test_the_same_command_id_with_another_payload_is_a_conflict_on_the_dead_letter_topic(
    ops, producer, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(10), by=ADMIN)

    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "c-1", "0.15"))
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "c-1", "5"))

    [letter] = await read_topic(ops.settings, topics.WALLET_DLQ, tenant_id, expect=1)
    assert letter["reason"] == "conflict"
    async with ops.wallet_store() as store:
        assert (await store.wallet(tenant_id)).balance == 9_850_000


async def test_a_debit_that_does_not_fit_is_rejected_under_the_hard_policy(ops, producer, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal("0.10"), by=ADMIN)

    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "too-much", "0.15"))

    outcome = await ops.command_outcome(tenant_id, "too-much", timeout=30)
    assert [e["kind"] for e in outcome["events"]] == ["debit.rejected"]
    async with ops.wallet_store() as store:
        assert (await store.wallet(tenant_id)).balance == 100_000


async def test_a_non_admin_cannot_buy_credits(ops, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=["member@acme.example"], language="fr")

    outcome = await ops.top_up(tenant_id, Decimal(300), by="member@acme.example")

    assert outcome is not None
    assert [e["reason"] for e in outcome["events"]] == ["not_an_admin"]
    async with ops.wallet_store() as store:
        assert (await store.wallet(tenant_id)).balance == 0


async def test_spend_state_is_published_for_producers_to_gate_on(ops, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="fr")
    await ops.top_up(tenant_id, Decimal(5), by=ADMIN)

    states = await eventually(lambda: read_topic(ops.settings, topics.WALLET_SPEND_STATE, tenant_id, expect=1))

    assert states[-1] == {**states[-1], "tenant_id": tenant_id, "can_spend": True, "balance": "5"}


async def test_a_declined_card_credits_nothing_and_the_wallet_says_why(ops, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.configure(tenant_id, payment_method="pm_card_chargeDeclined")

    outcome = await ops.top_up(tenant_id, Decimal(50), by=ADMIN)

    assert outcome is not None
    assert [e["kind"] for e in outcome["events"]] == ["topup.requested", "topup.failed"]
    assert outcome["events"][1]["reason"] == "card_declined"
    async with ops.wallet_store() as store:
        wallet = await store.wallet(tenant_id)
        assert (wallet.balance, wallet.pending) == (0, ())


async def test_auto_recharge_buys_credits_once_when_the_balance_falls_below_its_trigger(
    ops, producer, tenant_id
) -> None:
    from schemas.wallet import AutoRechargeRule

    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(12), by=ADMIN)
    rule = AutoRechargeRule(trigger=Decimal(10), mode="target", amount=Decimal(40), monthly_cap=Decimal(100))
    await ops.configure(tenant_id, auto_recharge=rule)

    for i in range(3):  # 12 -> 11 -> 10 -> 9: only the third goes below 10
        await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, f"d{i}", "1"))

    async def recharged() -> bool:
        async with ops.wallet_store() as store:
            entries = await store.ledger(tenant_id, limit=10)
            return [e.entry_type for e in entries][:1] == ["topup"] and entries[0].personnel == "auto-recharge"

    await eventually(recharged)
    async with ops.wallet_store() as store:
        wallet = await store.wallet(tenant_id)
        assert wallet.balance == 40 * 1_000_000
        assert wallet.recharged_in_month == 31 * 1_000_000
        assert wallet.pending == ()
    assert await ops.reconcile(tenant_id) == {tenant_id: []}


async def test_expired_credits_are_written_off_and_the_ledger_filters_by_type_and_personnel(
    ops, producer, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    soon = datetime.now(UTC) + timedelta(seconds=2)
    await ops.grant(tenant_id, Decimal(5), kind="promotional", expires_at=soon, by="ops@vendor.example")
    await ops.top_up(tenant_id, Decimal(10), by=ADMIN)
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "before", "1"))
    await ops.command_outcome(tenant_id, "before", timeout=30)

    await asyncio.sleep(2.5)  # past the promotion's expiry, on the wall clock the wallet reads
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "after", "1"))
    await ops.command_outcome(tenant_id, "after", timeout=30)

    async with ops.wallet_store() as store:
        [expiry] = await store.ledger(tenant_id, query=LedgerQuery(entry_type="expiry"))
        assert expiry.amount == -4 * 1_000_000  # 5 granted, 1 drawn first (it expired soonest)
        [after] = await store.ledger(tenant_id, query=LedgerQuery(entry_type="sms", until=datetime.now(UTC)), limit=1)
        assert [m.kind for m in after.movements] == ["purchased"]
        [topup] = await store.ledger(tenant_id, query=LedgerQuery(personnel=ADMIN))
        assert topup.entry_type == "topup"
        assert (await store.wallet(tenant_id)).balance == 9 * 1_000_000
    assert await ops.reconcile(tenant_id) == {tenant_id: []}


async def test_a_void_gives_a_debit_back_and_a_refund_never_exceeds_what_was_charged(ops, producer, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(10), by=ADMIN)
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "d1", "3"))
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "d2", "2"))
    await ops.command_outcome(tenant_id, "d2", timeout=30)

    voided = await ops.void(tenant_id, f"entry:{tenant_id}:d1", reason="sent twice")
    refunded = await ops.refund(tenant_id, f"entry:{tenant_id}:d2", Decimal("0.5"), reason="one undelivered")
    too_much = await ops.refund(tenant_id, f"entry:{tenant_id}:d2", Decimal(2), reason="again")

    assert voided and [e["kind"] for e in voided["events"]] == ["entry.recorded"]
    assert refunded and refunded["events"][0]["amount"] == "0.5"
    assert too_much and too_much["events"][0]["reason"] == "exceeds_refundable"
    async with ops.wallet_store() as store:
        assert (await store.wallet(tenant_id)).balance == 8_500_000


async def test_a_metering_batch_applies_each_line_once_whatever_batch_it_came_in(ops, producer, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(10), by=ADMIN)
    at = datetime.now(UTC)
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "usage:e-1", at=at))
    lines = [{k: v for k, v in debit(tenant_id, f"usage:e-{i}", at=at).items()
              if k not in ("kind", "tenant_id", "issued_at")} for i in (1, 2, 3)]  # fmt: skip
    batch = {"kind": "usage_debits", "command_id": "usage-batch:1", "tenant_id": tenant_id,
             "issued_at": datetime.now(UTC).isoformat(), "lines": lines}  # fmt: skip

    await publish(producer, topics.WALLET_COMMANDS, tenant_id, batch)
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, {**batch, "command_id": "usage-batch:2",
                                                                "lines": lines[1:]})  # fmt: skip
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "usage:e-4"))
    await ops.command_outcome(tenant_id, "usage:e-4", timeout=30)

    async with ops.wallet_store() as store:
        assert await store.sum_of_entries(tenant_id) == (10_000_000 - 4 * 150_000, 5), "a top-up and 4 debits"
        entries = await store.ledger(tenant_id)
        assert sorted(e.command_id for e in entries if e.entry_type == "sms") == [f"usage:e-{i}" for i in range(1, 5)]
    assert await read_topic(ops.settings, topics.WALLET_DLQ, tenant_id, expect=1, timeout=3) == []
