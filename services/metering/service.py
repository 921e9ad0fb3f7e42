"""Metering use case: raw usage message in; a priced debit command, or a rejection with its reason, out."""

from dataclasses import dataclass
from typing import Literal

from schemas.wallet import Debit
from shared.directory import TenantDirectory
from shared.idempotency import fingerprint

from .domain.model import Limits, PriceBook, Rejection
from .domain.rules import parse_usage, price
from .ports import Clock, UsageStore


def debit_command_id(event_id: str) -> str:
    return f"usage:{event_id}"


@dataclass(frozen=True)
class Outcome:
    status: Literal["priced", "duplicate", "rejected"]
    debit: Debit | None = None
    rejection: Rejection | None = None


@dataclass
class MeteringService:
    store: UsageStore
    directory: TenantDirectory
    clock: Clock
    price_book: PriceBook
    limits: Limits

    async def handle(self, raw: bytes) -> Outcome:
        now = self.clock()
        event = parse_usage(raw, now=now, limits=self.limits)
        if isinstance(event, Rejection):
            return Outcome("rejected", rejection=event)
        if await self.directory.get(event.tenant_id) is None:
            return Outcome("rejected", rejection=Rejection("unknown_tenant", f"no tenant {event.tenant_id!r}"))
        priced = price(event, self.price_book)
        if isinstance(priced, Rejection):
            return Outcome("rejected", rejection=priced)
        recorded = await self.store.record(event, fingerprint(event), priced, at=now)
        if recorded.status == "conflict":
            return Outcome(
                "rejected",
                rejection=Rejection(
                    "conflict", f"event id {event.event_id!r} was already received with another payload"
                ),
            )
        debit = Debit(
            command_id=debit_command_id(event.event_id),
            tenant_id=event.tenant_id,
            issued_at=now,
            amount=recorded.amount,
            entry_type=recorded.entry_type,
            occurred_at=event.occurred_at,
            site=event.site,
            personnel=event.personnel,
            source=f"usage.events:{event.event_id}",
        )
        return Outcome("priced" if recorded.status == "new" else "duplicate", debit=debit)
