"""`make bench`: the whole pipeline against the stack's own limits, measured in one run.

    .venv/bin/python -m proof.bench [--sizes 10000,100000] [--tenants 50] [--out bench-results]

1. Raw limits of this stack: the broker's consume rate (a plain consumer reading the usage events), and the
   MongoDB transactional write rate for the documents the wallet writes (made by its own rules and codec),
   with its indexes, in its batch shape.
2. The pipeline: usage published -> validated, de-duplicated, priced (metering) -> debited (wallet) ->
   committed, one metering and one wallet worker, for each size in turn (does throughput hold, does memory
   stay flat?): events/s, the ratio to the lower raw limit, each worker's peak RSS, the CPU each process
   (servers, workers, this client) spent per event and the cores that makes per 10,000 events/s, and each
   worker's database round trips and documents written per event (by command and collection).
3. Latency from publishing an event to its ledger entry, p50 and p99, with events sent at half the rate the
   last size of 2 reached (the capacity at the data size the stack then holds), then at 50 events/s.
Writes everything to a JSON file so runs can be compared, with the share of the machine's time the hypervisor
stole during each step (a VM's slow spells move every figure; steal tells them apart from the code's).
"""

import argparse
import asyncio
import json
import shutil
import statistics
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from benchmarks.common import stack
from creditflow.ops import connect
from creditflow.supervisor import WorkerProcess
from schemas import topics
from schemas import wallet as wire
from services.wallet.adapters.codec import wallet_to_doc
from services.wallet.adapters.memory import InMemoryWalletStore
from services.wallet.adapters.mongo import MongoWalletStore, buckets
from services.wallet.batch import Marker
from services.wallet.entry_event import in_milliseconds
from services.wallet.service import WalletService
from shared.config import Settings, env_for_workers
from shared.kafka import admin_kwargs, ensure_topics
from shared.mongo import in_transaction, make_client

RAW_DEBITS = 10_000
LOW_RATE = 50
PRODUCER_LINGER_MS = 5
"""The latency steps' load generator waits up to 5 ms to put events together in one produce request, as the
project's producer client does (`creditflow.client.UsageClient`) and Kafka's own producer by default since 4.0
(KIP-1030; librdkafka since 1.5). The wait is inside the latency measured (from the hand-over to the producer).
Until session 19 it sent at linger 0: one produce request an event, which the client and the embedded broker
spent 0.2 of a core on at 2,600 events/s."""
"""Events/s of the second latency step: a steady trickle, far below capacity (no queue)."""


def _quantiles_ms(waits: list[float]) -> dict[str, float | None]:
    if len(waits) < 2:
        return {"p50_ms": None, "p99_ms": None}
    p99 = statistics.quantiles(waits, n=100, method="inclusive")[98]
    return {"p50_ms": round(statistics.median(waits) * 1000, 1), "p99_ms": round(p99 * 1000, 1)}


class PeakRss(threading.Thread):
    """The highest resident set size of each worker process, sampled twice a second."""

    def __init__(self, workers: dict[str, WorkerProcess]) -> None:
        super().__init__(daemon=True)
        self.workers, self.peaks, self.stopping = workers, dict.fromkeys(workers, 0), threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            for label, worker in self.workers.items():
                if worker.process is not None and worker.process.poll() is None:
                    rss = psutil.Process(worker.process.pid).memory_info().rss
                    self.peaks[label] = max(self.peaks[label], rss)

    def take(self) -> dict[str, float]:
        peaks = {name: round(rss / 2**20, 1) for name, rss in self.peaks.items()}
        self.peaks = {name: 0 for name in self.peaks}
        return peaks


def _event(tenant: str, event_id: str) -> bytes:
    now = datetime.now(UTC).isoformat()
    return json.dumps({"event_id": event_id, "tenant_id": tenant, "type": "sms", "quantity": 1, "occurred_at": now,
                       "personnel": "bench", "site": "bench"}).encode()  # fmt: skip


async def ledger_count(settings: Settings) -> int:
    """Ledger entries written so far, from the wallets' entry counters: reading 50 wallet documents instead of
    counting a growing ledger keeps the probe from loading the database it measures."""
    client = make_client(settings, app_name="bench")
    try:
        wallets = client[settings.database_name("wallet")]["wallets"]
        return sum([d.get("entry_count", 0) async for d in wallets.find({}, {"entry_count": 1})])
    finally:
        await client.close()


