"""Secrets at rest and signed values, keyed by `INVOICE_ROUTER_SECRET_KEYS`.

Fernet (cryptography) gives authenticated encryption; MultiFernet lets a new key be added in
front of the old ones, so stored values stay readable during a key rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretsNotConfigured(RuntimeError):
    pass


def _fernet(key: str, position: int, count: int) -> Fernet:
    """One key of the list; a malformed one is named by its position, never by its value."""
    try:
        return Fernet(key.encode())
    except ValueError:  # wrong length or not base64 (binascii.Error is a ValueError)
        raise SecretsNotConfigured(
            f"INVOICE_ROUTER_SECRET_KEYS entry {position} of {count} is not a Fernet key "
            "(32 url-safe base64-encoded bytes): create one with `invoice-router secrets new-key`"
        ) from None  # the cause would carry nothing useful, and must never carry the key


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretsNotConfigured(
                "no encryption key: set INVOICE_ROUTER_SECRET_KEYS (create one with "
                "`invoice-router secrets new-key`)"
            )
        self._fernet = MultiFernet([_fernet(k, i, len(keys)) for i, k in enumerate(keys, 1)])
        self._sign_key = hashlib.sha256(b"invoice-router-state|" + keys[0].encode()).digest()

    def __repr__(self) -> str:
        return "SecretBox(***)"

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._open(self._fernet.decrypt, token)

    def rotate(self, token: str) -> str:
        """`token` re-encrypted with the first (newest) key, readable once older keys are gone."""
        return self._open(self._fernet.rotate, token)

    @staticmethod
    def _open(operation: Callable[[bytes], bytes], token: str) -> str:
        try:
            return operation(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretsNotConfigured(
                "a stored secret cannot be decrypted with the configured keys (was a key removed?)"
            ) from exc

    def sign(self, payload: dict[str, Any], ttl_seconds: int) -> str:
        """A tamper-proof, expiring token (e.g. OAuth `state`); not encrypted, so no secrets."""
        body = dict(payload, exp=int(time.time()) + ttl_seconds)
        raw = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).rstrip(b"=")
        mac = hmac.new(self._sign_key, raw, hashlib.sha256).digest()
        return f"{raw.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    def verify(self, token: str) -> dict[str, Any]:
        """The payload of a token made by `sign`; ValueError when forged, altered or expired."""
        raw, _, mac = token.partition(".")
        want = hmac.new(self._sign_key, raw.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.urlsafe_b64encode(want).rstrip(b"=").decode(), mac):
            raise ValueError("the signature does not match")
        body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if body.pop("exp", 0) < time.time():
            raise ValueError("the signed value has expired")
        return body
