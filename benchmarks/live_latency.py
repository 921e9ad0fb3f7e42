"""Event -> balance under live traffic, rate by rate, and where the time goes.

    .venv/bin/python -m benchmarks.live_latency [--rates 50,500,1500] [--seconds 15] [--tenants 50] [--warmup 20000]
        [--linger-ms 5]

One metering and one wallet worker on the embedded stack (or the configured servers), 50 tenants, a 20,000-event
warm-up (`--warmup`; `make bench` measures its latency after 100,000: on the embedded server, whose oplog keeps
100,000 entries, every commit then also deletes as many entries as it adds); then, for each rate, events sent at
that rate for `--seconds`. For each rate it prints:

- event -> balance p50, p90, p99 (the wallet's `recorded_at` of the entry minus the time the event was handed to
  the producer, as `make bench` measures it) and the p50 of each tenth of the run in sending order: flat is a
  pipeline keeping up, rising is a queue;
- the split: publish -> metering (the usage record's `received_at`, taken as metering starts the event's batch)
  and metering -> ledger;
- each process's share of a core over the run (the database server, the broker, the workers, this client);
- per worker, the batches its hot handler ran, their mean duration and the share of the wall time it spent in
  them (FastStream's `faststream_received_processed_messages_duration_seconds`), beside its CPU: a handler busy
  most of the time on a small share of a core is waiting, on the database server or the broker.
"""

import argparse
import asyncio
import re
import statistics
import time
import urllib.request
import uuid
from pathlib import Path

from rich.progress import Progress

from creditflow.supervisor import WorkerProcess
from proof.bench import (
    PRODUCER_LINGER_MS,
    CpuMeter,
    ledger_count,
    pipeline,
    recorded_at,
    send_at_rate,
    setup_tenants,
)
from schemas import topics
from shared.config import Settings
from shared.kafka import ensure_topics
from shared.mongo import make_client

from .common import stack, worker

HANDLED = re.compile(r"faststream_received_processed_messages_duration_seconds_(sum|count)\{(.*)\} (\S+)")
HOT = {"metering": topics.USAGE_EVENTS, "wallet": topics.WALLET_COMMANDS}


def handler_time(workers: dict[str, WorkerProcess]) -> dict[str, tuple[float, float]]:
    """Worker -> (batches handled, seconds spent handling them) by its hot handler so far, from its metrics."""
    found: dict[str, tuple[float, float]] = {}
    for name, process in workers.items():
        count = total = 0.0
        with urllib.request.urlopen(f"http://127.0.0.1:{process.health_port}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if (m := HANDLED.match(line)) and f'handler="{HOT[name]}' in m.group(2):
                    if m.group(1) == "count":
                        count += float(m.group(3))
                    else:
                        total += float(m.group(3))
        found[name] = (count, total)
    return found


async def received_at(settings: Settings, prefix: str) -> dict[str, float]:
    """Debit command id -> when metering started the batch of its event (the usage record's `received_at`)."""
    client = make_client(settings, app_name="bench")
    try:
        db = client[settings.database_name("metering")]
        found: dict[str, float] = {}
        for name in await db.list_collection_names():
            if name.startswith("usage_records_"):
                records = db[name].find({"event_id": {"$regex": f"^{prefix}-"}}, {"event_id": 1, "received_at": 1})
                found |= {f"usage:{d['event_id']}": d["received_at"].timestamp() async for d in records}
        return found
    finally:
        await client.close()


async def one_rate(
    settings: Settings, tenants: list[str], rate: float, seconds: float, linger_ms: int
) -> list[tuple[float, float]]:
    """(event -> balance, publish -> metering) of every event sent at `rate`, in sending order."""
    before = await ledger_count(settings)
    prefix, sent = await send_at_rate(settings, tenants, rate, seconds, linger_ms=linger_ms)
    entries = await recorded_at(settings, prefix, len(sent), before)
    received = await received_at(settings, prefix)
    return [(entries[c].timestamp() - t, received.get(c, t) - t) for c, t in sent.items() if c in entries]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,500,1500", help="Comma-separated events/s, run in turn.")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument(
        "--warmup", type=int, default=20_000, help="Events run through the pipeline at full speed before the rates."
    )
    parser.add_argument(
        "--linger-ms",
        type=int,
        default=PRODUCER_LINGER_MS,
        help="The load generator's producer linger (5, as `make bench` and the producer client; 0: one produce "
        "request an event at most rates).",
    )
    args = parser.parse_args()
    with stack(f"live{uuid.uuid4().hex[:6]}") as settings:
        asyncio.run(ensure_topics(settings))
        logs = Path(settings.state_dir) / "live-latency-logs"
        with worker("metering", settings, logs) as metering, worker("wallet", settings, logs) as wallet:
            workers = {"metering": metering, "wallet": wallet}
            tenants = asyncio.run(setup_tenants(settings, args.tenants))
            with Progress() as progress:
                done = asyncio.run(ledger_count(settings))
                asyncio.run(pipeline(settings, tenants, args.warmup, done, progress))
            for rate in (float(r) for r in args.rates.split(",")):
                handled, cpu, started = handler_time(workers), CpuMeter(), time.perf_counter()
                timings = asyncio.run(one_rate(settings, tenants, rate, args.seconds, args.linger_ms))
                used, elapsed, handled_now = cpu.take(), time.perf_counter() - started, handler_time(workers)
                waits = [total for total, _ in timings]
                q = statistics.quantiles(sorted(waits), n=100, method="inclusive")
                tenth = len(waits) // 10
                print(f"{rate:,.0f} events/s, {len(waits):,} events: event -> balance p50 {ms(q[49])} ms, "
                      f"p90 {ms(q[89])}, p99 {ms(q[98])}; p50 by tenth of the run "
                      f"{[ms(statistics.median(waits[i * tenth:(i + 1) * tenth])) for i in range(10)]}")  # fmt: skip
                first = statistics.quantiles(sorted(f for _, f in timings), n=100, method="inclusive")
                rest = statistics.median(total - f for total, f in timings)
                print(f"  publish -> metering p50 {ms(first[49])} ms, p99 {ms(first[98])}; "
                      f"metering -> ledger p50 {ms(rest)} ms")  # fmt: skip
                print("  share of a core:", ", ".join(f"{k} {v / elapsed:.0%}" for k, v in sorted(used.items())))
                for name in workers:
                    batches = handled_now[name][0] - handled[name][0]
                    busy = handled_now[name][1] - handled[name][1]
                    print(f"  {name}: {batches:,.0f} batches of {len(waits) / max(batches, 1):,.0f} events on "
                          f"average, {ms(busy / max(batches, 1))} ms each; in its handler {busy / elapsed:.0%} of "
                          f"the time, on {used.get(name, 0) / elapsed:.0%} of a core")  # fmt: skip


if __name__ == "__main__":
    main()
