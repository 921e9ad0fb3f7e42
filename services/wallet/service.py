"""Wallet use cases: turn a wire command into a pure decision, apply it exactly once, return wire events."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import wallet as wire
from schemas.money import from_micros, to_micros
from shared.directory import TenantDirectory
from shared.idempotency import fingerprint

from .domain import events as ev
from .domain import rules
from .domain.model import DebitRequest, TopUpRequest, Wallet
from .ports import Applied, Clock, WalletStore


def to_wire(tenant_id: str, at: datetime, wallet: Wallet, events: list[ev.Event]) -> list[dict[str, Any]]:
    """Wire events with ids derived from the ledger entry or command id, so a replay repeats them exactly."""
    out: list[
        wire.EntryRecorded | wire.DebitRejected | wire.CommandRefused | wire.ThresholdCrossed | wire.ThresholdRecovered
    ] = []
    for event in events:
        match event:
            case ev.EntryRecorded(entry=entry):
                out.append(
                    wire.EntryRecorded(
                        event_id=entry.entry_id,
                        tenant_id=tenant_id,
                        occurred_at=at,
                        entry_id=entry.entry_id,
                        entry_type=entry.entry_type,
                        amount=from_micros(entry.amount),
                        balance_after=from_micros(entry.balance_after),
                        command_id=entry.command_id,
                    )
                )
            case ev.DebitRejected():
                out.append(
                    wire.DebitRejected(
                        event_id=f"rejected:{tenant_id}:{event.command_id}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        command_id=event.command_id,
                        amount=from_micros(event.amount),
                        balance=from_micros(event.balance),
                        reason=event.reason,
                    )
                )
            case ev.CommandRefused():
                out.append(
                    wire.CommandRefused(
                        event_id=f"refused:{tenant_id}:{event.command_id}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        command_id=event.command_id,
                        reason=event.reason,
                        detail=event.detail,
                    )
                )
            case ev.ThresholdCrossed():
                out.append(
                    wire.ThresholdCrossed(
                        event_id=f"{event.entry_id}:threshold:{event.threshold}:down",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        threshold=from_micros(event.threshold),
                        balance=from_micros(event.balance),
                    )
                )
            case ev.ThresholdRecovered():
                out.append(
                    wire.ThresholdRecovered(
                        event_id=f"{event.entry_id}:threshold:{event.threshold}:up",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        threshold=from_micros(event.threshold),
                        balance=from_micros(event.balance),
                    )
                )
    return [e.model_dump(mode="json") for e in out]


@dataclass
class WalletService:
    store: WalletStore
    directory: TenantDirectory
    clock: Clock

    async def handle(self, command: wire.Debit | wire.TopUp) -> Applied:
        at = self.clock()
        tenant_id = command.tenant_id
        if isinstance(command, wire.Debit):
            request = DebitRequest(
                command_id=command.command_id,
                amount=to_micros(command.amount),
                entry_type=command.entry_type,
                occurred_at=command.occurred_at,
                source=command.source,
                site=command.site,
                personnel=command.personnel,
            )

            def decide(wallet: Wallet) -> tuple[Wallet, list[ev.Event]]:
                return rules.debit(wallet, request, at=at)
        else:
            admins = await self.directory.admins(tenant_id)
            topup = TopUpRequest(command.command_id, to_micros(command.credits), command.requested_by)

            def decide(wallet: Wallet) -> tuple[Wallet, list[ev.Event]]:
                return rules.top_up(wallet, topup, admins=admins, at=at)

        return await self.store.apply(
            tenant_id,
            command.command_id,
            fingerprint(command.model_dump(mode="json", exclude={"issued_at"})),
            decide,
            lambda wallet, events: to_wire(tenant_id, at, wallet, events),
            at=at,
        )

    def spend_state(self, wallet: Wallet, at: datetime) -> wire.SpendState:
        return wire.SpendState(
            tenant_id=wallet.tenant_id,
            can_spend=wallet.balance > wallet.policy.floor,
            balance=from_micros(wallet.balance),
            as_of=at,
            version=wallet.version,
        )
