"""What a new user hit, on the real stack: paid changes on one day, leaving the free plan, one last day, plain
`--json`, readable ledgers, people by name, and a CLI that answers in sentences."""

import email
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from email import policy
from pathlib import Path
from typing import Any

import pytest

from schemas import subscriptions as wire
from schemas import topics
from schemas.usage import UsageEvent
from tests.conftest import eventually
from tests.integration.conftest import publish, read_topic
from tests.unit.subscriptions.test_views_and_receipts import assert_plain

pytestmark = pytest.mark.integration
ADMIN = "admin@acme.example"
MEMBER = "member@acme.example"


# Subscriptions here live in 2029: the year-long test drives the scheduler's clock through 2027 for every tenant
# with a subscription, and checks that its own invoices are numbered without gaps in that year.


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


async def send_twice(ops: Any, command: Any) -> list[dict[str, Any]]:
    """Deliver a command twice, as an at-least-once producer may, and return what it caused."""
    await ops.publish(topics.SUBSCRIPTIONS_COMMANDS, command.tenant_id, command.model_dump(mode="json"))
    outcome = await ops.send_subscription(command, wait=60)
    return list(outcome["events"])


async def test_two_upgrades_and_two_paid_add_on_changes_on_one_day_are_each_invoiced_and_charged_once(
    ops, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="fr")

    def cmd(cls: type, n: str, **fields: Any) -> Any:
        return cls(command_id=f"{n}-{tenant_id}", tenant_id=tenant_id, issued_at=at("2029-06-05"), by=ADMIN, **fields)

    await send_twice(ops, cmd(wire.Start, "start", plan="free", start_on=date(2029, 6, 1)))
    # all on 5 June: Free -> Team -> Business, then the add-on Beyond for one user, then for two
    changes = [
        cmd(wire.ChangePlan, "team", plan="team", seats=2),
        cmd(wire.ChangePlan, "business", plan="business"),
        cmd(wire.ChangeAddOn, "beyond", addon="reunion-client", plan="beyond", seats=1),
        cmd(wire.ChangeSeats, "beyond-2", addon="reunion-client", seats=2),
    ]
    issued = []
    for change in changes:
        events = await send_twice(ops, change)
        assert [e["kind"] for e in events] == ["subscription.plan_changed", "invoice.issued"], events
        issued.append(events[1])

    async with ops.subscription_store() as store:

        async def all_paid() -> list[Any] | None:
            found = await store.invoices(tenant_id)
            return found if len(found) >= 4 and all(i.status == "paid" for i in found) else None

        invoices = await eventually(all_paid, timeout=60)
    assert sorted(i.invoice_id for i in invoices) == sorted(e["invoice_id"] for e in issued)
    assert len({i.number for i in invoices}) == 4
    assert all(
        i.invoice_id.endswith(c.command_id)
        for i, c in zip(sorted(invoices, key=lambda i: i.number or ""), changes, strict=True)
    )
    # each invoice charged once by the payment provider, whatever was delivered twice
    client = ops._client()
    try:
        charges = [
            d async for d in client[ops.settings.database_name("payments")]["charges"].find({"tenant_id": tenant_id})
        ]
    finally:
        await client.close()
    assert sorted(c["_id"] for c in charges) == sorted(f"pay:{i.invoice_id}" for i in invoices)
    paid = await read_topic(ops.settings, topics.SUBSCRIPTIONS_EVENTS, tenant_id, expect=100, timeout=3)
    assert sorted({e["invoice_id"] for e in paid if e["kind"] == "invoice.paid"}) == sorted(
        i.invoice_id for i in invoices
    )
    assert await read_topic(ops.settings, topics.SUBSCRIPTIONS_DLQ, tenant_id, expect=1, timeout=2) == []
    view = await ops.plan(tenant_id)
    assert view is not None
    sub = view["subscription"]
    assert (sub["plan"], sub["seats"], [(a["plan"], a["seats"]) for a in sub["addons"]]) == (
        "business",
        2,
        [("beyond", 2)],
    )


