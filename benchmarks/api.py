"""The HTTP API under bounded load on loopback, the load from a second process (this script run as a child).

    .venv/bin/python -m benchmarks.api [--events 6000] [--batch 500] [--clients 100] [--seconds 10]

1. Ingestion, end to end: usage events in batches, priced by one metering worker, timed until metering has
   recorded every one: once published straight to Kafka, once POSTed to `/v1/tenants/{t}/usage-events` by the
   child process; the ratio of the two, and how fast the API answered the POSTs (202) on its own.
2. Reads: `clients` concurrent clients in the child for `seconds`, half spend checks, half balance reads;
   p50 and p99 latency of each, and errors.
Targets (issue): HTTP ingestion >= 0.5 of the direct path; spend check p99 < 20 ms.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from creditflow.ops import connect
from schemas import topics
from shared.config import Settings
from shared.kafka import admin_kwargs, ensure_topics

from .common import stack, worker
from .metering_events import event, until_recorded


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def direct(settings: Settings, names: list[str], start: int, count: int, batch: int, already: int) -> float:
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        for first in range(start, start + count, batch):
            sends = [await producer.send(topics.USAGE_EVENTS, event(names[i % len(names)], i),
                                         key=names[i % len(names)].encode())
                     for i in range(first, min(first + batch, start + count))]  # fmt: skip
            await asyncio.gather(*sends)
        await until_recorded(settings, already + count)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def _post_batches(url: str, key: str, names: list[str], start: int, count: int, batch: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        started, rejected = time.perf_counter(), 0
        for first in range(start, start + count, batch):
            by_tenant: dict[str, list[bytes]] = {}
            for i in range(first, min(first + batch, start + count)):
                by_tenant.setdefault(names[i % len(names)], []).append(event(names[i % len(names)], i))
            answers = await asyncio.gather(*[
                client.post(f"/v1/tenants/{t}/usage-events", content=b"[" + b",".join(items) + b"]")
                for t, items in by_tenant.items()
            ])  # fmt: skip
            for answer in answers:
                answer.raise_for_status()
                rejected += answer.json()["rejected"]
        return {"answered_per_s": count / (time.perf_counter() - started), "rejected": rejected}


async def _reads(url: str, key: str, names: list[str], clients: int, seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    latencies: dict[str, list[float]] = {"spend_check": [], "balance": []}
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def one(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < deadline:
                tenant = names[i % len(names)]
                kind = "spend_check" if i % 2 == 0 else "balance"
                path = (f"/v1/tenants/{tenant}/spend-check?meter=sms&quantity=1" if kind == "spend_check"
                        else f"/v1/tenants/{tenant}/wallet")  # fmt: skip
                began = time.perf_counter()
                answer = await client.get(path)
                latencies[kind].append((time.perf_counter() - began) * 1000)
                errors += answer.status_code != 200
                i += clients

        await asyncio.gather(*[one(n) for n in range(clients)])
    return {
        kind: {"requests": len(v), "p50_ms": _pct(v, 0.5), "p99_ms": _pct(v, 0.99), "per_s": len(v) / seconds}
        for kind, v in latencies.items()
    } | {"errors": errors}


def child(argv: list[str]) -> None:
    """The load generator, in its own process: prints one JSON line."""
    mode, url, key, names, *rest = argv
    tenants = names.split(",")
    if mode == "ingest":
        start, count, batch = (int(x) for x in rest)
        print(json.dumps(asyncio.run(_post_batches(url, key, tenants, start, count, batch))))
    else:
        clients, seconds = int(rest[0]), float(rest[1])
        print(json.dumps(asyncio.run(_reads(url, key, tenants, clients, seconds))))


def _in_child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "benchmarks.api", "--child", *args], capture_output=True, text=True,
                          check=True, timeout=1800)  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def _setup(settings: Settings, names: list[str]) -> str:
    async with connect(settings) as ops:
        for name in names:
            await ops.create_tenant(name, name=name, admins=["admin@bench.example"], members=[], language="en",
                                    readers=("metering", "wallet"))  # fmt: skip
            await ops.grant(name, Decimal(1_000_000), kind="purchased", source="bench")
        _, key = await ops.create_api_key("operator", name="bench")
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=6000, help="per ingestion path")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()
    names = [f"api-bench-{i}" for i in range(args.tenants)]
    result: dict[str, Any] = {"events": args.events, "batch": args.batch, "tenants": args.tenants}
    with stack(f"apibench{uuid.uuid4().hex[:6]}") as settings:
        asyncio.run(ensure_topics(settings))
        logs = Path(settings.state_dir) / "bench-logs"
        with worker("metering", settings, logs), worker("wallet", settings, logs), worker("api", settings, logs) as api:
            url = f"http://127.0.0.1:{api.health_port}"
            key = _setup_sync(settings, names)
            asyncio.run(direct(settings, names, -1000, 200, args.batch, 0))  # warm-up
            result["direct_per_s"] = asyncio.run(direct(settings, names, 0, args.events, args.batch, 200))
            began = time.perf_counter()
            posted = _in_child("ingest", url, key, ",".join(names), str(10**7), str(args.events), str(args.batch))
            asyncio.run(until_recorded(settings, 200 + 2 * args.events))
            result["http_per_s"] = args.events / (time.perf_counter() - began)
            result["http_answered_per_s"] = posted["answered_per_s"]
            result["http_rejected"] = posted["rejected"]
            result["reads"] = _in_child("reads", url, key, ",".join(names), str(args.clients), str(args.seconds))
    result["ingestion_ratio"] = result["http_per_s"] / result["direct_per_s"]
    args.out.mkdir(exist_ok=True)
    path = args.out / f"api-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    reads = result["reads"]
    print(f"ingestion end to end (priced by metering): direct Kafka {result['direct_per_s']:.0f}/s, "
          f"HTTP {result['http_per_s']:.0f}/s, ratio {result['ingestion_ratio']:.2f} (target >= 0.5)")  # fmt: skip
    print(f"HTTP batches answered (202) at {result['http_answered_per_s']:.0f} events/s, {posted['rejected']} rejected")
    for kind in ("spend_check", "balance"):
        r = reads[kind]
        print(f"{kind:<12} {args.clients} clients: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
              f"{r['per_s']:.0f}/s")  # fmt: skip
    print(f"errors: {reads['errors']}; spend check p99 target < 20 ms; results in {path}")


def _setup_sync(settings: Settings, names: list[str]) -> str:
    return asyncio.run(_setup(settings, names))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
