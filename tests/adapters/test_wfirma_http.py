"""The wFirma answer → error taxonomy mapping, on answers the simulator does not produce.

The contract tests cover every status the simulator answers over real HTTP; these cover the
documented variants it does not (the Polish not-found sentence, `DENIED_SCOPE_REQUESTED`, the
KSeF batch refusal, execution-time limits, bare 401/429 answers, XML bodies, `errors: false`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from adapters.wfirma.http import (
    CredentialsRejected,
    field_errors,
    raise_for_answer,
    raise_for_transport,
    records,
    required_scope,
    status_of,
    total_of,
)
from domain.ports import (
    ProviderAuthError,
    ProviderError,
    ProviderInDoubt,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderValidationError,
)


def answer(
    body: Any = None,
    *,
    status: int = 200,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/invoices/add",
) -> httpx.Response:
    content = text if text is not None else json.dumps(body)
    request = httpx.Request("POST", f"http://wfirma.test{path}")
    return httpx.Response(status, text=content, headers=headers, request=request)


def check(response: httpx.Response, *, action: str = "add", **kwargs: Any) -> Any:
    return raise_for_answer(
        response,
        module="invoices",
        action=action,
        singular="invoice",
        creates=action == "add",
        **kwargs,
    )


def status(code: str, message: str | None = None) -> dict[str, Any]:
    return {"status": {"code": code} | ({"message": message} if message else {})}


def test_records_are_read_from_numbered_keys_in_numeric_order() -> None:
    branch = {
        "10": {"invoice": {"id": "c"}},
        "2": {"invoice": {"id": "b"}},
        "0": {"invoice": {"id": "a"}},
        "parameters": {"limit": "20", "page": "1", "total": "3"},
    }
    assert [r["id"] for r in records(branch, "invoice")] == ["a", "b", "c"]
    assert total_of(branch) == 3
    assert records([{"invoice": {"id": 1}}, {"id": 2}], "invoice") == [{"id": 1}, {"id": 2}]
    assert records({"invoice": {"id": "x"}}, "invoice") == [{"id": "x"}]
    assert records(False, "error") == [] and records(None, "invoice") == []
    assert total_of({"0": {}}) is None and total_of({"parameters": {"total": 7}}) == 7


def test_field_errors_name_header_buyer_and_line_fields() -> None:
    body = {
        "invoices": {
            "0": {
                "invoice": {
                    "date": "2026-13-40",
                    "errors": {"0": {"error": {"field": "date", "message": "Data musi być..."}}},
                    "contractor": {
                        "nip": "1",
                        "errors": {
                            "0": {"error": {"field": "nip", "message": "Nieprawidłowy NIP."}},
                            "1": {"error": {"field": "nip", "message": "Drugi błąd."}},
                        },
                    },
                    "invoicecontents": {
                        "0": {"invoicecontent": {"name": "ok", "errors": False}},
                        "1": {
                            "invoicecontent": {
                                "errors": {"0": {"error": {"field": "vat_code", "message": "Zły"}}}
                            }
                        },
                    },
                    "series": {"id": "1"},
                }
            },
            "parameters": {"total": "1"},
        },
        "status": {"code": "ERROR"},
    }
    assert field_errors(body, "invoices", "invoice") == {
        "invoice.date": ["Data musi być..."],
        "invoice.contractor.nip": ["Nieprawidłowy NIP.", "Drugi błąd."],
        "invoicecontents.1.vat_code": ["Zły"],
    }
    with pytest.raises(ProviderValidationError) as caught:
        check(answer(body))
    assert "the buyer's tax id (invoice.contractor.nip): Nieprawidłowy NIP. Drugi błąd." in str(
        caught.value
    )
    assert "a line's VAT rate (invoicecontents.1.vat_code): Zły" in str(caught.value)


def test_ok_answers_return_the_body_and_refusals_only_when_asked() -> None:
    body = {"invoices": {"0": {"invoice": {"id": "1"}}}, "status": {"code": "OK"}}
    assert check(answer(body)) == body
    refusal = status("ERROR", "Brak adresu e-mail odbiorcy.")
    assert check(answer(refusal), action="send", refusal_ok=True) == refusal
    with pytest.raises(ProviderValidationError, match="Brak adresu e-mail odbiorcy"):
        check(answer(refusal), action="send")


@pytest.mark.parametrize(
    ("body", "error", "text"),
    [
        (status("AUTH"), CredentialsRejected, "reconnect"),
        (status("AUTH FAILED LIMIT WAIT 5 MINUTES"), ProviderAuthError, "5 minutes"),
        (status("DENIED_SCOPE_REQUESTED"), ProviderAuthError, "scope invoices-write"),
        (status("ACCESS DENIED"), ProviderAuthError, "may not add invoices"),
        (status("COMPANY ID REQUIRED"), ProviderAuthError, "company id"),
        (status("TOTAL EXECUTION TIME LIMIT EXCEEDED"), ProviderRateLimited, "limit"),
        (status("NOT FOUND"), ProviderNotFound, "no such invoice"),
        (status("OBJECT NOT FOUND"), ProviderNotFound, "no such invoice"),
        (
            status("Nie znaleziono obiektu. Wybrany zasób nie istnieje lub został usunięty."),
            ProviderNotFound,
            "no such invoice",
        ),
        (status("ACTION NOT FOUND"), ProviderError, "does not know invoices/add"),
        (status("INPUT ERROR"), ProviderValidationError, "could not read the request"),
        (status("FATAL"), ProviderInDoubt, "unavailable (FATAL)"),
        (
            status("ERROR", "Nie można wystawić korekty do faktury w trakcie wysyłki wsadowej"),
            ProviderUnavailable,
            "refused for now",
        ),
        (status("SOMETHING NEW", "?"), ProviderError, "wFirma answered SOMETHING NEW: ?"),
        ({"status": {"code": "OK"}, "invoices": {}}, None, ""),
    ],
)
def test_status_codes_map_to_the_taxonomy(
    body: dict[str, Any], error: type[ProviderError] | None, text: str
) -> None:
    if error is None:
        assert check(answer(body)) == body
        return
    with pytest.raises(ProviderError) as caught:
        check(answer(body))
    assert type(caught.value) is error
    assert text in str(caught.value)


def test_credentials_rejected_is_an_auth_error_and_lockout_is_not_refreshable() -> None:
    with pytest.raises(ProviderAuthError) as caught:
        check(answer(status("AUTH FAILED LIMIT WAIT 5 MINUTES")))
    assert not isinstance(caught.value, CredentialsRejected)
    assert issubclass(CredentialsRejected, ProviderAuthError)


def test_a_rate_limit_honours_retry_after_when_given() -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        check(answer(text="", status=429, headers={"Retry-After": "35"}))
    assert caught.value.retry_after == 35.0
    with pytest.raises(ProviderRateLimited) as caught:
        check(answer(status("TOTAL REQUESTS LIMIT EXCEEDED"), headers={"Retry-After": "x"}))
    assert caught.value.retry_after == 15.0


def test_transport_status_without_an_envelope() -> None:
    with pytest.raises(CredentialsRejected):
        check(answer(text="", status=401))
    with pytest.raises(ProviderInDoubt, match="without a status"):
        check(answer(text="<html>proxy</html>"))  # a 200 nobody can read, on a create
    with pytest.raises(ProviderUnavailable) as read:
        check(answer(text="{not json"), action="get")
    assert not isinstance(read.value, ProviderInDoubt)
    with pytest.raises(ProviderError, match="check the API base URL") as lost:
        check(answer(text="<html>Not Found</html>", status=404), action="get")
    assert not isinstance(lost.value, ProviderNotFound)  # a wrong URL is not a missing document
    with pytest.raises(ProviderInDoubt, match="HTTP 503"):
        check(answer(status("OUT OF SERVICE"), status=503))


def test_xml_answers_are_read_for_their_status_code() -> None:
    xml = '<?xml version="1.0"?><api><status><code>CONTROLLER NOT FOUND</code></status></api>'
    assert status_of(None, xml) == ("CONTROLLER NOT FOUND", "")
    with pytest.raises(ProviderError, match="does not know invoices/add") as caught:
        check(answer(text=xml))
    assert type(caught.value) is ProviderError


def test_required_scope_follows_the_module_rule() -> None:
    assert required_scope("invoices", "send") == "invoices-write"
    assert required_scope("invoices", "download") == "invoices-read"
    assert required_scope("series", "find") == "series-read"


def test_transport_errors_are_in_doubt_only_for_creates_that_were_sent() -> None:
    request = httpx.Request("POST", "http://wfirma.test/invoices/add")
    sent = httpx.ReadTimeout("slow", request=request)
    unsent = httpx.ConnectError("refused", request=request)
    assert type(raise_for_transport(sent, creates=True, where="w")) is ProviderInDoubt
    assert type(raise_for_transport(unsent, creates=True, where="w")) is ProviderUnavailable
    assert type(raise_for_transport(sent, creates=False, where="w")) is ProviderUnavailable
