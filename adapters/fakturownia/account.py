"""Turn what a seller pastes (account link, host, prefix or prefixed token) into an account prefix.

Only `https://<prefix>.fakturownia.pl` is accepted, so a configured link can never point the
worker (and the seller's token) at another host.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = ".fakturownia.pl"


class AccountLinkError(ValueError):
    pass


def normalise_account(link: str | None, api_token: str | None = None) -> str:
    """The account prefix for `link`, or for the `HASH/prefix` token when no link is given."""
    if not link and api_token and api_token.count("/") == 1:
        link = api_token.split("/", 1)[1]
    if not link:
        raise AccountLinkError("give the account link, e.g. https://your-company.fakturownia.pl")
    text = link.strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "https":
            raise AccountLinkError(f"{link!r}: the account link must use https")
        if parts.username or parts.password or ":" in (parts.netloc.rsplit("@", 1)[-1]):
            raise AccountLinkError(f"{link!r}: the account link must not carry a user or port")
        text = parts.hostname or ""
    elif "/" in text:
        raise AccountLinkError(
            f"{link!r}: expected a link like https://your-company.fakturownia.pl"
        )
    prefix = text.removesuffix(_DOMAIN) if text.endswith(_DOMAIN) else text
    if "." in prefix or not _PREFIX.match(prefix):
        raise AccountLinkError(
            f"{link!r} is not a Fakturownia account: expected https://<account>.fakturownia.pl"
        )
    return prefix
