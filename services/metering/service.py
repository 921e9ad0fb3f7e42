"""Metering use case: raw usage message in; a priced debit command, or a rejection with its reason, out."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from schemas.wallet import Debit
from shared.idempotency import fingerprint

from .domain.model import Limits, PriceBook, Priced, Rejection
from .domain.rules import parse_usage, price
from .ports import Clock, Directory, Prices, UsageStore


def debit_command_id(event_id: str) -> str:
    return f"usage:{event_id}"


def event_id_of(debit_command_id: str) -> str | None:
    return debit_command_id.removeprefix("usage:") if debit_command_id.startswith("usage:") else None


@dataclass(frozen=True)
class Outcome:
    status: Literal["priced", "duplicate", "rejected"]
    debit: Debit | None = None
    rejection: Rejection | None = None


@dataclass
class MeteringService:
    store: UsageStore
    directory: Directory
    prices: Prices
    clock: Clock
    price_book: PriceBook
    limits: Limits

    async def handle(self, raw: bytes) -> Outcome:
        now = self.clock()
        event = parse_usage(raw, now=now, limits=self.limits)
        if isinstance(event, Rejection):
            return Outcome("rejected", rejection=event)
        tenant = await self.directory.get(event.tenant_id)
        if tenant is None:
            return Outcome("rejected", rejection=Rejection("unknown_tenant", f"no tenant {event.tenant_id!r}"))
        book = self.price_book.with_versions(await self.prices.versions(event.tenant_id))
        anchor = tenant.billing_anchor
        checked = price(event, book, anchor=anchor)  # every rejection is known before the period's usage is read
        if isinstance(checked, Rejection):
            return Outcome("rejected", rejection=checked)

        def pricing(used_before: Decimal) -> Priced:
            priced = price(event, book, anchor=anchor, used_before=used_before)
            assert not isinstance(priced, Rejection)
            return priced

        recorded = await self.store.record(event, fingerprint(event), checked.period, pricing, at=now)
        if recorded.status == "conflict":
            return Outcome(
                "rejected",
                rejection=Rejection(
                    "conflict", f"event id {event.event_id!r} was already received with another payload"
                ),
            )
        if recorded.amount == 0:  # a free unit (a free tier, or rounded to nothing): counted, nothing to charge
            return Outcome("priced" if recorded.status == "new" else "duplicate")
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
