"""The scheduler process: APScheduler runs `run_once` every minute; only the lease holder publishes.

Ticks carry deterministic ids (`day:2026-11-22`, `month-end:2026-11`), so a rerun, a second replica that
slipped past the lease, or a crash between publishing and recording the last day, publishes the same ids
again, and the subscriptions service applies each tick id once per tenant. After downtime, every missed
day is published in order (catch-up).
"""

import asyncio
import os
import signal
import socket
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from faststream.kafka import KafkaBroker

from schemas import topics
from shared.config import Settings
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.mongo import make_client
from shared.runtime import serve_health

from .adapters.mongo import MongoLease
from .domain import due_ticks

log = structlog.get_logger()
LEASE_TTL = timedelta(seconds=90)


class SchedulerSettings(Settings):
    scheduler_interval_seconds: float = 60.0


async def run_once(broker: KafkaBroker, lease: MongoLease, holder: str, now: datetime) -> list[str]:
    """Publish every due tick if this process holds the lease. Returns the tick ids published."""
    if not await lease.acquire(holder, now=now, ttl=LEASE_TTL):
        return []
    published = []
    for tick in due_ticks(await lease.last_emitted(), now):
        await broker.publish(tick.model_dump_json().encode(), topics.SCHEDULER_TICKS, key=tick.tick_id.encode())
        if tick.kind == "tick.day":
            await lease.record_emitted(tick.day)
        published.append(tick.tick_id)
    if published:
        log.info("ticks_published", ticks=published)
    return published


async def main() -> None:
    settings = SchedulerSettings().require_addresses()
    assert isinstance(settings, SchedulerSettings)
    configure_logging("scheduler", settings.log_level, secrets=settings.secret_values())
    broker = make_broker(settings, client_id="scheduler")
    mongo = make_client(settings, app_name="creditflow-scheduler")
    lease = MongoLease(mongo[settings.database_name("scheduler")])
    holder = f"{socket.gethostname()}:{os.getpid()}"
    await broker.start()

    async def health() -> dict[str, object]:
        await mongo.admin.command("ping")
        await broker.ping(timeout=5)
        return {"status": "ok", "service": "scheduler"}

    server = await serve_health(settings.health_port, health) if settings.health_port else None
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def job() -> None:
        try:
            await run_once(broker, lease, holder, datetime.now(UTC))
        except Exception:
            log.exception("scheduler_run_failed")

    scheduler.add_job(job, "interval", seconds=settings.scheduler_interval_seconds, next_run_time=datetime.now(UTC))
    scheduler.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        if server is not None:
            server.close()
        await lease.release(holder)
        await broker.stop()
        await mongo.close()
