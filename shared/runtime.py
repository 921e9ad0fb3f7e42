"""What every worker process shares: per-message log context, retry back-off, dead-lettering,
the probes and metrics over HTTP (FastStream's ASGI application) and the run loop."""

import asyncio
import base64
import contextlib
import ctypes
import gc
import json
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import pydantic_core
import pymongo.errors
import structlog
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import BaseMiddleware
from pydantic import BaseModel

from schemas.deadletter import DeadLetter, Reason

from .metrics import DEAD_LETTERS, watch_database

log = structlog.get_logger()


TRANSIENT: tuple[type[BaseException], ...] = (
    pymongo.errors.ConnectionFailure,
    pymongo.errors.ServerSelectionTimeoutError,
    pymongo.errors.NetworkTimeout,
    pymongo.errors.ExecutionTimeout,
    pymongo.errors.WriteConcernError,
    KafkaError,
    OSError,
    TimeoutError,
)
"""Failures of the infrastructure: retried for as long as it takes, never dead-lettered."""
POISON_AFTER = 5
"""A message whose handling fails this many times in a row with a non-transient error is dead-lettered."""


class MessageContext(BaseMiddleware):
    """Binds topic, partition, offset and tenant (the key) to every log line of one message.

    An exception from a handler means "retry me": it is logged and the message is redelivered after a
    growing pause, so a MongoDB outage does not spin the consumer. A message that keeps failing with an
    error that is not the infrastructure's (a poison message the validation did not foresee) is sent to
    the dead-letter topic with reason `processing_failed` after `POISON_AFTER` attempts, so one bad
    message never blocks the valid ones behind it on its partition.
    """

    failures = 0
    attempts: ClassVar[dict[tuple[str, int, int], int]] = {}
    dead_letter: ClassVar[Callable[[StreamMessage[Any], Reason, str], Awaitable[None]] | None] = None

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        raw = msg.raw_message
        batch = isinstance(raw, tuple)  # a batch subscriber: the handler isolates poison messages itself
        record = raw[0] if batch else raw
        key = record.key.decode(errors="replace") if getattr(record, "key", None) and not batch else None
        where = (record.topic, record.partition, record.offset)
        with structlog.contextvars.bound_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset, tenant_id=key
        ):
            try:
                result = await call_next(msg)
            except Exception as exc:
                MessageContext.failures += 1
                tries = MessageContext.attempts[where] = MessageContext.attempts.get(where, 0) + 1
                poison = MessageContext.dead_letter
                if not batch and not isinstance(exc, TRANSIENT) and tries >= POISON_AFTER and poison is not None:
                    log.exception("message_failed_dead_lettering", attempts=tries)
                    await poison(msg, "processing_failed", f"{type(exc).__name__}: {exc}"[:2000])
                    MessageContext.attempts.pop(where, None)
                    return None
                delay = min(30.0, 0.2 * 2 ** min(MessageContext.failures, 8)) * (0.5 + random.random() / 2)
                log.exception("message_failed_will_retry", retry_in_s=round(delay, 2), attempts=tries)
                await asyncio.sleep(delay)
                raise
            MessageContext.failures = 0
            MessageContext.attempts.pop(where, None)
            return result


async def dead_letter(
    broker: KafkaBroker,
    dlq_topic: str,
    *,
    service: str,
    reason: Reason,
    detail: str,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
) -> None:
    letter = DeadLetter(
        reason=reason,
        detail=detail[:2000],
        service=service,
        source_topic=source_topic,
        source_partition=partition,
        source_offset=offset,
        key=key.decode(errors="replace") if key else None,
        original_base64=base64.b64encode(value or b"").decode(),
        failed_at=datetime.now(UTC),
    )
    await broker.publish(letter.model_dump_json().encode(), dlq_topic, key=key)
    DEAD_LETTERS.labels(service, reason).inc()
    log.warning("dead_lettered", reason=reason, detail=detail[:300])


def encode(payload: dict[str, Any] | BaseModel) -> bytes:
    """A message's JSON bytes, serialised in pydantic-core (Rust): a model straight to JSON, without the dict
    of a `model_dump` in between; a dict (events the wallet stored as JSON data) as it is."""
    return payload.model_dump_json().encode() if isinstance(payload, BaseModel) else pydantic_core.to_json(payload)


YOUNG_OBJECTS = 100_000
"""New objects between two collections of the youngest generation (Python's default: 700). Measured in session 15
(`make bench` and `benchmarks/live_latency.py`, alternated pairs): 20,000 took 14-29% off the workers' CPU per
event; 100,000 another 6-21%, with p99 event -> balance at fixed rates as low or lower (2,400 /s: 973-996 ms
against 1,267-1,383) and the same peak RSS."""


def settle_heap() -> None:
    """Tune the cyclic garbage collector for a worker: what start-up built (modules, models, clients) is moved
    out of its sight (`gc.freeze`), so a full collection no longer walks it; and the youngest generation is
    collected every `YOUNG_OBJECTS` new objects rather than every 700. A batch keeps what it builds until it ends
    (500 debits: some 12,000 objects), so at 700 the collector ran 17 times during one, walked objects that
    reference counting frees as the batch ends anyway, and promoted them to the older generations, whose
    collections walk the worker's caches too."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, older, oldest)


TRIM_SECONDS = 10.0
"""How often a worker gives the C heap's free memory back to the system (`return_free_memory`)."""


