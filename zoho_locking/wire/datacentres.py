"""Zoho data centres: where each one's CRM API and accounts server live."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import attrs

from ..errors import ValidationError

__all__ = ["DATA_CENTRES", "DataCentre", "data_centre", "check_base_url", "is_loopback"]


@attrs.frozen(slots=True)
class DataCentre:
    """One Zoho data centre."""

    name: str
    api_domain: str
    accounts_url: str


DATA_CENTRES: dict[str, DataCentre] = {
    dc.name: dc
    for dc in (
        DataCentre("us", "https://www.zohoapis.com", "https://accounts.zoho.com"),
        DataCentre("eu", "https://www.zohoapis.eu", "https://accounts.zoho.eu"),
        DataCentre("in", "https://www.zohoapis.in", "https://accounts.zoho.in"),
        DataCentre("au", "https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
        DataCentre("jp", "https://www.zohoapis.jp", "https://accounts.zoho.jp"),
        DataCentre("ca", "https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
        DataCentre("cn", "https://www.zohoapis.com.cn", "https://accounts.zoho.com.cn"),
        DataCentre("sa", "https://www.zohoapis.sa", "https://accounts.zoho.sa"),
    )
}


def data_centre(name: str) -> DataCentre:
    """Return the data centre called *name* (``us``, ``eu``, ``in``, ...)."""
    try:
        return DATA_CENTRES[name.strip().lower()]
    except (KeyError, AttributeError):
        known = ", ".join(DATA_CENTRES)
        raise ValidationError(
            f"unknown data centre {name!r}; known: {known}", field="dc"
        ) from None


def is_loopback(host: str) -> bool:
    """Whether *host* names this machine (localhost or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, what: str, allow_insecure_http: bool = False) -> str:
    """Validate an API domain or accounts URL and return it without a trailing slash.

    ``https://`` is required, except that plain ``http://`` is accepted for
    loopback hosts (the fake server) or when *allow_insecure_http* is set:
    tokens must never cross a network in the clear by accident.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(f"{what} must be a non-empty URL", field=what)
    url = url.strip().rstrip("/")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValidationError(
            f"{what} must not contain spaces or control characters, got {url!r}", field=what
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not 0-65535
    except ValueError as exc:
        raise ValidationError(f"{what} {url!r} is not a valid URL: {exc}", field=what) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(
            f"{what} must look like https://host, got {url!r}", field=what
        )
    if "?" in url or "#" in url or parts.username or parts.password:
        raise ValidationError(
            f"{what} must not carry a query, fragment or credentials", field=what
        )
    if parts.scheme == "http" and not (allow_insecure_http or is_loopback(parts.hostname)):
        raise ValidationError(
            f"{what} uses plain http:// for a non-loopback host ({parts.hostname}); "
            "use https://, or pass allow_insecure_http=True if you really mean it",
            field=what,
        )
    return url
