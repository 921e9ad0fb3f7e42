"""`creditflow status`: workers' health, consumer lag that grows while the wallet is stopped and falls back to 0
when it returns, and dead letters per topic and reason."""

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from creditflow.status import status
from creditflow.supervisor import Supervisor
from schemas import topics
from shared.config import STACK_FILE
from tests.integration.conftest import publish, read_topic
from tests.integration.test_metering import ADMIN, sms
from tests.integration.test_new_user import cli

pytestmark = pytest.mark.integration


def _wallet_lag(view: dict[str, Any]) -> int:
    return sum(r["lag"] for r in view["lag"] if r["group"] == "wallet" and r["topic"] == topics.WALLET_COMMANDS)


def _exported_lag(scheduler_url: str) -> float:
    """The wallet's lag as Prometheus scrapes it from the scheduler (which reads it from Kafka every second here)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{scheduler_url}/metrics", timeout=5).text
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "creditflow_consumer_lag"]
    return sum(s.value for s in family.samples
               if s.labels["group"] == "wallet" and s.labels["topic"] == topics.WALLET_COMMANDS)  # fmt: skip


async def test_lag_grows_while_the_wallet_is_stopped_and_falls_to_zero_when_it_restarts(
    ops, producer, workers: Supervisor, stack, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(50), by=ADMIN)
    urls = workers.health_urls
    wallet = workers.workers["wallet"]
    wallet.stop()
    try:
        for i in range(5):
            await publish(producer, topics.USAGE_EVENTS, tenant_id, sms(tenant_id, f"lag-{i}"))
        deadline = time.monotonic() + 60
        while (view := await status(ops.settings, urls)) and _wallet_lag(view) == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        assert _wallet_lag(view) > 0, "metering's debits wait for the stopped wallet"
        assert {w["worker"]: w["status"] for w in view["workers"]}["wallet"] == "down"
        deadline = time.monotonic() + 30
        while _exported_lag(urls["scheduler"]) == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        assert _exported_lag(urls["scheduler"]) > 0
    finally:
        wallet.start()
    deadline = time.monotonic() + 120
    while (view := await status(ops.settings, urls)) and _wallet_lag(view) > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(1)
    assert _wallet_lag(view) == 0
    assert all(w["status"] == "ok" for w in view["workers"])
    deadline = time.monotonic() + 30
    while _exported_lag(urls["scheduler"]) > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    assert _exported_lag(urls["scheduler"]) == 0


async def test_the_cli_shows_the_same_view_as_json_and_as_a_table(
    ops, producer, workers: Supervisor, stack, tenant_id
) -> None:
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.top_up(tenant_id, Decimal(5), by=ADMIN)  # a wallet command: the wallet's group has an offset
    await publish(producer, topics.USAGE_EVENTS, tenant_id, b"{not json")
    await read_topic(ops.settings, topics.USAGE_DLQ, tenant_id, expect=1)
    path = stack.settings.state_dir / STACK_FILE
    known = json.loads(path.read_text())
    path.write_text(json.dumps({**known, "workers": workers.health_urls}))
    try:
        state = ("--state-dir", str(stack.settings.state_dir))
        as_json = cli(stack, "status", "--json", *state)
        table = cli(stack, "status", *state)
    finally:
        path.write_text(json.dumps(known))

    assert as_json.returncode == 0, as_json.stderr
    view = json.loads(as_json.stdout)
    assert {w["worker"] for w in view["workers"]} == set(workers.workers)
    assert {r["group"] for r in view["lag"]} >= {"metering", "wallet"}
    assert all(set(r) == {"topic", "reason", "count"} for r in view["dead_letters"])
    assert any(r["topic"] == topics.USAGE_DLQ and r["reason"] == "malformed_json" for r in view["dead_letters"])
    assert view["dead_letters_complete"] is True
    assert table.returncode == 0 and "consumer lag" in table.stdout and "dead letters" in table.stdout