class CpuMeter:
    """CPU seconds used by each process of the run (servers, workers, this client) between two readings: where
    the time of one event goes."""

    KINDS = (("secantus", "mongodb"), ("tansu", "kafka"), ("services.metering", "metering"),
             ("services.wallet", "wallet"))  # fmt: skip

    def __init__(self) -> None:
        self.start = self._read()

    @classmethod
    def _read(cls) -> dict[str, float]:
        me = psutil.Process()
        used = {"bench client": sum(me.cpu_times()[:2])}
        for child in me.children(recursive=True):
            try:
                line, times = " ".join(child.cmdline()), child.cpu_times()
            except psutil.Error:
                continue
            for marker, name in cls.KINDS:
                if marker in line:
                    used[name] = used.get(name, 0.0) + times.user + times.system
        return used

    def take(self) -> dict[str, float]:
        now = self._read()
        used = {name: now[name] - self.start.get(name, 0.0) for name in now}
        self.start = now
        return used


def database_use(workers: dict[str, WorkerProcess]) -> dict[str, dict[str, dict[str, int]]]:
    """Each worker's commands sent to MongoDB (round trips) and documents written so far, from its health
    endpoint (`shared.mongo.CommandCounter`)."""
    found = {}
    for label, worker in workers.items():
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.health_port}/health", timeout=5) as resp:
            found[label] = json.loads(resp.read())["database"]
    return found


def per_event(before: dict[str, Any], after: dict[str, Any], events: int) -> dict[str, Any]:
    """Round trips and documents written per event by each worker between two `database_use` readings."""
    figures: dict[str, Any] = {}
    for label, now in after.items():
        then = before.get(label, {})
        row: dict[str, Any] = {}
        for kind in ("round_trips", "documents_written"):
            delta = {k: v - then.get(kind, {}).get(k, 0) for k, v in now[kind].items()}
            delta = {k: round(v / events, 3) for k, v in sorted(delta.items()) if v}
            row[kind] = {"total": round(sum(delta.values()), 3), **delta}
        figures[label] = row
    return figures


def cores_per_10k(cpu_ms_per_event: dict[str, float]) -> dict[str, float]:
    """Cores each process needs for 10,000 events/s at the CPU per event measured: ms/event x 10,000/s / 1,000."""
    return {name: round(ms * 10, 2) for name, ms in cpu_ms_per_event.items()}


class StealMeter:
    """The share of this machine's CPU time that the hypervisor gave to other guests (steal) between two
    readings. Figures taken with much steal were taken in a slow spell of the machine, not of the code."""

    FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

    def __init__(self) -> None:
        self.start = psutil.cpu_times()

    def take(self) -> float:
        now = psutil.cpu_times()
        spent = {f: getattr(now, f, 0.0) - getattr(self.start, f, 0.0) for f in self.FIELDS}
        self.start = now
        total = sum(spent.values())
        return spent["steal"] / total if total > 0 else 0.0


async def _publish(settings: Settings, tenants: list[str], prefix: str, count: int, progress: Progress) -> None:
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    task = progress.add_task(f"publish {count:,}", total=count)
    try:
        for start in range(0, count, 1000):
            sends = [
                await producer.send(
                    topics.USAGE_EVENTS, _event(t := tenants[i % len(tenants)], f"{prefix}-{i}"), key=t.encode()
                )
                for i in range(start, min(start + 1000, count))
            ]
            await asyncio.gather(*sends)
            progress.update(task, advance=len(sends))
    finally:
        await producer.stop()


async def pipeline(settings: Settings, tenants: list[str], size: int, done_before: int, progress: Progress) -> float:
    started = time.perf_counter()
    publishing = asyncio.create_task(_publish(settings, tenants, f"p{size}-{uuid.uuid4().hex[:4]}", size, progress))
    task = progress.add_task(f"debited {size:,}", total=size)
    while (done := await ledger_count(settings) - done_before) < size:
        progress.update(task, completed=done)
        await asyncio.sleep(0.5)
    progress.update(task, completed=size)
    await publishing
    return size / (time.perf_counter() - started)


async def send_at_rate(
    settings: Settings, tenants: list[str], rate: float, seconds: float, *, linger_ms: int = PRODUCER_LINGER_MS
) -> tuple[str, dict[str, float]]:
    """Events at `rate`/s for `seconds`, round-robin over the tenants. Returns their id prefix and, per debit
    command id (`usage:<event id>`), the time each was handed to the producer (the linger, if any, is in the
    latency measured from it)."""
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False, linger_ms=linger_ms)
    await producer.start()
    sent: dict[str, float] = {}
    prefix = f"lat-{uuid.uuid4().hex[:4]}"
    try:
        total = int(rate * seconds)
        start = time.time()
        for i in range(total):
            tenant = tenants[i % len(tenants)]
            event_id = f"{prefix}-{i}"
            await producer.send(topics.USAGE_EVENTS, _event(tenant, event_id), key=tenant.encode())
            sent[f"usage:{event_id}"] = time.time()
            delay = start + (i + 1) / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
    finally:
        await producer.stop()
    return prefix, sent


