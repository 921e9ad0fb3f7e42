"""Webhooks: the vendor's endpoints (commands on `webhooks.commands`, keyed by endpoint id, applied by the
notifications worker) and the JSON body each delivery carries.

A delivery's body is `WebhookEvent`: `id` is the id of the wallet or subscription event it reports, the same on
every retry and replay, so a receiver de-duplicates on it. Its `Creditflow-Signature` header is
`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the endpoint's signing secret>`
(`creditflow.client.verify_webhook` checks it).
"""

from typing import Annotated, Any, Literal, get_args

from pydantic import AnyHttpUrl, Field, StringConstraints

from . import subscriptions, wallet
from .common import Email, EventId, Label, TenantId, UtcDatetime, WireModel


def _kinds(*models: type) -> tuple[str, ...]:
    return tuple(get_args(m.model_fields["kind"].annotation)[0] for m in models)  # type: ignore[attr-defined]


EVENT_TYPES: tuple[str, ...] = _kinds(
    wallet.EntryRecorded,
    wallet.DebitRejected,
    wallet.CommandRefused,
    wallet.ThresholdCrossed,
    wallet.ThresholdRecovered,
    wallet.TopUpRequested,
    wallet.TopUpSucceeded,
    wallet.TopUpFailed,
    wallet.SettingsChanged,
    subscriptions.SubscriptionStarted,
    subscriptions.SubscriptionRenewed,
    subscriptions.PlanChanged,
    subscriptions.ChangeRefused,
    subscriptions.RenewalUpcoming,
    subscriptions.InvoiceIssued,
    subscriptions.InvoicePaid,
    subscriptions.InvoicePaymentFailed,
    subscriptions.CancellationScheduled,
    subscriptions.SubscriptionReactivated,
    subscriptions.SubscriptionEnded,
)
"""What an endpoint may subscribe to: the kinds of `wallet.events` and `subscriptions.events`. `*` is all of them."""

EventType = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z_]+\.[a-z_.]+)$", max_length=64)]
EndpointId = Annotated[str, StringConstraints(pattern=r"^we_[A-Za-z0-9_-]{1,60}$")]
Salt = Annotated[str, StringConstraints(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
SIGNATURE_HEADER = "Creditflow-Signature"
EVENT_ID_HEADER = "Creditflow-Event-Id"


class _EndpointCommand(WireModel):
    schema_version: Literal[1] = 1
    command_id: EventId
    endpoint_id: EndpointId
    issued_at: UtcDatetime


class CreateEndpoint(_EndpointCommand):
    """Register an endpoint. Its signing secret is derived from `salt` and the deployment's `WEBHOOK_SIGNING_KEY`
    (never carried on Kafka nor stored): whoever sends this command shows the secret to the vendor, once."""

    kind: Literal["create_endpoint"] = "create_endpoint"
    url: AnyHttpUrl
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES) + 1)]
    tenant_ids: Annotated[list[TenantId] | None, Field(max_length=1000)] = Field(
        default=None, description="Only these tenants' events; none: every tenant's."
    )
    alert_emails: Annotated[list[Email], Field(max_length=20)] = Field(
        default_factory=list, description="The vendor's operators, e-mailed when the endpoint is disabled."
    )
    description: Label | None = None
    salt: Salt


class UpdateEndpoint(_EndpointCommand):
    """Change what is given; `enabled: true` re-enables an endpoint disabled for failing (its failures are
    forgotten, the deliveries it gave up on stay failed until replayed); a new `salt` rotates the secret."""

    kind: Literal["update_endpoint"] = "update_endpoint"
    url: AnyHttpUrl | None = None
    event_types: Annotated[list[EventType] | None, Field(min_length=1, max_length=len(EVENT_TYPES) + 1)] = None
    tenant_ids: Annotated[list[TenantId] | None, Field(max_length=1000)] = None
    alert_emails: Annotated[list[Email] | None, Field(max_length=20)] = None
    description: Label | None = None
    enabled: bool | None = None
    salt: Salt | None = None


class DeleteEndpoint(_EndpointCommand):
    kind: Literal["delete_endpoint"] = "delete_endpoint"


class ReplayDeliveries(_EndpointCommand):
    """Send again one delivery (`delivery_id`) or every delivery made for events received in [since, until):
    the same body, the same event id, a new signature."""

    kind: Literal["replay"] = "replay"
    delivery_id: str | None = Field(default=None, max_length=300)
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None


WebhookCommand = Annotated[
    CreateEndpoint | UpdateEndpoint | DeleteEndpoint | ReplayDeliveries, Field(discriminator="kind")
]


class WebhookEvent(WireModel):
    """The body of every delivery."""

    id: EventId = Field(description="The event's id: the same on every retry and replay; de-duplicate on it.")
    type: str = Field(description="The event's kind, e.g. `threshold.crossed`, `invoice.issued`.")
    created_at: UtcDatetime = Field(description="When creditflow received the event.")
    tenant_id: TenantId
    data: dict[str, Any] = Field(description="The event as `wallet.events` or `subscriptions.events` carries it.")
