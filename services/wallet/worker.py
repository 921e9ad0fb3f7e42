"""Wallet handlers: wallet commands and payment outcomes in; wallet events, payment requests and spend state
out. Plus the expiry sweeper, which asks the wallet to expire buckets that are due."""

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from faststream.kafka import KafkaRouter
from pydantic import TypeAdapter, ValidationError

from schemas import topics
from schemas.payments import PaymentEvent, PaymentFailed, PaymentSucceeded
from schemas.wallet import Expire, WalletCommand
from shared.directory import TenantDirectory
from shared.metrics import WALLET_OUTCOMES
from shared.runtime import TRANSIENT, ForgetOnRebalance, Records, Worker, batch_options, subscribe_directory

from .adapters.mongo import MongoWalletStore
from .ports import Applied
from .service import WalletInput, WalletService, inputs_of

COMMAND = TypeAdapter[WalletCommand](WalletCommand)
PAYMENT = TypeAdapter[PaymentEvent](PaymentEvent)
log = structlog.get_logger()
T = TypeVar("T")
WALLET_PAYMENTS = ("purchase:", "recharge:")


def _id_of(command: WalletInput) -> str:
    return command.payment_id if isinstance(command, PaymentSucceeded | PaymentFailed) else command.command_id


def _count(outcomes: Iterable[Applied]) -> None:
    """Count the events of the applied commands, once per kind and batch (a metric's label lookup costs more than
    the increment). A duplicate's events were counted when it was applied."""
    kinds = Counter(e["event"].get("kind", "") for a in outcomes if a.status == "applied" for e in a.events)
    for kind, count in kinds.items():
        WALLET_OUTCOMES.labels(kind).inc(count)


def published(tenant_id: str, events: Iterable[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """(topic, key, event) of each event a command made, in order; a `debit.rejected` is also published alone on
    `wallet.rejections` (metering counts rejections there without reading the event every debit makes). Its
    stored marker keeps the events as made: a redelivered command publishes both again."""
    out: list[tuple[str, str, Any]] = []
    for e in events:
        out.append((e["topic"], tenant_id, e["event"]))
        if e["topic"] == topics.WALLET_EVENTS and e["event"].get("kind") == "debit.rejected":
            out.append((topics.WALLET_REJECTIONS, tenant_id, e["event"]))
    return out


def in_parts(groups: Iterable[list[T]], limit: int) -> Iterator[list[T]]:
    """The groups' items in order, in parts of at most `limit` items; a group is never split (one larger than
    `limit` is a part of its own). Groups are taken from `groups` as the parts are made, one ahead."""
    part: list[T] = []
    for group in groups:
        if part and len(part) + len(group) > limit:
            yield part
            part = []
        part += group
    if part:
        yield part


def _inputs(
    records: Iterable[Any], adapter: TypeAdapter[Any], accept: Any, invalid: list[tuple[Any, ValidationError]]
) -> Iterator[list[tuple[Any, WalletInput]]]:
    """Each record's inputs it accepts, read as they are asked for; a record its schema rejects goes to
    `invalid`."""
    for record in records:
        try:
            command = adapter.validate_json(record.value or b"")
        except ValidationError as exc:
            invalid.append((record, exc))
            continue
        yield [(record, c) for c in inputs_of(command) if accept(c)]


def build_router(
    worker: Worker,
    service: WalletService,
    directory: TenantDirectory,
    group: str,
    *,
    batch_size: int = 500,
    max_lines: int = 2000,
) -> KafkaRouter:
    router = KafkaRouter()
    batched: dict[str, Any] = batch_options(batch_size)

    async def apply(records: list[Any], commands: list[WalletInput]) -> None:
        """Apply, then publish every resulting event and each tenant's final spend state, then return (the
        offsets are committed after). A conflict goes to the dead-letter topic with its record."""
        record_of = {id(c): r for c, r in zip(commands, records, strict=True)}
        outcomes = await service.handle_batch(commands)
        out: list[tuple[str, str, Any]] = []
        final: dict[str, Any] = {}
        for command, applied in outcomes:
            if applied.status == "conflict":
                detail = f"{command.tenant_id}: {_id_of(command)} was applied with another payload"
                await worker.dead_letter_record(record_of[id(command)], "conflict", detail)
                continue
            out += published(command.tenant_id, applied.events)
            if applied.wallet is not None:
                final[command.tenant_id] = applied.wallet
        _count(a for _, a in outcomes)
        now = datetime.now(UTC)
        for tenant_id in {c.tenant_id for c, _ in outcomes}:
            wallet = final.get(tenant_id) or await service.store.wallet(tenant_id)
            out.append((topics.WALLET_SPEND_STATE, tenant_id, service.spend_state(wallet, now)))
        await worker.publish_many(out)

    async def apply_isolating(valid: list[tuple[Any, WalletInput]]) -> None:
        try:
            await apply([r for r, _ in valid], [c for _, c in valid])
        except TRANSIENT:
            raise  # the infrastructure: the whole batch is redelivered after a pause
        except Exception:
            # Something in this batch cannot be applied: go one command at a time, so that only the culprit
            # is dead-lettered and every valid command behind it is still applied.
            log.exception("batch_failed_isolating")
            for record, command in valid:
                try:
                    await apply([record], [command])
                except TRANSIENT:
                    raise
                except Exception as exc:
                    await worker.dead_letter_record(record, "processing_failed", f"{type(exc).__name__}: {exc}")

    async def handle(records: Records, adapter: TypeAdapter[Any], accept: Any) -> None:
        invalid: list[tuple[Any, ValidationError]] = []
        # A message of metering's carries up to 1,000 lines and a worker behind takes `batch_size` messages at once:
        # applied in parts of at most `max_lines`, each message read as its part is made, the worker's memory stays
        # bounded whatever it catches up on (`WalletSettings.batch_max_lines`).
        for part in in_parts(_inputs(records, adapter, accept, invalid), max_lines):
            await apply_isolating(part)
        for record, exc in invalid:
            await worker.dead_letter_record(record, "schema_violation", str(exc))

    kept = ForgetOnRebalance(service.store.forget_all) if isinstance(service.store, MongoWalletStore) else None

    @router.subscriber(topics.WALLET_COMMANDS, group_id=group, listener=kept, **batched)  # type: ignore[untyped-decorator]
    async def on_wallet_commands(records: Records) -> None:
        await handle(records, COMMAND, lambda _: True)

    @router.subscriber(topics.PAYMENTS_EVENTS, group_id=f"{group}-payments", **batched)  # type: ignore[untyped-decorator]
    async def on_payment_events(records: Records) -> None:
        # invoices are the subscriptions service's
        await handle(records, PAYMENT, lambda event: event.payment_id.startswith(WALLET_PAYMENTS))

    subscribe_directory(router, worker, directory, group)

    return router


async def expiry_sweeper(worker: Worker, store: MongoWalletStore, interval: float) -> None:
    """Every `interval` seconds, publish an `expire` command for each wallet with a bucket past its expiry.

    Debits expire due buckets themselves; the sweeper makes an idle wallet's balance drop on time too. The
    command id is the minute, so sweepers in several workers send the same command and it applies once.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            now = datetime.now(UTC)
            for tenant_id in await store.tenants_with_expiry_due(now):
                command = Expire(command_id=f"expire:{now:%Y%m%dT%H%M}", tenant_id=tenant_id, issued_at=now)
                await worker.publish(command, topics.WALLET_COMMANDS, key=tenant_id)
        except Exception:
            log.exception("expiry_sweep_failed")
