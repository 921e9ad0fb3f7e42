"""The tenant directory, published on the compacted `tenants` topic (key = tenant id)."""

from datetime import date
from typing import Literal

from pydantic import Field

from .common import Email, Label, TenantId, UtcDatetime, WireModel

Language = Literal["fr", "en"]
Role = Literal["admin", "member"]


class Member(WireModel):
    email: Email
    role: Role = "member"
    language: Language | None = None
    name: Label | None = None


class TenantUpserted(WireModel):
    """The full current state of one tenant; the newest revision wins."""

    kind: Literal["tenant.upserted"] = "tenant.upserted"
    schema_version: Literal[1] = 1
    tenant_id: TenantId
    revision: int = Field(ge=1, description="Monotonic per tenant; consumers ignore older revisions.")
    name: Label
    language: Language = "fr"
    members: tuple[Member, ...] = ()
    billing_anchor: date | None = Field(
        default=None,
        description="The day billing started: usage resets monthly on its day of month (else calendar months).",
    )
    updated_at: UtcDatetime

    def admins(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.role == "admin")
