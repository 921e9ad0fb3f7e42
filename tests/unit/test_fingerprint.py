"""Fingerprints are the idempotency chain's memory: the text they hash must never change between versions."""

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.idempotency import fingerprint

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


def test_key_order_does_not_change_a_fingerprint() -> None:
    assert fingerprint({"a": 1, "b": {"y": [1, "é"], "x": None}}) == fingerprint(
        {"b": {"x": None, "y": [1, "é"]}, "a": 1}
    )
