"""Wallet use cases: turn a wire command into a domain request, decide, apply exactly once, return wire events."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas import payments, topics
from schemas import wallet as wire
from schemas.money import from_micros, repeated_json_credits, repeated_micros, to_micros
from shared.frozen import built
from shared.idempotency import fingerprint, fingerprint_fields

from .batch import Item
from .domain import events as ev
from .domain import model as m
from .domain.rules import Outcome, decide
from .entry_event import entry_recorded
from .ports import Admins, Applied, Clock, WalletStore

Published = dict[str, Any]
"""One message to publish: {"topic": ..., "event": <json payload>}."""


def credit_price_micros(price: Decimal) -> int:
    return int(price * m.MICRO_EUR)


def to_request(command: Any) -> m.Request:
    """The domain request a wire command asks for. Amounts become integer micro-credits here, exactly."""
    match command:
        case wire.Debit():
            return m.DebitRequest(
                command.command_id,
                to_micros(command.amount),
                command.entry_type,
                command.occurred_at,
                command.source,
                command.site,
                command.personnel,
                command.description,
            )
        case wire.Fee():
            return m.DebitRequest(
                command.command_id,
                to_micros(command.amount),
                f"monthly_fee:{command.app}",
                command.occurred_at,
                command.source,
                command.site,
                command.personnel,
                command.description,
            )
        case wire.Grant():
            return m.GrantRequest(
                command.command_id,
                to_micros(command.amount),
                command.grant_kind,
                command.source,
                command.priority,
                command.expires_at,
                command.granted_by,
                command.description,
            )
        case wire.TopUp():
            return m.PurchaseRequest(command.command_id, to_micros(command.credits), command.requested_by)
        case wire.Void():
            return m.VoidRequest(command.command_id, command.entry_id, command.reason, command.by)
        case wire.Refund():
            return m.RefundRequest(
                command.command_id, command.entry_id, to_micros(command.amount), command.reason, command.by
            )
        case wire.Adjustment():
            return m.AdjustmentRequest(command.command_id, to_micros(command.amount), command.reason, command.by)
        case wire.Expire():
            return m.ExpireRequest(command.command_id)
        case wire.Configure():
            return _configure_request(command)
        case payments.PaymentSucceeded():
            return m.PaymentOutcome(command.payment_id, succeeded=True)
        case payments.PaymentFailed():
            return m.PaymentOutcome(command.payment_id, succeeded=False, reason=command.reason)
    raise TypeError(f"not a wallet command: {type(command).__name__}")


def _configure_request(command: wire.Configure) -> m.ConfigureRequest:
    changes: dict[str, Any] = {}
    if command.policy is not None or command.overdraft_limit is not None:
        kind = command.policy or ("overdraft" if command.overdraft_limit else "hard")
        changes["policy"] = m.Policy(
            kind, to_micros(command.overdraft_limit or Decimal(0)) if kind == "overdraft" else 0
        )
    if command.thresholds is not None:
        changes["thresholds"] = tuple(to_micros(t) for t in command.thresholds)
    if command.disable_auto_recharge:
        changes["auto_recharge"] = None
    elif (rule := command.auto_recharge) is not None:
        changes["auto_recharge"] = m.AutoRecharge(
            to_micros(rule.trigger), rule.mode, to_micros(rule.amount), to_micros(rule.monthly_cap), rule.max_failures
        )
    if command.credit_price is not None:
        changes["credit_price"] = credit_price_micros(command.credit_price)
    if command.payment_method is not None:
        changes["payment_method"] = command.payment_method
    return m.ConfigureRequest(command.command_id, by=command.by, **changes)


def to_wire(tenant_id: str, at: datetime, outcome: Outcome) -> list[Published]:
    """Wire events with ids derived from the ledger entry or command id, so a replay repeats them exactly."""
    out: list[Published] = []

    def emit(event: Any, topic: str = topics.WALLET_EVENTS) -> None:
        out.append({"topic": topic, "event": event.model_dump(mode="json")})

    for event in outcome.events:
        match event:
            case ev.EntryRecorded(entry=entry):
                out.append({"topic": topics.WALLET_EVENTS, "event": entry_recorded(tenant_id, at, entry)})
            case ev.DebitRejected():
                emit(
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
                emit(
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
                emit(
                    wire.ThresholdCrossed(
                        event_id=f"{event.entry_id}:threshold:{event.threshold}:down",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        threshold=from_micros(event.threshold),
                        balance=from_micros(event.balance),
                    )
                )
            case ev.ThresholdRecovered():
                emit(
                    wire.ThresholdRecovered(
                        event_id=f"{event.entry_id}:threshold:{event.threshold}:up",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        threshold=from_micros(event.threshold),
                        balance=from_micros(event.balance),
                    )
                )
            case ev.PaymentRequested():
                emit(
                    payments.PaymentRequested(
                        payment_id=event.payment_id,
                        tenant_id=tenant_id,
                        amount_minor=event.amount_minor,
                        credits=from_micros(event.credits),
                        purpose=event.purpose,
                        requested_by=event.requested_by,
                        payment_method=event.payment_method,
                        requested_at=at,
                    ),
                    topics.PAYMENTS_REQUESTS,
                )
                emit(
                    wire.TopUpRequested(
                        event_id=f"requested:{event.payment_id}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        payment_id=event.payment_id,
                        credits=from_micros(event.credits),
                        amount_minor=event.amount_minor,
                        purpose=event.purpose,
                        requested_by=event.requested_by,
                    )
                )
            case ev.PaymentSucceeded():
                emit(
                    wire.TopUpSucceeded(
                        event_id=f"succeeded:{event.payment_id}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        payment_id=event.payment_id,
                        credits=from_micros(event.credits),
                        amount_minor=event.amount_minor,
                        purpose=event.purpose,
                        balance_after=from_micros(event.balance_after),
                    )
                )
            case ev.PaymentFailed():
                emit(
                    wire.TopUpFailed(
                        event_id=f"failed:{event.payment_id}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        payment_id=event.payment_id,
                        credits=from_micros(event.credits),
                        purpose=event.purpose,
                        reason=event.reason,
                        consecutive_failures=event.consecutive_failures,
                        auto_recharge_disabled=event.auto_recharge_disabled,
                    )
                )
            case ev.SettingsChanged():
                emit(
                    wire.SettingsChanged(
                        event_id=f"settings:{tenant_id}:{event.command_id}",
                        tenant_id=tenant_id,
                        occurred_at=at,
                        command_id=event.command_id,
                        changed=list(event.changed),
                        by=event.by,
                    )
                )
    return out


@dataclass(frozen=True)
class LineDebit:
    """One line of a metering batch (`usage_debits`), applied as the `debit` it stands for: the same request and
    the same fingerprint as that debit sent alone (a contract test holds them equal), without making a model of
    each line."""

    tenant_id: str
    line: wire.UsageLine

    @property
    def command_id(self) -> str:
        return self.line.command_id

    def request(self) -> m.DebitRequest:
        line = self.line
        return built(m.DebitRequest, {
            "command_id": line.command_id, "amount": repeated_micros(line.amount), "entry_type": line.entry_type,
            "occurred_at": line.occurred_at, "source": line.source, "site": line.site, "personnel": line.personnel,
            "description": line.description,
        })  # fmt: skip

    def fingerprint(self) -> str:
        """The debit's: its JSON data with `issued_at` left out, as `_item` fingerprints every command. From the
        line's fields, the amount written as the schema writes it (`fingerprint_fields`; a line and the envelope's
        text and integer hold no float)."""
        line = self.line
        amount = repeated_json_credits(line.amount)
        fields = {**line.__dict__, "amount": amount, **_DEBIT_ENVELOPE, "tenant_id": self.tenant_id}
        return fingerprint_fields(fields)


_DEBIT_ENVELOPE = {"schema_version": 1, "kind": "debit"}


def inputs_of(command: Any) -> "list[WalletInput]":
    """What one message asks the wallet to apply: itself, or each line of a metering batch."""
    if isinstance(command, wire.UsageDebits):
        return [LineDebit(command.tenant_id, line) for line in command.lines]
    return [command]


WalletInput = (
    LineDebit
    | wire.Debit
    | wire.Fee
    | wire.Grant
    | wire.TopUp
    | wire.Void
    | wire.Refund
    | wire.Adjustment
    | wire.Expire
    | wire.Configure
    | payments.PaymentSucceeded
    | payments.PaymentFailed
)


@dataclass
class WalletService:
    store: WalletStore
    directory: Admins
    clock: Clock

    async def handle(self, command: WalletInput) -> Applied:
        [(_, applied)] = await self.handle_batch([command])
        return applied

    async def handle_batch(self, commands: list[WalletInput]) -> list[tuple[WalletInput, Applied]]:
        """Apply commands in their order; each tenant's run in one transaction. Returns them with outcomes,
        grouped by tenant (each tenant's in order)."""
        at = self.clock()
        runs: dict[str, list[WalletInput]] = {}
        for command in commands:
            runs.setdefault(command.tenant_id, []).append(command)
        batch = [(tenant_id, [await self._item(c, at) for c in run]) for tenant_id, run in runs.items()]
        results = await self.store.apply_runs(batch, at=at)
        done: list[tuple[WalletInput, Applied]] = []
        for run, applied in zip(runs.values(), results, strict=True):
            done += zip(run, applied, strict=True)
        return done

    async def _item(self, command: WalletInput, at: datetime) -> Item:
        tenant_id = command.tenant_id
        if isinstance(command, LineDebit):
            return self._line_item(command, at)
        request = to_request(command)
        on_behalf = isinstance(request, m.ConfigureRequest) and request.by is not None
        needs_admins = isinstance(request, m.PurchaseRequest) or on_behalf
        admins = await self.directory.admins(tenant_id) if needs_admins else None
        target = request.target_entry_id if isinstance(request, m.VoidRequest | m.RefundRequest) else None
        exclude = (
            {"issued_at"}
            if not isinstance(command, payments.PaymentSucceeded | payments.PaymentFailed)
            else {"occurred_at"}
        )

        def decide_one(wallet: m.Wallet, entry: m.LedgerEntry | None) -> Outcome:
            return decide(wallet, request, at=at, admins=admins, target=entry)

        def wire_of(outcome: Outcome) -> list[Published]:
            return to_wire(tenant_id, at, outcome)

        return Item(
            request.command_id,
            fingerprint(command.model_dump(mode="json", exclude=exclude)),
            decide_one,
            wire_of,
            target,
        )

    @staticmethod
    def _line_item(command: LineDebit, at: datetime) -> Item:
        request, tenant_id = command.request(), command.tenant_id

        def decide_one(wallet: m.Wallet, entry: m.LedgerEntry | None) -> Outcome:
            return decide(wallet, request, at=at)

        def wire_of(outcome: Outcome) -> list[Published]:
            return to_wire(tenant_id, at, outcome)

        return built(Item, {"command_id": request.command_id, "fingerprint": command.fingerprint(),
                              "decide": decide_one, "to_wire": wire_of, "target_entry_id": None})  # fmt: skip

    def spend_state(self, wallet: m.Wallet, at: datetime) -> wire.SpendState:
        return wire.SpendState(
            tenant_id=wallet.tenant_id,
            can_spend=wallet.balance > wallet.policy.floor,
            balance=from_micros(wallet.balance),
            floor=from_micros(wallet.policy.floor),
            as_of=at,
            version=wallet.version,
        )
