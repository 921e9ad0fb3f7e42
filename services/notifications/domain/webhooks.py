"""Webhooks domain: which endpoint wants which event, what a command does to an endpoint, when to try again and
when to give up on an endpoint. No I/O."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import pydantic_core

from schemas.common import json_time
from schemas.webhooks import CreateEndpoint, DeleteEndpoint, ReplayDeliveries, UpdateEndpoint

DeliveryStatus = Literal["pending", "delivered", "failed", "held"]
"""`held`: recorded while its endpoint was disabled, not attempted; a replay sends it."""


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    url: str
    event_types: tuple[str, ...]
    tenant_ids: tuple[str, ...] | None
    alert_emails: tuple[str, ...]
    salt: str
    description: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: datetime | None = None

    def wants(self, event_type: str, tenant_id: str) -> bool:
        """Whether an event of this type and tenant is recorded for this endpoint (held if it is disabled)."""
        if self.tenant_ids is not None and tenant_id not in self.tenant_ids:
            return False
        return "*" in self.event_types or event_type in self.event_types


@dataclass(frozen=True)
class Refused:
    reason: Literal["not_found", "endpoint_exists", "nothing_to_replay"]
    detail: str


def created(command: CreateEndpoint, at: datetime) -> Endpoint:
    return Endpoint(
        endpoint_id=command.endpoint_id,
        url=str(command.url),
        event_types=tuple(dict.fromkeys(command.event_types)),
        tenant_ids=tuple(command.tenant_ids) if command.tenant_ids is not None else None,
        alert_emails=tuple(command.alert_emails),
        salt=command.salt,
        description=command.description,
        created_at=at,
    )


def decide(
    endpoint: Endpoint | None,
    command: CreateEndpoint | UpdateEndpoint | DeleteEndpoint | ReplayDeliveries,
    at: datetime,
) -> Endpoint | Refused | None:
    """The endpoint after `command` (None: deleted), or why it is refused. A replay leaves the endpoint as it is."""
    if isinstance(command, CreateEndpoint):
        if endpoint is not None:
            return Refused("endpoint_exists", f"endpoint {command.endpoint_id} exists; update it instead")
        return created(command, at)
    if endpoint is None:
        return Refused("not_found", f"no endpoint {command.endpoint_id}")
    if isinstance(command, DeleteEndpoint):
        return None
    if isinstance(command, ReplayDeliveries):
        if command.delivery_id is None and command.since is None and command.until is None:
            return Refused("nothing_to_replay", "name a delivery, or a time range (since and/or until)")
        return endpoint
    changes: dict[str, Any] = {}
    if command.url is not None:
        changes["url"] = str(command.url)
    if command.event_types is not None:
        changes["event_types"] = tuple(dict.fromkeys(command.event_types))
    if command.tenant_ids is not None:
        changes["tenant_ids"] = tuple(command.tenant_ids) or None
    if command.alert_emails is not None:
        changes["alert_emails"] = tuple(command.alert_emails)
    if command.description is not None:
        changes["description"] = command.description
    if command.salt is not None:
        changes["salt"] = command.salt
    if command.enabled is not None:
        changes["enabled"] = command.enabled
        changes["disabled_reason"] = None if command.enabled else "disabled by the vendor"
    return replace(endpoint, **changes)


def body_for(event: dict[str, Any], received_at: datetime) -> str:
    """The JSON a delivery carries (`schemas.webhooks.WebhookEvent`), written once and sent byte for byte the
    same on every attempt and replay."""
    return pydantic_core.to_json(
        {
            "id": event["event_id"],
            "type": event["kind"],
            "created_at": json_time(received_at),
            "tenant_id": event["tenant_id"],
            "data": event,
        }
    ).decode()


def delivery_id(endpoint_id: str, event_id: str) -> str:
    return f"{endpoint_id}|{event_id}"


@dataclass(frozen=True)
class WebhookRetry:
    """Exponential back-off as Stripe's: 1 min, 2, 4, ... capped at `ceiling`, for up to `give_up` (3 days) after
    the first attempt; an endpoint failing without a success for `disable_after` is disabled."""

    first: timedelta = timedelta(minutes=1)
    ceiling: timedelta = timedelta(hours=6)
    give_up: timedelta = timedelta(days=3)
    disable_after: timedelta = timedelta(days=3)

    def next_attempt(self, attempts: int, first_tried: datetime, now: datetime) -> datetime | None:
        """After the `attempts`-th failed attempt: when to try again, or None to give up."""
        if now - first_tried >= self.give_up:
            return None
        delay = min(self.ceiling, self.first * int(2 ** min(max(0, attempts - 1), 30)))
        return min(now + delay, first_tried + self.give_up)

    def disable(self, failing_since: datetime | None, now: datetime) -> bool:
        return failing_since is not None and now - failing_since >= self.disable_after


def succeeded(status_code: int) -> bool:
    """2xx is delivered; anything else (a redirect, a 4xx, a 5xx) is retried and logged."""
    return 200 <= status_code < 300
