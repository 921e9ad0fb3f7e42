"""Pure metering rules: parse and validate a raw message, price it. No I/O; the time is passed in."""

import json
from datetime import datetime
from decimal import Decimal

from pydantic import ValidationError

from schemas.money import round_credits
from schemas.usage import UsageEvent

from .model import Limits, MeterPrice, PriceBook, Priced, Rejection

_QUANTITY_FIELDS = {"quantity"}
DEFAULT_LIMITS = Limits()


def parse_usage(raw: bytes, *, now: datetime, limits: Limits = DEFAULT_LIMITS) -> UsageEvent | Rejection:
    """Turn the bytes of one message into a valid usage event, or say exactly why not."""
    if len(raw) > limits.max_bytes:
        return Rejection("oversize", f"{len(raw)} bytes is more than the {limits.max_bytes} accepted")
    try:
        data = json.loads(raw, parse_float=Decimal)  # JSON numbers stay exact
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Rejection("malformed_json", f"not a JSON document: {exc}")
    if not isinstance(data, dict):
        return Rejection("schema_violation", f"expected a JSON object, got {type(data).__name__}")
    if "schema_version" in data and data["schema_version"] != 1:
        return Rejection(
            "unsupported_schema_version", f"schema_version {data['schema_version']!r} is not supported (1 is)"
        )
    try:
        event = UsageEvent.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and all(err["loc"] and err["loc"][0] in _QUANTITY_FIELDS for err in errors):
            return Rejection("invalid_quantity", f"quantity {data.get('quantity')!r}: {errors[0]['msg']}")
        return Rejection(
            "schema_violation",
            "; ".join(f"{'.'.join(map(str, err['loc'])) or '(root)'}: {err['msg']}" for err in errors[:10]),
        )
    if event.occurred_at > now + limits.max_future:
        return Rejection(
            "timestamp_in_future", f"occurred_at {event.occurred_at.isoformat()} is ahead of {now.isoformat()}"
        )
    if event.occurred_at < now - limits.max_age:
        return Rejection(
            "timestamp_too_old",
            f"occurred_at {event.occurred_at.isoformat()} is outside the {limits.max_age.days}-day window",
        )
    return event


def billing_period(occurred_at: datetime) -> str:
    """Calendar month of the event, UTC (e.g. '2026-11')."""
    return occurred_at.strftime("%Y-%m")


def price(event: UsageEvent, book: PriceBook) -> Priced | Rejection:
    """credits = unit_price x quantity [x per_property], rounded once, half-even, to the micro-credit."""
    meter: MeterPrice | None = book.meters.get(event.type)
    if meter is None:
        return Rejection("unknown_meter", f"no price for meter {event.type!r}; known: {', '.join(sorted(book.meters))}")
    units = event.quantity
    if meter.per_property is not None:
        factor = event.properties.get(meter.per_property)
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            return Rejection(
                "invalid_quantity", f"meter {event.type!r} needs a positive integer property {meter.per_property!r}"
            )
        units = units * Decimal(factor)
    return Priced(
        amount=round_credits(meter.unit_price * units),
        units=units,
        entry_type=meter.entry_type,
        period=billing_period(event.occurred_at),
        occurred_at=event.occurred_at,
    )
