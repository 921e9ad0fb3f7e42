"""The wire contracts: checked-in JSON Schemas match the code; money is exact."""

from decimal import Decimal

import pytest

from schemas import export
from schemas.money import display, from_micros, to_micros
from schemas.topics import ALL_TOPICS


@pytest.mark.parametrize("name", sorted(export.SCHEMAS))
def test_the_checked_in_json_schema_matches_the_code(name: str) -> None:
    checked_in = (export.OUT / f"{name}.json").read_text()

    assert checked_in == export.render(name), f"run `python -m schemas.export` and commit schemas/json/{name}.json"


def test_every_schema_file_is_generated_from_a_model() -> None:
    assert {p.stem for p in export.OUT.glob("*.json")} == set(export.SCHEMAS)


@pytest.mark.parametrize(
    ("credits", "micros"),
    [
        (Decimal("0.15"), 150_000),
        (Decimal("-2.5"), -2_500_000),
        (Decimal("0.000001"), 1),
        (Decimal(300), 300_000_000),
    ],
)
def test_credits_convert_exactly_to_micro_credits_and_back(credits: Decimal, micros: int) -> None:
    assert to_micros(credits) == micros
    assert from_micros(micros) == credits


def test_a_seventh_decimal_place_is_refused_rather_than_rounded_silently() -> None:
    with pytest.raises(ValueError, match="decimal places"):
        to_micros(Decimal("0.0000001"))


def test_display_drops_trailing_zeros() -> None:
    assert display(95_500_000) == "95.5"
    assert display(-150_000) == "-0.15"


def test_topics_are_unique_and_partitioned() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))
    assert all(t.partitions > 1 for t in ALL_TOPICS)
