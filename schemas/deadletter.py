"""What a dead-letter topic carries: the reason, and the original bytes untouched."""

from typing import Literal

from .common import UtcDatetime, WireModel

Reason = Literal[
    "malformed_json",
    "schema_violation",
    "unsupported_schema_version",
    "unknown_tenant",
    "tenant_mismatch",
    "unknown_meter",
    "invalid_quantity",
    "timestamp_in_future",
    "timestamp_too_old",
    "oversize",
    "conflict",
    "permanent_delivery_failure",
    "processing_failed",
]


class DeadLetter(WireModel):
    reason: Reason
    detail: str
    service: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None
    original_base64: str
    failed_at: UtcDatetime
