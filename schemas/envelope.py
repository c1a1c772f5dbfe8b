"""CloudEvents 1.0 envelope in structured JSON mode.

One envelope for every topic lets generic tooling (dead-letter replay, audit, tracing) read any
record without knowing its payload.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Identifier, Timestamp

DataT = TypeVar("DataT", bound=BaseModel)

SPEC_VERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE = "application/json"


class CloudEvent(BaseModel, Generic[DataT]):
    """The CloudEvents context attributes we require, plus the typed `data`.

    Extension attributes (e.g. `traceparent`) are allowed at top level, as the spec permits.
    """

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    specversion: Literal["1.0"]
    id: Identifier
    source: Identifier = Field(
        description="URI-reference of the producer, e.g. urn:connector:ovoko"
    )
    type: str
    subject: Identifier | None = None
    time: Timestamp
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    # `_` for multi-word types such as invoice.clearance_changed
    dataschema: str = Field(pattern=r"^urn:invoice-router:schema:[a-z._]+:v\d+$")
    data: DataT


def dataschema_for(event_type: str, version: int = 1) -> str:
    """Versioned schema URN for an event type; bump the version on breaking changes only."""
    return f"urn:invoice-router:schema:{event_type}:v{version}"
