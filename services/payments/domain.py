"""The sandbox payment provider's one rule: which payment methods succeed.

Like Stripe's test cards, the payment method decides the outcome, so a tenant can be set up to see a
declined card (`creditflow wallet payment-method TENANT pm_card_chargeDeclined`). No I/O here.
"""

from datetime import datetime

from schemas.payments import PaymentFailed, PaymentRequested, PaymentSucceeded

DECLINING_METHODS: dict[str, str] = {
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
}
"""Payment methods the sandbox declines, with the reason; every other method (or none) is charged."""


def charge(request: PaymentRequested, *, at: datetime) -> PaymentSucceeded | PaymentFailed:
    reason = DECLINING_METHODS.get(request.payment_method or "")
    if reason is not None:
        return PaymentFailed(payment_id=request.payment_id, tenant_id=request.tenant_id, reason=reason, occurred_at=at)
    return PaymentSucceeded(
        payment_id=request.payment_id,
        tenant_id=request.tenant_id,
        amount_minor=request.amount_minor,
        currency=request.currency,
        occurred_at=at,
    )
