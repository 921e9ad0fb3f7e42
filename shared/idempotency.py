"""Fingerprints and duplicate detection for the idempotency chain."""

import functools
import hashlib
import json
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
import pydantic_core
from pydantic import AwareDatetime, BaseModel, FutureDate, FutureDatetime, NaiveDatetime, PastDate, PastDatetime
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from schemas.common import json_time

DUPLICATE_KEY = 11000


def fingerprint(model: BaseModel | dict[str, Any], *, float_free: bool = False) -> str:
    """A stable hash of a message's meaning: key order and formatting do not change it.

    The hash of the JSON text `json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    makes (stored fingerprints were made so: the text must not change). Data that holds no float is written by
    orjson with its keys sorted, in one C call: the same text (a property test holds the two equal; orjson writes
    floats its own way, `1e16` for `1e+16`, and NaN as null). That is known of a model whose fields cannot hold a
    float (`holds_no_float`), or said by the caller of other data (`float_free`). Other data is written by
    pydantic-core from the data with its keys sorted first, ten times faster than `json.dumps` (the same text
    again); data neither can write the same way (a float, an integer beyond 64 bits, a lone surrogate) takes the
    slow path."""
    if isinstance(model, BaseModel):
        float_free = float_free or holds_no_float(type(model))
        data = model.model_dump(mode="json")
    else:
        data = model
    if float_free:
        try:
            return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:
            pass  # an integer beyond 64 bits, a lone surrogate: the paths below decide
    try:
        canonical = pydantic_core.to_json(_sorted(data))
    except (pydantic_core.PydanticSerializationError, UnicodeEncodeError, ValueError):
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def fingerprint_fields(fields: dict[str, Any]) -> str:
    """`fingerprint` of a float-free model's JSON data given as its field values (`model.__dict__`), with every
    decimal already written as its JSON text: orjson writes the instants, UTC datetimes, as pydantic's JSON mode
    does (`2026-12-02T09:30:00.000250Z`) in the call that writes the rest, where `model_dump(mode="json")` cost
    2.5 µs a usage line and event and its own writing of an instant 1 µs. Only for models that hold no float
    (`holds_no_float`: orjson writes floats its own way, `1e16`); property tests hold it equal to `fingerprint`
    of the model's JSON data for the models it is used on. What orjson refuses (an integer beyond 64 bits, a lone
    surrogate, a decimal left as one) is written as that JSON data first, then fingerprinted."""
    try:
        return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)).hexdigest()
    except orjson.JSONEncodeError:
        return fingerprint(_json_data(fields))


def _json_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_data(v) for v in value]
    if isinstance(value, datetime):
        return json_time(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


_NESTED = (dict, list, tuple, float)


def _sorted(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _sorted(v) if isinstance(v := data[k], _NESTED) else v for k in sorted(data)}
    if isinstance(data, list | tuple):
        return [_sorted(v) if isinstance(v, _NESTED) else v for v in data]
    if isinstance(data, float):
        raise ValueError("json writes floats its own way (1e+16): the slow path keeps the text")
    return data


_NO_FLOAT: tuple[type, ...] = (
    str, int, Decimal, datetime, date, type(None),
    AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime, PastDate, FutureDate,
)  # fmt: skip
"""Types whose JSON form is never a float: text, integers and booleans, and what pydantic writes as text (decimals,
instants and days; pydantic's constrained instants are classes of their own)."""


_WEIGHING: set[type[BaseModel]] = set()
"""Models whose fields are being looked at: one that holds itself is not known to be free of floats."""


@functools.cache
def holds_no_float(model: type[BaseModel]) -> bool:
    """Whether the JSON data of every instance of `model` is free of floats, from its fields' types: text,
    integers, booleans, decimals and instants (written as text), literals and enums of those, models, lists and
    dicts of those. A field typed `float` or `Any`, a type not known here, extra fields or a custom serializer:
    it may hold one."""
    decorators = model.__pydantic_decorators__
    if model.model_config.get("extra") == "allow" or decorators.field_serializers or decorators.model_serializers:
        return False
    if model.__pydantic_computed_fields__ or model in _WEIGHING:
        return False
    _WEIGHING.add(model)
    try:
        return all(_no_float(field.annotation) for field in model.model_fields.values())
    finally:
        _WEIGHING.discard(model)


def _no_float(annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _no_float(args[0])
    if origin is typing.Literal:
        return not any(isinstance(a, float) for a in args)
    if origin in (typing.Union, types.UnionType, list, tuple, dict, set, frozenset):
        return all(_no_float(a) for a in args if a is not Ellipsis)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return holds_no_float(annotation)
        if issubclass(annotation, Enum):
            return not any(isinstance(m.value, float) for m in annotation)
        return issubclass(annotation, _NO_FLOAT)
    return False


def is_duplicate_key(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return all(err.get("code") == DUPLICATE_KEY for err in exc.details.get("writeErrors", []))
    return isinstance(exc, OperationFailure) and exc.code == DUPLICATE_KEY
