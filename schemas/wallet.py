"""Wallet commands (on `wallet.commands`) and wallet events (on `wallet.events`), keyed by tenant id.

Every command carries an idempotency id (`command_id`): the wallet applies a command id once per tenant;
the same id again with the same content is a no-op, with different content a `conflict` (dead-lettered).
"""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .common import Email, EventId, Label, TenantId, UtcDatetime, WireModel
from .money import Credits

PositiveCredits = Annotated[Credits, Field(gt=0)]
NonNegativeCredits = Annotated[Credits, Field(ge=0)]
Reason = Annotated[str, Field(min_length=1, max_length=300)]
Description = Annotated[
    Annotated[str, Field(min_length=1, max_length=200)] | None,
    Field(
        description="What the ledger entry is for, for a person, in the tenant's language "
        '(e.g. "App d\'inspecteur frais mensuels", "SMS").'
    ),
]


class _Command(WireModel):
    schema_version: Literal[1] = 1
    command_id: EventId
    tenant_id: TenantId
    issued_at: UtcDatetime


class _DebitTerms(WireModel):
    """What a debit charges: the same whether it comes alone (`debit`) or as a line of `usage_debits`."""

    amount: PositiveCredits
    entry_type: Annotated[str, Field(min_length=1, max_length=64)]
    occurred_at: UtcDatetime
    site: Label | None = None
    personnel: Label | None = None
    source: Annotated[str, Field(max_length=300)] = Field(description="What caused it, e.g. usage event id.")
    description: Description = None


class Debit(_Command, _DebitTerms):
    """Charge metered usage. `entry_type` is what the ledger shows (sms, apf, document, ...)."""

    kind: Literal["debit"] = "debit"


class UsageLine(_DebitTerms):
    """One priced usage event of a `usage_debits` batch: a debit in all but the envelope it travels in."""

    command_id: EventId = Field(description="The debit's own idempotency id (`usage:<event id>`).")


class UsageDebits(_Command):
    """One tenant's priced usage from one metering batch, in order. Each line is applied exactly as a `debit`
    with the line's fields would be, and is idempotent by its own `command_id`: a line seen before (alone or in
    another batch, whatever the batch boundaries were) is a duplicate. The envelope's `command_id` names the
    batch for tracing only."""

    kind: Literal["usage_debits"] = "usage_debits"
    lines: Annotated[list[UsageLine], Field(min_length=1, max_length=1000)]

    def debits(self) -> list[Debit]:
        """The lines as the debit commands they stand for (already validated: built without validating again)."""
        return [
            Debit.model_construct(
                schema_version=1,
                kind="debit",
                tenant_id=self.tenant_id,
                issued_at=self.issued_at,
                **{name: getattr(line, name) for name in _LINE_FIELDS},
            )
            for line in self.lines
        ]


_LINE_FIELDS = tuple(UsageLine.model_fields)


class Fee(_Command):
    """A recurring fee (from subscriptions), shown in the ledger as `monthly_fee:<app>`."""

    kind: Literal["fee"] = "fee"
    app: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")]
    amount: PositiveCredits
    occurred_at: UtcDatetime
    site: Label | None = None
    personnel: Label | None = None
    source: Annotated[str, Field(max_length=300)]
    description: Description = None


class Grant(_Command):
    """Credits given: a plan's monthly allowance, promotional credits (both must expire) or purchased ones."""

    kind: Literal["grant"] = "grant"
    amount: PositiveCredits
    grant_kind: Literal["allowance", "promotional", "purchased"]
    priority: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="Lower is drawn first among buckets with the same expiry. Default by kind."
    )
    expires_at: UtcDatetime | None = None
    source: Reason
    granted_by: Label | None = None
    description: Description = None

    @model_validator(mode="after")
    def _expiring_kinds(self) -> "Grant":
        if self.grant_kind != "purchased" and self.expires_at is None:
            raise ValueError(f"{self.grant_kind} credits need expires_at")
        return self


class TopUp(_Command):
    """A purchase of credits by a tenant admin: refused unless `requested_by` is an admin of the tenant.

    The wallet asks the payment provider (`payment.requested`); credits arrive with `payment.succeeded`.
    """

    kind: Literal["topup"] = "topup"
    credits: PositiveCredits
    requested_by: Email


class Void(_Command):
    """Cancel an entry: a debit's credits go back to the buckets they came from; a credit's remainder goes."""

    kind: Literal["void"] = "void"
    entry_id: Annotated[str, Field(min_length=1, max_length=300)]
    reason: Reason
    by: Label | None = None


class Refund(_Command):
    """Give back part or all of a debit, to the buckets it drew from."""

    kind: Literal["refund"] = "refund"
    entry_id: Annotated[str, Field(min_length=1, max_length=300)]
    amount: PositiveCredits
    reason: Reason
    by: Label | None = None


class Adjustment(_Command):
    """An operator's correction, positive or negative (a negative one respects the policy floor)."""

    kind: Literal["adjustment"] = "adjustment"
    amount: Credits
    reason: Reason
    by: Label | None = None

    @model_validator(mode="after")
    def _not_zero(self) -> "Adjustment":
        if self.amount == 0:
            raise ValueError("an adjustment cannot be zero")
        return self


