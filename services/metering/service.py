"""Metering use case: raw usage message in; a priced debit command, or a rejection with its reason, out."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from schemas.common import json_time
from schemas.money import repeated_json_credits
from schemas.usage import UsageEvent
from shared.frozen import built
from shared.idempotency import fingerprint_fields

from .domain.model import Limits, PriceBook, Priced, Rejection, meter_name
from .domain.rules import parse_usage, price
from .ports import Clock, Directory, Prices, Recorded, ToRecord, UsageStore

MAX_LINES = 1000
"""Lines per `usage_debits` command at most (its schema's bound)."""


def debit_command_id(event_id: str) -> str:
    return f"usage:{event_id}"


def event_id_of(debit_command_id: str) -> str | None:
    return debit_command_id.removeprefix("usage:") if debit_command_id.startswith("usage:") else None


@dataclass(frozen=True)
class Outcome:
    status: Literal["priced", "duplicate", "rejected"]
    debit: dict[str, Any] | None = None
    """What to charge the event's tenant (`tenant_id`), if anything: the JSON data of a `UsageLine` of the
    batch's `usage_debits`."""
    rejection: Rejection | None = None
    tenant_id: str = ""


def usage_debits(outcomes: Sequence[Outcome], *, at: datetime) -> list[dict[str, Any]]:
    """A batch's debits as one wallet command per tenant, each tenant's lines in the order of its events (the
    wallet applies them in that order: tiers and thresholds see them as they happened). Redelivered in other
    batches, the lines are still recognised one by one: their command ids are the events'."""
    lines: dict[str, list[dict[str, Any]]] = {}
    for outcome in outcomes:
        if outcome.debit is not None:
            lines.setdefault(outcome.tenant_id, []).append(outcome.debit)
    commands = []
    for tenant_id, run in lines.items():
        for start in range(0, len(run), MAX_LINES):
            chunk = run[start : start + MAX_LINES]
            ends = f"{chunk[0]['command_id']}|{chunk[-1]['command_id']}|{len(chunk)}"
            name = hashlib.sha256(ends.encode()).hexdigest()[:32]
            commands.append({"schema_version": 1, "kind": "usage_debits", "command_id": f"usage-batch:{name}",
                             "tenant_id": tenant_id, "issued_at": json_time(at), "lines": chunk})  # fmt: skip
    return commands


def event_fingerprint(event: UsageEvent) -> str:
    """`fingerprint(event)` (its JSON data, the usage record keeps it): from its fields, the quantity written as the
    schema writes a decimal (`fingerprint_fields`; a usage event holds no float)."""
    return fingerprint_fields({**event.__dict__, "quantity": str(event.quantity)})


@dataclass
class MeteringService:
    store: UsageStore
    directory: Directory
    prices: Prices
    clock: Clock
    price_book: PriceBook
    limits: Limits

    async def handle(self, raw: bytes) -> Outcome:
        [outcome] = await self.handle_batch([raw])
        return outcome

    async def handle_batch(self, raws: list[bytes]) -> list[Outcome]:
        """Validate, price and record a batch of raw messages; one outcome per message, in order. Each
        tenant's events are recorded in one transaction, in their order (tiers count earlier units)."""
        now = self.clock()
        outcomes: list[Outcome | None] = [None] * len(raws)
        runs: dict[str, list[tuple[int, UsageEvent, ToRecord]]] = {}
        parsed = [parse_usage(raw, now=now, limits=self.limits) for raw in raws]
        # The batch's tenants and their prices: one read each for the whole batch, not one per tenant.
        wanted = list(dict.fromkeys(e.tenant_id for e in parsed if not isinstance(e, Rejection)))
        tenants = await self.directory.get_many(wanted) if wanted else {}
        versions = await self.prices.versions_of(list(tenants)) if tenants else {}
        books = {t: self.price_book.with_versions(v) for t, v in versions.items()}
        for index, event in enumerate(parsed):
            if isinstance(event, Rejection):
                outcomes[index] = Outcome("rejected", rejection=event)
                continue
            tenant = tenants.get(event.tenant_id)
            if tenant is None:
                outcomes[index] = Outcome(
                    "rejected", rejection=Rejection("unknown_tenant", f"no tenant {event.tenant_id!r}")
                )
                continue
            book, anchor = books[event.tenant_id], tenant.billing_anchor
            checked = price(event, book, anchor=anchor)  # every rejection is known before the period is read
            if isinstance(checked, Rejection):
                outcomes[index] = Outcome("rejected", rejection=checked)
                continue
            pricing = _pricing(event, book, anchor, checked)
            item = built(ToRecord, {"event": event, "fingerprint": event_fingerprint(event), "period": checked.period,
                                    "pricing": pricing, "tiered": checked.tiered})  # fmt: skip
            runs.setdefault(event.tenant_id, []).append((index, event, item))
        batch = [(tenant_id, [item for _, _, item in run]) for tenant_id, run in runs.items()]
        recorded_runs = await self.store.record_runs(batch, at=now) if batch else []
        for run, recorded in zip(runs.values(), recorded_runs, strict=True):
            for (index, event, _), result in zip(run, recorded, strict=True):
                outcomes[index] = self._outcome(event, result, now, tenants[event.tenant_id].language)
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _outcome(event: UsageEvent, recorded: Recorded, now: datetime, language: str) -> Outcome:
        if recorded.status == "conflict":
            detail = f"event id {event.event_id!r} was already received with another payload"
            return Outcome("rejected", rejection=Rejection("conflict", detail))
        status: Literal["priced", "duplicate"] = "priced" if recorded.status == "new" else "duplicate"
        if recorded.amount == 0:  # a free unit (a free tier, or rounded to nothing): counted, nothing to charge
            return Outcome(status)
        # The line's JSON data, from values already validated (the event) and priced (the amount, > 0): no model
        # to build and dump per event; a contract test holds it to the `UsageLine` schema, and the wallet
        # validates what it receives.
        line = {
            "command_id": debit_command_id(event.event_id),
            "amount": repeated_json_credits(recorded.amount),
            "entry_type": recorded.entry_type,
            "occurred_at": json_time(event.occurred_at),
            "site": event.site,
            "personnel": event.personnel,
            "source": f"usage.events:{event.event_id}",
            "description": meter_name(event.type, language),
        }
        return built(Outcome, {"status": status, "debit": line, "rejection": None, "tenant_id": event.tenant_id})


def _pricing(event: UsageEvent, book: PriceBook, anchor: date | None, first: Priced) -> Callable[[Decimal], Priced]:
    """The event's price given the units its period had before it. `first` is its price with none before: the
    answer whenever nothing came before or its meter has no tiers (only tiers look at earlier units)."""

    def pricing(used_before: Decimal) -> Priced:
        if not used_before or not first.tiered:
            return first
        priced = price(event, book, anchor=anchor, used_before=used_before)
        assert not isinstance(priced, Rejection)
        return priced

    return pricing
