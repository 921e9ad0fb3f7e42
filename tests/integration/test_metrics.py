"""Each worker's `/metrics`: FastStream's message counters and creditflow's own move as usage flows."""

import re
import urllib.request
from decimal import Decimal

import pytest

from creditflow.supervisor import Supervisor
from schemas import topics
from tests.conftest import eventually
from tests.integration.conftest import publish, read_topic
from tests.integration.test_metering import ADMIN, sms

pytestmark = pytest.mark.integration


def scrape(workers: Supervisor, name: str) -> str:
    port = workers.workers[name].health_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        return str(resp.read().decode())


def value(text: str, metric: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels` (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") or line.startswith(metric + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def test_counters_move_when_usage_flows_and_a_bad_event_is_dead_lettered(
    ops, producer, workers, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(5), by=ADMIN)
    await ops.configure(tenant_id, thresholds=[Decimal("4.9")], wait=30)  # the first SMS crosses it: an e-mail
    names = ("metering", "wallet", "notifications")
    before = {name: scrape(workers, name) for name in names}

    await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, "m-1"))
    await publish(producer, topics.USAGE_EVENTS, tenant_id, {**sms(tenant_id, "m-2"), "quantity": -1})
    await read_topic(ops.settings, topics.USAGE_DLQ, tenant_id, expect=1)

    async def moved() -> bool:
        after = {name: scrape(workers, name) for name in names}
        received = "faststream_received_messages_total"
        return (
            value(after["metering"], received, handler=topics.USAGE_EVENTS)
            > value(before["metering"], received, handler=topics.USAGE_EVENTS)
            and value(after["metering"], "creditflow_dead_letters_total", reason="invalid_quantity")
            > value(before["metering"], "creditflow_dead_letters_total", reason="invalid_quantity")
            and value(after["wallet"], "creditflow_wallet_outcomes_total", kind="entry.recorded")
            > value(before["wallet"], "creditflow_wallet_outcomes_total", kind="entry.recorded")
            and value(after["wallet"], "creditflow_database_documents_written_total", collection="ledger")
            > value(before["wallet"], "creditflow_database_documents_written_total", collection="ledger")
            and value(after["notifications"], "creditflow_emails_total", outcome="sent")
            > value(before["notifications"], "creditflow_emails_total", outcome="sent")
        )

    await eventually(moved, timeout=60)
    text = scrape(workers, "metering")
    assert "faststream_received_processed_messages_duration_seconds_bucket" in text, "handler latency histogram"


def test_every_process_answers_its_liveness_and_readiness_probes(workers: Supervisor) -> None:
    """FastStream's ASGI application (the API: its own app) serves the probes the Kubernetes manifests use."""
    import json

    for name, url in workers.health_urls.items():
        for path in ("/health/live", "/health/ready"):
            with urllib.request.urlopen(f"{url}{path}", timeout=5) as resp:
                assert resp.status == 200, (name, path)
                assert json.load(resp)["status"] == "ok", (name, path)