class Expire(_Command):
    """Expire whatever buckets are due now (sent by the wallet's own sweeper; any expiry is idempotent)."""

    kind: Literal["expire"] = "expire"


class AutoRechargeRule(WireModel):
    trigger: NonNegativeCredits = Field(description="Recharge when the balance falls below this.")
    mode: Literal["fixed", "target"] = Field(description="fixed: buy `amount`; target: top up to `amount`.")
    amount: PositiveCredits
    monthly_cap: PositiveCredits = Field(description="Most credits recharged per calendar month (UTC).")
    max_failures: Annotated[int, Field(ge=1, le=20)] = 3


class Configure(_Command):
    """Change a tenant's wallet settings; fields left out stay as they are."""

    kind: Literal["configure"] = "configure"
    policy: Literal["hard", "overdraft"] | None = None
    overdraft_limit: NonNegativeCredits | None = None
    thresholds: Annotated[list[Credits], Field(max_length=20)] | None = None
    auto_recharge: AutoRechargeRule | None = None
    disable_auto_recharge: bool = False
    credit_price: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=6)] | None = Field(
        default=None, description="Euros per credit (default 1)."
    )
    payment_method: Annotated[str, Field(max_length=100)] | None = None
    by: Label | None = None


WalletCommand = Annotated[
    Debit | UsageDebits | Fee | Grant | TopUp | Void | Refund | Adjustment | Expire | Configure,
    Field(discriminator="kind"),
]


class _Event(WireModel):
    schema_version: Literal[1] = 1
    event_id: EventId
    tenant_id: TenantId
    occurred_at: UtcDatetime


class Movement(WireModel):
    bucket_id: str
    amount: Credits


class EntryRecorded(_Event):
    kind: Literal["entry.recorded"] = "entry.recorded"
    entry_id: str
    entry_type: str
    amount: Credits
    balance_after: Credits
    command_id: str
    site: str | None = None
    personnel: str | None = None
    reference: str | None = None
    description: str | None = None
    movements: list[Movement] = Field(default_factory=list)


class DebitRejected(_Event):
    kind: Literal["debit.rejected"] = "debit.rejected"
    command_id: str
    amount: Credits
    balance: Credits
    reason: Literal["insufficient_credits"]


class CommandRefused(_Event):
    kind: Literal["command.refused"] = "command.refused"
    command_id: str
    reason: Literal[
        "not_an_admin",
        "unknown_tenant",
        "unknown_entry",
        "not_reversible",
        "already_voided",
        "exceeds_refundable",
        "below_floor",
        "invalid_grant",
        "unknown_payment",
        "invalid_settings",
    ]
    detail: str


class ThresholdCrossed(_Event):
    """The balance went below `threshold` (for threshold 0: reached 0 or less). Once per crossing."""

    kind: Literal["threshold.crossed"] = "threshold.crossed"
    direction: Literal["down"] = "down"
    threshold: Credits
    balance: Credits


class ThresholdRecovered(_Event):
    kind: Literal["threshold.recovered"] = "threshold.recovered"
    direction: Literal["up"] = "up"
    threshold: Credits
    balance: Credits


class TopUpRequested(_Event):
    """A purchase or an automatic recharge was sent to the payment provider."""

    kind: Literal["topup.requested"] = "topup.requested"
    payment_id: str
    credits: Credits
    amount_minor: int
    currency: Literal["EUR"] = "EUR"
    purpose: Literal["purchase", "auto_recharge"]
    requested_by: str | None


class TopUpSucceeded(_Event):
    """A purchase or an automatic recharge was paid and its credits added (the entry is `entry.recorded`)."""

    kind: Literal["topup.succeeded"] = "topup.succeeded"
    payment_id: str
    credits: Credits
    amount_minor: int
    currency: Literal["EUR"] = "EUR"
    purpose: Literal["purchase", "auto_recharge"]
    balance_after: Credits


class TopUpFailed(_Event):
    """The payment of a purchase or recharge failed; after N failed recharges in a row the rule is disabled."""

    kind: Literal["topup.failed"] = "topup.failed"
    payment_id: str
    credits: Credits
    purpose: Literal["purchase", "auto_recharge"]
    reason: str
    consecutive_failures: int
    auto_recharge_disabled: bool


class SettingsChanged(_Event):
    kind: Literal["settings.changed"] = "settings.changed"
    command_id: str
    changed: list[str]
    by: str | None


WalletEvent = Annotated[
    EntryRecorded
    | DebitRejected
    | CommandRefused
    | ThresholdCrossed
    | ThresholdRecovered
    | TopUpRequested
    | TopUpSucceeded
    | TopUpFailed
    | SettingsChanged,
    Field(discriminator="kind"),
]


class SpendState(WireModel):
    """Latest spend state of a tenant, on the compacted `wallet.spend-state` topic. Producers gate on it."""

    tenant_id: TenantId
    can_spend: bool
    balance: Credits
    floor: Credits = Field(default=Decimal(0), description="The policy's floor: 0, or -limit under an overdraft.")
    as_of: UtcDatetime
    version: int
