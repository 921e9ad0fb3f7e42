"""The wire contracts: checked-in JSON Schemas match the code; money is exact."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from schemas import export
from schemas.common import UtcDatetime, json_time
from schemas.money import display, from_micros, json_credits, repeated_json_credits, repeated_micros, to_micros
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
    assert display(300_000_000) == "300"
    assert display(0) == "0"


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))  # what MongoDB stores (int64)
def test_display_writes_what_the_exact_decimal_writes(micros: int) -> None:
    assert display(micros) == format(from_micros(micros).normalize(), "f")


@given(st.lists(st.decimals(min_value=-(10**12), max_value=10**12, places=6), max_size=20))
def test_remembered_conversions_answer_as_the_conversions_do(amounts: list[Decimal]) -> None:
    for amount in [Decimal("0"), Decimal("-0"), Decimal("0.150"), Decimal("0.15"), *amounts]:
        assert repeated_json_credits(amount) == json_credits(amount)
        assert repeated_micros(amount) == to_micros(amount)


offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))
instants = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=offsets)  # noqa: DTZ001


@given(instants)
def test_an_instant_is_written_as_its_utc_isoformat_with_z(at: datetime) -> None:
    assert json_time(at) == at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@given(instants)
def test_an_instant_is_written_as_the_wire_models_write_it(at: datetime) -> None:
    wire = TypeAdapter(UtcDatetime)
    assert json_time(at) == wire.dump_python(wire.validate_python(at), mode="json")


def test_topics_are_unique_and_tenant_topics_are_partitioned() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))
    single = (
        "scheduler.ticks",
        "subscriptions.catalogue",
        "webhooks.commands",
    )  # one ordered stream each, not tenant-scoped
    assert all(t.partitions > 1 for t in ALL_TOPICS if t.name not in single)


def test_the_checked_in_asyncapi_document_matches_the_code() -> None:
    from schemas import asyncapi

    assert asyncapi.OUT.read_text() == asyncapi.render(), "run `python -m schemas.asyncapi` and commit it"


def test_the_asyncapi_document_covers_every_topic_and_every_reference_resolves() -> None:
    import json

    from schemas import asyncapi

    doc = json.loads(asyncapi.render())
    assert {c["address"] for c in doc["channels"].values()} == {t.name for t in ALL_TOPICS}

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        target: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]
