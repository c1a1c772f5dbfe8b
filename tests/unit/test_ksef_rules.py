"""KSeF rules in the domain: provider statuses, offline deadlines, text KSeF accepts."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.ksef import (
    FAKTUROWNIA_GOV_STATUS,
    WARSAW,
    ClearanceAction,
    ClearanceStatus,
    StatusRule,
    business_day_after,
    fakturownia_rule,
    hours_left,
    is_business_day,
    ksef_text,
    offline_deadline,
)

S, A = ClearanceStatus, ClearanceAction

# --- Fakturownia gov_status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gov_status", "status", "action"),
    [
        ("processing", S.PENDING, A.REREAD),
        ("ok", S.CLEARED, A.FINAL),
        ("send_error", S.REJECTED, A.FINAL),
        ("server_error", S.PENDING, A.RESEND),
        ("status_check_error", S.PENDING, A.REREAD),
        ("duplicate_error", S.PENDING, A.RECONCILE_DUPLICATE),
        ("blocked_403_error", S.PENDING, A.NEEDS_AUTHORIZATION),
        ("not_connected", S.PENDING, A.NEEDS_AUTHORIZATION),
        ("offline", S.OFFLINE, A.REREAD),
        ("offline_error", S.OFFLINE, A.RESEND),
        ("not_applicable", S.NOT_APPLICABLE, A.FINAL),
        (None, S.PENDING, A.REREAD),
        ("", S.PENDING, A.REREAD),
    ],
)
def test_every_documented_gov_status_has_a_rule(
    gov_status: str | None, status: ClearanceStatus, action: ClearanceAction
) -> None:
    assert fakturownia_rule(gov_status) == StatusRule(status, action)


def test_demo_statuses_follow_their_production_rule() -> None:
    for name, rule in FAKTUROWNIA_GOV_STATUS.items():
        if name is not None:
            assert fakturownia_rule(f"demo_{name}") == rule


def test_the_table_covers_the_guides_twelve_statuses() -> None:
    # KSeF.md "Możliwe statusy (gov_status)": 11 named production values plus null
    assert len(FAKTUROWNIA_GOV_STATUS) == 12


def test_status_check_error_is_never_re_sent() -> None:
    assert fakturownia_rule("status_check_error").action is not A.RESEND
    assert fakturownia_rule("demo_status_check_error").action is not A.RESEND


def test_an_unknown_status_is_only_re_read() -> None:
    assert fakturownia_rule("quantum_error") == StatusRule(S.PENDING, A.REREAD)


# --- offline24 deadline -------------------------------------------------------------------------


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59, 999999), tzinfo=WARSAW)


@pytest.mark.parametrize(
    ("issued", "due"),
    [
        (dt.date(2026, 12, 1), dt.date(2026, 12, 2)),  # Tuesday -> Wednesday
        (dt.date(2026, 12, 4), dt.date(2026, 12, 7)),  # Friday -> Monday
        (dt.date(2026, 12, 5), dt.date(2026, 12, 7)),  # Saturday -> Monday
        (dt.date(2026, 12, 6), dt.date(2026, 12, 7)),  # Sunday -> Monday
        # 24 (Christmas Eve, a holiday since 2025), 25 and 26 Dec, then Sunday the 27th
        (dt.date(2026, 12, 23), dt.date(2026, 12, 28)),
        (dt.date(2026, 12, 24), dt.date(2026, 12, 28)),
        (dt.date(2026, 12, 31), dt.date(2027, 1, 4)),  # New Year (Fri), weekend
        (dt.date(2027, 1, 5), dt.date(2027, 1, 7)),  # Epiphany (Wed 6 Jan)
        (dt.date(2027, 3, 26), dt.date(2027, 3, 30)),  # Easter Monday 29 Mar 2027
        (dt.date(2026, 11, 10), dt.date(2026, 11, 12)),  # Independence Day (Wed 11 Nov)
        (dt.date(2027, 4, 30), dt.date(2027, 5, 4)),  # 1 May on Saturday, 3 May on Monday
    ],
)
def test_offline24_deadline_is_the_end_of_the_next_business_day(
    issued: dt.date, due: dt.date
) -> None:
    deadline = offline_deadline(issued)
    assert deadline == _end_of(due)
    assert deadline.tzinfo is WARSAW
    assert deadline.date() == due


def test_deadline_carries_the_warsaw_offset_of_its_day() -> None:
    assert offline_deadline(dt.date(2027, 1, 5)).isoformat() == "2027-01-07T23:59:59.999999+01:00"
    assert offline_deadline(dt.date(2027, 3, 26)).isoformat() == "2027-03-30T23:59:59.999999+02:00"


def test_emergency_mode_counts_seven_business_days_from_the_end_of_the_failure() -> None:
    # failure ends Wed 23 Dec 2026; 24-26 Dec holidays, weekends skipped
    assert offline_deadline(dt.date(2026, 12, 23), business_days=7) == _end_of(dt.date(2027, 1, 7))


def test_business_days() -> None:
    assert not is_business_day(dt.date(2026, 12, 24))
    assert not is_business_day(dt.date(2027, 3, 29))
    assert not is_business_day(dt.date(2026, 12, 5))
    assert is_business_day(dt.date(2026, 12, 28))
    assert business_day_after(dt.date(2026, 12, 23), 2) == dt.date(2026, 12, 29)
    with pytest.raises(ValueError):
        business_day_after(dt.date(2026, 12, 23), 0)


def test_hours_left_counts_real_hours_across_a_dst_change() -> None:
    # issued Friday 23 Oct 2026; deadline Monday 26 Oct; clocks go back on Sunday the 25th
    deadline = offline_deadline(dt.date(2026, 10, 23))
    saturday_noon = dt.datetime(2026, 10, 24, 12, 0, tzinfo=WARSAW)
    wall_clock = 2 * 24 + 12  # noon Saturday to midnight Monday/Tuesday on the wall clock
    assert hours_left(deadline, saturday_noon) == pytest.approx(wall_clock + 1, abs=1e-6)
    assert hours_left(deadline, saturday_noon.astimezone(dt.UTC)) == pytest.approx(
        wall_clock + 1, abs=1e-6
    )


def test_hours_left_goes_negative_once_overdue_and_needs_aware_times() -> None:
    deadline = offline_deadline(dt.date(2026, 12, 1))  # end of Wed 2 Dec
    assert hours_left(deadline, dt.datetime(2026, 12, 3, 1, 0, tzinfo=WARSAW)) == pytest.approx(
        -1.0, abs=1e-6
    )
    with pytest.raises(ValueError):
        hours_left(deadline, dt.datetime(2026, 12, 1, 12, 0))


# --- text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Klocki hamulcowe", "Klocki hamulcowe"),
        ("Klocki\thamulcowe", "Klocki hamulcowe"),
        ("Filtr\r\noleju\n", "Filtr  oleju"),
        ("Olej\x00 5W30\x07", "Olej 5W30"),
        ("SAMOOBS\u0141\u0081UGA", "SAMOOBS\u0141UGA"),  # C1 control from mis-decoded UTF-8
        ("Opona\ufffe\uffff", "Opona"),
        ("Zażółć gęślą jaźń 👍🏽", "Zażółć gęślą jaźń 👍🏽"),
        ("\x01\x02", ""),
    ],
)
def test_ksef_text_drops_control_characters(raw: str, clean: str) -> None:
    assert ksef_text(raw) == clean
    assert ksef_text(clean) == clean  # idempotent


def test_the_fast_check_finds_exactly_the_characters_ksef_refuses() -> None:
    """`ksef_text` skips its per-character pass when the pattern finds nothing: the pattern
    must match every character `_drops` refuses and no other, over all of Unicode."""
    from domain.ksef import _DROPPED, _drops

    differ = [c for c in range(0x110000) if bool(_DROPPED.match(chr(c))) != _drops(chr(c))]
    assert differ == []
