"""Credits on the wire: exact decimal strings, never floats.

1 credit = 1 EUR. Amounts carry at most six decimal places (a micro-credit). Inside the services an
amount is an integer number of micro-credits, converted exactly at the edge by `to_micros` and
`from_micros`. Prices are rounded once, half-even, to the micro-credit when usage is priced.
"""

import functools
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

SCALE = 6
MICROS_PER_CREDIT = 10**SCALE
_QUANTUM = Decimal(1).scaleb(-SCALE)

Credits = Annotated[
    Decimal,
    Field(allow_inf_nan=False, decimal_places=SCALE, max_digits=SCALE + 13),
    PlainSerializer(lambda d: json_credits(d), return_type=str, when_used="json"),  # noqa: PLW0108 (defined below)
]
"""A signed credit amount, e.g. ``"0.15"``; JSON producers may send a string or a number."""


def to_micros(amount: Decimal) -> int:
    """Exact conversion; raises ValueError if the amount has more than six decimal places."""
    micros = amount * MICROS_PER_CREDIT
    if micros != micros.to_integral_value():
        raise ValueError(f"{amount} has more than {SCALE} decimal places")
    return int(micros)


def from_micros(micros: int) -> Decimal:
    result: Decimal = (Decimal(micros) / MICROS_PER_CREDIT).quantize(_QUANTUM)
    return result


def round_credits(amount: Decimal) -> Decimal:
    """Round half-even to the micro-credit: the one rounding step of pricing."""
    return amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def json_credits(amount: Decimal) -> str:
    """Credits as JSON writes them: the exact decimal without trailing zeros (`"0.15"`, `"300"`)."""
    return format(amount.normalize(), "f")


_REPEATED = 4096


@functools.lru_cache(maxsize=_REPEATED)
def repeated_micros(amount: Decimal) -> int:
    """`to_micros`, remembered, for the amounts a hot path meets again and again (a meter's quantities and prices:
    0.06 µs against 0.28 a call). Equal decimals give the same integer, so any of them may answer for another."""
    return to_micros(amount)


@functools.lru_cache(maxsize=_REPEATED)
def _remembered_json_credits(amount: Decimal) -> str:
    return json_credits(amount)


def repeated_json_credits(amount: Decimal) -> str:
    """`json_credits`, remembered likewise (0.06 µs against 0.24). Equal nonzero decimals write the same text; a
    zero does not (`-0` and `0` are equal keys), so it is written each time."""
    return _remembered_json_credits(amount) if amount else json_credits(amount)


def display(micros: int) -> str:
    """Human form without trailing zeros: 95500000 -> '95.5', -150000 -> '-0.15', 300000000 -> '300'. The text
    `format(from_micros(micros).normalize(), "f")` makes (a property test holds them equal), in integers: the wallet
    writes three a debit, and the Decimal round trip cost a microsecond each."""
    credits, fraction = divmod(abs(micros), MICROS_PER_CREDIT)
    sign = "-" if micros < 0 else ""
    if not fraction:
        return f"{sign}{credits}"
    return f"{sign}{credits}.{fraction:0{SCALE}d}".rstrip("0")
