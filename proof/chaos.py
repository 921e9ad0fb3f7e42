"""The fault harness: every money path under faults, checked by an independent computation.

While a long usage stream for many tenants is published (every event up to three times, out of order, with
malformed and hostile inputs on every input topic and API route), top-ups go in through Kafka and through the
HTTP API (idempotency keys, retried through API restarts), auto-recharges fire, and a year of subscriptions is
driven by the scheduler's own `run_once` at a simulated clock (start, upgrade, seats, cancellation, renewals,
allowances, month-end fees, then the last months published again), each scheduler run its own process, SIGKILLed
mid-run about half the time and run again. Meanwhile a monkey kills any worker
(metering x2, wallet x2, payments, subscriptions, notifications, the API) with SIGKILL at random moments, restarts
some gracefully (their partitions move without a kill), freezes one past its group session (SIGSTOP, then
SIGCONT: a zombie), adds and removes an extra worker (a rebalance), kills the
MongoDB server and keeps it down, and pauses the broker with SIGSTOP.

    .venv/bin/python -m proof.chaos                       # `make chaos`: the long run
    .venv/bin/python -m proof.chaos --tenants 12 --events 600 --cycles 8 --outage 3   # a short one

Checks at the end (proof/money.py has the money paths'): every usage debit applied exactly once at the harness's
own price (or, for a tenant that ran out under a hard policy, applied or rejected exactly once); every top-up and
auto-recharge charged once and credited once; every invoice at the harness's own prices and proration, numbered
without gap or duplicate and paid once; allowances and month-end fees once each; balance == sum of entries == sum
of buckets for every tenant, and equal to the independent balance; no policy floor crossed; no entry, e-mail or
webhook for another tenant's input; each threshold crossing e-mailed once to each admin, none to members, and
delivered as a signed webhook; every bad input dead-lettered or answered 4xx; no worker left dead. It prints
what it tried and what it found, writes a JSON result and exits 1 on any violation.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from creditflow.ops import Ops, connect
from creditflow.supervisor import WorkerProcess
from schemas import topics
from services.wallet.domain.reconcile import problems
from shared.config import Settings, env_for_workers
from shared.kafka import admin_kwargs, ensure_topics
from shared.localstack import LocalStack

from . import money

# The harness's own price table (independent of services/metering): credits per unit.
PRICES = {"sms": Decimal("0.15"), "apf": Decimal("0.10"), "document": Decimal(1), "data_purchase": Decimal(1),
          "postal_invoice": Decimal("1.50")}  # fmt: skip
MICROS = Decimal(1_000_000)
FUNDING = Decimal(100_000)
OVERDRAFT_LIMIT = Decimal(100_000)
TIGHT_FUNDING = Decimal(5)
AUTO_FUNDING = Decimal(30)
ALERT_FUNDING = Decimal(110)
SUBSCRIBER_FUNDING = Decimal(1000)
WORKERS = ("metering", "metering", "wallet", "wallet", "payments", "subscriptions", "notifications", "api")
# Workers retry webhooks from 1 s (production: 1 min) so that deliveries held up by an outage arrive within the run.
FREEZE_SECONDS = 15.0
"""A frozen worker stays stopped this long: past aiokafka's default session timeout of 10 s."""
WORKER_ENV = {"WEBHOOK_RETRY_FIRST_SECONDS": "1", "WEBHOOK_RETRY_CEILING_SECONDS": "5", "DIGEST_WINDOW_MINUTES": "0.2"}


@dataclass
class Config:
    tenants: int = 200
    events: int = 100_000
    seed: int = 7
    kill_cycles: int = 100
    down_for: tuple[float, float] = (0.2, 2.0)
    between: tuple[float, float] = (2.0, 8.0)
    """Seconds between two fault cycles."""
    outage_seconds: float = 30.0
    """How long MongoDB stays down and the broker stays paused (SIGSTOP)."""
    api_topups: int = 200
    kafka_topups: int = 1000
    bad_inputs: int = 10_000
    timeout: float = 3600.0
    workers: tuple[str, ...] = WORKERS