def c_heap_trimmer() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None under another C library (musl, macOS), whose heaps need no such call."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return cast(Callable[[int], int], trim)


async def return_free_memory(interval: float = TRIM_SECONDS) -> None:
    """Every `interval` seconds, give the C heap's free pages back to the system (`malloc_trim`). What Python keeps
    outside its small-object arenas (a message of metering's, some 10 kB; the lists and dictionaries of a batch)
    lives in the C library's heap, and glibc returns only the top of it by itself: pages freed in the middle stay
    counted. In the wallet with 4 MiB fetches and metering's batches of 2,000, one `malloc_trim` (called from gdb)
    brought it from 172 to 100 MiB; what still grew past that was the fetched data (`FETCH_MAX_BYTES`). A trim of
    a 100 MiB heap takes some 20 ms."""
    trim = c_heap_trimmer()
    if trim is None:
        return
    while True:
        await asyncio.sleep(interval)
        trim(0)


HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def probes(check: HealthCheck) -> list[tuple[str, Any]]:
    """The HTTP routes of a worker, served by FastStream's ASGI application (`AsgiFastStream`) on its health port:

    - `/health/live`: 200 while the process's event loop answers (liveness: restart the pod if not);
    - `/health/ready` and `/health`: 200 with the check's JSON when MongoDB and Kafka answer, else 503 (readiness:
      take it out of service, do not restart it: the database being down is not cured by a restart);
    - `/metrics`: the process's Prometheus metrics (prometheus-client's own ASGI app)."""
    from faststream.asgi import AsgiResponse, get
    from faststream.asgi.types import Scope
    from prometheus_client import REGISTRY, make_asgi_app

    def answer(body: dict[str, Any], status: int) -> AsgiResponse:
        return AsgiResponse(json.dumps(body).encode(), status, {"Content-Type": "application/json"})

    @get(include_in_schema=False)
    async def ready(scope: Scope) -> AsgiResponse:
        try:
            body = await asyncio.wait_for(check(), 5)
        except Exception as exc:
            return answer({"status": "error", "error": type(exc).__name__}, 503)
        return answer(body, 200 if body.get("status") == "ok" else 503)

    @get(include_in_schema=False)
    async def live(scope: Scope) -> AsgiResponse:
        return answer({"status": "ok"}, 200)

    return [("/health", ready), ("/health/ready", ready), ("/health/live", live), ("/metrics", make_asgi_app(REGISTRY))]


def run(app: AsgiFastStream) -> None:
    """Serve the worker until SIGINT/SIGTERM (uvicorn, through FastStream's ASGI application: on a signal it stops
    the consumers, which commit what was processed). HEALTH_PORT is the probes' port (0: any free one, loopback)."""
    port = int(os.environ.get("HEALTH_PORT") or 0)
    options: dict[str, Any] = {
        "host": "0.0.0.0" if port else "127.0.0.1",  # noqa: S104 - probes come from outside
        "port": port,
        "access_log": "false",
        "log_config": None,
    }
    asyncio.run(app.run(run_extra_options=options))


class Worker:
    """The clients one worker process holds, created in the app lifespan (never at import time)."""

    def __init__(self, service: str, settings: Any, broker: KafkaBroker, dlq_topic: str) -> None:
        from .mongo import CommandCounter, make_client

        self.service = service
        self.settings = settings
        self.broker = broker
        self.dlq_topic = dlq_topic
        self.database_use = CommandCounter()
        self.mongo = make_client(settings, app_name=f"creditflow-{service}", counter=self.database_use)
        watch_database(service, self.database_use.snapshot)
        self.db = self.mongo[settings.database_name(service)]
        self._producer: Any = None
        MessageContext.dead_letter = self.dead_letter

    async def publish(self, payload: dict[str, Any] | Any, topic: str, key: str) -> None:
        await self.broker.publish(encode(payload), topic, key=key.encode())

    async def publish_many(self, messages: Sequence[tuple[str, str, Any]]) -> None:
        """Publish (topic, key, payload) messages in order per partition, as one record batch per partition
        (`shared.kafka.BatchPublisher`), then await every acknowledgement: a batch costs one round trip, not one
        per message."""
        if self._producer is None:
            from .kafka import BatchPublisher, admin_kwargs

            self._producer = BatchPublisher(**admin_kwargs(self.settings))
        await self._producer.publish([(topic, key.encode(), encode(payload)) for topic, key, payload in messages])

    async def dead_letter(self, msg: StreamMessage[Any], reason: Reason, detail: str) -> None:
        """Send a message that can never succeed to this service's dead-letter topic, with the reason."""
        await self.dead_letter_record(msg.raw_message, reason, detail)

    async def dead_letter_record(self, record: Any, reason: Reason, detail: str) -> None:
        """The same for one record of a batch (an aiokafka ConsumerRecord)."""
        await dead_letter(
            self.broker,
            self.dlq_topic,
            service=self.service,
            reason=reason,
            detail=detail,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
        )

    async def health(self) -> dict[str, Any]:
        await self.mongo.admin.command("ping")
        await self.broker.ping(timeout=5)
        return {"status": "ok", "service": self.service, "database": self.database_use.snapshot()}

    def application(self, lifespan: Callable[[], Any]) -> AsgiFastStream:
        """The worker's FastStream application, its consumers and its probes (`probes`) in one process. Once the
        service's `lifespan` has set it up, the heap is settled (`settle_heap`) and its free memory given back to
        the system every `TRIM_SECONDS` (`return_free_memory`)."""

        @contextlib.asynccontextmanager
        async def settled() -> AsyncIterator[None]:
            async with lifespan():
                settle_heap()
                trimming = asyncio.create_task(return_free_memory())
                yield
                trimming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await trimming

        return AsgiFastStream(self.broker, asgi_routes=probes(self.health), lifespan=settled)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        await self.mongo.close()


