"""Strict JSON round-tripping for the simulators' configuration dataclasses.

Config objects are plain dataclasses so tests build them inline; the standalone processes
(config files, ``/__sim/`` control API) read and write exactly the same shapes as JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self, TypeVar

_T = TypeVar("_T")


def from_mapping(cls: type[_T], data: dict[str, Any]) -> _T:
    """Build a dataclass from JSON, rejecting unknown keys so config typos fail loudly."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    return cls(**data)


class FromDict:
    """``from_dict`` for a config dataclass (see ``from_mapping``)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return from_mapping(cls, data)


class JsonConfig(FromDict):
    """``from_dict`` and ``to_dict`` for a config dataclass that is also written back as JSON."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]
