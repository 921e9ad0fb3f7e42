"""Fingerprints and duplicate detection for the idempotency chain."""

import hashlib
import json
from typing import Any

import pydantic_core
from pydantic import BaseModel
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

DUPLICATE_KEY = 11000


def fingerprint(model: BaseModel | dict[str, Any]) -> str:
    """A stable hash of a message's meaning: key order and formatting do not change it.

    The hash of the JSON text `json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    makes (stored fingerprints were made so: the text must not change). pydantic-core writes the same text ten
    times faster from the data with its keys sorted first (a property test holds the two equal); data it cannot
    write the same way (a float, a lone surrogate) takes the slow path."""
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    try:
        canonical = pydantic_core.to_json(_sorted(data))
    except (pydantic_core.PydanticSerializationError, UnicodeEncodeError, ValueError):
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


_NESTED = (dict, list, tuple, float)


def _sorted(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _sorted(v) if isinstance(v := data[k], _NESTED) else v for k in sorted(data)}
    if isinstance(data, list | tuple):
        return [_sorted(v) if isinstance(v, _NESTED) else v for v in data]
    if isinstance(data, float):
        raise ValueError("json writes floats its own way (1e+16): the slow path keeps the text")
    return data


def is_duplicate_key(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return all(err.get("code") == DUPLICATE_KEY for err in exc.details.get("writeErrors", []))
    return isinstance(exc, OperationFailure) and exc.code == DUPLICATE_KEY
