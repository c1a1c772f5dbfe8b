"""Fidelity of the VIES simulator over real HTTP: both check endpoints as the EC documents
them, the registry, member states going down, every fault, the control API and the process."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from simulators.vies import FaultRule, KnownNumber, ViesSimulator
from tests.simulators.support import served_in_thread, standalone

NOW = dt.datetime(2026, 12, 7, 9, 30, 15, 123000, tzinfo=dt.UTC)
GMBH = KnownNumber(vat_id="DE123456789", name="Teile GmbH", address="Hauptstr. 1, Berlin")


@pytest.fixture
def sim() -> ViesSimulator:
    return ViesSimulator(
        [GMBH, KnownNumber(vat_id="FR40303265045", valid=False)],
        clock=lambda: NOW,
        shutdown_timeout=0.2,
    )


async def check(http: httpx.AsyncClient, vat_id: str, **extra: str) -> httpx.Response:
    return await http.post(
        "/check-vat-number", json={"countryCode": vat_id[:2], "vatNumber": vat_id[2:], **extra}
    )


async def test_a_registered_number_is_valid_with_name_and_address(
    http: httpx.AsyncClient,
) -> None:
    answer = await check(http, "DE123456789")
    assert answer.status_code == 200
    body = answer.json()
    assert body["countryCode"] == "DE" and body["vatNumber"] == "123456789"
    assert body["valid"] is True
    assert body["name"] == "Teile GmbH" and body["address"] == "Hauptstr. 1, Berlin"
    assert body["requestDate"] == "2026-12-07T09:30:15.123Z"
    assert body["requestIdentifier"] == ""  # no requester: no consultation number
    assert body["traderNameMatch"] == "NOT_PROCESSED"


async def test_a_requester_gets_a_consultation_number_per_check(http: httpx.AsyncClient) -> None:
    requester = {"requesterMemberStateCode": "PL", "requesterNumber": "5252445767"}
    first = (await check(http, "DE123456789", **requester)).json()["requestIdentifier"]
    second = (await check(http, "DE123456789", **requester)).json()["requestIdentifier"]
    assert first.startswith("WAPI") and second.startswith("WAPI") and first != second


async def test_unregistered_and_deactivated_numbers_are_not_valid(
    http: httpx.AsyncClient,
) -> None:
    for vat_id in ("DE999999999", "FR40303265045"):
        body = (await check(http, vat_id)).json()
        assert body["valid"] is False
        assert body["name"] == "---" and body["address"] == "---"


async def test_input_vies_refuses_is_invalid_input(http: httpx.AsyncClient) -> None:
    for country, number in (("XX", "123456789"), ("DE", ""), ("DE", "12#4")):
        answer = await http.post(
            "/check-vat-number", json={"countryCode": country, "vatNumber": number}
        )
        assert answer.status_code == 400
        assert answer.json()["actionSucceed"] is False
        assert answer.json()["errorWrappers"][0]["error"] == "INVALID_INPUT"
    answer = await check(http, "DE123456789", requesterMemberStateCode="PL")
    assert answer.json()["errorWrappers"][0]["error"] == "INVALID_REQUESTER_INFO"


async def test_greece_is_el_in_vies(http: httpx.AsyncClient, sim: ViesSimulator) -> None:
    sim.register(KnownNumber(vat_id="GR094259216", name="Anon AE"))
    assert [n.vat_id for n in sim.numbers()][-1] == "EL094259216"
    assert (await check(http, "EL094259216")).json()["valid"] is True
    assert (await check(http, "GR094259216")).status_code == 400  # VIES knows no GR


async def test_the_get_endpoint_reports_in_user_error(
    http: httpx.AsyncClient, sim: ViesSimulator
) -> None:
    body = (await http.get("/ms/DE/vat/123456789")).json()
    assert body["isValid"] is True and body["userError"] == "VALID"
    assert body["name"] == "Teile GmbH" and body["vatNumber"] == "123456789"
    assert (await http.get("/ms/DE/vat/999999999")).json()["userError"] == "INVALID"
    sim.set_available("DE", False)
    answer = await http.get("/ms/DE/vat/123456789")
    assert answer.status_code == 200
    assert answer.json()["isValid"] is False
    assert answer.json()["userError"] == "MS_UNAVAILABLE"


async def test_a_member_state_down_answers_ms_unavailable_until_back(
    http: httpx.AsyncClient, sim: ViesSimulator
) -> None:
    sim.set_available("DE", False)
    answer = await check(http, "DE123456789")
    assert answer.status_code == 200  # VIES reports it in the body
    assert answer.json() == {
        "actionSucceed": False,
        "errorWrappers": [
            {
                "error": "MS_UNAVAILABLE",
                "message": "The application at the Member State is not replying or not available",
            }
        ],
    }
    assert (await check(http, "FR40303265045")).status_code == 200  # other states answer
    status = (await http.get("/check-status")).json()
    assert {"countryCode": "DE", "availability": "Unavailable"} in status["countries"]
    sim.set_available("DE", True)
    assert (await check(http, "DE123456789")).json()["valid"] is True


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("MS_UNAVAILABLE", 200),
        ("TIMEOUT", 200),
        ("SERVICE_UNAVAILABLE", 200),
        ("MS_MAX_CONCURRENT_REQ", 200),
        ("INVALID_INPUT", 400),
    ],
)
async def test_scripted_vies_errors(
    http: httpx.AsyncClient, sim: ViesSimulator, code: str, status: int
) -> None:
    sim.add_fault("vies", FaultRule(action="vies_error", error=code))
    answer = await check(http, "DE123456789")
    assert answer.status_code == status
    assert answer.json()["errorWrappers"][0]["error"] == code
    assert (await check(http, "DE123456789")).json()["valid"] is True  # one use only


async def test_a_scripted_error_may_carry_a_5xx_status(
    http: httpx.AsyncClient, sim: ViesSimulator
) -> None:
    sim.add_fault("vies", FaultRule(action="vies_error", error="TIMEOUT", status=500))
    answer = await check(http, "DE123456789")
    assert answer.status_code == 500 and answer.json()["errorWrappers"][0]["error"] == "TIMEOUT"
    sim.add_fault("vies", FaultRule(action="vies_error", error="MS_UNAVAILABLE", path_regex="/ms/"))
    body = (await http.get("/ms/DE/vat/123456789")).json()
    assert body["userError"] == "MS_UNAVAILABLE" and body["isValid"] is False


async def test_down_is_a_gateway_page(http: httpx.AsyncClient, sim: ViesSimulator) -> None:
    sim.add_fault("vies", FaultRule(action="http_5xx", times=2))
    for _ in range(2):
        answer = await check(http, "DE123456789")
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("text/html")
    assert (await check(http, "DE123456789")).status_code == 200


async def test_faults_can_target_one_member_state(
    http: httpx.AsyncClient, sim: ViesSimulator
) -> None:
    sim.add_fault("vies", FaultRule(action="vies_error", error="MS_UNAVAILABLE", country="DE"))
    assert (await check(http, "FR40303265045")).json()["valid"] is False  # not charged
    assert (await check(http, "DE123456789")).json()["errorWrappers"][0]["error"] == (
        "MS_UNAVAILABLE"
    )
    assert (await check(http, "DE123456789")).json()["valid"] is True


async def test_latency_delays_the_answer(http: httpx.AsyncClient, sim: ViesSimulator) -> None:
    sim.add_fault("vies", FaultRule(action="latency", delay_ms=300))
    started = time.monotonic()
    assert (await check(http, "DE123456789")).json()["valid"] is True
    assert time.monotonic() - started >= 0.3


async def test_drop_closes_the_connection_unanswered(
    http: httpx.AsyncClient, sim: ViesSimulator
) -> None:
    sim.add_fault("vies", FaultRule(action="drop"))
    with pytest.raises(httpx.TransportError):
        await check(http, "DE123456789")
    assert sim.request_log()[-1].status is None


async def test_the_request_log_names_the_number(
    http: httpx.AsyncClient, sim: ViesSimulator
) -> None:
    await check(http, "DE123456789")
    await http.get("/ms/FR/vat/40303265045")
    assert [(r.method, r.path, r.vat_id, r.status) for r in sim.request_log()] == [
        ("POST", "/check-vat-number", "DE123456789", 200),
        ("GET", "/ms/FR/vat/40303265045", "FR40303265045", 200),
    ]


def test_fault_rules_refuse_unknown_codes_and_states() -> None:
    with pytest.raises(ValueError, match="VIES error code"):
        FaultRule(action="vies_error", error="MAYBE")
    with pytest.raises(ValueError, match="member state"):
        FaultRule(action="http_5xx", country="US")
    with pytest.raises(ValueError, match="VIES member state"):
        KnownNumber(vat_id="US123456789")


async def test_the_control_api_drives_a_standalone_simulator(http: httpx.AsyncClient) -> None:
    added = await http.post("/__sim/numbers", json=[{"vat_id": "ATU12345678", "name": "Teile"}])
    assert added.status_code == 201
    assert (await check(http, "ATU12345678")).json()["valid"] is True
    numbers = (await http.get("/__sim/numbers")).json()
    assert {"vat_id": "ATU12345678", "valid": True, "name": "Teile", "address": None} in numbers

    assert (await http.post("/__sim/member-states/AT/unavailable")).status_code == 200
    assert (await check(http, "ATU12345678")).json()["errorWrappers"][0]["error"] == (
        "MS_UNAVAILABLE"
    )
    assert (await http.delete("/__sim/member-states/AT/unavailable")).status_code == 200
    assert (await http.post("/__sim/member-states/US/unavailable")).status_code == 404

    fault = {"action": "vies_error", "error": "TIMEOUT", "country": "AT"}
    assert (await http.post("/__sim/faults", json=fault)).status_code == 201
    assert (await check(http, "ATU12345678")).json()["errorWrappers"][0]["error"] == "TIMEOUT"
    assert (await http.post("/__sim/faults", json={"action": "nap"})).status_code == 400
    log = (await http.get("/__sim/requests")).json()
    assert log[-1] == {
        "method": "POST",
        "path": "/check-vat-number",
        "vat_id": "ATU12345678",
        "status": 200,
    }

    assert (await http.post("/__sim/reset")).status_code == 200
    assert (await http.get("/__sim/numbers")).json() == []
    assert (await check(http, "ATU12345678")).json()["valid"] is False


def test_serves_from_a_thread() -> None:
    with served_in_thread(ViesSimulator([GMBH])) as url:
        body = {"countryCode": "DE", "vatNumber": "123456789"}
        assert httpx.post(f"{url}/check-vat-number", json=body).json()["valid"] is True


def test_runs_as_a_process_with_a_numbers_file(tmp_path) -> None:
    numbers = tmp_path / "numbers.json"
    numbers.write_text('{"numbers": [{"vat_id": "DE123456789", "name": "Teile GmbH"}]}')
    with standalone("simulators.vies", "--numbers", str(numbers), ready="vies-simulator") as url:
        body = {"countryCode": "DE", "vatNumber": "123456789"}
        answer = httpx.post(f"{url}/check-vat-number", json=body).json()
        assert answer["valid"] is True and answer["name"] == "Teile GmbH"
