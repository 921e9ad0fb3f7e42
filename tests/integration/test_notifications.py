"""Notifications on the real stack with a real SMTP server (aiosmtpd)."""

import json
from decimal import Decimal

import pytest

from schemas import topics
from tests.conftest import eventually
from tests.integration.conftest import mails_to, publish, read_topic

pytestmark = pytest.mark.integration
ADMINS = ["chef@acme.example", "boss@acme.example"]
MEMBER = "stagiaire@acme.example"


async def cross_low_threshold(ops, tenant_id: str) -> None:
    """The admin buys 100.10 credits, then 0.15 + 0.15 are debited: one crossing below 100."""
    await ops.top_up(tenant_id, Decimal("100.10"), by=ADMINS[0])
    for n in (1, 2):
        command = {
            "kind": "debit",
            "command_id": f"sms-{n}",
            "tenant_id": tenant_id,
            "issued_at": "2026-11-22T10:00:00Z",
            "amount": "0.15",
            "entry_type": "sms",
            "occurred_at": "2026-11-22T10:00:00Z",
            "source": "test",
        }
        await ops.publish(topics.WALLET_COMMANDS, tenant_id, command)


async def test_one_email_per_admin_per_crossing_in_their_language_and_none_to_members(ops, stack, tenant_id) -> None:
    name = f"Acme {tenant_id}"
    await ops.create_tenant(tenant_id, name=name, admins=ADMINS, members=[MEMBER], language="fr")

    await cross_low_threshold(ops, tenant_id)

    mails = await eventually(lambda: _mails(stack.mailbox, name, 2))
    assert sorted(str(m["To"]) for m in mails) == sorted(ADMINS)
    assert all(m["Subject"] == f"Crédits faibles : il reste 99,95 crédits à {name}" for m in mails)
    body = mails[0].get_body(preferencelist=("plain",)).get_content()
    assert "moins de 100,00 crédits" in body


async def _mails(mailbox, name: str, at_least: int):
    found = mails_to(mailbox, name)
    return found if len(found) >= at_least else None


async def test_a_redelivered_wallet_event_sends_no_second_email(ops, producer, stack, tenant_id) -> None:
    name = f"Acme {tenant_id}"
    await ops.create_tenant(tenant_id, name=name, admins=ADMINS[:1], members=[], language="en")
    await cross_low_threshold(ops, tenant_id)
    await eventually(lambda: _mails(stack.mailbox, name, 1))
    events = await read_topic(ops.settings, topics.WALLET_EVENTS, tenant_id, expect=4)
    crossing = next(e for e in events if e["kind"] == "threshold.crossed")

    await publish(producer, topics.WALLET_EVENTS, tenant_id, crossing)  # delivered again
    await publish(producer, topics.WALLET_EVENTS, tenant_id, json.loads(json.dumps(crossing)))

    async with ops.notification_log() as log:
        await eventually(lambda: _log_count(log, tenant_id, 1))
    [mail] = mails_to(stack.mailbox, name)
    assert mail["Subject"] == f"Low credits: {name} has 99.95 credits left"


async def _log_count(log, tenant_id: str, n: int) -> bool:
    rows = await log.list(tenant_id)
    return len(rows) == n and all(r["status"] == "sent" for r in rows)


async def test_delivery_is_retried_until_the_smtp_server_is_back(ops, stack, tenant_id) -> None:
    name = f"Acme {tenant_id}"
    await ops.create_tenant(tenant_id, name=name, admins=ADMINS[:1], members=[], language="en")
    stack.smtp.stop()
    try:
        await cross_low_threshold(ops, tenant_id)
        async with ops.notification_log() as log:
            await eventually(lambda: _status(log, tenant_id, "retrying"))
    finally:
        stack.smtp.start()

    [mail] = await eventually(lambda: _mails(stack.mailbox, name, 1), timeout=60)
    assert str(mail["To"]) == ADMINS[0]


async def _status(log, tenant_id: str, status: str) -> bool:
    rows = await log.list(tenant_id)
    return bool(rows) and rows[0]["status"] == status and rows[0]["attempts"] >= 1