@dataclass
class Report:
    tenants: int = 0
    subscribers: int = 0
    events: int = 0
    deliveries: int = 0
    duplicates: int = 0
    bad_inputs: int = 0
    bad_api_requests: int = 0
    replayed: int = 0
    kafka_topups: int = 0
    api_topups: int = 0
    api_retries: int = 0
    kill_cycles: int = 0
    graceful_restarts: int = 0
    rebalances: int = 0
    freezes: int = 0
    scheduler_runs: int = 0
    scheduler_kills: int = 0
    mongo_outages: int = 0
    broker_pauses: int = 0
    outage_seconds: float = 0.0
    seconds: float = 0.0
    checked: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def mongo_restarts(self) -> int:
        return self.mongo_outages

    def summary(self) -> str:
        verdict = (
            "OK: nothing lost, doubled or misplaced" if not self.violations else f"{len(self.violations)} VIOLATIONS"
        )
        return (
            f"chaos: {self.tenants} tenants ({self.subscribers} subscribed for a simulated year), {self.events} usage "
            f"events in {self.deliveries} deliveries ({self.duplicates} duplicates, out of order), {self.kafka_topups} "
            f"top-ups on Kafka, {self.api_topups} through the API ({self.api_retries} retries), {self.bad_inputs} bad "
            f"inputs on the topics and {self.bad_api_requests} on the API routes, {self.replayed} messages replayed; "
            f"faults: {self.kill_cycles} SIGKILL cycles, {self.graceful_restarts} graceful restarts, "
            f"{self.rebalances} rebalances, {self.freezes} workers frozen past their session, "
            f"{self.scheduler_kills} of {self.scheduler_runs} scheduler runs killed, "
            f"{self.mongo_outages} MongoDB outage(s) and {self.broker_pauses} "
            f"broker pause(s) of {self.outage_seconds:.0f} s; "
            f"{self.seconds:.0f} s; checked: {', '.join(f'{n} {what}' for what, n in self.checked.items())}: {verdict}"
        )


@dataclass(frozen=True)
class Event:
    tenant: str
    event_id: str
    body: dict[str, Any]
    credits: Decimal


def _tenants(config: Config) -> dict[str, str]:
    """Tenant id -> role. Usage goes to all but the subscribers: most are hard and well funded, a third overdraft,
    one nearly empty (`tight`); some also buy credits (`topup`), recharge automatically (`auto`), or cross their
    low-balance thresholds with two admins and a member to (not) tell (`alert`)."""
    n = config.tenants
    special = ["tight"] + ["subscriber"] * max(4, n // 20) + ["alert"] * max(2, n // 25) + ["auto"] * max(2, n // 25)
    special += ["topup"] * max(3, n // 10)
    roles = {}
    for i in range(n):
        roles[f"chaos-{i:03d}"] = special[i] if i < len(special) else ("overdraft" if i % 3 == 1 else "hard")
    return roles


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


BadInput = tuple[str, str, bytes, str | None]
"""(topic, key, bytes, the reason expected on usage.dlq, or None: any reason on the topic's consumers' DLQs)"""


def _bad_inputs(tenants: list[str], rng: random.Random, now: datetime, count: int) -> list[BadInput]:
    found: list[BadInput] = []
    for i in range(count):
        tenant = rng.choice(tenants)
        base = {"event_id": f"bad-{i}", "tenant_id": tenant, "type": "sms", "quantity": 1,
                "occurred_at": now.isoformat()}  # fmt: skip
        kind = i % 12
        usage = topics.USAGE_EVENTS
        if kind == 0:
            found.append((usage, tenant, f"{{not json {i}".encode(), "malformed_json"))
        elif kind == 1:
            found.append((usage, tenant, json.dumps({**base, "type": "telepathy"}).encode(), "unknown_meter"))
        elif kind == 2:
            found.append((usage, tenant, json.dumps({**base, "quantity": -i - 1}).encode(), "invalid_quantity"))
        elif kind == 3:
            found.append((usage, tenant, json.dumps({**base, "tenant_id": f"ghost-{i}"}).encode(), "unknown_tenant"))
        elif kind == 4:
            found.append((usage, tenant, json.dumps({**base, "extra": i}).encode(), "schema_violation"))
        elif kind == 5:  # a debit with a negative amount, a command of no known kind
            hostile = {"kind": "debit" if i % 2 else "steal", "command_id": f"bad-{i}", "tenant_id": tenant,
                       "issued_at": now.isoformat(), "amount": "-1000000", "entry_type": "sms",
                       "occurred_at": now.isoformat(), "source": "chaos"}  # fmt: skip
            found.append((topics.WALLET_COMMANDS, tenant, json.dumps(hostile).encode(), None))
        elif kind == 6:
            found.append((topics.WALLET_COMMANDS, tenant, f"\x00\xff{i}".encode(), None))
        elif kind == 7:
            found.append((topics.SUBSCRIPTIONS_COMMANDS, tenant,
                          json.dumps({"kind": "start", "command_id": f"bad-{i}", "tenant_id": tenant,
                                      "seats": -5}).encode(), None))  # fmt: skip
        elif kind == 8:  # a payment outcome nobody asked for, malformed
            outcome = {
                "kind": "payment.succeeded",
                "payment_id": f"bad-{i}",
                "tenant_id": tenant,
                "amount_minor": "lots",
            }
            found.append((topics.PAYMENTS_EVENTS, tenant, json.dumps(outcome).encode(), None))
        elif kind == 9:
            found.append((topics.PAYMENTS_REQUESTS, tenant, f"{{bad request {i}".encode(), None))
        elif kind == 10:  # never a real tenant's key on the compacted directory topic
            found.append((topics.TENANTS, f"junk-{i}", json.dumps({"tenant_id": "x", "members": "all"}).encode(), None))
        else:
            found.append((topics.WEBHOOKS_COMMANDS, f"we_junk{i}",
                          json.dumps({"kind": "create_endpoint", "url": "not a url"}).encode(), None))  # fmt: skip
    return found


DLQ_OF = {
    topics.USAGE_EVENTS: (topics.USAGE_DLQ,),
    topics.WALLET_COMMANDS: (topics.WALLET_DLQ,),
    topics.SUBSCRIPTIONS_COMMANDS: (topics.SUBSCRIPTIONS_DLQ,),
    topics.PAYMENTS_EVENTS: (topics.WALLET_DLQ, topics.SUBSCRIPTIONS_DLQ),
    topics.PAYMENTS_REQUESTS: (topics.PAYMENTS_DLQ,),
    topics.TENANTS: (topics.USAGE_DLQ, topics.WALLET_DLQ, topics.SUBSCRIPTIONS_DLQ, topics.NOTIFICATIONS_DLQ),
    topics.WEBHOOKS_COMMANDS: (topics.NOTIFICATIONS_DLQ,),
}


STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f} s] {message}", flush=True)


