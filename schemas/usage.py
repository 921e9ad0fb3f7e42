"""The usage event: what a producer app publishes on `usage.events`, keyed by tenant id."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .common import EventId, Label, TenantId, UtcDatetime, WireModel

MeterCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]
PropertyValue = str | int | bool | None


class UsageEvent(WireModel):
    """One metered action. `event_id` is the idempotency key: publish it again freely, it is charged once."""

    schema_version: Literal[1] = 1
    event_id: EventId
    tenant_id: TenantId
    type: MeterCode = Field(description="Meter code, e.g. 'sms', 'apf', 'document', 'data_purchase'.")
    quantity: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6, allow_inf_nan=False)]
    occurred_at: UtcDatetime
    site: Label | None = None
    personnel: Label | None = None
    properties: dict[Annotated[str, StringConstraints(max_length=64)], PropertyValue] = Field(
        default_factory=dict, max_length=32
    )
