"""The fault harness: a long usage stream for many tenants, every event published up to three times and out
of order, bad inputs mixed in, while workers are killed with SIGKILL at random moments and restarted and the
MongoDB server is restarted once. At the end an independent computation checks that no credit was lost or
doubled.

    .venv/bin/python -m proof.chaos [--tenants 24] [--events 3000] [--seed 7]     # `make chaos`

Checks, per tenant: every expected debit applied exactly once and at its price (computed here from a price
table of its own, not by the service's code), balance == sum of ledger entries == sum of buckets, no
policy floor crossed, no entry caused by another tenant's event; and every invalid message dead-lettered
with its reason. Exit status 1 if any check fails.
"""

import argparse
import asyncio
import base64
import json
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from creditflow.ops import Ops, connect
from creditflow.supervisor import WorkerProcess
from schemas import topics
from services.wallet.domain.reconcile import problems
from shared.config import Settings, env_for_workers
from shared.kafka import admin_kwargs, ensure_topics
from shared.localstack import LocalStack

# The harness's own price table (independent of services/metering): credits per unit.
PRICES = {"sms": Decimal("0.15"), "apf": Decimal("0.10"), "document": Decimal(1), "data_purchase": Decimal(1),
          "postal_invoice": Decimal("1.50")}  # fmt: skip
MICROS = Decimal(1_000_000)
FUNDING = Decimal(100_000)
OVERDRAFT_LIMIT = Decimal(100_000)
TIGHT_FUNDING = Decimal(5)


@dataclass
class Config:
    tenants: int = 24
    events: int = 3000
    seed: int = 7
    kill_cycles: int = 12
    down_for: tuple[float, float] = (0.2, 2.0)
    restart_mongo: bool = True
    timeout: float = 1800.0
    workers: tuple[str, ...] = ("metering", "metering", "wallet", "wallet")


@dataclass
class Report:
    tenants: int = 0
    events: int = 0
    deliveries: int = 0
    duplicates: int = 0
    bad_inputs: int = 0
    kill_cycles: int = 0
    mongo_restarts: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verdict = "OK: no credit lost or doubled" if not self.violations else f"{len(self.violations)} VIOLATIONS"
        return (
            f"chaos: {self.tenants} tenants, {self.events} events in {self.deliveries} deliveries "
            f"({self.duplicates} duplicates, out of order), {self.bad_inputs} bad inputs, "
            f"{self.kill_cycles} SIGKILL cycles, {self.mongo_restarts} MongoDB restart(s), "
            f"{self.seconds:.0f} s: {verdict}"
        )


@dataclass(frozen=True)
class Event:
    tenant: str
    event_id: str
    body: dict[str, Any]
    credits: Decimal


def _tenants(config: Config) -> dict[str, str]:
    """Tenant id -> policy: most are hard and well funded, some overdraft, one hard and nearly empty."""
    kinds = {}
    for i in range(config.tenants):
        kinds[f"chaos-{i:03d}"] = "tight" if i == 0 else ("overdraft" if i % 3 == 1 else "hard")
    return kinds


def _events(config: Config, tenants: list[str], rng: random.Random, now: datetime) -> list[Event]:
    events = []
    for i in range(config.events):
        tenant = rng.choice(tenants)
        meter = rng.choice(list(PRICES))
        quantity = rng.randint(1, 3)
        body: dict[str, Any] = {
            "event_id": f"{tenant}-e{i}",
            "tenant_id": tenant,
            "type": meter,
            "quantity": quantity,
            "occurred_at": (now - timedelta(minutes=rng.randint(0, 4 * 24 * 60))).isoformat(),
            "personnel": f"user-{rng.randint(1, 5)}",
        }
        units = Decimal(quantity)
        if meter == "document":
            recipients = rng.randint(1, 5)
            body["properties"] = {"recipients": recipients}
            units *= recipients
        events.append(Event(tenant, body["event_id"], body, PRICES[meter] * units))
    return events


def _bad_inputs(tenants: list[str], rng: random.Random, now: datetime, count: int) -> list[tuple[str, bytes, str]]:
    """(key, bytes, expected reason)"""
    found = []
    for i in range(count):
        tenant = rng.choice(tenants)
        base = {
            "event_id": f"bad-{i}",
            "tenant_id": tenant,
            "type": "sms",
            "quantity": 1,
            "occurred_at": now.isoformat(),
        }
        kind = i % 5
        if kind == 0:
            found.append((tenant, f"{{not json {i}".encode(), "malformed_json"))
        elif kind == 1:
            found.append((tenant, json.dumps({**base, "type": "telepathy"}).encode(), "unknown_meter"))
        elif kind == 2:
            found.append((tenant, json.dumps({**base, "quantity": -i - 1}).encode(), "invalid_quantity"))
        elif kind == 3:
            found.append((tenant, json.dumps({**base, "tenant_id": f"ghost-{i}"}).encode(), "unknown_tenant"))
        else:
            found.append((tenant, json.dumps({**base, "extra": i}).encode(), "schema_violation"))
    return found


