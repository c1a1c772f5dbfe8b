"""Whatever bytes a producer sends, parsing answers a dead-letter reason (never a traceback),
and names fields in the same notation as invoice.failed violations."""

from __future__ import annotations

import json

import pytest

from domain.preflight import PreflightFailed, check_order
from schemas.orders import OrderCompleted
from schemas.paths import field_path
from tests import factories as f
from workers.parsing import MAX_DEPTH, nesting_depth, parse
from workers.records import DeadLettered, RawRecord

TOPIC = "orders.ovoko"


def record(value: bytes | None) -> RawRecord:
    return RawRecord(TOPIC, 0, 7, b"K", value, [])


def dead(value: bytes | None) -> DeadLettered:
    outcome = parse(record(value))
    assert isinstance(outcome, DeadLettered), outcome
    return outcome


def valid_event() -> dict:
    return f.completed("s1", "ovoko", f.order())


def test_a_valid_event_parses() -> None:
    assert isinstance(parse(record(json.dumps(valid_event()).encode())), OrderCompleted)


@pytest.mark.parametrize("depth", [10_000, 1_000, 300, MAX_DEPTH + 1])
@pytest.mark.parametrize("open_close", [("[", "]"), ('{"a":', "}")])
def test_deep_nesting_is_malformed_json_not_an_internal_error(
    depth: int, open_close: tuple[str, str]
) -> None:
    opening, closing = open_close
    out = dead((opening * depth + "1" + closing * depth).encode())
    assert out.reason.code == "malformed_json"
    assert f"nested deeper than {MAX_DEPTH} levels" in out.reason.message


def test_deep_nesting_inside_a_field_is_malformed_json() -> None:
    event = valid_event()
    event["data"]["order"]["lines"][0]["name"] = "x"
    text = json.dumps(event).replace('"x"', "[" * 500 + "]" * 500)
    assert dead(text.encode()).reason.code == "malformed_json"


def test_brackets_inside_strings_are_not_nesting() -> None:
    assert nesting_depth('{"a": "[[[[{{{{\\"[[[[", "b": [1, {"c": "]]]"}]}') == 3
    event = valid_event()
    event["data"]["order"]["lines"][0]["name"] = "[" * 100 + '\\"' + "{" * 100
    assert isinstance(parse(record(json.dumps(event).encode())), OrderCompleted)


@pytest.mark.parametrize("value", [b"\x00abcd", b"\x00\x7b\x00\x7d", b"\x00", b"\x00\x00\x00{\x00"])
def test_nul_leading_bytes_are_judged_as_utf8(value: bytes) -> None:
    out = dead(value)
    assert out.reason.code == "malformed_json"
    assert "utf-16" not in out.reason.message.lower()
    assert "utf-32" not in out.reason.message.lower()
    assert out.reason.message.startswith("value is not JSON: ")


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (b"\xff\xfe{\x00}\x00", "invalid start byte 0xff at position 0"),
        (b'{"a": "\xc3\x28"}', "invalid continuation byte 0xc3 at position 7"),
        # UTF-16 with a BOM is valid JSON to json.loads(bytes), but not UTF-8
        ('{"a": 1}'.encode("utf-16"), "invalid start byte 0xff at position 0"),
    ],
)
def test_non_utf8_is_malformed_json_with_the_offending_byte(value: bytes, detail: str) -> None:
    out = dead(value)
    assert out.reason.code == "malformed_json"
    assert out.reason.message == f"value is not JSON: not UTF-8 ({detail})"


@pytest.mark.parametrize("value", [None, b"", b"{", b"nul\x00"])
def test_other_non_json_is_malformed_json(value: bytes | None) -> None:
    assert dead(value).reason.code == "malformed_json"


def test_schema_errors_use_the_violation_notation() -> None:
    event = valid_event()
    del event["data"]["order"]["lines"][0]["vat_rate"]
    out = dead(json.dumps(event).encode())
    assert out.reason.code == "schema_invalid"
    assert out.reason.message == "data.order.lines[0].vat_rate: Field required"


def test_schema_and_preflight_paths_come_from_one_helper() -> None:
    assert field_path(("data", "order", "lines", 0, "vat_rate")) == "data.order.lines[0].vat_rate"
    assert field_path(("lines", 0, 1, "x")) == "lines[0][1].x"
    body = f.order()
    body["lines"][0]["quantity"] = "0"
    event = f.completed("s1", "ovoko", body)
    parsed = parse(record(json.dumps(event).encode()))
    assert isinstance(parsed, OrderCompleted)
    with pytest.raises(PreflightFailed) as err:
        check_order(parsed.data.order)
    assert "order.lines[0].quantity" in {v.field for v in err.value.violations}


def test_an_unknown_event_type_has_no_empty_path() -> None:
    event = valid_event()
    event["type"] = "order.exploded"
    message = dead(json.dumps(event).encode()).reason.message
    assert not message.startswith(":") and "order.exploded" in message


def test_many_shallow_brackets_are_not_deep_and_few_brackets_need_no_scan() -> None:
    """The depth scan runs only past MAX_DEPTH opening brackets (it cannot be deeper than
    that); a wide but shallow order still parses, and malformed JSON is still named."""
    event = valid_event()
    line = event["data"]["order"]["lines"][0]
    event["data"]["order"]["lines"] = [{**line, "line_id": f"L{i}"} for i in range(MAX_DEPTH * 2)]
    assert isinstance(parse(record(json.dumps(event).encode())), OrderCompleted)
    broken = dead(b'{"a": [1, 2,]}')
    assert broken.reason.code == "malformed_json"
    assert broken.reason.message.startswith("value is not JSON: Expecting value")
