"""The wallet worker on the real Kafka and MongoDB protocols."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas import topics
from tests.conftest import eventually
from tests.integration.conftest import publish, read_topic

pytestmark = pytest.mark.integration
ADMIN = "admin@acme.example"


def debit(tenant_id: str, command_id: str, amount: str = "0.15") -> dict[str, object]:
    now = datetime.now(UTC).isoformat()
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

    for _ in range(3):
        await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "sms-1"))
    await publish(producer, topics.WALLET_COMMANDS, tenant_id, debit(tenant_id, "sms-2"))
    await ops.command_outcome(tenant_id, "sms-2", timeout=30)

    async with ops.wallet_store() as store:
        assert (await store.wallet(tenant_id)).balance == 9_700_000
        assert len(await store.ledger(tenant_id)) == 3
        assert await store.sum_of_entries(tenant_id) == (9_700_000, 3)


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