class Chaos:
    """Kills a random worker with SIGKILL and brings it back; restarts MongoDB once. Driven by the publisher,
    between chunks of the stream, so that every run has its kill cycles while work is in flight."""

    def __init__(self, workers: list[WorkerProcess], stack: LocalStack, config: Config, rng: random.Random) -> None:
        self.workers, self.stack, self.config, self.rng = workers, stack, config, rng
        self.cycles = 0
        self.mongo_restarts = 0

    def kill_one(self) -> None:
        victim = self.rng.choice(self.workers)
        victim.stop(kill=True)
        time.sleep(self.rng.uniform(*self.config.down_for))
        victim.start()
        self.cycles += 1

    def restart_mongodb(self) -> None:
        self.stack.servers["mongodb"].restart()
        self.mongo_restarts += 1


async def _publish(settings: Settings, messages: list[tuple[str, bytes]], chaos: "Chaos | None" = None) -> None:
    """Publish in chunks; with `chaos`, one kill cycle after each chunk and the MongoDB restart halfway."""
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    chunks = max(1, (chaos.config.kill_cycles + 1) if chaos else 1)
    size = max(1, -(-len(messages) // chunks))
    try:
        for number, start in enumerate(range(0, len(messages), size)):
            chunk = messages[start : start + size]
            sent = [await producer.send(topics.USAGE_EVENTS, raw, key=key.encode()) for key, raw in chunk]
            await asyncio.gather(*sent)
            if chaos is None or number >= chaos.config.kill_cycles:
                continue
            await asyncio.sleep(chaos.rng.uniform(0.1, 1.0))  # let the workers get into the chunk
            if chaos.config.restart_mongo and number == chaos.config.kill_cycles // 2:
                await asyncio.to_thread(chaos.restart_mongodb)
            await asyncio.to_thread(chaos.kill_one)
    finally:
        await producer.stop()


async def _dead_letters(settings: Settings, expect: int, timeout: float) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        topics.USAGE_DLQ, **admin_kwargs(settings), group_id=f"chaos-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < expect and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                found += [json.loads(r.value) for r in records]
    finally:
        await consumer.stop()
    return found


async def _settled(ops: Ops, events: list[Event], timeout: float) -> bool:
    """Until the wallet has decided at least one debit per expected event (applied or, for the tight tenant,
    rejected) and nothing more arrives for a few seconds. The audit then says whether each was exactly once."""
    async with ops.wallet_store() as store:
        deadline, last, stable = time.monotonic() + timeout, -1, 0
        while time.monotonic() < deadline:
            done = await store.count_markers("usage:")
            stable = stable + 1 if done == last else 0
            last = done
            if done >= len(events) and stable >= 3:
                return True
            await asyncio.sleep(1)
        return False


async def _audit(ops: Ops, kinds: dict[str, str], events: list[Event], report: Report) -> None:
    by_tenant: dict[str, list[Event]] = {t: [] for t in kinds}
    for event in events:
        by_tenant[event.tenant].append(event)
    async with ops.wallet_store() as store:
        for tenant, policy in kinds.items():
            wallet = await store.wallet(tenant)
            entries = await store.ledger(tenant, limit=100_000)
            total, count = await store.sum_of_entries(tenant)
            report.violations += [f"{tenant}: {p}" for p in problems(wallet, total, count)]
            usage = [e for e in entries if e.command_id.startswith("usage:")]
            ids = [e.command_id.removeprefix("usage:") for e in usage]
            if len(ids) != len(set(ids)):
                report.violations.append(f"{tenant}: {len(ids) - len(set(ids))} debits applied twice")
            foreign = [i for i in ids if not i.startswith(f"{tenant}-e")]
            if foreign:
                report.violations.append(f"{tenant}: entries caused by other tenants' events: {foreign[:3]}")
            expected = {e.event_id: -int(e.credits * MICROS) for e in by_tenant[tenant]}
            charged = {e.command_id.removeprefix("usage:"): e.amount for e in usage}
            if policy == "tight":
                markers = await store.markers(tenant, "usage:")
                rejected = {
                    command_id.removeprefix("usage:")
                    for command_id, marker in markers.items()
                    if any(x["event"]["kind"] == "debit.rejected" for x in marker.events)
                }
                if set(charged) & rejected or set(charged) | rejected != set(expected):
                    report.violations.append(f"{tenant}: debits neither applied nor rejected exactly once")
                wrong = {k: v for k, v in charged.items() if expected.get(k) != v}
            else:
                if set(charged) != set(expected):
                    missing, extra = set(expected) - set(charged), set(charged) - set(expected)
                    report.violations.append(f"{tenant}: {len(missing)} debits lost, {len(extra)} unexpected")
                wrong = {k: v for k, v in charged.items() if expected.get(k) != v}
            if wrong:
                report.violations.append(
                    f"{tenant}: {len(wrong)} debits at the wrong price, e.g. {list(wrong.items())[:2]}"
                )
            funding = {"hard": FUNDING, "overdraft": Decimal(0), "tight": TIGHT_FUNDING}[policy]
            independent = int(funding * MICROS) + sum(expected.values())
            if policy != "tight" and wallet.balance != independent:
                report.violations.append(f"{tenant}: balance {wallet.balance} != independent {independent}")
            floor = -int(OVERDRAFT_LIMIT * MICROS) if policy == "overdraft" else 0
            if wallet.balance < floor:
                report.violations.append(f"{tenant}: balance {wallet.balance} below its floor {floor}")


async def _scenario(config: Config, stack: LocalStack, settings: Settings, report: Report) -> None:
    rng = random.Random(config.seed)
    now = datetime.now(UTC)
    kinds = _tenants(config)
    report.tenants = len(kinds)
    workers = [WorkerProcess(name, env_for_workers(settings), settings.state_dir / "logs" / f"{name}-{i}.log")
               for i, name in enumerate(config.workers)]  # fmt: skip
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 120
    while not all(w.healthy() for w in workers) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    try:
        await _run_scenario(config, stack, settings, report, workers, kinds, rng, now)
    finally:
        for worker in workers:
            worker.stop()


async def _run_scenario(
    config: Config,
    stack: LocalStack,
    settings: Settings,
    report: Report,
    workers: list[WorkerProcess],
    kinds: dict[str, str],
    rng: random.Random,
    now: datetime,
) -> None:
    async with connect(settings) as ops:
        for tenant, policy in kinds.items():
            await ops.create_tenant(tenant, name=tenant, admins=[f"admin@{tenant}.example"], members=[],
                                    language="en", readers=("metering", "wallet"))  # fmt: skip
            if policy == "overdraft":
                await ops.configure(tenant, policy="overdraft", overdraft_limit=OVERDRAFT_LIMIT)
            else:
                funding = TIGHT_FUNDING if policy == "tight" else FUNDING
                await ops.grant(tenant, funding, kind="purchased", source="chaos funding")
        events = _events(config, list(kinds), rng, now)
        deliveries: list[tuple[str, bytes]] = []
        for event in events:
            raw = json.dumps(event.body).encode()
            copies = rng.choice([1, 1, 2, 3])
            deliveries += [(event.tenant, raw)] * copies
        report.events, report.duplicates = len(events), len(deliveries) - len(events)
        bad = _bad_inputs(list(kinds), rng, now, max(10, config.events // 50))
        deliveries += [(key, raw) for key, raw, _ in bad]
        rng.shuffle(deliveries)
        report.deliveries, report.bad_inputs = len(deliveries), len(bad)

        chaos = Chaos(workers, stack, config, rng)
        try:
            await _publish(settings, deliveries, chaos)
            settled = await _settled(ops, events, config.timeout)
            for worker in workers:
                if not worker.alive():
                    worker.start()
            if not settled:
                settled = await _settled(ops, events, 300)
            if not settled:
                report.violations.append("not every expected debit was decided before the timeout (lost?)")
            conflicts = [(e.tenant, json.dumps({**e.body, "quantity": 99}).encode(), "conflict") for e in events[:5]]
            await _publish(settings, [(k, raw) for k, raw, _ in conflicts])
            bad += conflicts
            report.bad_inputs = len(bad)
            letters = await _dead_letters(settings, len(bad), 180)
            got = {(base64.b64decode(x["original_base64"]), x["reason"]) for x in letters}
            missing = [(raw[:60], reason) for _, raw, reason in bad if (raw, reason) not in got]
            if missing:
                report.violations.append(
                    f"{len(missing)} bad inputs not dead-lettered with their reason: {missing[:3]}"
                )
            await _audit(ops, kinds, events, report)
        finally:
            report.kill_cycles, report.mongo_restarts = chaos.cycles, chaos.mongo_restarts


def run(config: Config, state_dir: Path | None = None) -> Report:
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="creditflow-chaos-") as tmp:
        directory = state_dir or Path(tmp)
        with LocalStack(directory) as stack:
            settings = Settings(
                CREDITFLOW_STATE_DIR=directory,
                KAFKA_BOOTSTRAP_SERVERS=stack.kafka_bootstrap_servers,
                MONGODB_URI=SecretStr(stack.mongodb_uri),
                SMTP_URL=SecretStr(stack.smtp_url),
                MONGODB_DATABASE_PREFIX=f"chaos{uuid.uuid4().hex[:6]}",
            )
            asyncio.run(ensure_topics(settings))
            asyncio.run(_scenario(config, stack, settings, report))
    report.seconds = time.monotonic() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=24)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds to wait for the stream to settle.")
    args = parser.parse_args()
    report = run(Config(tenants=args.tenants, events=args.events, seed=args.seed, timeout=args.timeout))
    print(report.summary())
    for violation in report.violations:
        print(f"  VIOLATION {violation}")
    raise SystemExit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
