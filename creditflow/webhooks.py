"""Webhook endpoints, as the CLI and the API manage them (one application layer): commands on
`webhooks.commands` applied by the notifications worker; reads from its database.

An endpoint's id and salt derive from the command id, and its secret from them and `WEBHOOK_SIGNING_KEY`: a
request retried with the same idempotency key names the same endpoint and shows the same secret, and no stored
record (not even the API's idempotency record) holds the secret."""

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas import topics
from schemas.webhooks import EVENT_TYPES, CreateEndpoint, DeleteEndpoint, ReplayDeliveries, UpdateEndpoint
from shared.signing import derive_secret

if TYPE_CHECKING:
    from services.notifications.adapters.webhooks import MongoWebhookStore

    from .ops import Ops


class WebhooksNotConfigured(RuntimeError):
    """No WEBHOOK_SIGNING_KEY: no secret can be made."""


class UnknownEventType(ValueError):
    pass


def _hashed(command_id: str, what: str) -> str:
    return hashlib.sha256(f"{what}|{command_id}".encode()).hexdigest()


def endpoint_id_for(command_id: str) -> str:
    return f"we_{_hashed(command_id, 'endpoint')[:20]}"


def salt_for(command_id: str) -> str:
    return _hashed(command_id, "salt")[:32]


def checked_types(event_types: list[str]) -> list[str]:
    unknown = [t for t in event_types if t != "*" and t not in EVENT_TYPES]
    if unknown:
        raise UnknownEventType(f"unknown event type(s) {', '.join(unknown)}; see `creditflow webhooks event-types`")
    return event_types