async def recorded_at(settings: Settings, prefix: str, expect: int, before: int) -> dict[str, datetime]:
    """Debit command id -> the wallet's `recorded_at` of its ledger entry, for the events of `prefix`, once the
    ledger holds `before + expect` entries (or after five minutes)."""
    client = make_client(settings, app_name="bench")
    try:
        deadline = time.monotonic() + 300
        while await ledger_count(settings) < before + expect and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        ledger = client[settings.database_name("wallet")]["ledger"]
        by_id = {"$regex": f"^usage:{prefix}-"}
        fields = ["entries.command_id", "entries.recorded_at"]
        return {
            e["command_id"]: e["recorded_at"]
            async for d in ledger.find({"entries.command_id": by_id}, fields)
            for e in d["entries"]
            if e["command_id"].startswith(f"usage:{prefix}-")
        }
    finally:
        await client.close()


async def latency(settings: Settings, tenants: list[str], rate: float, seconds: float) -> list[float]:
    """Events at `rate`/s for `seconds`; latency = the wallet's recorded_at of each entry - its publish time."""
    before = await ledger_count(settings)
    prefix, sent = await send_at_rate(settings, tenants, rate, seconds)
    found = await recorded_at(settings, prefix, len(sent), before)
    return [found[c].timestamp() - t for c, t in sent.items() if c in found]


class _NoAdmins:
    async def admins(self, tenant_id: str) -> frozenset[str] | None:
        return None


def _batch_writes(
    store: InMemoryWalletStore, tenants: set[str], entries_before: int, markers_before: set[Any], at: datetime
) -> dict[str, Any]:
    """What MongoWalletStore.apply_runs writes for one batch the rules just applied in memory: the entries, each
    carrying its command's marker, in their tenant's bucket documents, the marker documents of commands without
    an entry (none for these debits) and the wallets, as the same documents (made by the store's own code)."""
    entries, held, markers = [], [], []
    for tenant_id in sorted(tenants):
        made = [e for e in store.entries[entries_before:] if e.tenant_id == tenant_id]
        applied = {
            c: Marker(fp, events)
            for (t, c), (fp, events) in store.applied.items()
            if t == tenant_id and (t, c) not in markers_before
        }
        docs, unmade = MongoWalletStore._documents(tenant_id, made, applied, at)
        entries += buckets(tenant_id, docs)
        held += docs
        markers += unmade
    return {
        "markers": markers,
        "entries": entries,
        "marker_ids": [f"{t}|{c}" for (t, c) in store.applied if (t, c) not in markers_before],
        "main_ids": [e["_id"] for e in held],
        "wallets": [wallet_to_doc(store.wallets[t]) for t in sorted(tenants)],
    }


def backlog_batches(names: list[str], debits: int, batch: int) -> list[list[int]]:
    """Debit numbers (debit i is for tenant i mod n) in the batches a wallet worker reading a backlog gets: up to
    `batch` consecutive commands of one partition of `wallet.commands`, the tenants keyed to partitions as the
    producers key them. A batch then touches the tenants of one partition, not all of them (measured in the
    workers: a median of 14 tenants a batch of 500, for 50 tenants on 6 partitions)."""
    partitions = next(t.partitions for t in topics.ALL_TOPICS if t.name == topics.WALLET_COMMANDS)
    partition_of, every = DefaultPartitioner(), list(range(partitions))
    queues: dict[int, list[int]] = {}
    for i in range(debits):
        queues.setdefault(partition_of(names[i % len(names)].encode(), every, every), []).append(i)
    return [q[start : start + batch] for _, q in sorted(queues.items()) for start in range(0, len(q), batch)]


