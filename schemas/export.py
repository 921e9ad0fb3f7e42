"""Generate the checked-in JSON Schema files: `python -m schemas.export` (tests fail when they drift)."""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from .deadletter import DeadLetter
from .payments import PaymentEvent, PaymentRequested
from .prices import PriceSet
from .subscriptions import CatalogueDocument, SubscriptionCommand, SubscriptionEvent, Tick
from .tenants import TenantUpserted
from .usage import UsageEvent
from .wallet import SpendState, WalletCommand, WalletEvent
from .webhooks import WebhookCommand, WebhookEvent

OUT = Path(__file__).parent / "json"

SCHEMAS: dict[str, Any] = {
    "usage-event.v1": UsageEvent,
    "tenant-upserted.v1": TenantUpserted,
    "wallet-command.v1": WalletCommand,
    "wallet-event.v1": WalletEvent,
    "spend-state.v1": SpendState,
    "dead-letter.v1": DeadLetter,
    "payment-requested.v1": PaymentRequested,
    "payment-event.v1": PaymentEvent,
    "price-set.v1": PriceSet,
    "subscription-command.v1": SubscriptionCommand,
    "subscription-event.v1": SubscriptionEvent,
    "tick.v1": Tick,
    "catalogue.v1": CatalogueDocument,
    "webhook-command.v1": WebhookCommand,
    "webhook-event.v1": WebhookEvent,
}


def render(name: str) -> str:
    target = SCHEMAS[name]
    adapter = TypeAdapter(target) if not isinstance(target, type) or not issubclass(target, BaseModel) else None
    schema = adapter.json_schema() if adapter else target.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{name}.json", **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name in SCHEMAS:
        (OUT / f"{name}.json").write_text(render(name))


if __name__ == "__main__":
    main()
