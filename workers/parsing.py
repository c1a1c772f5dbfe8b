"""A consumed record's value to an order event, or a dead-letter reason saying what is wrong.

Anything a producer can send is bad input, never an internal error: the value is decoded
strictly as UTF-8 (json.loads would sniff UTF-16/32 from leading NUL bytes and blame a codec),
and its nesting depth is bounded before any parser recurses into it (a 10,000-deep array
would otherwise raise RecursionError in json.loads, or a json_invalid error in pydantic).
"""

from __future__ import annotations

import json
import re

from pydantic import TypeAdapter, ValidationError

from schemas.deadletter import DeadLetterReason
from schemas.orders import OrderCompleted, OrderEvent, OrderRefunded
from schemas.paths import field_path
from schemas.topics import channel_of
from workers.records import DeadLettered, RawRecord

ORDER_EVENT: TypeAdapter[OrderCompleted | OrderRefunded] = TypeAdapter(OrderEvent)
# An order event nests about 5 levels deep; pydantic's own JSON parser gives up near 200.
MAX_DEPTH = 32
MAX_ERRORS = 20
_EVENT_TYPES = frozenset({"order.completed", "order.refunded"})  # the union's tags in `loc`
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def dead(record: RawRecord, code: str, message: str, exc: BaseException) -> DeadLettered:
    """A dead-letter outcome whose reason names the exception's type, never its input."""
    return DeadLettered(record, DeadLetterReason(code, message, type(exc).__qualname__))


class TooDeep(ValueError):
    pass


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside string literals, without recursing."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def decode_json(value: bytes) -> str:
    """`value` as text whose nesting pydantic's parser can take; raises ValueError with a
    reason that never quotes the value. Whether it is JSON at all, pydantic finds out while
    validating (one parse per record), and `json_error` says why it is not."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8 ({exc.reason} 0x{value[exc.start]:02x} at position {exc.start})"
        ) from exc
    # no deeper than its number of opening brackets: most orders need no scan at all
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    return text


def json_error(text: str) -> ValueError | None:
    """Why `text` is not JSON, in json's words (which name the position, never the input)."""
    try:
        json.loads(text)
    except RecursionError:  # not expected below MAX_DEPTH; bad input all the same
        return TooDeep("nested too deeply")
    except ValueError as exc:
        return exc
    return None


def describe_validation_error(exc: ValidationError) -> str:
    """`data.order.lines[0].vat_rate: Field required` lines, without echoing input values; the
    paths are written like invoice.failed violations' (schemas/paths.py)."""
    described = []
    for err in exc.errors(include_input=False)[:MAX_ERRORS]:
        loc = list(err["loc"])
        if loc and loc[0] in _EVENT_TYPES:
            loc = loc[1:]  # the discriminated union's tag is not a field of the document
        path = field_path(loc)
        described.append(f"{path}: {err['msg']}" if path else err["msg"])
    return "; ".join(described)


def parse(record: RawRecord) -> OrderCompleted | OrderRefunded | DeadLettered:
    """The event, or the record dead-lettered as malformed_json, schema_invalid or
    channel_mismatch; raises nothing for any value a producer can send."""
    try:
        text = decode_json(record.value or b"")
    except ValueError as exc:
        cause = exc.__cause__ or exc
        return dead(record, "malformed_json", f"value is not JSON: {exc}", cause)
    try:
        # JSON mode: strict models still accept RFC 3339 strings for times
        event = ORDER_EVENT.validate_json(text)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        if all(e["type"] == "json_invalid" for e in errors):
            why = json_error(text)  # json's message where it has one, pydantic's otherwise
            message = str(why) if why is not None else errors[0]["msg"]
            return dead(record, "malformed_json", f"value is not JSON: {message}", why or exc)
        return dead(record, "schema_invalid", describe_validation_error(exc), exc)
    channel = channel_of(record.topic)
    if event.data.channel != channel:
        err = ValueError(f"event channel {event.data.channel!r} arrived on {record.topic!r}")
        return dead(record, "channel_mismatch", str(err), err)
    return event
