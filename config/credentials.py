"""A provider connection's credentials, sealed at rest.

The row keeps one Fernet token of the JSON credentials (`sealed_credentials`): API tokens, client
secrets and API keys are unreadable in the database, its backups and its logs without a key from
`INVOICE_ROUTER_SECRET_KEYS`. Every reader and writer goes through these two functions.
"""

from __future__ import annotations

import json

from config.models import ProviderConnection
from config.secrets import SecretBox


def seal(box: SecretBox, credentials: dict[str, str]) -> str:
    return box.encrypt(json.dumps(credentials, sort_keys=True))


def unseal(box: SecretBox, sealed: str) -> dict[str, str]:
    return dict(json.loads(box.decrypt(sealed))) if sealed else {}


def read_credentials(row: ProviderConnection, box: SecretBox) -> dict[str, str]:
    return unseal(box, row.sealed_credentials)


def write_credentials(row: ProviderConnection, box: SecretBox, credentials: dict[str, str]) -> bool:
    """Store `credentials` on `row`; False (and nothing written) when they are unchanged."""
    if row.sealed_credentials and read_credentials(row, box) == credentials:
        return False
    row.sealed_credentials = seal(box, credentials)
    return True
