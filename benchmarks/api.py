"""The HTTP API under bounded load on loopback, the load from a second process (this script run as a child).

    .venv/bin/python -m benchmarks.api [--events 6000] [--batch 500] [--clients 100] [--seconds 10]

1. Ingestion, end to end: usage events in batches, priced by one metering worker, timed until metering has
   recorded every one: once published straight to Kafka, once POSTed to `/v1/tenants/{t}/usage-events` by the
   child process; the ratio of the two, and how fast the API answered the POSTs (202) on its own.
2. Reads: `clients` concurrent clients for `seconds`, spend checks and balance reads: each alone from wrk (a C load
   generator, when installed: `apt-get install wrk`; it leaves the cores to the API), then from the Python child
   (closed loop, then paced); p50 and p99 latency of each, and errors.
Targets (issue): HTTP ingestion >= 0.5 of the direct path; spend check p99 < 20 ms.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
        started, rejected, wall = time.perf_counter(), 0, time.time()
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
        return {"answered_per_s": count / (time.perf_counter() - started), "rejected": rejected, "started_at": wall}


async def _reads(
    url: str, key: str, names: list[str], clients: int, seconds: float, mix: str, pace: float = 0.0
) -> dict[str, Any]:
    """`clients` concurrent clients, each on its own keep-alive connection, each sending its next request when
    the last is answered (closed loop), or with `pace`, at most one request per `pace` seconds each (an offered
    rate of clients / pace). A minimal HTTP/1.1 client (asyncio streams): httpx's pool, not the API, was the limit
    with 100 connections in one process (171 answers/s against 555/s for a single connection)."""
    host, port = url.removeprefix("http://").split(":")
    latencies: dict[str, list[float]] = {"spend_check": [], "balance": []}
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one(n: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        i = n
        if pace:  # clients start spread over one step, not in a burst of `clients` requests at once
            await asyncio.sleep(pace * n / clients)
        try:
            while time.perf_counter() < deadline:
                tenant = names[i % len(names)]
                kind = mix if mix != "both" else ("spend_check" if i % 2 == 0 else "balance")
                path = (f"/v1/tenants/{tenant}/spend-check?meter=sms&quantity=1" if kind == "spend_check"
                        else f"/v1/tenants/{tenant}/wallet")  # fmt: skip
                request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n"
                began = time.perf_counter()
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))  # fmt: skip
                await reader.readexactly(length)
                latencies[kind].append((time.perf_counter() - began) * 1000)
                errors += not head.startswith(b"HTTP/1.1 200")
                i += clients
                if pace:
                    await asyncio.sleep(max(0.0, pace - (time.perf_counter() - began)))
        finally:
            writer.close()

    await asyncio.gather(*[one(n) for n in range(clients)])
    return {
        kind: {"requests": len(v), "p50_ms": _pct(v, 0.5), "p99_ms": _pct(v, 0.99), "per_s": len(v) / seconds}
        for kind, v in latencies.items()
    } | {"errors": errors}


WRK_SCRIPT = """
paths, n = {}, 0
for p in string.gmatch(os.getenv("CF_PATHS"), "[^,]+") do table.insert(paths, p) end
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "p50_ms": %.3f, "p99_ms": %.3f, "seconds": %.3f, "errors": %d}\\n',
    summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout))
