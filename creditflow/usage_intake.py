"""Usage events that arrive over HTTP: split a body into its events byte for byte, check each with metering's
own rules (the same function the metering worker runs), and say per event whether it was accepted. What is
accepted is published to `usage.events` exactly as it was sent, so metering fingerprints the producer's bytes;
duplicates are still resolved by metering. What is refused is answered with its reason and dead-lettered."""

import json
from dataclasses import dataclass
from datetime import datetime

from services.metering.domain.model import Rejection
from services.metering.domain.rules import parse_usage

MAX_BATCH = 1000
_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


@dataclass(frozen=True)
class Checked:
    index: int
    raw: bytes
    event_id: str | None
    reason: str | None = None
    detail: str | None = None


class NotABatch(ValueError):
    pass


def split_events(body: bytes) -> list[bytes]:
    """One JSON object, or an array of them, as the bytes of each element (nothing re-encoded)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotABatch(f"the body is not UTF-8: {exc}") from None
    start = len(text) - len(text.lstrip(_SPACE))
    if text[start : start + 1] != "[":
        if not text.strip(_SPACE):
            raise NotABatch("the body is empty")
        return [body]
    items: list[bytes] = []
    i = start + 1
    while True:
        while i < len(text) and text[i] in _SPACE:
            i += 1
        if i < len(text) and text[i] == "]" and not items:
            i += 1
            break
        try:
            _, end = _DECODER.raw_decode(text, i)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise NotABatch(f"not a JSON array of events: {exc}") from None
        items.append(text[i:end].encode())
        if len(items) > MAX_BATCH:
            raise NotABatch(f"at most {MAX_BATCH} events in one request")
        i = end
        while i < len(text) and text[i] in _SPACE:
            i += 1
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "]":
            i += 1
            break
        raise NotABatch("not a JSON array of events: expected ',' or ']'")
    if text[i:].strip(_SPACE):
        raise NotABatch("not a JSON array of events: text after the closing ']'")
    return items


def check_events(items: list[bytes], tenant_id: str, *, now: datetime) -> list[Checked]:
    out = []
    for index, raw in enumerate(items):
        parsed = parse_usage(raw, now=now)
        if isinstance(parsed, Rejection):
            out.append(Checked(index, raw, None, parsed.reason, parsed.detail))
        elif parsed.tenant_id != tenant_id:
            out.append(
                Checked(
                    index,
                    raw,
                    parsed.event_id,
                    "tenant_mismatch",
                    f"the event is for tenant {parsed.tenant_id!r}, sent to {tenant_id!r}",
                )
            )
        else:
            out.append(Checked(index, raw, parsed.event_id))
    return out