Records = list[Any]
"""The body of a batch subscriber (`batch_options`): the batch's aiokafka `ConsumerRecord`s, undecoded."""


async def _records(msg: StreamMessage[Any]) -> Records:
    """A batch handler's body: its records as they came, read by the handler itself (FastStream need not decode
    every body). A handler takes them as its argument, not `msg: KafkaMessage`: FastStream resolves a message
    parameter from its context in a worker thread (fast_depends runs a synchronous resolver so): a thread hop per
    call, 6% of metering's py-spy samples under `make bench` (session 15)."""
    return list(msg.raw_message)


class ForgetOnRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Drops what a worker keeps between batches whenever its partitions change: a tenant it kept state for
    may have been another worker's meanwhile. (The writes are guarded by what the state was read at as well:
    this only spares the failed guard and the batch run again.)"""

    def __init__(self, forget: Callable[[], None]) -> None:
        self._forget = forget

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._forget()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._forget()


FETCH_MAX_BYTES = 2**20
"""The most one fetch of a hot consumer brings (`batch_options`): some 4,000 usage events, or debit lines. aiokafka
fetches again for each partition it has drained while it still holds the others' last fetch, so a worker holds up
to one fetch a partition: with 4 MiB, tracemalloc counted 25 MiB of fetched data and 25 MiB of records taken from
it in the wallet (six partitions, metering's messages of 2,000 events)."""


def batch_options(max_records: int = 500, timeout_ms: int = 20) -> dict[str, Any]:
    """Subscriber options of every hot consumer: up to `max_records` records a call (one transaction, one
    offset commit), at-least-once (the offsets are committed after the handler returns). The handler's
    argument is the batch's records (`Records`)."""
    from faststream import AckPolicy

    return {
        "batch": True,
        "max_records": max_records,
        "batch_timeout_ms": timeout_ms,
        # How long the broker may hold a fetch that finds nothing new. Kafka answers as soon as records arrive;
        # the embedded Tansu broker holds the fetch to this bound, so each hop added up to it to the latency
        # (p50 event -> balance at 5 events/s: 265-340 ms with Kafka's default 500, 51-75 ms with 100).
        "fetch_max_wait_ms": 100,
        # What one fetch may bring, over all the partitions it asks for: with Kafka's cap of each partition's
        # share (`max_partition_fetch_bytes`, 1 MiB), the bound of what a worker holds fetched and not yet handled.
        # The embedded Tansu broker ignores that cap and filled a fetch to aiokafka's default total of 50 MiB from
        # one partition (5.2 MB of 20 kB messages with the partition cap at 100 kB; 0.1 MB with this at 100 kB).
        "fetch_max_bytes": FETCH_MAX_BYTES,
        "decoder": _records,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
    }


async def for_each_record(worker: "Worker", records: list[Any], handle: Callable[[Any], Awaitable[None]]) -> None:
    """Handle a batch's records one after the other. The infrastructure failing stops the batch (it comes again
    after a pause; handlers are idempotent); anything else fails that record alone, which is dead-lettered with
    the reason while the records behind it are still handled."""
    for record in records:
        try:
            await handle(record)
        except TRANSIENT:
            raise
        except Exception as exc:
            log.exception("record_failed_dead_lettering", offset=record.offset, partition=record.partition)
            await worker.dead_letter_record(record, "processing_failed", f"{type(exc).__name__}: {exc}"[:2000])


def subscribe_directory(router: Any, worker: Worker, directory: Any, group: str) -> None:
    """Keep this service's copy of the tenant directory from the compacted `tenants` topic."""
    from faststream import AckPolicy
    from pydantic import ValidationError

    from schemas.tenants import TenantUpserted
    from schemas.topics import TENANTS

    @router.subscriber(  # type: ignore[untyped-decorator]
        TENANTS, group_id=f"{group}-directory", auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR
    )
    async def on_tenant(msg: KafkaMessage) -> None:
        try:
            tenant = TenantUpserted.model_validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        await directory.upsert(tenant)