end
"""


def _wrk(url: str, key: str, names: list[str], clients: int, seconds: float, kind: str) -> dict[str, Any]:
    """`clients` connections from wrk (Debian's `wrk`, a C load generator: one process, two threads), each sending
    its next request when the last is answered, for `seconds`. Latency percentiles as wrk measures them."""
    paths = [f"/v1/tenants/{t}/spend-check?meter=sms&quantity=1" if kind == "spend_check" else f"/v1/tenants/{t}/wallet"
             for t in names]  # fmt: skip
    script = Path(tempfile.mkdtemp()) / "paths.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script),
         "-H", f"Authorization: Bearer {key}", url],
        capture_output=True, text=True, check=True, env={**os.environ, "CF_PATHS": ",".join(paths)},
    )  # fmt: skip
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return {"requests": found["requests"], "p50_ms": found["p50_ms"], "p99_ms": found["p99_ms"],
            "per_s": found["requests"] / found["seconds"], "errors": found["errors"], "generator": "wrk"}  # fmt: skip


def child(argv: list[str]) -> None:
    """The load generator, in its own process: prints one JSON line."""
    mode, url, key, names, *rest = argv
    tenants = names.split(",")
    if mode == "ingest":
        start, count, batch = (int(x) for x in rest)
        print(json.dumps(asyncio.run(_post_batches(url, key, tenants, start, count, batch))))
    else:
        clients, seconds, pace = int(rest[0]), float(rest[1]), float(rest[3])
        print(json.dumps(asyncio.run(_reads(url, key, tenants, clients, seconds, rest[2], pace))))


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.api", "--child", *args], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise RuntimeError(f"the load process failed ({process.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _in_child(*args: str) -> dict[str, Any]:
    return _result(_child(*args))


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
    parser.add_argument("--mix", choices=("both", "spend_check", "balance"), default="both")
    parser.add_argument("--pace", type=float, default=0.5, help="paced step: seconds between one client's requests")
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
            # timed from the child's first POST (its start-up is not the API's cost) to the last event recorded
            loader = _child("ingest", url, key, ",".join(names), str(10**7), str(args.events), str(args.batch))
            asyncio.run(until_recorded(settings, 200 + 2 * args.events))
            finished = time.time()
            posted = _result(loader)
            result["http_per_s"] = args.events / (finished - posted["started_at"])
            result["http_answered_per_s"] = posted["answered_per_s"]
            result["http_rejected"] = posted["rejected"]
            common = ("reads", url, key, ",".join(names), str(args.clients), str(args.seconds), args.mix)
            if shutil.which("wrk"):  # closed loop from a C load generator: the generator leaves the cores to the API
                result["reads_wrk"] = {kind: _wrk(url, key, names, args.clients, args.seconds, kind)
                                       for kind in ("spend_check", "balance")}  # fmt: skip
            result["reads"] = _in_child(*common, "0")
            result["reads_paced"] = _in_child(*common, str(args.pace))
    result["ingestion_ratio"] = result["http_per_s"] / result["direct_per_s"]
    args.out.mkdir(exist_ok=True)
    path = args.out / f"api-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    reads, paced = result["reads"], result["reads_paced"]
    for kind, r in result.get("reads_wrk", {}).items():
        print(f"{kind:<12} {args.clients} clients, closed loop, load from wrk: p50 {r['p50_ms']:.1f} ms, "
              f"p99 {r['p99_ms']:.1f} ms, {r['per_s']:.0f}/s, {r['errors']} errors")  # fmt: skip
    if "reads_wrk" not in result:
        print("(wrk not found: `apt-get install wrk` for the closed loop from a C load generator)")
    print(f"ingestion end to end (priced by metering): direct Kafka {result['direct_per_s']:.0f}/s, "
          f"HTTP {result['http_per_s']:.0f}/s, ratio {result['ingestion_ratio']:.2f} (target >= 0.5)")  # fmt: skip
    print(f"HTTP batches answered (202) at {result['http_answered_per_s']:.0f} events/s, {posted['rejected']} rejected")
    for label, found in (("closed loop, load from Python", reads), (f"paced, 1 request per {args.pace} s each", paced)):
        for kind in ("spend_check", "balance"):
            r = found[kind]
            if r["requests"]:
                print(
                    f"{kind:<12} {args.clients} clients, {label}: p50 {r['p50_ms']:.1f} ms, "
                    f"p99 {r['p99_ms']:.1f} ms, {r['per_s']:.0f}/s"
                )
    print(f"errors: {reads['errors'] + paced['errors']}; spend check p99 target < 20 ms; results in {path}")


def _setup_sync(settings: Settings, names: list[str]) -> str:
    return asyncio.run(_setup(settings, names))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