class Monkey:
    """The faults, on a timer while the workloads run: SIGKILL cycles on any worker (and some graceful restarts,
    whose partitions move without a kill), an extra worker added then removed (a rebalance), one MongoDB outage
    and one broker pause of `outage_seconds`."""

    def __init__(self, workers: list[WorkerProcess], stack: LocalStack, settings: Settings, config: Config,
                 rng: random.Random, report: Report) -> None:  # fmt: skip
        self.workers, self.stack, self.settings, self.config, self.rng = workers, stack, settings, config, rng
        self.report = report
        self.stop = asyncio.Event()

    def _cycle(self, n: int) -> None:
        victim = self.rng.choice(self.workers)
        # every run has a rebalance, a graceful restart and a frozen worker
        roll = {1: 0.95, 2: 0.85, 3: 0.91}.get(n, self.rng.random())
        if roll < 0.8:
            victim.stop(kill=True)
            time.sleep(self.rng.uniform(*self.config.down_for))
            victim.start()
            self.report.kill_cycles += 1
        elif roll < 0.88:
            victim.stop()  # SIGTERM: it commits what it did and leaves its group; the others take its partitions
            victim.start()
            self.report.graceful_restarts += 1
        elif roll < 0.94:
            self._freeze()
        else:
            name = self.rng.choice(["metering", "wallet"])
            extra = WorkerProcess(name, env_for_workers(self.settings) | WORKER_ENV,
                                  self.settings.state_dir / "logs" / f"{name}-extra.log")  # fmt: skip
            extra.start()
            time.sleep(self.rng.uniform(3, 8))  # it joins, takes partitions, works on them
            extra.stop()  # and leaves: they move back to workers that kept state from before
            self.report.rebalances += 1

    def _freeze(self) -> None:
        """A metering or wallet worker frozen (SIGSTOP) past its consumer group's session timeout (10 s), as a long
        GC pause or a stalled VM would: the group may give its partitions to the others while it holds a batch,
        and when it resumes (SIGCONT) it is a zombie that finishes that batch on what it kept. The version and
        units guards, and the ledger's ids, must refuse what it writes on stale state."""
        victim = self.rng.choice([w for w in self.workers if w.name in ("metering", "wallet") and w.alive()])
        assert victim.process is not None
        os.kill(victim.process.pid, signal.SIGSTOP)
        try:
            time.sleep(FREEZE_SECONDS)
        finally:
            os.kill(victim.process.pid, signal.SIGCONT)
        self.report.freezes += 1

    def _mongo_outage(self) -> None:
        server = self.stack.servers["mongodb"]
        server.stop(kill=True)
        time.sleep(self.config.outage_seconds)
        server.start()
        self.report.mongo_outages += 1

    def _broker_pause(self) -> None:
        process = self.stack.servers["kafka"].process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        try:
            time.sleep(self.config.outage_seconds)
        finally:
            os.kill(process.pid, signal.SIGCONT)
        self.report.broker_pauses += 1

    async def run(self) -> None:
        """Fault cycles a few seconds apart (the workers get back to work in between: a worker restarted every
        second would only ever be rejoining its group) until `kill_cycles` of them were SIGKILLs (graceful restarts
        and rebalances come on top), with the MongoDB outage after a third of them and the broker pause after two
        thirds; then it stops, whether or not the workloads are done."""
        target, n = self.config.kill_cycles, 0
        mongo_done = broker_done = self.config.outage_seconds <= 0
        while self.report.kill_cycles < target:
            await asyncio.sleep(self.rng.uniform(*self.config.between))
            if not mongo_done and self.report.kill_cycles >= target // 3:
                progress(f"faults: MongoDB killed, down for {self.config.outage_seconds:.0f} s")
                await asyncio.to_thread(self._mongo_outage)
                mongo_done = True
            if not broker_done and self.report.kill_cycles >= 2 * target // 3:
                progress(f"faults: the broker paused (SIGSTOP) for {self.config.outage_seconds:.0f} s")
                await asyncio.to_thread(self._broker_pause)
                broker_done = True
            await asyncio.to_thread(self._cycle, n)
            n += 1
            if n % 10 == 0 or self.report.kill_cycles == target:
                r = self.report
                progress(f"faults: {n} cycles, {r.kill_cycles}/{target} SIGKILL, {r.graceful_restarts} graceful, "
                         f"{r.rebalances} rebalances, {r.freezes} frozen")  # fmt: skip
        self.report.outage_seconds = self.config.outage_seconds