def endpoint_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What an operator sees of an endpoint: never its salt (nor, of course, its secret)."""
    keep = ("url", "event_types", "tenant_ids", "alert_emails", "description", "enabled", "disabled_reason")
    view: dict[str, Any] = {"endpoint_id": doc["_id"], **{k: doc.get(k) for k in keep}}
    for name in ("created_at", "failing_since", "last_success_at", "disabled_at"):
        value = doc.get(name)
        view[name] = value.replace(tzinfo=UTC).isoformat() if isinstance(value, datetime) else value
    return view


def delivery_view(doc: dict[str, Any]) -> dict[str, Any]:
    def when(value: Any) -> Any:
        return value.replace(tzinfo=UTC).isoformat() if isinstance(value, datetime) else value

    return {
        "delivery_id": doc["_id"],
        "endpoint_id": doc["endpoint_id"],
        "event_id": doc["event_id"],
        "type": doc["type"],
        "tenant_id": doc["tenant_id"],
        "status": doc["status"],
        "attempts": doc.get("attempts", 0),
        "replays": doc.get("replays", 0),
        "created_at": when(doc.get("created_at")),
        "delivered_at": when(doc.get("delivered_at")),
        "next_attempt_at": when(doc.get("next_attempt_at")) if doc["status"] == "pending" else None,
        "last_status_code": doc.get("last_status_code"),
        "last_error": doc.get("last_error"),
        "log": [{**a, "at": when(a.get("at"))} for a in doc.get("log", [])],
    }


@dataclass
class Webhooks:
    ops: "Ops"

    def _store(self) -> "MongoWebhookStore":
        from services.notifications.adapters.webhooks import MongoWebhookStore

        return MongoWebhookStore(self.ops.mongo[self.ops.settings.database_name("notifications")])

    def secret(self, endpoint_id: str, salt: str) -> str:
        key = self.ops.settings.webhook_signing_key
        if key is None or not key.get_secret_value():
            raise WebhooksNotConfigured("WEBHOOK_SIGNING_KEY is not set: webhooks are off in this deployment")
        return derive_secret(key.get_secret_value(), endpoint_id, salt)

    @staticmethod
    def new_command_id() -> str:
        return f"webhook:{uuid.uuid4()}"

    async def send(self, command: Any, *, wait: float | None = None) -> dict[str, Any] | None:
        """Publish an endpoint command; with `wait` (default CREDITFLOW_WAIT_SECONDS), its outcome: `applied`, or
        `refused` with the reason (`not_found`, `endpoint_exists`, `nothing_to_replay`)."""
        await self.ops.publish(topics.WEBHOOKS_COMMANDS, command.endpoint_id, command.model_dump(mode="json"))
        wait = self.ops._wait(wait)
        return await self.outcome(command.command_id, wait=wait) if wait else None

    async def outcome(self, command_id: str, *, wait: float) -> dict[str, Any]:
        store = self._store()
        deadline = time.monotonic() + wait
        while (found := await store.applied(command_id)) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the notifications worker has not applied {command_id} within {wait}s")
            await asyncio.sleep(0.05)
        return {k: v for k, v in found.items() if k not in ("_id", "at")} | {"command_id": command_id}

    async def create(
        self,
        *,
        url: str,
        event_types: list[str],
        tenant_ids: list[str] | None = None,
        alert_emails: list[str] | None = None,
        description: str | None = None,
        command_id: str | None = None,
        wait: float | None = None,
    ) -> dict[str, Any]:
        """Register an endpoint: its id, its signing secret (to show once) and the command's outcome."""
        command_id = command_id or self.new_command_id()
        endpoint_id, salt = endpoint_id_for(command_id), salt_for(command_id)
        secret = self.secret(endpoint_id, salt)  # before anything is sent: no key, no endpoint
        command = CreateEndpoint(
            command_id=command_id,
            endpoint_id=endpoint_id,
            issued_at=datetime.now(UTC),
            url=url,
            event_types=checked_types(event_types),
            tenant_ids=tenant_ids,
            alert_emails=alert_emails or [],
            description=description,
            salt=salt,
        )
        outcome = await self.send(command, wait=wait)
        return {"endpoint_id": endpoint_id, "secret": secret, "outcome": outcome}

    async def update(
        self, endpoint_id: str, *, rotate_secret: bool = False, command_id: str | None = None,
        wait: float | None = None, **changes: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """Change an endpoint (url, event_types, tenant_ids, alert_emails, description, enabled); `rotate_secret`
        makes a new secret, returned (to show once); the old one stops signing once the worker applies it."""
        command_id = command_id or self.new_command_id()
        if changes.get("event_types") is not None:
            checked_types(changes["event_types"])
        salt = salt_for(command_id) if rotate_secret else None
        secret = self.secret(endpoint_id, salt) if salt else None
        command = UpdateEndpoint(
            command_id=command_id,
            endpoint_id=endpoint_id,
            issued_at=datetime.now(UTC),
            salt=salt,
            **{k: v for k, v in changes.items() if v is not None},
        )
        outcome = await self.send(command, wait=wait)
        return {"endpoint_id": endpoint_id, "outcome": outcome} | ({"secret": secret} if secret else {})

    async def delete(self, endpoint_id: str, *, command_id: str | None = None, wait: float | None = None) -> Any:
        command = DeleteEndpoint(
            command_id=command_id or self.new_command_id(), endpoint_id=endpoint_id, issued_at=datetime.now(UTC)
        )
        return {"endpoint_id": endpoint_id, "outcome": await self.send(command, wait=wait)}

    async def replay(
        self, endpoint_id: str, *, delivery_id: str | None = None, since: datetime | None = None,
        until: datetime | None = None, command_id: str | None = None, wait: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Send again one delivery or those of events received in [since, until): same body, same event id."""
        command = ReplayDeliveries(
            command_id=command_id or self.new_command_id(),
            endpoint_id=endpoint_id,
            issued_at=datetime.now(UTC),
            delivery_id=delivery_id,
            since=since,
            until=until,
        )
        return {"endpoint_id": endpoint_id, "outcome": await self.send(command, wait=wait)}

    async def endpoints(self) -> list[dict[str, Any]]:
        store = self._store()
        return [endpoint_view(d) for d in await store.endpoint_docs()]

    async def endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        doc = await self._store().endpoint_doc(endpoint_id)
        return endpoint_view(doc) if doc else None

    async def deliveries(
        self, endpoint_id: str, *, status: str | None = None, limit: int = 50, before: tuple[Any, str] | None = None
    ) -> list[dict[str, Any]]:
        docs = await self._store().deliveries(endpoint_id, status=status, limit=limit, before=before)
        return [delivery_view(d) for d in docs]
