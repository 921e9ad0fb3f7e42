"""May this tenant spend N units of a meter now? Answered from memory: the wallet's latest spend state and the
tenants' price versions, both projected from compacted topics (`wallet.spend-state`, `metering.prices`) by
whoever holds a `SpendView` (the API). No database read, no Kafka round trip per question.

Staleness: the answer is as fresh as the last spend state received; the wallet publishes one after every
command it applies, so the view trails the ledger by the consumer's lag (milliseconds to a few hundred
milliseconds on the local stack; `as_of` in the answer says which state it used). A debit that the wallet
has not applied yet is not counted, so the check can say yes to two producers who together overspend; the
wallet's hard policy still refuses what does not fit (`debit.rejected`). For graduated tiers the units are
priced as if they were the period's first, the dearest when prices fall with volume."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.prices import PriceSet
from schemas.usage import UsageEvent
from schemas.wallet import SpendState
from services.metering.adapters.prices import meter_price_from
from services.metering.domain.model import DEFAULT_PRICE_BOOK, MeterPrice, Rejection
from services.metering.domain.rules import price


@dataclass
class SpendView:
    states: dict[str, SpendState] = field(default_factory=dict)
    prices: dict[str, dict[str, list[MeterPrice]]] = field(default_factory=dict)

    def on_spend_state(self, state: SpendState) -> None:
        current = self.states.get(state.tenant_id)
        if current is None or state.version >= current.version:
            self.states[state.tenant_id] = state

    def on_price(self, change: PriceSet) -> None:
        tenant = self.prices.setdefault(change.tenant_id, {})
        versions = [v for v in tenant.get(change.meter, []) if v.effective_from != change.effective_from]
        tenant[change.meter] = [*versions, meter_price_from(change)]

    def check(
        self, tenant_id: str, meter: str, quantity: Decimal, properties: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """{allowed, cost, balance, floor, as_of} or {allowed: False, reason} (unknown meter, no wallet yet)."""
        now = datetime.now(UTC)
        event = UsageEvent(
            event_id="spend-check",
            tenant_id=tenant_id,
            type=meter,
            quantity=quantity,
            occurred_at=now,
            properties=properties or {},
        )
        priced = price(event, DEFAULT_PRICE_BOOK.with_versions(self.prices.get(tenant_id, {})))
        if isinstance(priced, Rejection):
            return {"allowed": False, "reason": priced.reason, "detail": priced.detail}
        state = self.states.get(tenant_id)
        if state is None:
            return {
                "allowed": False,
                "reason": "insufficient_credits",
                "detail": "the tenant has no credits yet",
                "cost": _plain(priced.amount),
                "balance": "0",
                "as_of": None,
            }
        left = state.balance - priced.amount
        return {
            "allowed": left >= state.floor,
            "reason": None if left >= state.floor else "insufficient_credits",
            "cost": _plain(priced.amount),
            "balance": _plain(state.balance),
            "floor": _plain(state.floor),
            "as_of": state.as_of.isoformat(),
        }


def _plain(amount: Decimal) -> str:
    """Credits as the rest of the API writes them: 0.3, 12, -5 (exact, no trailing zeros)."""
    return format(amount.normalize(), "f") if amount else "0"
