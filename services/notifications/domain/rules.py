"""Who is told, and about what."""

from decimal import Decimal
from typing import Any

from schemas.tenants import TenantUpserted

from .model import Delivery, Notice, Recipient, Template


def notice_for(event: dict[str, Any], tenant_name: str) -> Notice | None:
    """The e-mail a wallet event deserves, if any. Entries themselves are not e-mailed."""
    kind = event.get("kind")
    common = {"event_id": event["event_id"], "tenant_id": event["tenant_id"], "tenant_name": tenant_name}
    if kind == "threshold.crossed":
        threshold = Decimal(event["threshold"])
        template: Template = "depleted" if threshold <= 0 else "low_balance"
        return Notice(template=template, balance=Decimal(event["balance"]), threshold=threshold, **common)
    if kind == "threshold.recovered" and Decimal(event["threshold"]) <= 0:
        return Notice(template="recovered", balance=Decimal(event["balance"]), threshold=Decimal(0), **common)
    return None


def recipients(tenant: TenantUpserted) -> list[Recipient]:
    """The tenant's admins only, each in their own language or else the tenant's."""
    return [Recipient(email=m.email, language=m.language or tenant.language, name=m.name) for m in tenant.admins()]


def deliveries(notice: Notice, tenant: TenantUpserted) -> list[Delivery]:
    if notice.tenant_id != tenant.tenant_id:
        raise ValueError("a notice is only ever sent to its own tenant's admins")
    return [Delivery(f"{tenant.tenant_id}|{notice.event_id}|{r.email}", notice, r) for r in recipients(tenant)]
