"""The payment provider's contract: `payment.requested` on `payments.requests`, outcomes on
`payments.events`. Keyed by tenant id. Amounts are integer minor units (cents) of `currency`.

In production an adapter speaks to the real provider (Stripe, Adyen, Mollie); locally the sandbox
provider (`services/payments`) answers every request.
"""

from typing import Annotated, Literal

from pydantic import Field

from .common import EventId, TenantId, UtcDatetime, WireModel
from .money import Credits


class PaymentRequested(WireModel):
    schema_version: Literal[1] = 1
    kind: Literal["payment.requested"] = "payment.requested"
    payment_id: EventId = Field(description="Idempotency key: the provider charges a payment id at most once.")
    tenant_id: TenantId
    amount_minor: Annotated[int, Field(gt=0)]
    currency: Literal["EUR"] = "EUR"
    credits: Credits | None = Field(default=None, description="Credits bought, for a purchase or recharge.")
    purpose: Literal["purchase", "auto_recharge", "invoice"]
    invoice_number: str | None = None
    requested_by: str | None
    payment_method: str | None = Field(description="The tenant's payment method at the provider, if known.")
    requested_at: UtcDatetime


class PaymentSucceeded(WireModel):
    schema_version: Literal[1] = 1
    kind: Literal["payment.succeeded"] = "payment.succeeded"
    payment_id: EventId
    tenant_id: TenantId
    amount_minor: int
    currency: Literal["EUR"] = "EUR"
    occurred_at: UtcDatetime


class PaymentFailed(WireModel):
    schema_version: Literal[1] = 1
    kind: Literal["payment.failed"] = "payment.failed"
    payment_id: EventId
    tenant_id: TenantId
    reason: Annotated[str, Field(max_length=200)]
    occurred_at: UtcDatetime


PaymentEvent = Annotated[PaymentSucceeded | PaymentFailed, Field(discriminator="kind")]
