"""Arbitrary bytes and arbitrary JSON fed to the running metering consumer (hypothesis).

Every message ends up either priced once (a usage record and one wallet debit) or on `usage.dlq` with a
reason and its original bytes, and the consumer keeps running."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import topics
from schemas.deadletter import DeadLetter
from tests.conftest import eventually
from tests.integration.conftest import publish, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = "admin@acme.example"
NOW = datetime.now(UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=15,
)


def near_valid(tenant_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Usage events close to valid: each field drawn from good and bad values."""
    return st.fixed_dictionaries(
        {
            "tenant_id": st.sampled_from([tenant_id, tenant_id, "no-such-tenant", "BAD TENANT"]),
            "type": st.sampled_from(["sms", "apf", "document", "data_purchase", "telepathy", ""]),
            "quantity": st.one_of(
                st.decimals(min_value=Decimal("0.000001"), max_value=1000, places=6).map(str),
                st.integers(-5, 50),
                st.just("many"),
            ),
            "occurred_at": st.sampled_from(
                [
                    NOW.isoformat(),
                    (NOW - timedelta(days=2)).isoformat(),
                    (NOW - timedelta(days=60)).isoformat(),
                    (NOW + timedelta(days=2)).isoformat(),
                    "2026-11-22T10:00:00",
                    "yesterday",
                ]
            ),
        },
        optional={
            "properties": st.dictionaries(st.sampled_from(["recipients", "x"]), st.integers(-1, 6), max_size=2),
            "site": st.text(max_size=30),
            "personnel": st.text(max_size=30),
            "schema_version": st.sampled_from([1, 2]),
            "colour": st.just("blue"),
        },
    )


@st.composite
def messages(draw: st.DrawFn, tenant_id: str) -> list[bytes]:
    found: list[bytes] = []
    for i in range(draw(st.integers(5, 25))):
        kind = draw(st.sampled_from(["bytes", "json", "event", "event", "valid"]))
        if kind == "bytes":
            found.append(draw(st.binary(max_size=300)))
        elif kind == "json":
            found.append(json.dumps(draw(json_values)).encode())
        else:
            found.append(
                json.dumps({"event_id": f"fz-{uuid.uuid4().hex[:8]}-{i}", **draw(near_valid(tenant_id))}).encode()
            )
    return found


@pytest.fixture
async def fuzz_tenant(ops) -> str:
    tenant_id = f"fz-{uuid.uuid4().hex[:8]}"
    await ops.create_tenant(tenant_id, name=tenant_id, admins=[ADMIN], members=[], language="en")
    await ops.configure(tenant_id, policy="overdraft", overdraft_limit=Decimal(10**9))
    return tenant_id


async def test_every_message_is_priced_once_or_dead_lettered_with_a_reason(ops, producer, fuzz_tenant, workers) -> None:
    batches: list[list[bytes]] = []

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
    @given(batch=messages(fuzz_tenant))
    def collect(batch: list[bytes]) -> None:
        batches.append(batch)

    collect()  # draw the batches synchronously; publish them to the running consumer below
    sent = [raw for batch in batches for raw in batch]
    for raw in sent:
        await publish(producer, topics.USAGE_EVENTS, fuzz_tenant, raw)

    async def accounted() -> tuple[list[DeadLetter], dict[str, int]] | None:
        async with ops.usage_store() as usage:
            records = await usage.recorded_amounts(fuzz_tenant)
        expect = len(sent) - len(records)
        found = await read_topic(ops.settings, topics.USAGE_DLQ, fuzz_tenant, expect=expect, timeout=5)
        letters = [DeadLetter.model_validate(x) for x in found]
        return (letters, records) if len(letters) + len(records) >= len(sent) else None

    result = await eventually(accounted, timeout=120, interval=1)
    assert result is not None
    letters, records = result
    assert len(letters) + len(records) == len(sent), "each message once: priced or dead-lettered"
    assert all(letter.reason and letter.detail for letter in letters)
    dead = {base64.b64decode(letter.original_base64) for letter in letters}
    priced = [raw for raw in sent if raw not in dead]
    assert len(priced) == len(records)
    assert {json.loads(raw)["event_id"] for raw in priced} == set(records)
    assert any(raw.startswith(b'{"event_id": "ok-') for raw in sent) <= bool(records), "valid events are priced"
    charged = {f"usage:{event_id}": -micros for event_id, micros in records.items() if micros}
    async with ops.wallet_store() as store:

        async def debits() -> list[dict[str, int]]:
            entries = [e for e in await store.ledger(fuzz_tenant, limit=1000) if e.command_id.startswith("usage:")]
            return [{e.command_id: e.amount for e in entries}] if len(entries) >= len(charged) else []

        [debited] = await eventually(debits)
    assert debited == charged, "every priced event is debited once, at its price"
    assert all(worker.alive() for worker in workers.workers.values()), "no worker died on a bad message"
    assert workers.workers["metering"].healthy()
