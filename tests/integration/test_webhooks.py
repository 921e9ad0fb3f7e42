"""Webhooks on the real stack: the notifications worker POSTs to a real HTTP server started by the test, signed;
retries a receiver that is down or answers 4xx, logs every attempt, replays from the log with the same event id,
and disables an endpoint that keeps failing, telling the vendor's operators by e-mail."""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from creditflow.client import WebhookSignatureError, verify_webhook
from creditflow.supervisor import Supervisor
from proof.money import Receiver
from schemas import topics
from tests.conftest import eventually
from tests.integration.conftest import mails_to, read_topic
from tests.integration.test_metrics import scrape, value

pytestmark = pytest.mark.integration
ADMIN = "chef@acme.example"
OPERATOR = "ops@vendor.example"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def cross_low_threshold(ops: Any, tenant_id: str) -> None:
    """Buy 100.10 credits, then 0.15 + 0.15 are debited: one crossing below 100."""
    await ops.create_tenant(tenant_id, name=f"Acme {tenant_id}", admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal("100.10"), by=ADMIN)
    for n in (1, 2):
        await ops.send(_debit(tenant_id, n), wait=0)


def _debit(tenant_id: str, n: int) -> Any:
    from schemas.wallet import Debit

    return Debit(command_id=f"sms-{n}", tenant_id=tenant_id, issued_at="2026-11-22T10:00:00Z", amount="0.15",  # type: ignore[arg-type]
                 entry_type="sms", occurred_at="2026-11-22T10:00:00Z", source="test")  # fmt: skip


async def _received(receiver: Receiver, n: int) -> list[tuple[dict[str, str], bytes]] | None:
    return receiver.received if len(receiver.received) >= n else None


async def test_a_low_balance_event_arrives_signed_and_a_replay_brings_the_same_event_id(
    ops, receiver, tenant_id
) -> None:
    made = await ops.webhooks.create(url=receiver.url, event_types=["threshold.crossed"], tenant_ids=[tenant_id])
    assert made["outcome"]["status"] == "applied"
    secret = made["secret"]

    await cross_low_threshold(ops, tenant_id)

    [(headers, body)] = await eventually(lambda: _received(receiver, 1))
    event = verify_webhook(body, headers["Creditflow-Signature"], secret)
    crossing = next(e for e in await read_topic(ops.settings, topics.WALLET_EVENTS, tenant_id, expect=5)
                    if e["kind"] == "threshold.crossed")  # fmt: skip
    assert (event["id"], event["type"], event["tenant_id"]) == (crossing["event_id"], "threshold.crossed", tenant_id)
    assert event["data"]["balance"] == "99.95" and event["data"]["threshold"] == "100"
    assert headers["Creditflow-Event-Id"] == crossing["event_id"]

    # a tampered body (or another endpoint's secret) fails the receiver's check
    with pytest.raises(WebhookSignatureError):
        verify_webhook(body.replace(b"99.95", b"999.95"), headers["Creditflow-Signature"], secret)
    other = await ops.webhooks.create(url=receiver.url, event_types=["invoice.paid"], tenant_ids=[tenant_id])
    with pytest.raises(WebhookSignatureError):
        verify_webhook(body, headers["Creditflow-Signature"], other["secret"])

    # the log shows it delivered; a replay of that delivery arrives again: same body, same event id
    [delivery] = await ops.webhooks.deliveries(made["endpoint_id"])
    assert (delivery["status"], delivery["attempts"], delivery["log"][-1]["status_code"]) == ("delivered", 1, 200)
    replayed = await ops.webhooks.replay(made["endpoint_id"], delivery_id=delivery["delivery_id"])
    assert replayed["outcome"]["replayed"] == 1
    first, again = await eventually(lambda: _received(receiver, 2))
    assert again[1] == first[1]
    assert verify_webhook(again[1], again[0]["Creditflow-Signature"], secret)["id"] == crossing["event_id"]
    [delivery] = await ops.webhooks.deliveries(made["endpoint_id"])
    assert (delivery["status"], delivery["replays"], len(delivery["log"])) == ("delivered", 1, 2)