async def test_a_free_account_moves_straight_to_an_annual_plan_inside_its_last_15_days(ops, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")

    def cmd(cls: type, n: str, day: str, **fields: Any) -> Any:
        return cls(command_id=f"{n}-{tenant_id}", tenant_id=tenant_id, issued_at=at(day), by=ADMIN, **fields)

    await ops.send_subscription(cmd(wire.Start, "start", "2029-07-01", plan="free", start_on=date(2029, 7, 1)))
    # 26 July: 6 days before the free month renews
    events = await send_twice(
        ops, cmd(wire.ChangePlan, "annual", "2029-07-26", plan="team", interval="annual", seats=3)
    )

    assert [e["kind"] for e in events] == ["subscription.plan_changed", "invoice.issued"]
    assert events[1]["total_minor"] == 3 * 15000 * 121 // 100  # a whole year for three users, 21 % VAT
    view = await ops.plan(tenant_id)
    assert view is not None
    sub = view["subscription"]
    assert (sub["interval"], sub["current_period"], sub["renews_on"]) == (
        "annual",
        {"first_day": "2029-07-26", "last_day": "2030-07-25"},
        "2030-07-26",
    )


async def test_a_cancellation_gives_one_last_day_in_the_event_the_view_and_the_mail(ops, stack, tenant_id) -> None:
    name = f"Cancel {tenant_id}"
    await ops.create_tenant(tenant_id, name=name, admins=[ADMIN], members=[], language="en")

    def cmd(cls: type, n: str, **fields: Any) -> Any:
        return cls(command_id=f"{n}-{tenant_id}", tenant_id=tenant_id, issued_at=at("2029-11-25"), by=ADMIN, **fields)

    await ops.send_subscription(cmd(wire.Start, "start", plan="team", start_on=date(2029, 11, 21)))
    [cancelled] = await send_twice(ops, cmd(wire.Cancel, "cancel"))

    assert cancelled["last_day_of_access"] == "2029-12-20"
    view = await ops.plan(tenant_id)
    assert view is not None and view["subscription"]["last_day_of_access"] == "2029-12-20"

    async def mail() -> list[Any]:
        found = []
        for path in sorted(stack.mailbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if "cancelled" in str(message["Subject"]) and name in message.get_body(("plain",)).get_content():
                found.append(message)
        return found

    [message] = await eventually(mail, timeout=30)
    assert "access until 20 December 2029" in str(message["Subject"])
    assert "21 December" not in message.get_body(("plain",)).get_content()


# --- the command line, as a user runs it -----------------------------------------------------------------


def cli(stack: Any, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    settings = stack.settings
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MONGODB_URI": settings.mongodb_uri.get_secret_value(),
        "MONGODB_DATABASE_PREFIX": settings.mongodb_database_prefix,
        **(env or {}),
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "creditflow"), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


async def test_every_json_output_is_plain_data_and_the_ledger_reads_like_planmanagers(
    ops, stack, producer, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[MEMBER], language="fr")
    await ops.top_up(tenant_id, Decimal(300), by=ADMIN)
    sms = UsageEvent(
        event_id=f"sms-{tenant_id}",
        tenant_id=tenant_id,
        type="sms",
        quantity=Decimal(1),
        occurred_at=datetime.now(UTC),
        site="Insypro",
        personnel="Jean-Luc Lemaire",
    )
    await publish(producer, topics.USAGE_EVENTS, tenant_id, sms.model_dump(mode="json"))
    await ops.command_outcome(tenant_id, f"usage:{sms.event_id}", timeout=30)

    def cmd(cls: type, n: str, **fields: Any) -> Any:
        return cls(command_id=f"{n}-{tenant_id}", tenant_id=tenant_id, issued_at=at("2029-03-10"), by=ADMIN, **fields)

    await ops.send_subscription(cmd(wire.Start, "start", plan="team", seats=3))
    await ops.send_subscription(cmd(wire.ChangeAddOn, "addon", addon="reunion-client", plan="beyond", seats=3))
    await ops.send_subscription(cmd(wire.ChangeSeats, "fewer", addon="reunion-client", seats=2))  # scheduled

    commands = [
        ["plan", "show", tenant_id],
        ["invoices", "list", tenant_id],
        ["wallet", "balance", tenant_id],
        ["wallet", "ledger", tenant_id],
        ["reconcile", tenant_id],
        ["usage", tenant_id],
        ["prices", "show", tenant_id],
        ["notifications", tenant_id],
    ]
    outputs = {}
    for args in commands:
        done = cli(stack, *args, "--json")
        assert done.returncode == 0, (args, done.stderr)
        outputs[args[0] + " " + args[1]] = value = json.loads(done.stdout)
        assert_plain(value)
    scheduled = outputs["plan show"]["subscription"]["scheduled"]
    assert scheduled["addons"][0]["seats"] == 2
    ledger = outputs["wallet ledger"]
    allowance, usage, purchase = ledger  # newest first
    assert (usage["description"], usage["personnel"], usage["site"]) == ("SMS", "Jean-Luc Lemaire", "Insypro")
    assert (purchase["description"], purchase["personnel"]) == ("Achat de 300 crédits", ADMIN)
    assert allowance["description"].startswith("Crédits inclus Team, du ")

    text = cli(stack, "wallet", "ledger", tenant_id)
    assert text.returncode == 0
    header, *rows = text.stdout.splitlines()
    assert header.split() == ["Datetime", "Site", "Personnel", "Description", "Type", "Value", "Balance"]
    assert "Achat de 300 crédits" in rows[2] and "Jean-Luc Lemaire" in rows[1]
    csv_out = cli(stack, "wallet", "ledger", tenant_id, "--csv")
    assert csv_out.stdout.splitlines()[0].startswith("datetime,site,personnel,description,type,")


async def test_plan_show_for_a_tenant_with_apps_and_no_plan_shows_the_apps(ops, stack, tenant_id) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="fr")

    assigned = cli(stack, "apps", "assign", tenant_id, "inspecteur", "plemaire=Philippe Lemaire", "--by", ADMIN)
    assert assigned.returncode == 0, assigned.stderr

    shown = cli(stack, "plan", "show", tenant_id)
    assert shown.returncode == 0, shown.stderr
    assert "plan: none (no subscription)" in shown.stdout
    assert "app App d'inspecteur (inspecteur): Philippe Lemaire" in shown.stdout
    unknown = cli(stack, "plan", "show", f"nobody-{tenant_id}")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, f"no tenant 'nobody-{tenant_id}'")


def test_a_slow_answer_or_an_unreachable_broker_is_a_sentence_and_an_exit_code_not_a_traceback(stack, workers) -> None:
    # the workers write where this CLI does not look, so no answer comes within the wait
    slow = cli(stack, "seats", "nobody", "3", "--by", ADMIN, env={"MONGODB_DATABASE_PREFIX": "elsewhere",
                                                                  "CREDITFLOW_WAIT_SECONDS": "1"})  # fmt: skip
    assert slow.returncode == 3
    assert slow.stderr.startswith("No answer yet: subscriptions has not applied")
    down = cli(stack, "wallet", "topup", "nobody", "5", "--by", ADMIN, env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    assert down.returncode == 2
    assert down.stderr.startswith("Cannot reach Kafka")
    for done in (slow, down):
        assert "Traceback" not in done.stdout + done.stderr
