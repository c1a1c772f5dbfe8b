"""`invoice-router channel ...` and `status` through click, on SQLite (same service as the API)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from config.secrets import SecretBox
from config.settings import get_settings
from workers.cli import main

CONFIG = """
sellers:
  - id: s1
    name: Auto Części
    connections:
      - name: main
        provider: fakturownia
        credentials: {api_token: "${TOKEN_S1}"}
        options: {account: one}
    channels: []
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("INVOICE_ROUTER_SECRET_KEYS", SecretBox.new_key())
    monkeypatch.setenv("TOKEN_S1", "plain-token-77e1")
    get_settings.cache_clear()
    runner = CliRunner()
    (tmp_path / "sellers.yaml").write_text(CONFIG)
    for args in (["db", "upgrade"], ["config", "apply", str(tmp_path / "sellers.yaml")]):
        assert runner.invoke(main, args).exit_code == 0
    yield runner
    get_settings.cache_clear()


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


def test_channel_set_list_and_toggle(cli: CliRunner) -> None:
    done = run(cli, "channel", "set", "s1", "ovoko", "--target", "101", "--policy", "invoice_only")
    assert done.exit_code == 0, done.output
    assert done.output.split("\n")[1].split() == [
        "ovoko",
        "main",
        "101",
        "on",
        "invoice_only",
        "no",
    ]
    assert run(cli, "channel", "disable", "s1", "ovoko").output == "ovoko: auto-generate off\n"
    listed = run(cli, "channel", "list", "s1").output
    assert listed.split("\n")[1].split()[:4] == ["ovoko", "main", "101", "off"]


def test_channel_errors_are_one_line(cli: CliRunner) -> None:
    unknown = run(cli, "channel", "set", "s1", "shop", "--connection", "nope")
    assert unknown.exit_code == 1 and "no connection named 'nope'" in unknown.output
    bad = run(cli, "channel", "set", "s1", "Shop!")
    assert bad.exit_code == 1 and "channel: String should match pattern" in bad.output
    assert "no mapping for channel 'x'" in run(cli, "channel", "remove", "s1", "x").output


def test_status_as_a_table_and_as_json(cli: CliRunner) -> None:
    run(cli, "channel", "set", "s1", "ovoko", "--target", "101")
    table = run(cli, "status").output.splitlines()
    assert table[0] == "s1  Auto Części"
    assert table[1] == "  connection main (fakturownia): ok"
    assert table[3].split() == [
        "channel",
        "connection",
        "target",
        "auto",
        "issued",
        "failed",
        "parked",
        "skipped",
    ]
    assert table[4].split() == ["ovoko", "main", "101", "on", "0", "0", "0", "0"]
    report = json.loads(run(cli, "status", "s1", "--json").output)
    assert report["sellers"][0]["channels"][0]["mapping"]["target"] == "101"
    assert "plain-token-77e1" not in json.dumps(report)
    assert run(cli, "status", "nobody").exit_code == 1


def test_secrets_rotate_leaves_nothing_for_the_old_key(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = os.environ["INVOICE_ROUTER_SECRET_KEYS"], SecretBox.new_key()
    monkeypatch.setenv("INVOICE_ROUTER_SECRET_KEYS", f"{new},{old}")
    get_settings.cache_clear()
    done = run(cli, "secrets", "rotate")
    assert done.output == "re-encrypted 1 connection(s) and 0 OAuth grant(s)\n"
    monkeypatch.setenv("INVOICE_ROUTER_SECRET_KEYS", new)  # the old key retired
    get_settings.cache_clear()
    shown = run(cli, "config", "show")
    assert shown.exit_code == 0 and "api_token" in shown.output
    assert "plain-token-77e1" not in shown.output
    monkeypatch.setenv("INVOICE_ROUTER_SECRET_KEYS", old)
    get_settings.cache_clear()
    refused = cli.invoke(main, ["config", "show"])  # a rotated value no longer opens with it
    assert refused.exit_code != 0