async def test_a_receiver_that_is_down_gets_the_event_after_a_retry_and_a_4xx_is_retried_and_logged(
    ops, workers: Supervisor, tenant_id
) -> None:
    receiver = Receiver(answers=[400, 503])  # not started: down
    made = await ops.webhooks.create(url=receiver.url, event_types=["*"], tenant_ids=[tenant_id])
    await ops.create_tenant(tenant_id, name=f"Acme {tenant_id}", admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal("100.10"), by=ADMIN)

    async def failed_once() -> Any:
        rows = await ops.webhooks.deliveries(made["endpoint_id"], status="pending")
        return rows if rows and all(r["attempts"] >= 1 and r["last_error"] for r in rows) else None

    down = await eventually(failed_once)
    assert "ConnectError" in down[0]["last_error"]
    receiver.start()
    try:

        async def all_delivered() -> Any:
            rows = await ops.webhooks.deliveries(made["endpoint_id"])
            return rows if rows and all(r["status"] == "delivered" for r in rows) else None

        rows = await eventually(all_delivered)
    finally:
        receiver.stop()
    events = receiver.events(made["secret"])
    assert {"topup.requested", "topup.succeeded", "entry.recorded"} <= {e["type"] for e in events}
    # two got a 400 and a 503 first: retried, and every attempt is in the log with its answer
    answers = [[a["status_code"] for a in r["log"]] for r in rows]
    assert sorted(code for log in answers for code in log if code and code >= 400) == [400, 503]
    assert all(log[-1] == 200 for log in answers)
    assert any(log[0] is None for log in answers)  # no answer while it was down
    assert len({e["id"] for e in events}) == len(rows)  # one event id per delivery, however often it was tried
    metrics = scrape(workers, "notifications")
    assert value(metrics, "creditflow_webhook_attempts_total", outcome="retrying") >= 3
    assert value(metrics, "creditflow_webhook_attempts_total", outcome="delivered") >= len(rows)


async def test_an_endpoint_that_keeps_failing_is_disabled_and_the_operators_are_emailed(ops, stack, tenant_id) -> None:
    receiver = Receiver(answers=[500] * 1000).start()
    try:
        made = await ops.webhooks.create(
            url=receiver.url, event_types=["topup.succeeded"], tenant_ids=[tenant_id], alert_emails=[OPERATOR]
        )
        await ops.create_tenant(tenant_id, name=f"Acme {tenant_id}", admins=[ADMIN], members=[], language="en")
        await ops.top_up(tenant_id, Decimal(10), by=ADMIN)

        async def disabled() -> Any:
            found = await ops.webhooks.endpoint(made["endpoint_id"])
            return found if not found["enabled"] else None

        endpoint = await eventually(disabled, timeout=60)
        assert "HTTP 500" in endpoint["disabled_reason"]
        mails = await eventually(lambda: _mail_to(stack.mailbox, OPERATOR), timeout=30)
        assert mails[0]["Subject"] == f"Webhook endpoint disabled: {receiver.url}"
        assert f"creditflow webhooks enable {made['endpoint_id']}" in mails[0].get_body(("plain",)).get_content()
        tried = len(receiver.received)
        assert tried >= 3
    finally:
        receiver.stop()

    # fixed and enabled again: a replay of the time range sends what it missed, once more with the same id
    receiver = Receiver(port=receiver.port).start()
    try:
        enabled = await ops.webhooks.update(made["endpoint_id"], enabled=True)
        assert enabled["outcome"]["status"] == "applied"
        [delivery] = await ops.webhooks.deliveries(made["endpoint_id"])
        assert delivery["status"] in ("failed", "held")
        await ops.webhooks.replay(made["endpoint_id"], since=endpoint_created(endpoint))
        [(_, body)] = await eventually(lambda: _received(receiver, 1))
        assert json.loads(body)["id"] == delivery["event_id"]
    finally:
        receiver.stop()


