"""Time from a threshold event to the e-mail reaching the SMTP server, p50 and p99.

    .venv/bin/python -m benchmarks.notification_latency [--tenants 50] [--every 0.2]

Each tenant (one admin) gets 100.10 credits, then one debit takes it below 100: the wallet emits
`threshold.crossed`, the notifications worker records the delivery and its sender loop hands the e-mail to
the SMTP sink, which stamps the arrival (file name: nanoseconds since the epoch). Latency = arrival minus
the event's `occurred_at` (the wallet's clock when it decided). Debits are spaced `--every` seconds apart.
"""

import argparse
import asyncio
import email
import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from email import policy
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from creditflow.ops import connect
from schemas import topics
from schemas.wallet import Debit
from shared.config import Settings
from shared.kafka import admin_kwargs, ensure_topics

from .common import stack, worker


def arrivals(mailbox: Path, names: list[str]) -> dict[str, float]:
    """Tenant name (found in the subject) -> arrival time at the SMTP server, epoch seconds."""
    found: dict[str, float] = {}
    for path in mailbox.glob("*.eml"):
        subject = str(email.message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"])
        for name in names:
            if name in subject:
                found[name] = int(path.name.split("-")[0]) / 1e9
    return found


async def crossing_times(settings: Settings, tenants: set[str]) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        topics.WALLET_EVENTS,
        **admin_kwargs(settings),
        group_id=f"bench-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: dict[str, float] = {}
    try:
        while len(found) < len(tenants):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    event = json.loads(record.value)
                    if event.get("kind") == "threshold.crossed" and event["tenant_id"] in tenants:
                        found[event["tenant_id"]] = datetime.fromisoformat(event["occurred_at"]).timestamp()
    finally:
        await consumer.stop()
    return found


async def run(settings: Settings, mailbox: Path, tenants: int, every: float) -> list[float]:
    names = [f"lat-{i}-{uuid.uuid4().hex[:6]}" for i in range(tenants)]
    async with connect(settings) as ops:
        for name in names:
            await ops.create_tenant(
                name, name=name, admins=[f"admin@{name}.example"], members=[], language="en",
                readers=("wallet", "notifications"),
            )  # fmt: skip
            await ops.grant(name, Decimal("100.10"), kind="purchased", source="benchmark")
        for name in names:
            now = datetime.now(UTC)
            debit = Debit(command_id="cross", tenant_id=name, issued_at=now, amount=Decimal(1), entry_type="sms",
                          occurred_at=now, source="benchmark")  # fmt: skip
            await ops.send(debit, wait=0)
            await asyncio.sleep(every)
    deadline = time.monotonic() + 120
    while len(arrived := arrivals(mailbox, names)) < tenants and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    crossed = await crossing_times(settings, set(names))
    return [arrived[n] - crossed[n] for n in names if n in arrived and n in crossed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--every", type=float, default=0.2)
    args = parser.parse_args()
    with stack(f"bench{uuid.uuid4().hex[:6]}") as settings:
        asyncio.run(ensure_topics(settings))
        logs = Path(settings.state_dir) / "bench-logs"
        with worker("wallet", settings, logs), worker("notifications", settings, logs):
            latencies = asyncio.run(run(settings, Path(settings.state_dir) / "mailbox", args.tenants, args.every))
    if not latencies:
        raise SystemExit("no e-mail arrived; see the worker logs")
    latencies.sort()
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98] if len(latencies) > 1 else latencies[0]
    print(f"threshold event -> SMTP server: {len(latencies)}/{args.tenants} e-mails")
    print(
        f"p50 {statistics.median(latencies) * 1000:7.0f} ms   p99 {p99 * 1000:7.0f} ms   "
        f"max {latencies[-1] * 1000:7.0f} ms"
    )


if __name__ == "__main__":
    main()
