"""What the routes share: the 202 answer of a command, cursors, and the `Acting-As` header."""

import base64
import json
from typing import Annotated, Any

from fastapi import Header, Query
from pydantic import BaseModel, Field

from ..problems import Problem

ActingAs = Annotated[
    str | None,
    Header(alias="Acting-As", description="The tenant admin on whose behalf an API key acts (e-mail)."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", description="Same key and body: the same answer; another body: 409.", max_length=255
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


class CommandAccepted(BaseModel):
    command_id: str
    status: str = "pending"
    status_url: str


class CommandStatus(BaseModel):
    command_id: str
    status: str = Field(description="pending, processing, applied, refused, rejected or failed")
    reason: str | None = None
    detail: str | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)


def accepted(command_id: str) -> tuple[int, dict[str, Any]]:
    return 202, {"command_id": command_id, "status": "pending", "status_url": f"/v1/commands/{command_id}"}


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise Problem(400, "invalid_cursor", "not a cursor this API gave") from exc
