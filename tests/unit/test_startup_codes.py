"""Exit codes have one definition that the docs and the stop watchdog agree with; a malformed
secret key is reported by its position, never by its value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.secrets import SecretBox, SecretsNotConfigured
from workers.exit_codes import ExitCode

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_exit_codes_are_distinct_and_each_is_documented() -> None:
    assert len(ExitCode.__members__) == len({int(c) for c in ExitCode})  # no aliases
    section = DOCS.read_text().split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert {int(c) for c in ExitCode} <= documented


@pytest.mark.parametrize("bad", ["short", "x" * 44, "é" * 43 + "="])
def test_a_malformed_key_is_named_by_position_never_by_value(bad: str) -> None:
    with pytest.raises(SecretsNotConfigured) as caught:
        SecretBox([SecretBox.new_key(), bad, SecretBox.new_key()])
    assert "INVOICE_ROUTER_SECRET_KEYS entry 2 of 3 is not a Fernet key" in str(caught.value)
    assert bad not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
