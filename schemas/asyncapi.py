"""The AsyncAPI 3.0 document of every topic, generated from the wire models:
`python -m schemas.asyncapi` writes `schemas/asyncapi.json` (a test fails when it drifts from the code).

It describes creditflow as one system: `send` operations are what outside producers (apps, the CLI, the
payment provider) publish to it, `receive` operations what they can consume from it.
"""

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import payments, prices, subscriptions, tenants, topics, usage, wallet, webhooks
from .deadletter import DeadLetter

OUT = Path(__file__).parent / "asyncapi.json"
KEY_TENANT = "The tenant id (UTF-8). Every message of a tenant lands on one partition, in order."

Channel = tuple[str, str, Literal["send", "receive"], list[type[BaseModel]], str]
CHANNELS: list[Channel] = [
    (topics.USAGE_EVENTS, "Usage events from producer apps; the event id is the idempotency key.", "send",
     [usage.UsageEvent], KEY_TENANT),
    (topics.USAGE_DLQ, "Usage events metering refused, with the reason and the original bytes.", "receive",
     [DeadLetter], KEY_TENANT),
    (topics.METERING_PRICES, "Per-tenant price versions (compacted).", "send", [prices.PriceSet],
     "<tenant>|<meter>|<effective_from>, so compaction keeps every version."),
    (topics.TENANTS, "The tenant directory (compacted): the newest revision of each tenant wins.", "send",
     [tenants.TenantUpserted], KEY_TENANT),
    (topics.WALLET_COMMANDS, "Commands to the wallet; each command id is applied once per tenant.", "send",
     [wallet.Debit, wallet.UsageDebits, wallet.Fee, wallet.Grant, wallet.TopUp, wallet.Void, wallet.Refund,
      wallet.Adjustment, wallet.Expire, wallet.Configure], KEY_TENANT),
    (topics.WALLET_EVENTS, "What the wallet did; event ids derive from the entry or command id.", "receive",
     [wallet.EntryRecorded, wallet.DebitRejected, wallet.CommandRefused, wallet.ThresholdCrossed,
      wallet.ThresholdRecovered, wallet.TopUpRequested, wallet.TopUpSucceeded, wallet.TopUpFailed,
      wallet.SettingsChanged], KEY_TENANT),
    (topics.WALLET_REJECTIONS, "The debit.rejected events of wallet.events again, alone (metering counts them).",
     "receive", [wallet.DebitRejected], KEY_TENANT),
    (topics.SUBSCRIPTIONS_COMMANDS, "Plan, seats, add-ons, billing info: each command id is applied once.", "send",
     [subscriptions.Start, subscriptions.ChangePlan, subscriptions.ChangeSeats, subscriptions.ChangeInterval,
      subscriptions.ChangeAddOn, subscriptions.Cancel, subscriptions.Reactivate, subscriptions.SetBillingInfo,
      subscriptions.SetPaymentMethod, subscriptions.AssignApp], KEY_TENANT),
    (topics.SUBSCRIPTIONS_EVENTS, "What happened to subscriptions and invoices.", "receive",
     [subscriptions.SubscriptionStarted, subscriptions.SubscriptionRenewed, subscriptions.PlanChanged,
      subscriptions.ChangeRefused, subscriptions.RenewalUpcoming, subscriptions.InvoiceIssued,
      subscriptions.InvoicePaid, subscriptions.InvoicePaymentFailed, subscriptions.CancellationScheduled,
      subscriptions.SubscriptionReactivated, subscriptions.SubscriptionEnded], KEY_TENANT),
    (topics.SUBSCRIPTIONS_DLQ, "Subscription commands refused as malformed or conflicting.", "receive", [DeadLetter],
     KEY_TENANT),
    (topics.SUBSCRIPTIONS_CATALOGUE, "Catalogue versions (compacted): plans, apps, add-ons; the newest wins.",
     "send", [subscriptions.CatalogueDocument], "catalogue"),
    (topics.SCHEDULER_TICKS, "Day and month-end ticks with deterministic ids (one partition).", "receive",
     [subscriptions.Tick], "The tick id."),
    (topics.WALLET_SPEND_STATE, "Each tenant's latest spend state (compacted): gate actions on can_spend.",
     "receive", [wallet.SpendState], KEY_TENANT),
    (topics.WALLET_DLQ, "Wallet commands refused as malformed or conflicting.", "receive", [DeadLetter], KEY_TENANT),
    (topics.PAYMENTS_REQUESTS, "Payments the wallet asks the payment provider to collect.", "receive",
     [payments.PaymentRequested], KEY_TENANT),
    (topics.PAYMENTS_EVENTS, "The payment provider's outcomes.", "send",
     [payments.PaymentSucceeded, payments.PaymentFailed], KEY_TENANT),
    (topics.PAYMENTS_DLQ, "Payment requests the sandbox provider could not read.", "receive", [DeadLetter],
     KEY_TENANT),
    (topics.NOTIFICATIONS_DLQ, "E-mails that could not be delivered.", "receive", [DeadLetter], KEY_TENANT),
    (topics.WEBHOOKS_COMMANDS, "The vendor's webhook endpoints: create, update, delete, replay (one partition).",
     "send", [webhooks.CreateEndpoint, webhooks.UpdateEndpoint, webhooks.DeleteEndpoint, webhooks.ReplayDeliveries],
     "The endpoint id."),
]  # fmt: skip


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def document() -> dict[str, Any]:
    models = sorted({m for *_, ms, _ in CHANNELS for m in ms}, key=lambda m: m.__name__)
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, description, action, channel_models, key in CHANNELS:
        cid = _channel_id(topic)
        refs = {}
        for model in channel_models:
            name = model.__name__
            messages[name] = {
                "name": name,
                "title": name,
                "summary": (model.__doc__ or name).strip().splitlines()[0],
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{name}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        spec = next((t for t in topics.ALL_TOPICS if t.name == topic), None)
        channels[cid] = {
            "address": topic,
            "description": description,
            "messages": refs,
            "bindings": {
                "kafka": {
                    "topic": topic,
                    "partitions": spec.partitions if spec else topics.DEFAULT_PARTITIONS,
                    "topicConfiguration": {"cleanup.policy": ["compact" if spec and spec.compacted else "delete"]},
                }
            },
        }
        operations[f"{action}_{cid}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{name}"} for name in refs],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "creditflow",
            "version": "1.0.0",
            "description": "Credits and subscriptions backbone: usage in, exact and idempotent ledger, events out. "
            "Money is a decimal string (at most 6 decimal places) or an integer of minor units, never a float.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {"host": "kafka:9092", "protocol": "kafka", "description": "SASL_SSL in production."},
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "`creditflow up` (Tansu)."},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUT.write_text(render())


if __name__ == "__main__":
    main()