async def raw_wallet_writes(settings: Settings, debits: int, tenants: int, batch: int) -> float:
    """The MongoDB transactional write rate for exactly what the wallet writes for usage debits: the documents
    are made by the wallet's own rules and codec (in memory, before the clock starts), the collections carry the
    wallet's indexes, and each batch is one transaction of the wallet's shape (read the wallets and the markers,
    insert the entries carrying their markers, replace each wallet guarded by its version; the worker keeps its
    wallets between batches, so they are not read), with the tenants a batch from a
    backlog has (`backlog_batches`; the same tenant names as the pipeline's, in a database of its own).
    Debits per second."""
    names = [f"bench-{i:03d}" for i in range(tenants)]
    at = in_milliseconds(datetime.now(UTC))  # the wallet worker's clock
    service = WalletService(store := InMemoryWalletStore(), _NoAdmins(), lambda: at)
    setup = [wire.Configure(command_id="setup", tenant_id=t, issued_at=at, policy="overdraft",
                            overdraft_limit=Decimal(10**9)) for t in names]  # fmt: skip
    await service.handle_batch(list(setup))
    initial = [wallet_to_doc(w) for w in store.wallets.values()]
    batches = []
    for numbers in backlog_batches(names, debits, batch):
        commands = [
            wire.Debit(command_id=f"usage:raw-{i}", tenant_id=names[i % tenants], issued_at=at,
                       amount=Decimal("0.15"), entry_type="sms", occurred_at=at, site="bench", personnel="bench",
                       source=f"usage.events:raw-{i}")
            for i in numbers
        ]  # fmt: skip
        entries_before, markers_before = len(store.entries), set(store.applied)
        await service.handle_batch(list(commands))
        batches.append(_batch_writes(store, {c.tenant_id for c in commands}, entries_before, markers_before, at))
    client = make_client(settings, app_name="bench-raw")
    db = client[f"raw_{uuid.uuid4().hex[:8]}"]
    await MongoWalletStore(client, db).create_indexes()
    wallets, ledger, applied = db["wallets"], db["ledger"], db["applied_commands"]
    try:
        await wallets.insert_many(initial)
        started = time.perf_counter()
        for writes in batches:

            async def work(session: AsyncClientSession, writes: dict[str, Any] = writes) -> None:
                _ = [d async for d in applied.find({"_id": {"$in": writes["marker_ids"]}}, session=session)]
                _ = [d async for d in ledger.find({"_id": {"$in": writes["main_ids"]}}, session=session)]
                _ = [d async for d in ledger.find({"entries._id": {"$in": writes["main_ids"]}}, session=session)]
                if writes["markers"]:
                    await applied.insert_many(writes["markers"], session=session)
                await ledger.insert_many(writes["entries"], session=session)
                replaces = [ReplaceOne({"_id": w["_id"], "version": w["version"] - 1}, w) for w in writes["wallets"]]
                await wallets.bulk_write(replaces, ordered=False, session=session)

            await in_transaction(client, work)
        return debits / (time.perf_counter() - started)
    finally:
        await client.drop_database(db.name)
        await client.close()


