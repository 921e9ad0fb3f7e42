"""The scheduler process: APScheduler runs `run_once` every minute; only the lease holder publishes.

Ticks carry deterministic ids (`day:2026-11-22`, `month-end:2026-11`), so a rerun, a second replica that
slipped past the lease, or a crash between publishing and recording the last day, publishes the same ids
again, and the subscriptions service applies each tick id once per tenant. After downtime, every missed
day is published in order (catch-up).
"""

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from schemas import topics
from shared.config import Settings
from shared.kafka import make_broker
from shared.lag import consumer_lag
from shared.logging import configure_logging
from shared.metrics import ConsumerLag
from shared.mongo import make_client
from shared.runtime import probes

from .adapters.mongo import MongoLease
from .domain import due_ticks

log = structlog.get_logger()
LEASE_TTL = timedelta(seconds=90)


class SchedulerSettings(Settings):
    scheduler_interval_seconds: float = 60.0
    lag_interval_seconds: float = 15.0
    """How often the scheduler reads every consumer group's lag for `/metrics` (`creditflow_consumer_lag`)."""


async def export_lag(settings: Settings, lag: ConsumerLag, interval: float) -> None:
    """Read the lag of every consumer group from Kafka every `interval` seconds, for the scrape. The scheduler does
    it because it runs apart from the consumers: a group whose workers are all down still shows its lag grow."""
    while True:
        try:
            lag.update(await consumer_lag(settings), time.time())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consumer_lag_read_failed")
        await asyncio.sleep(interval)


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


def bootstrap() -> AsgiFastStream:
    """The scheduler's composition root: APScheduler in the lifespan of a FastStream application (which starts
    the publishing broker and serves the probes and metrics, as every worker does)."""
    settings = SchedulerSettings().require_addresses()
    assert isinstance(settings, SchedulerSettings)
    configure_logging("scheduler", settings.log_level, secrets=settings.secret_values())
    broker = make_broker(settings, client_id="scheduler")
    mongo = make_client(settings, app_name="creditflow-scheduler")
    lease = MongoLease(mongo[settings.database_name("scheduler")])
    holder = f"{socket.gethostname()}:{os.getpid()}"

    async def health() -> dict[str, object]:
        await mongo.admin.command("ping")
        await broker.ping(timeout=5)
        return {"status": "ok", "service": "scheduler"}

    async def job() -> None:
        try:
            await run_once(broker, lease, holder, datetime.now(UTC))
        except Exception:
            log.exception("scheduler_run_failed")

    scheduler = AsyncIOScheduler(timezone=UTC)

    lag = ConsumerLag()
    REGISTRY.register(lag)
    tasks: list[asyncio.Task[None]] = []

    async def start_scheduler() -> None:  # after FastStream has started the broker: the first run can publish
        scheduler.add_job(job, "interval", seconds=settings.scheduler_interval_seconds, next_run_time=datetime.now(UTC))
        scheduler.start()
        tasks.append(asyncio.create_task(export_lag(settings, lag, settings.lag_interval_seconds)))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        try:
            yield
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            for task in tasks:
                task.cancel()
            await lease.release(holder)
            await mongo.close()

    return AsgiFastStream(broker, asgi_routes=probes(health), lifespan=lifespan, after_startup=[start_scheduler])
