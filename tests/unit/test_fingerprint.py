"""Fingerprints are the idempotency chain's memory: the text they hash must never change between versions."""

import hashlib
import json
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas.usage import UsageEvent
from schemas.wallet import UsageLine
from shared.idempotency import fingerprint, holds_no_float

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12
)


def _as_stored(data: Any) -> str:
    """How every fingerprint stored so far was made."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@given(st.dictionaries(st.text(), documents, max_size=6))
def test_a_fingerprint_is_the_hash_of_the_same_text_as_before(data: dict[str, Any]) -> None:
    try:
        expected = _as_stored(data)
    except UnicodeEncodeError:  # a lone surrogate: never fingerprinted (validation refuses it first)
        return
    assert fingerprint(data) == expected


no_floats = st.none() | st.booleans() | st.integers() | st.text()
float_free_documents = st.recursive(
    no_floats, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12
)


@given(st.dictionaries(st.text(), float_free_documents, max_size=6))
def test_data_without_floats_hashes_the_same_text_written_by_orjson(data: dict[str, Any]) -> None:
    try:
        expected = _as_stored(data)
    except UnicodeEncodeError:
        return
    assert fingerprint(data, float_free=True) == expected


class _Kind(Enum):
    A = "a"


class _Text(BaseModel):
    name: str
    amount: Decimal
    kind: _Kind
    tags: list[str] = []
    level: Literal[1, 2] = 1


class _Nested(BaseModel):
    inner: _Text | None = None
    counts: dict[str, int] = {}


class _Weighed(BaseModel):
    weight: float


class _Anything(BaseModel):
    value: Any


class _Deep(BaseModel):
    parts: list[_Weighed]


def test_a_model_holds_no_float_only_when_none_of_its_fields_can_hold_one() -> None:
    assert holds_no_float(_Text) and holds_no_float(_Nested)
    assert not holds_no_float(_Weighed) and not holds_no_float(_Anything) and not holds_no_float(_Deep)
    # the hot paths' messages: a usage event and a line of a metering batch
    assert holds_no_float(UsageEvent) and holds_no_float(UsageLine)


def test_a_model_with_a_float_keeps_the_text_json_writes() -> None:
    model = _Weighed(weight=1e16)

    assert fingerprint(model) == _as_stored({"weight": 1e16})  # 1e+16, as json writes it; orjson would write 1e16


def test_key_order_does_not_change_a_fingerprint() -> None:
    assert fingerprint({"a": 1, "b": {"y": [1, "é"], "x": None}}) == fingerprint(
        {"b": {"x": None, "y": [1, "é"]}, "a": 1}
    )
