"""Fingerprints and duplicate detection for the idempotency chain."""

import hashlib
import json
from typing import Any

from pydantic import BaseModel
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

DUPLICATE_KEY = 11000


def fingerprint(model: BaseModel | dict[str, Any]) -> str:
    """A stable hash of a message's meaning: key order and formatting do not change it."""
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_duplicate_key(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return all(err.get("code") == DUPLICATE_KEY for err in exc.details.get("writeErrors", []))
    return isinstance(exc, OperationFailure) and exc.code == DUPLICATE_KEY
