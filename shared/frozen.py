"""Frozen dataclass values made on a hot path."""

from typing import Any, TypeVar

T = TypeVar("T")


def built(cls: type[T], values: dict[str, Any]) -> T:
    """`cls(**values)` for a frozen dataclass without a `__post_init__`, given every field: what `__init__` makes,
    without setting each field through `object.__setattr__`; `values` (a dict the caller wrote for it) becomes the
    instance's own. A ledger entry took 2.6 µs, 1.3 given as keywords, 0.6 so; the wallet makes one a debit, with a
    bucket and a movement, and metering a price an event. Tests hold the two equal for the classes it makes."""
    if len(values) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} needs every field, got {sorted(values)}")
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    return obj
