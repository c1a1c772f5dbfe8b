"""Status codes (reference §2.4), Polish validation texts (§2.6) and the error exception.

wFirma signals failure in the body, not the HTTP status: every code here is answered with
HTTP 200 unless a knob says otherwise, so the constants and their shapes live in one place.
"""

from __future__ import annotations

from typing import Any

OK = "OK"
ERROR = "ERROR"
ACCESS_DENIED = "ACCESS DENIED"
ACTION_NOT_FOUND = "ACTION NOT FOUND"
CONTROLLER_NOT_FOUND = "CONTROLLER NOT FOUND"
AUTH = "AUTH"
AUTH_FAILED_LIMIT = "AUTH FAILED LIMIT WAIT 5 MINUTES"
COMPANY_ID_REQUIRED = "COMPANY ID REQUIRED"
DENIED_SCOPE_REQUESTED = "DENIED SCOPE REQUESTED"
FATAL = "FATAL"
INPUT_ERROR = "INPUT ERROR"
NOT_FOUND = "NOT FOUND"
OUT_OF_SERVICE = "OUT OF SERVICE"
SNAPSHOT_LOCK = "SNAPSHOT LOCK"
TOTAL_REQUESTS_LIMIT_EXCEEDED = "TOTAL REQUESTS LIMIT EXCEEDED"
TOTAL_EXECUTION_TIME_LIMIT_EXCEEDED = "TOTAL EXECUTION TIME LIMIT EXCEEDED"

# Messages quoted in the reference (§2.6, §3.11, §6, §7); the rest are simulator wording.
EMPTY = "Pole nie może być puste"
EMPTY_LINE_NAME = "Treść nie moze być pusta"
BAD_DATE = "Data musi być w formacie RRRR-MM-DD"
BAD_ZIP = "zip: Niepoprawny format kodu pocztowego."
BAD_NIP = (
    "Nieprawidłowy NIP. Jeśli identyfikator nie jest polskim numerem NIP należy zmienić jego typ"
)
BAD_EMAIL = "Nieprawidłowy adres e-mail."
BAD_VALUE = "Pole posiada niepoprawną wartość"
NOT_A_NUMBER = "Pole musi być liczbą"
UNCHANGEABLE = "Pole nie może zostać zmienione w pozycji korygowanej"
NO_SUCH_OBJECT = "Nie znaleziono obiektu. Wybrany zasób nie istnieje lub został usunięty."
RATE_LIMIT_MESSAGE = "Given API has been queried too many times."
KSEF_UNAUTHORIZED = (
    "Brak autoryzacji w KSeF 2.0. Zautoryzuj się w zakładce PRZYCHODY » KSEF I INTEGRACJE"
)
CANNOT_SEND_TYPE = "Nie można zlecić automatycznej wysyłki emaila z dokumentem danego typu."
NO_RECIPIENT = "Brak adresu e-mail odbiorcy."
CANNOT_DELETE = "Nie można usunąć dokumentu tego typu."


class ApiError(Exception):
    """A generic (record-less) error: ``{"status": {"code": ..., "message": ...}}``."""

    def __init__(self, code: str, message: str | None = None, http_status: int = 200) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.http_status = http_status

    def envelope(self) -> dict[str, Any]:
        status: dict[str, str] = {"code": self.code}
        if self.message:
            status["message"] = self.message
        return {"status": status}


class FieldErrors:
    """Per-field errors of one record, rendered the wFirma way: ``{"0": {"error": {...}}}``."""

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []

    def add(self, field: str, message: str, method: str | None = None) -> None:
        self._items.append(
            {
                "field": field,
                "message": message,
                "method": {"name": method or field, "parameters": ""},
            }
        )

    def __bool__(self) -> bool:
        return bool(self._items)

    def render(self) -> dict[str, Any]:
        return {str(i): {"error": item} for i, item in enumerate(self._items)}
