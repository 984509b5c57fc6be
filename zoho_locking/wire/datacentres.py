"""Zoho data centres: where each one's CRM API (in each environment) and accounts server live.

Every data centre has three environments, each on its own API domain:
``production`` (the org itself), ``sandbox`` (its sandbox copy) and
``developer`` (a developer edition org). The accounts server is the data
centre's, whichever environment the token is used in.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import attrs

from ..errors import ValidationError

__all__ = [
    "DATA_CENTRES",
    "ENVIRONMENTS",
    "DataCentre",
    "check_base_url",
    "check_environment",
    "data_centre",
    "in_environment",
    "is_loopback",
]

#: The environments of every data centre, production first (the default).
ENVIRONMENTS = ("production", "sandbox", "developer")


@attrs.frozen(slots=True)
class DataCentre:
    """One Zoho data centre: its API domain in each environment, and its accounts server."""

    name: str
    #: The production API domain (``https://www.zohoapis.com``).
    api_domain: str
    accounts_url: str
    #: The sandbox's API domain (``https://sandbox.zohoapis.com``).
    sandbox_domain: str
    #: The developer environment's API domain (``https://developer.zohoapis.com``).
    developer_domain: str

    def domain(self, environment: str = "production") -> str:
        """Return this data centre's API domain in *environment*.

        Args:
            environment: ``production``, ``sandbox`` or ``developer``.

        Returns:
            The API domain, such as ``https://sandbox.zohoapis.eu``.

        Raises:
            ValidationError: *environment* is none of the three.
        """
        chosen = check_environment(environment)
        if chosen == "sandbox":
            return self.sandbox_domain
        if chosen == "developer":
            return self.developer_domain
        return self.api_domain


def _dc(name: str, tld: str, accounts_url: str) -> DataCentre:
    return DataCentre(
        name,
        f"https://www.zohoapis.{tld}",
        accounts_url,
        f"https://sandbox.zohoapis.{tld}",
        f"https://developer.zohoapis.{tld}",
    )


DATA_CENTRES: dict[str, DataCentre] = {
    dc.name: dc
    for dc in (
        _dc("us", "com", "https://accounts.zoho.com"),
        _dc("eu", "eu", "https://accounts.zoho.eu"),
        _dc("in", "in", "https://accounts.zoho.in"),
        _dc("au", "com.au", "https://accounts.zoho.com.au"),
        _dc("jp", "jp", "https://accounts.zoho.jp"),
        _dc("ca", "ca", "https://accounts.zohocloud.ca"),
        _dc("cn", "com.cn", "https://accounts.zoho.com.cn"),
        _dc("sa", "sa", "https://accounts.zoho.sa"),
    )
}


def check_environment(name: object) -> str:
    """Return *name* as one of `ENVIRONMENTS`, or raise `ValidationError` naming them."""
    chosen = name.strip().lower() if isinstance(name, str) else None
    if chosen not in ENVIRONMENTS:
        raise ValidationError(
            f"unknown environment {name!r}; known: {', '.join(ENVIRONMENTS)}",
            field="environment",
        )
    assert chosen is not None
    return chosen


def in_environment(api_domain: str, environment: str) -> str | None:
    """Return the API domain of *environment* in the data centre *api_domain* belongs to.

    *api_domain* is any of a data centre's three domains (an accounts
    server's answer names the production one); ``None`` if it is none of them.
    """
    wanted = check_environment(environment)
    domain = api_domain.rstrip("/").lower()
    for dc in DATA_CENTRES.values():
        if domain in (dc.api_domain, dc.sandbox_domain, dc.developer_domain):
            return dc.domain(wanted)
    return None


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
