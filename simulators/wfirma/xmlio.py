"""XML, wFirma's default format (reference §2.1): enough to make a missing format flag visible.

A client that forgets ``inputFormat=json`` gets its JSON body read as XML (``INPUT ERROR``), and
one that forgets both flags gets XML back. Numbered JSON keys become repeated singular elements
under an ``<api>`` root, as in the official XML examples.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from .envelope import unwrap_api


def render(payload: dict[str, Any]) -> bytes:
    root = ElementTree.Element("api")
    _fill(root, payload)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, "utf-8")


def _fill(parent: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if key.isdigit():  # {"0": {"invoice": {...}}}: the numbered level has no element
                _fill(parent, child)
                continue
            _fill(ElementTree.SubElement(parent, key), child)
    elif isinstance(value, list):
        for child in value:
            _fill(parent, child)
    elif value is not None and value is not False:
        parent.text = str(value)


def parse(raw: bytes) -> dict[str, Any]:
    """Parse a request body; repeated tags become lists. ValueError when it is not XML."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise ValueError(str(exc)) from exc
    value = _element(root)
    return unwrap_api({root.tag: value}) if isinstance(value, dict) else {}


def _element(element: ElementTree.Element) -> Any:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    result: dict[str, Any] = {}
    for child in children:
        value = _element(child)
        if child.tag in result:
            previous = result[child.tag]
            result[child.tag] = (
                [*previous, value] if isinstance(previous, list) else [previous, value]
            )
        else:
            result[child.tag] = value
    return result
