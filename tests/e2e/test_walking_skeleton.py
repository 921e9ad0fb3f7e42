"""The whole stack started as a user starts it (`creditflow up`), fed with plain aiokafka following the
JSON Schema in schemas/json, observed through the CLI, the SMTP sink and the dead-letter topic."""

import asyncio
import email
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.conftest import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "json" / "usage-event.v1.json").read_text())
ADMINS = ["jean-luc@insypro.example", "philippe@insypro.example"]
MEMBER = "stagiaire@insypro.example"


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "SMTP_URL")}
    return subprocess.run(
        [sys.executable, "-m", "creditflow", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def running_stack(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "SMTP_URL")}
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen(
        [sys.executable, "-m", "creditflow", "up", "--no-demo", "--state-dir", str(tmp_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        yield tmp_path, up
    finally:
        up.terminate()
        up.wait(timeout=60)
        log.close()


def sms(tenant: str, event_id: str) -> dict[str, object]:
    event = {
        "event_id": event_id,
        "tenant_id": tenant,
        "type": "sms",
        "quantity": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "site": "Insypro",
        "personnel": "Jean-Luc Lemaire",
    }
    jsonschema.validate(event, SCHEMA)
    return event


async def _up(state_dir: Path) -> bool:
    log = (state_dir / "up.log").read_text()
    return "running; Ctrl-C to stop" in log or "workers healthy" in log


async def test_usage_to_balance_to_email_and_dead_letter(running_stack) -> None:
    state_dir, up = running_stack
    await eventually(lambda: _up(state_dir), timeout=120)
    stack = json.loads((state_dir / "stack.json").read_text())
    tenant = f"insypro-{uuid.uuid4().hex[:6]}"

    # a tenant with two admins and a member; an admin buys 100.30 credits, the member may not
    created = cli(
        state_dir,
        "tenant",
        "create",
        tenant,
        "--admin",
        ADMINS[0],
        "--admin",
        ADMINS[1],
        "--member",
        MEMBER,
        "--language",
        "fr",
        "--name",
        "Insypro",
    )
    assert created.returncode == 0, created.stderr
    assert cli(state_dir, "wallet", "topup", tenant, "100.30", "--by", ADMINS[0]).returncode == 0
    refused = cli(state_dir, "wallet", "topup", tenant, "5", "--by", MEMBER)
    assert refused.returncode == 1 and "not an admin" in refused.stderr

    # a producer app sends three SMS, each published twice, and one malformed event
    producer = AIOKafkaProducer(bootstrap_servers=stack["kafka_bootstrap_servers"], enable_idempotence=False)
    await producer.start()
    try:
        for n in range(3):
            event = json.dumps(sms(tenant, f"sms-{n}")).encode()
            for _ in range(2):
                await producer.send_and_wait("usage.events", event, key=tenant.encode())
        await producer.send_and_wait(
            "usage.events", b'{"event_id": "broken", "tenant_id": "' + tenant.encode() + b'"', key=tenant.encode()
        )
    finally:
        await producer.stop()

    # the exact balance, one ledger entry per distinct event
    async def balance() -> bool:
        shown = cli(state_dir, "wallet", "balance", tenant, "--json")
        return json.loads(shown.stdout)["balance"] == "99.85" if shown.returncode == 0 else False

    await eventually(balance, timeout=60)
    ledger = json.loads(cli(state_dir, "wallet", "ledger", tenant, "--json").stdout)
    assert [(row["type"], row["value"]) for row in ledger] == [("sms", "-0.15")] * 3 + [("topup", "100.3")]
    assert [row["description"] for row in ledger] == ["SMS"] * 3 + ["Achat de 100,3 crédits"]

    # a low-balance e-mail to each admin, none to the member
    mailbox = Path(stack["mailbox_dir"])

    async def mails() -> list[email.message.EmailMessage]:
        found = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in mailbox.glob("*.eml")]
        return found if len(found) >= 2 else []

    received = await eventually(mails, timeout=60)
    assert sorted(str(m["To"]) for m in received) == sorted(ADMINS)
    assert {str(m["Subject"]) for m in received} == {"Crédits faibles : il reste 99,85 crédits à Insypro"}

    # the malformed event is on the dead-letter topic with its reason
    consumer = AIOKafkaConsumer(
        "usage.dlq",
        bootstrap_servers=stack["kafka_bootstrap_servers"],
        auto_offset_reset="earliest",
        group_id=f"e2e-{uuid.uuid4().hex}",
    )
    await consumer.start()
    try:
        letter = json.loads((await asyncio.wait_for(consumer.getone(), 30)).value)
    finally:
        await consumer.stop()
    assert letter["reason"] == "malformed_json"
    assert letter["key"] == tenant
    assert up.poll() is None

    # the HTTP API, as README shows it: its address in stack.json, an operator key from the CLI, curl's request
    import httpx

    api_url = json.loads((state_dir / "stack.json").read_text())["api_url"]
    made = cli(state_dir, "api-keys", "create", "--operator", "--name", "e2e")
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[-1]
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}) as client:
        wallet = (await client.get(f"/v1/tenants/{tenant}/wallet")).json()
        assert wallet["balance"] == "99.85"
    listed = cli(state_dir, "api-keys", "list", "--json")
    assert key not in listed.stdout  # keys are shown once, then only their id
    key_id = key.split("_", 3)[2]
    assert cli(state_dir, "api-keys", "revoke", key_id).returncode == 0
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}) as client:

        async def refused() -> bool:  # within the API's key cache time (2 s)
            return (await client.get(f"/v1/tenants/{tenant}/wallet")).status_code == 401

        await eventually(refused, timeout=10)
    logs = "".join(p.read_text(errors="replace") for p in (state_dir / "logs").glob("*.log"))
    secret = key.split("_", 3)[3]  # cf_<kind>_<id>_<secret>: the secret may itself hold "_"
    assert secret and secret not in logs  # the secret never reaches a log