async def raw_consume(settings: Settings) -> float:
    consumer = AIOKafkaConsumer(**admin_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata
        parts = [
            TopicPartition(topics.USAGE_EVENTS, p) for p in consumer.partitions_for_topic(topics.USAGE_EVENTS) or ()
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        total, seen, started = sum(ends.values()), 0, time.perf_counter()
        while seen < total:
            seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=1000)).values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def setup_tenants(settings: Settings, count: int) -> list[str]:
    names = [f"bench-{i:03d}" for i in range(count)]
    async with connect(settings) as ops:
        for name in names:
            await ops.create_tenant(name, name=name, admins=["admin@bench.example"], members=[], language="en",
                                    readers=("metering", "wallet"))  # fmt: skip
            await ops.configure(name, policy="overdraft", overdraft_limit=Decimal(10**9))
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated event counts, run in turn.")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="Metering and wallet workers each.")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    target = args.out / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"  # rewritten after each size: a long run
    shutil.rmtree(args.out / "last-run-logs", ignore_errors=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "cpus": psutil.cpu_count(), "runs": []}
    with stack(f"bench{uuid.uuid4().hex[:6]}") as settings:
        asyncio.run(ensure_topics(settings))
        cpu, steal = CpuMeter(), StealMeter()
        raw_db = asyncio.run(raw_wallet_writes(settings, RAW_DEBITS, args.tenants, 500))
        result["raw_mongodb_wallet_writes_per_s"] = round(raw_db, 1)
        result["raw_mongodb_steal"] = round(steal.take(), 3)
        result["raw_mongodb_cpu_ms_per_debit"] = round(cpu.take().get("mongodb", 0.0) * 1000 / RAW_DEBITS, 3)
        env = env_for_workers(settings)
        logs = Path(settings.state_dir) / "bench-logs"
        logs.mkdir(parents=True, exist_ok=True)
        workers = {
            f"{name}-{i}": WorkerProcess(name, env, logs / f"{name}-{i}.log")
            for name in ("metering", "wallet")
            for i in range(1, args.workers + 1)
        }
        for worker in workers.values():
            worker.start()
        rss = PeakRss(workers)
        try:
            while not all(w.healthy() for w in workers.values()):
                time.sleep(0.2)
            tenants = asyncio.run(setup_tenants(settings, args.tenants))
            rss.start()
            with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"),
                          TimeRemainingColumn()) as progress:  # fmt: skip
                done = asyncio.run(ledger_count(settings))
                cpu, steal, use = CpuMeter(), StealMeter(), database_use(workers)
                for size in sizes:
                    rate = asyncio.run(pipeline(settings, tenants, size, done, progress))
                    done += size
                    used, use_now = cpu.take(), database_use(workers)
                    cpu_ms = {k: round(v * 1000 / size, 3) for k, v in sorted(used.items())}
                    result["runs"].append(
                        {
                            "events": size,
                            "events_per_s": round(rate, 1),
                            "peak_rss_mib": rss.take(),
                            "cpu_ms_per_event": cpu_ms,
                            "cores_per_10k_events_per_s": cores_per_10k(cpu_ms),
                            "database_per_event": per_event(use, use_now, size),
                            "cpu_busy": round(sum(used.values()) * rate / size / (psutil.cpu_count() or 1), 2),
                            "steal": round(steal.take(), 3),
                            "ratio_to_raw_mongodb": round(rate / raw_db, 3),
                        }
                    )
                    use = use_now
                    target.write_text(json.dumps(result, indent=2) + "\n")  # what is measured so far
            raw_broker = asyncio.run(raw_consume(settings))
            # Half the rate of the last size: the pipeline's capacity at the data size it has now (it falls as
            # the collections grow; half the rate of a smaller, earlier run could be more than it can take).
            best = result["runs"][-1]["events_per_s"]
            waits = sorted(asyncio.run(latency(settings, tenants, best / 2, args.latency_seconds)))
            slow = sorted(asyncio.run(latency(settings, tenants, LOW_RATE, args.latency_seconds)))
        finally:
            rss.stopping.set()
            for worker in workers.values():
                worker.stop()
            shutil.copytree(logs, args.out / "last-run-logs", dirs_exist_ok=True)  # the stack's files go with it
    limit = min(raw_broker, raw_db)
    p99 = statistics.quantiles(waits, n=100, method="inclusive")[98] if len(waits) > 1 else float("nan")
    result.update(
        raw_broker_consume_per_s=round(raw_broker, 1),
        raw_mongodb_wallet_writes_per_s=round(raw_db, 1),
        raw_limit_per_s=round(limit, 1),
        latency_rate_per_s=round(best / 2, 1),
        latency_producer_linger_ms=PRODUCER_LINGER_MS,
        latency_p50_ms=round(statistics.median(waits) * 1000, 1) if waits else None,
        latency_p99_ms=round(p99 * 1000, 1) if waits else None,
        latency_at_low_rate={"rate_per_s": LOW_RATE, **_quantiles_ms(slow)},
    )
    for run in result["runs"]:
        run["ratio_to_raw_limit"] = round(run["events_per_s"] / limit, 3)
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"raw limits: broker consume {raw_broker:,.0f}/s, MongoDB wallet writes {raw_db:,.0f}/s (limit {limit:,.0f}/s)"
        f"; the server's CPU per raw debit {result['raw_mongodb_cpu_ms_per_debit']} ms"
        f", {result['raw_mongodb_steal']:.0%} of the machine's time stolen by the hypervisor meanwhile"
    )
    for run in result["runs"]:
        print(
            f"{run['events']:>9,} events: {run['events_per_s']:8,.1f} events/s, "
            f"{run['ratio_to_raw_limit']:.2f} of the raw limit, peak RSS {run['peak_rss_mib']} MiB"
        )
        print(
            f"{'':>17}CPU ms per event {run['cpu_ms_per_event']}, machine {run['cpu_busy']:.0%} busy"
            f", {run['steal']:.0%} stolen"
        )
        print(f"{'':>17}cores per 10,000 events/s {run['cores_per_10k_events_per_s']}")
        for label, row in run["database_per_event"].items():
            print(f"{'':>17}{label} per event: round trips {row['round_trips']}, written {row['documents_written']}")
    p50_ms, p99_ms = result["latency_p50_ms"], result["latency_p99_ms"]
    print(
        f"event -> balance at {best / 2:,.0f} events/s (producer linger {PRODUCER_LINGER_MS} ms): p50 {p50_ms} ms"
        f", p99 {p99_ms} ms"
    )
    low = result["latency_at_low_rate"]
    print(f"event -> balance at {LOW_RATE} events/s: p50 {low['p50_ms']} ms, p99 {low['p99_ms']} ms")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