def endpoint_created(endpoint: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(endpoint["created_at"])


async def _mail_to(mailbox: Any, address: str) -> Any:
    found = [m for m in mails_to(mailbox, "") if address in str(m["To"])]
    return found or None


async def test_the_api_registers_an_endpoint_shows_its_secret_once_and_refuses_tenant_keys(
    ops, workers: Supervisor, receiver, tenant_id
) -> None:
    _, operator_key = await ops.create_api_key("operator", name="webhooks")
    await ops.create_tenant(tenant_id, name=f"Acme {tenant_id}", admins=[ADMIN], members=[], language="en")
    _, tenant_key = await ops.create_api_key("tenant", name="t", tenant_id=tenant_id, scopes=("wallet:read",))
    async with httpx.AsyncClient(base_url=str(workers.api_url), timeout=60,
                                 headers={"Authorization": f"Bearer {operator_key}"}) as api:  # fmt: skip
        body = {"url": receiver.url, "event_types": ["topup.succeeded"], "tenant_ids": [tenant_id]}
        made = await api.post("/v1/webhook-endpoints", json=body, headers={"Idempotency-Key": f"wh-{tenant_id}"})
        assert made.status_code == 201, made.text
        endpoint = made.json()
        assert endpoint["secret"].startswith("whsec_") and endpoint["enabled"] is True
        again = await api.post("/v1/webhook-endpoints", json=body, headers={"Idempotency-Key": f"wh-{tenant_id}"})
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == endpoint  # the same endpoint and secret, though no record holds the secret
        listed = (await api.get("/v1/webhook-endpoints")).json()["data"]
        mine = next(e for e in listed if e["endpoint_id"] == endpoint["endpoint_id"])
        assert "secret" not in mine and "salt" not in mine
        bad = await api.post("/v1/webhook-endpoints", json=body | {"event_types": ["no.such_type"]})
        assert (bad.status_code, bad.json()["code"]) == (422, "unknown_event_type")

        await ops.top_up(tenant_id, Decimal(5), by=ADMIN)
        await eventually(lambda: _received(receiver, 1))
        assert receiver.events(endpoint["secret"])[0]["type"] == "topup.succeeded"
        page = (await api.get(f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/deliveries")).json()
        assert [d["status"] for d in page["data"]] == ["delivered"]
        rotated = await api.post(f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/rotate-secret")
        assert rotated.status_code == 200 and rotated.json()["secret"] != endpoint["secret"]

    async with httpx.AsyncClient(base_url=str(workers.api_url), timeout=30,
                                 headers={"Authorization": f"Bearer {tenant_key}"}) as tenant:  # fmt: skip
        for method, path in (("GET", "/v1/webhook-endpoints"), ("POST", "/v1/webhook-endpoints"),
                             ("GET", f"/v1/webhook-endpoints/{endpoint['endpoint_id']}/deliveries")):  # fmt: skip
            answer = await tenant.request(method, path, json=body)
            assert (answer.status_code, answer.json()["code"]) == (403, "operator_only"), (method, path)


async def test_the_cli_registers_lists_and_shows_the_log_and_says_when_webhooks_are_off(ops, receiver) -> None:
    from tests.integration.test_new_user import cli

    stack_env = {"WEBHOOK_SIGNING_KEY": ops.settings.webhook_signing_key.get_secret_value()}
    made = cli(ops, "webhooks", "create", "--url", receiver.url, "--event", "invoice.issued", "--tenant", "acme",
               env=stack_env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    endpoint_id = made.stdout.split()[1]
    secret = made.stdout.rsplit(": ", 1)[1].strip()
    assert endpoint_id.startswith("we_") and secret.startswith("whsec_")
    listed = json.loads(cli(ops, "webhooks", "list", "--json", env=stack_env).stdout)
    [mine] = [e for e in listed if e["endpoint_id"] == endpoint_id]
    assert (mine["url"], mine["event_types"], mine["tenant_ids"], mine["enabled"]) == (
        receiver.url, ["invoice.issued"], ["acme"], True)  # fmt: skip
    assert secret not in json.dumps(listed)
    assert json.loads(cli(ops, "webhooks", "deliveries", endpoint_id, "--json", env=stack_env).stdout) == []
    unknown = cli(ops, "webhooks", "create", "--url", receiver.url, "--event", "no.such", env=stack_env)
    assert unknown.returncode == 2 and "unknown event type" in unknown.stderr
    gone = cli(ops, "webhooks", "delete", "we_nope", env=stack_env)
    assert gone.returncode == 1 and "refused (not_found)" in gone.stderr
    off = cli(ops, "webhooks", "create", "--url", receiver.url, "--event", "*", env={"WEBHOOK_SIGNING_KEY": ""})
    assert off.returncode == 2 and "WEBHOOK_SIGNING_KEY is not set" in off.stderr