async def _publish(settings: Settings, messages: list[tuple[str, str, bytes]], *, chunk: int = 2000,
                   pause: float = 0.3) -> None:  # fmt: skip
    """Publish (topic, key, bytes) in chunks with a pause between them, so the stream spans the faults. A send
    that fails (the broker is paused) is sent again: the harness is a producer like any other."""
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False, linger_ms=5,
                                request_timeout_ms=60_000)  # fmt: skip
    await money.retrying(producer.start)
    try:
        for start in range(0, len(messages), chunk):
            part = messages[start : start + chunk]

            async def send(part: list[tuple[str, str, bytes]] = part) -> None:
                sent = [await producer.send(topic, raw, key=key.encode()) for topic, key, raw in part]
                await asyncio.gather(*sent)

            await money.retrying(send, timeout=600)
            if (start // chunk) % 10 == 0:
                progress(f"published {start + len(part)}/{len(messages)} messages")
            await asyncio.sleep(pause)
    finally:
        await producer.stop()


def _not_dead_lettered(bad: list[BadInput], letters: list[dict[str, Any]]) -> list[tuple[str, bytes, str | None]]:
    """The bad inputs not found on their dead-letter topic with their reason (where the harness knows it)."""
    got = {(base64.b64decode(x["original_base64"]), x["_dlq"]): x["reason"] for x in letters}
    missing = []
    for topic, _, raw, reason in bad:
        reasons = [got.get((raw, dlq)) for dlq in DLQ_OF[topic]]
        if (reason is not None and reason not in reasons) or not any(reasons):
            missing.append((topic, raw[:50], reason))
    return missing


async def _dead_letters(settings: Settings, bad: list[BadInput], timeout: float) -> list[dict[str, Any]]:
    """Every dead letter, read until each bad input is there with its reason and the topics have been quiet for
    3 s, or until the timeout. Not until a count: dead-lettering is at least once (a worker killed after it
    dead-lettered a message and before it committed the offset dead-letters it again), so duplicates can make up
    the count of letters that have not arrived yet."""
    dlqs = sorted({d for targets in DLQ_OF.values() for d in targets})
    consumer = AIOKafkaConsumer(
        *dlqs, **admin_kwargs(settings), group_id=f"chaos-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline, quiet = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            quiet = quiet + 1 if not batch else 0
            for tp, records in batch.items():
                found += [{**json.loads(r.value), "_dlq": tp.topic} for r in records]
            if quiet >= 3 and not _not_dead_lettered(bad, found):
                break
    finally:
        await consumer.stop()
    return found


async def _replay(settings: Settings, ops: Ops, plan: money.MoneyPlan) -> int:
    """Publish again what was already handled: every payment outcome on `payments.events`, and the alert tenants'
    threshold crossings on `wallet.events` (a replayed topic, a consumer group reset): nothing may be credited,
    e-mailed or sent twice. Returns how many messages were replayed."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(**admin_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    again: list[tuple[str, str, bytes]] = []
    try:
        await consumer.topics()
        parts = [
            TopicPartition(topics.PAYMENTS_EVENTS, p)
            for p in consumer.partitions_for_topic(topics.PAYMENTS_EVENTS) or ()
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        while any([await consumer.position(tp) < ends[tp] for tp in parts]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                again += [(topics.PAYMENTS_EVENTS, (r.key or b"").decode(), r.value or b"") for r in records]
    finally:
        await consumer.stop()
    async with ops.wallet_store() as store:
        for tenant in plan.alert_tenants:
            for marker in (await store.markers(tenant, "usage:")).values():
                again += [
                    (topics.WALLET_EVENTS, tenant, json.dumps(x["event"]).encode())
                    for x in marker.events
                    if x["topic"] == topics.WALLET_EVENTS and x["event"]["kind"] == "threshold.crossed"
                ]
    await _publish(settings, again)
    return len(again)


async def _settled(ops: Ops, events: list[Event], timeout: float) -> bool:
    """Until the wallet has decided at least one debit per expected event (applied or rejected) and nothing more
    arrives for a few seconds. The audit then says whether each was exactly once."""
    async with ops.wallet_store() as store:
        deadline, last, stable = time.monotonic() + timeout, -1, 0
        while time.monotonic() < deadline:
            try:
                done = await store.count_markers("usage:")
            except Exception:
                await asyncio.sleep(1)
                continue
            stable = stable + 1 if done == last else 0
            last = done
            if done >= len(events) and stable >= 3:
                return True
            await asyncio.sleep(1)
        return False


FUNDS = {"hard": FUNDING, "topup": FUNDING, "overdraft": Decimal(0), "tight": TIGHT_FUNDING, "auto": AUTO_FUNDING,
         "alert": ALERT_FUNDING}  # fmt: skip
MAY_REJECT = ("tight", "auto")


async def _audit_usage(ops: Ops, roles: dict[str, str], events: list[Event], report: Report) -> None:
    by_tenant: dict[str, list[Event]] = {t: [] for t in roles}
    for event in events:
        by_tenant[event.tenant].append(event)
    async with ops.wallet_store() as store:
        for tenant, role in roles.items():
            wallet = await store.wallet(tenant)
            total, count = await store.sum_of_entries(tenant)
            report.violations += [f"{tenant}: {p}" for p in problems(wallet, total, count)]
            if role == "subscriber":
                continue
            entries = await store.ledger(tenant, limit=200_000)
            usage = [e for e in entries if e.command_id.startswith("usage:")]
            ids = [e.command_id.removeprefix("usage:") for e in usage]
            if len(ids) != len(set(ids)):
                report.violations.append(f"{tenant}: {len(ids) - len(set(ids))} debits applied twice")
            foreign = [i for i in ids if not i.startswith(f"{tenant}-e")]
            if foreign:
                report.violations.append(f"{tenant}: entries caused by other tenants' events: {foreign[:3]}")
            expected = {e.event_id: -int(e.credits * MICROS) for e in by_tenant[tenant]}
            charged = {e.command_id.removeprefix("usage:"): e.amount for e in usage}
            if role in MAY_REJECT:
                markers = await store.markers(tenant, "usage:")
                rejected = {
                    command_id.removeprefix("usage:")
                    for command_id, marker in markers.items()
                    if any(x["event"]["kind"] == "debit.rejected" for x in marker.events)
                }
                if set(charged) & rejected or set(charged) | rejected != set(expected):
                    report.violations.append(f"{tenant}: debits neither applied nor rejected exactly once")
            elif set(charged) != set(expected):
                missing, extra = set(expected) - set(charged), set(charged) - set(expected)
                report.violations.append(f"{tenant}: {len(missing)} debits lost, {len(extra)} unexpected")
            wrong = {k: v for k, v in charged.items() if expected.get(k) != v}
            if wrong:
                report.violations.append(
                    f"{tenant}: {len(wrong)} debits at the wrong price, e.g. {list(wrong.items())[:2]}"
                )
            independent = int(FUNDS[role] * MICROS) + sum(expected.values())
            if role not in (*MAY_REJECT, "topup") and wallet.balance != independent:  # topup: proof/money.py
                report.violations.append(f"{tenant}: balance {wallet.balance} != independent {independent}")
            floor = -int(OVERDRAFT_LIMIT * MICROS) if role in ("overdraft", "alert") else 0
            if wallet.balance < floor:
                report.violations.append(f"{tenant}: balance {wallet.balance} below its floor {floor}")


async def _bad_api_requests(api_url: str, key: str, tenants: list[str], rng: random.Random, count: int) -> list[str]:
    """Malformed and hostile requests to every POST route and to the usage intake: each must be answered 4xx with
    a problem document (never 5xx, never accepted). Retried while the API is restarting."""
    from services.api.bootstrap import create_app
    from services.api.config import ApiSettings

    paths = create_app(ApiSettings()).openapi()["paths"]
    posts = [p for p, item in paths.items() if "requestBody" in item.get("post", {})]
    bodies: list[Any] = [b"{not json", b"[]", b'{"credits": "-5"}', b'{"credits": "1e999"}', b'{"events": "all"}',
                         b'{"plan": {"$gt": ""}}', b"\xff\xfe",
                         b'{"url": "file:///etc/passwd", "event_types": ["*"]}']  # fmt: skip
    violations: list[str] = []
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
        for i in range(count):
            path = posts[i % len(posts)]
            tenant = rng.choice(tenants)
            url = path.replace("{tenant_id}", tenant)
            for name in ("endpoint_id", "number", "key_id"):
                url = url.replace("{" + name + "}", f"junk-{i}")
            body = bodies[i % len(bodies)]
            for _ in range(120):
                try:
                    headers = {"Content-Type": "application/json", "Acting-As": money.admins(tenant)[0]}
                    answer = await api.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
                    continue
                if answer.status_code >= 500:
                    await asyncio.sleep(0.5)
                    if answer.status_code in (502, 503):
                        continue
                    violations.append(f"POST {path} with {body[:30]!r}: {answer.status_code}")
                elif answer.status_code == 202 and path.endswith("/usage-events"):
                    if answer.json().get("accepted") != 0:  # answered per event: each one must be rejected
                        violations.append(f"POST {path} with {body[:30]!r}: an event accepted")
                elif answer.status_code < 400:
                    violations.append(f"POST {path} with {body[:30]!r} was accepted: {answer.status_code}")
                elif not answer.headers.get("content-type", "").startswith("application/problem+json"):
                    violations.append(f"POST {path}: {answer.status_code} without a problem document")
                break
    return violations


async def _scenario(config: Config, stack: LocalStack, settings: Settings, report: Report) -> None:
    rng = random.Random(config.seed)
    now = datetime.now(UTC)
    roles = _tenants(config)
    report.tenants = len(roles)
    env = env_for_workers(settings) | WORKER_ENV
    workers = [WorkerProcess(name, env, settings.state_dir / "logs" / f"{name}-{i}.log")
               for i, name in enumerate(config.workers)]  # fmt: skip
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 180
    while not all(w.healthy() for w in workers) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    receiver = money.Receiver().start()
    try:
        await _run_scenario(config, stack, settings, report, workers, roles, rng, now, receiver)
    finally:
        receiver.stop()
        for worker in workers:
            worker.stop()


async def _run_scenario(
    config: Config,
    stack: LocalStack,
    settings: Settings,
    report: Report,
    workers: list[WorkerProcess],
    roles: dict[str, str],
    rng: random.Random,
    now: datetime,
    receiver: money.Receiver,
) -> None:
    from schemas.wallet import AutoRechargeRule

    api = next(w for w in workers if w.name == "api")
    api_url = f"http://127.0.0.1:{api.health_port}"
    async with connect(settings) as ops:
        by_role: dict[str, list[str]] = {}
        for tenant, role in roles.items():
            by_role.setdefault(role, []).append(tenant)
        subscribers = [
            money.Subscriber(t, seats=2 + i % 3, change=("none", "upgrade", "seats", "cancel")[i % 4],
                             app_users=() if i % 4 == 3 else (f"u1@{t}.example", f"u2@{t}.example"))
            for i, t in enumerate(by_role["subscriber"])
        ]  # fmt: skip
        plan = money.MoneyPlan(by_role["topup"], by_role["auto"], by_role["alert"], subscribers)
        report.subscribers = len(subscribers)
        for tenant, role in roles.items():
            members = [f"member@{tenant}.example"] if role == "alert" else []
            plan.members[tenant] = f"member@{tenant}.example"
            await ops.create_tenant(tenant, name=tenant, admins=money.admins(tenant), members=members, language="en")
            if role == "overdraft":
                await ops.configure(tenant, policy="overdraft", overdraft_limit=OVERDRAFT_LIMIT)
            if role == "alert":
                await ops.configure(tenant, policy="overdraft", overdraft_limit=OVERDRAFT_LIMIT)
            funding = SUBSCRIBER_FUNDING if role == "subscriber" else FUNDS[role]
            if funding:
                await ops.grant(tenant, funding, kind="purchased", source="chaos funding")
            if role == "auto":
                rule = AutoRechargeRule(trigger=Decimal(20), mode="fixed", amount=Decimal(50),
                                        monthly_cap=Decimal(1_000_000), max_failures=20)  # fmt: skip
                await ops.configure(tenant, auto_recharge=rule)
        hook = await ops.webhooks.create(
            url=receiver.url, event_types=["threshold.crossed"], tenant_ids=plan.alert_tenants
        )
        plan.webhook_secret = hook["secret"]
        _, operator_key = await ops.create_api_key("operator", name="chaos")

        usage_tenants = [t for t, r in roles.items() if r != "subscriber"]
        events = _events(config, usage_tenants, rng, now)
        deliveries: list[tuple[str, str, bytes]] = []
        for event in events:
            raw = json.dumps(event.body).encode()
            deliveries += [(topics.USAGE_EVENTS, event.tenant, raw)] * rng.choice([1, 1, 2, 3])
        report.events, report.duplicates = len(events), len(deliveries) - len(events)
        deliveries += money.kafka_topups(plan, rng, config.kafka_topups)
        report.kafka_topups = config.kafka_topups
        bad = _bad_inputs(usage_tenants, rng, now, config.bad_inputs)
        deliveries += [(topic, key, raw) for topic, key, raw, _ in bad]
        rng.shuffle(deliveries)
        report.deliveries, report.bad_inputs = len(deliveries), len(bad)

        monkey = Monkey(workers, stack, settings, config, rng, report)
        faults = asyncio.create_task(monkey.run())
        year = money.Year(
            ops, plan, scheduler_env=env_for_workers(settings) | WORKER_ENV, kill_rng=random.Random(config.seed + 1)
        )
        api_stop = asyncio.Event()
        bad_api = max(20, config.bad_inputs // 20)
        report.bad_api_requests = bad_api
        try:
            results = await asyncio.gather(
                _publish(settings, deliveries, chunk=max(200, len(deliveries) // max(1, config.kill_cycles))),
                money.api_topups(plan, api_url, operator_key, rng, config.api_topups, api_stop),
                year.run(),
                _bad_api_requests(api_url, operator_key, usage_tenants, rng, bad_api),
                return_exceptions=True,
            )
            report.violations += [
                f"workload failed: {type(r).__name__}: {r}" for r in results if isinstance(r, Exception)
            ]
            report.violations += [v for r in results if isinstance(r, list) for v in r]
        finally:
            monkey.stop.set()
            await faults
            report.api_topups, report.api_retries = len(plan.api_commands), plan.api_retries
        for worker in workers:
            if not worker.alive():
                report.violations.append(f"worker {worker.name} was left dead")
                worker.start()
        try:
            await year.rerun()
        except Exception as exc:  # a violation to report with the audit, not a reason to skip the audit
            report.violations.append(f"the scheduler's rerun failed: {type(exc).__name__}: {exc}")
        report.scheduler_runs, report.scheduler_kills = year.scheduler_runs, year.scheduler_kills
        report.replayed = await _replay(settings, ops, plan)
        progress(f"replayed {report.replayed} payment outcomes and threshold crossings")
        if not await _settled(ops, events, config.timeout):
            report.violations.append("not every expected debit was decided before the timeout (lost?)")
        conflicts = [(topics.USAGE_EVENTS, e.tenant, json.dumps({**e.body, "quantity": 99}).encode(), "conflict")
                     for e in events[:5]]  # fmt: skip
        await _publish(settings, [(t, k, raw) for t, k, raw, _ in conflicts])
        bad += conflicts
        report.bad_inputs = len(bad)
        missing = _not_dead_lettered(bad, await _dead_letters(settings, bad, 600))
        if missing:
            report.violations.append(f"{len(missing)} bad inputs not dead-lettered with their reason: {missing[:3]}")
        report.checked["dead letters"] = len(bad) - len(missing)
        report.checked["usage debits"] = len(events)
        await _audit_usage(ops, roles, events, report)
        debits = {t: {} for t in roles}  # type: dict[str, dict[str, int]]
        for e in events:
            debits[e.tenant][f"{e.event_id}"] = -int(e.credits * MICROS)
        money_found: list[str] = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:  # payments, e-mails and webhooks settle after the debits
            money_found = await money.retrying(lambda: money.audit(ops, plan, debits, stack.mailbox_dir, receiver))
            if not money_found:
                await asyncio.sleep(10)  # anything applied or sent twice would have arrived by now
                money_found = await money.audit(ops, plan, debits, stack.mailbox_dir, receiver)
                break
            await asyncio.sleep(10)
        report.violations += money_found
        report.checked |= dict(plan.checked)


def stack_settings(stack: LocalStack, directory: Path, prefix: str) -> Settings:
    """Settings that reach the embedded `stack`, in databases of their own (`<prefix><random>_<service>`)."""
    return Settings(
        CREDITFLOW_STATE_DIR=directory,
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka_bootstrap_servers,
        MONGODB_URI=SecretStr(stack.mongodb_uri),
        SMTP_URL=SecretStr(stack.smtp_url),
        MONGODB_DATABASE_PREFIX=f"{prefix}{uuid.uuid4().hex[:6]}",
        WEBHOOK_SIGNING_KEY=SecretStr(stack.webhook_signing_key()),
    )


def run(config: Config, state_dir: Path | None = None, json_out: Path | None = None) -> Report:
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="creditflow-chaos-") as tmp:
        directory = state_dir or Path(tmp)
        with LocalStack(directory) as stack:
            settings = stack_settings(stack, directory, "chaos")
            asyncio.run(ensure_topics(settings))
            asyncio.run(_scenario(config, stack, settings, report))
    report.seconds = time.monotonic() - started
    if json_out is not None:
        json_out.write_text(json.dumps({"config": asdict(config), "report": asdict(report)}, indent=2, default=str))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Config()
    parser.add_argument("--tenants", type=int, default=defaults.tenants)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--cycles", type=int, default=defaults.kill_cycles, help="SIGKILL-and-restart cycles.")
    parser.add_argument("--outage", type=float, default=defaults.outage_seconds, help="Seconds of each outage.")
    parser.add_argument("--api-topups", type=int, default=defaults.api_topups)
    parser.add_argument("--kafka-topups", type=int, default=defaults.kafka_topups)
    parser.add_argument("--bad-inputs", type=int, default=defaults.bad_inputs)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--timeout", type=float, default=defaults.timeout, help="Seconds to wait for it to settle.")
    parser.add_argument("--json", type=Path, default=Path("chaos-result.json"), help="Where to write the result.")
    args = parser.parse_args()
    config = Config(tenants=args.tenants, events=args.events, kill_cycles=args.cycles, outage_seconds=args.outage,
                    api_topups=args.api_topups, kafka_topups=args.kafka_topups, bad_inputs=args.bad_inputs,
                    seed=args.seed, timeout=args.timeout)  # fmt: skip
    report = run(config, json_out=args.json)
    print(report.summary())
    for violation in report.violations:
        print(f"  VIOLATION {violation}")
    print(f"result: {args.json}")
    raise SystemExit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
