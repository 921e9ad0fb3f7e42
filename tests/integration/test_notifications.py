"""Notifications on the real stack with a real SMTP server (aiosmtpd)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from schemas import topics
from services.notifications.domain.model import Delivery, Fact, Notice, Recipient
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


def rejected_debit(tenant_id: str, n: int) -> dict[str, object]:
    return {
        "kind": "debit",
        "command_id": f"too-much-{n}",
        "tenant_id": tenant_id,
        "issued_at": "2026-11-22T10:00:00Z",
        "amount": "5",
        "entry_type": "sms",
        "occurred_at": "2026-11-22T10:00:00Z",
        "source": "test",
    }


async def test_a_burst_of_rejected_debits_is_one_digest_per_admin_not_one_mail_each(ops, stack, tenant_id) -> None:
    name = f"Acme {tenant_id}"
    await ops.create_tenant(tenant_id, name=name, admins=ADMINS, members=[MEMBER], language="en")
    for n in range(4):  # nothing bought: every debit is rejected under the hard policy
        await ops.publish(topics.WALLET_COMMANDS, tenant_id, rejected_debit(tenant_id, n))

    def count(mail: object) -> int:
        return int(str(mail["Subject"]).split(" ")[0])  # type: ignore[index]

    async def all_counted() -> list[object] | None:
        found = mails_to(stack.mailbox, name)
        return found if sum(count(m) for m in found) >= 4 * len(ADMINS) else None

    mails = await eventually(all_counted, timeout=60)
    per_admin = {a: sum(count(m) for m in mails if str(m["To"]) == a) for a in ADMINS}  # type: ignore[index]
    assert per_admin == {a: 4 for a in ADMINS}, "every rejection counted once for each admin, none for the member"
    assert len(mails) <= 2 * len(ADMINS), "a burst is a digest (or two, across a window's end) per admin"
    assert all("refused for lack of credits" in str(m["Subject"]) for m in mails)  # type: ignore[index]


async def test_a_subscription_event_is_mailed_to_the_admins_in_french(ops, producer, stack, tenant_id) -> None:
    name = f"Acme {tenant_id}"
    await ops.create_tenant(tenant_id, name=name, admins=ADMINS[:1], members=[MEMBER], language="fr")
    invoice = {
        "kind": "invoice.issued",
        "event_id": f"invoice-issued:{tenant_id}:1",
        "tenant_id": tenant_id,
        "occurred_at": "2026-11-22T10:00:00Z",
        "subscription_id": "s1",
        "plan_name": "Team",
        "invoice_id": "i1",
        "invoice_number": "CF-2026-000042",
        "total_minor": 2420,
        "issued_on": "2026-11-22",
        "due_on": "2026-12-06",
    }
    await publish(producer, topics.SUBSCRIPTIONS_EVENTS, tenant_id, invoice)

    [mail] = await eventually(lambda: _mails(stack.mailbox, name, 1))
    assert str(mail["To"]) == ADMINS[0]
    assert mail["Subject"] == f"Facture CF-2026-000042 de 24,20\u00a0€ pour {name}"
    assert "échéance le 6 décembre 2026" in mail.get_body(preferencelist=("plain",)).get_content()


async def test_a_refused_mailbox_is_a_permanent_failure_on_the_dead_letter_topic(ops, stack, tenant_id) -> None:
    name = f"Acme {tenant_id}"
    admins = [ADMINS[0], "gone@bounce.invalid"]
    await ops.create_tenant(tenant_id, name=name, admins=admins, members=[], language="en")

    await cross_low_threshold(ops, tenant_id)

    [letter] = await read_topic(ops.settings, topics.NOTIFICATIONS_DLQ, tenant_id, expect=1, timeout=60)
    assert letter["reason"] == "permanent_delivery_failure"
    assert "550" in letter["detail"]
    [mail] = await eventually(lambda: _mails(stack.mailbox, name, 1))
    assert str(mail["To"]) == ADMINS[0]
    async with ops.notification_log() as log:
        statuses = {r["to"]: r["status"] for r in await log.list(tenant_id)}
    assert statuses == {ADMINS[0]: "sent", "gone@bounce.invalid": "failed"}


async def test_another_tenants_admins_hear_nothing(ops, stack, tenant_id) -> None:
    other = f"{tenant_id}-b"
    await ops.create_tenant(tenant_id, name=f"Acme {tenant_id}", admins=["one@a.example"], members=[], language="en")
    await ops.create_tenant(other, name=f"Beta {other}", admins=["two@b.example"], members=[], language="en")

    await cross_low_threshold(ops, tenant_id)

    [mail] = await eventually(lambda: _mails(stack.mailbox, f"Acme {tenant_id}", 1))
    assert str(mail["To"]) == "one@a.example"
    assert mails_to(stack.mailbox, f"Beta {other}") == []


def rejection_notice(tenant_id: str, n: int) -> Notice:
    return Notice(
        f"debit-rejected:{n}",
        tenant_id,
        f"Acme {tenant_id}",
        "debits_rejected",
        (Fact("count", "count", "1"), Fact("amount", "credits", "5"), Fact("balance", "credits", "0")),
        digest=True,
    )


async def test_an_event_arriving_once_its_digest_is_claimed_for_sending_goes_to_the_next_digest(ops, tenant_id) -> None:
    """The sender renders a digest from the document it claimed: a later event must not be counted into it
    (it would be marked sent without being in the e-mail), so the merge calls that digest closed."""
    admin = Recipient(ADMINS[0], "en")
    window = f"{tenant_id}|digest:debits_rejected:1|{admin.email}"
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    # A database of its own, so that the running worker's sender claims nothing here, nor this test theirs.
    async with ops.notification_log(database=f"notifications-{tenant_id}") as log:
        assert await log.merge(Delivery(window, rejection_notice(tenant_id, 1), admin), at=at, due_at=at) == "merged"
        claimed = await log.claim_due(now=at, lease_until=at + timedelta(minutes=2))
        assert claimed is not None and claimed.delivery_id == window

        late = await log.merge(Delivery(window, rejection_notice(tenant_id, 2), admin), at=at, due_at=at)

        assert late == "closed"
        [row] = [r for r in await log.list(tenant_id) if r["_id"] == window]
        assert row["digest"]["count"] == 1, "the claimed digest keeps the count it is being sent with"
        assert not await log.already_digested(tenant_id, "debit-rejected:2", admin.email)
