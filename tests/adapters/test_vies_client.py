"""The VIES client against the VIES simulator over real HTTP: definite answers (valid, invalid,
INVALID_INPUT) versus `ViesUnavailable` for every way VIES fails to answer."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import AsyncIterator

import pytest

from adapters.vies import ViesClient, ViesResult, ViesUnavailable
from adapters.vies.answers import interpret
from simulators.vies import FaultRule, KnownNumber, ViesSimulator

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
NUMBERS = [
    KnownNumber(vat_id="DE123456789", name="Teile GmbH", address="Hauptstr. 1, Berlin"),
    KnownNumber(vat_id="FR40303265045", valid=False),
    KnownNumber(vat_id="EL094259216"),  # a state that does not disclose names
]


@pytest.fixture
async def vies() -> AsyncIterator[tuple[ViesSimulator, str]]:
    sim = ViesSimulator(NUMBERS, shutdown_timeout=0.2)
    async with sim.serve() as url:
        yield sim, url


@pytest.fixture
async def client(vies: tuple[ViesSimulator, str]) -> AsyncIterator[ViesClient]:
    client = ViesClient(base_url=vies[1], timeout=1.0, clock=lambda: NOW)
    yield client
    await client.aclose()


async def test_a_registered_number_is_valid(client: ViesClient) -> None:
    assert await client.check("DE123456789") == ViesResult(
        vat_id="DE123456789", valid=True, checked_at=NOW, name="Teile GmbH", request_id=None
    )


async def test_spacing_case_and_the_iso_code_of_greece_are_normalised(
    client: ViesClient, vies: tuple[ViesSimulator, str]
) -> None:
    assert (await client.check("de 123.456-789")).vat_id == "DE123456789"
    result = await client.check("GR094259216")
    assert result.vat_id == "EL094259216" and result.valid and result.name is None
    assert [r.vat_id for r in vies[0].request_log()] == ["DE123456789", "EL094259216"]


async def test_unregistered_and_deactivated_numbers_are_definitely_invalid(
    client: ViesClient,
) -> None:
    for vat_id in ("DE999999999", "FR40303265045"):
        result = await client.check(vat_id)
        assert not result.valid and result.name is None and result.checked_at == NOW


async def test_invalid_input_is_a_definite_invalid(client: ViesClient) -> None:
    assert await client.check("XX123456789") == ViesResult("XX123456789", False, NOW)
    assert not (await client.check("DE12#45")).valid


def test_a_vat_id_without_its_prefix_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="country prefix"):
        ViesClient(requester="5252445767")


async def test_a_requester_makes_the_check_qualified(vies: tuple[ViesSimulator, str]) -> None:
    client = ViesClient(base_url=vies[1], requester="PL 525-244-57-67")
    try:
        result = await client.check("DE123456789")
    finally:
        await client.aclose()
    assert result.valid and result.request_id is not None and result.request_id.startswith("WAPI")


@pytest.mark.parametrize(
    "fault",
    [
        FaultRule(action="vies_error", error="MS_UNAVAILABLE"),
        FaultRule(action="vies_error", error="MS_UNAVAILABLE", status=500),
        FaultRule(action="vies_error", error="TIMEOUT"),
        FaultRule(action="vies_error", error="SERVICE_UNAVAILABLE", status=500),
        FaultRule(action="vies_error", error="MS_MAX_CONCURRENT_REQ"),
        FaultRule(action="vies_error", error="GLOBAL_MAX_CONCURRENT_REQ"),
    ],
    ids=lambda rule: f"{rule.error}-{rule.status or 'default'}",
)
async def test_vies_errors_are_unavailable(
    client: ViesClient, vies: tuple[ViesSimulator, str], fault: FaultRule
) -> None:
    vies[0].add_fault("vies", fault)
    with pytest.raises(ViesUnavailable) as raised:
        await client.check("DE123456789")
    assert raised.value.code == fault.error
    assert (await client.check("DE123456789")).valid  # VIES answers again


async def test_a_member_state_down_is_unavailable(
    client: ViesClient, vies: tuple[ViesSimulator, str]
) -> None:
    vies[0].set_available("DE", False)
    with pytest.raises(ViesUnavailable, match="MS_UNAVAILABLE"):
        await client.check("DE123456789")
    assert not (await client.check("FR40303265045")).valid  # France still answers


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_the_service_down_is_unavailable(
    client: ViesClient, vies: tuple[ViesSimulator, str], status: int
) -> None:
    vies[0].add_fault("vies", FaultRule(action="http_5xx", status=status))
    with pytest.raises(ViesUnavailable) as raised:
        await client.check("DE123456789")
    assert raised.value.code == f"http_{status}"


async def test_a_slow_vies_is_unavailable(
    client: ViesClient, vies: tuple[ViesSimulator, str]
) -> None:
    vies[0].add_fault("vies", FaultRule(action="latency", delay_ms=1500))  # client waits 1 s
    with pytest.raises(ViesUnavailable) as raised:
        await client.check("DE123456789")
    assert raised.value.code == "unreachable" and "ReadTimeout" in raised.value.message


async def test_a_dropped_connection_is_unavailable(
    client: ViesClient, vies: tuple[ViesSimulator, str]
) -> None:
    vies[0].add_fault("vies", FaultRule(action="drop"))
    with pytest.raises(ViesUnavailable, match="unreachable"):
        await client.check("DE123456789")


async def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ViesClient(base_url=f"http://127.0.0.1:{port}", timeout=1.0)
    try:
        with pytest.raises(ViesUnavailable, match="ConnectError"):
            await client.check("DE123456789")
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (200, None, "http_200"),  # not JSON (a proxy's page with 200)
        (200, {"countryCode": "DE"}, "malformed"),  # no `valid`
        (404, {"message": "not found"}, "http_404"),
        (
            200,
            {"isValid": False, "userError": "MS_MAX_CONCURRENT_REQ_TIME"},
            "MS_MAX_CONCURRENT_REQ_TIME",
        ),
        (
            200,
            {"actionSucceed": False, "errorWrappers": [{"error": "ms_unavailable"}]},
            "MS_UNAVAILABLE",
        ),
    ],
)
def test_answers_without_a_result_are_unavailable(status: int, body: object, code: str) -> None:
    with pytest.raises(ViesUnavailable) as raised:
        interpret(status, body, vat_id="DE123456789", checked_at=NOW)
    assert raised.value.code == code


def test_the_get_endpoints_answers_are_read_too() -> None:
    body = {"isValid": True, "userError": "VALID", "name": "Teile GmbH", "requestIdentifier": ""}
    assert interpret(200, body, vat_id="DE123456789", checked_at=NOW) == ViesResult(
        "DE123456789", True, NOW, name="Teile GmbH"
    )
    invalid = {"isValid": False, "userError": "INVALID", "name": "---"}
    assert not interpret(200, invalid, vat_id="DE123456789", checked_at=NOW).valid
