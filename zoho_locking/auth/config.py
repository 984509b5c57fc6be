"""The refresh-token configuration: one frozen value, checked once.

`RefreshTokenConfig` holds what minting from a refresh token needs to know:
the OAuth client, the refresh token, the accounts server (from a data centre
or a URL), the environment whose API domain the tokens are used on, and how
token requests go (timeout, proxy, TLS) and are paced (refresh margin,
throttle cooldown, Zoho's token limits). `RefreshTokenAuth` takes it; the
token endpoint's requests read it. What lives and changes (the token store,
the HTTP session, the clock) is not part of it.

No secret appears in the repr of the value, nor in the errors of this module.
"""

from __future__ import annotations

import hashlib
from ssl import SSLContext
from typing import TypedDict

import attrs

from .._checks import check_positive
from ..errors import ValidationError
from ..net.proxy import Proxies, as_proxies
from ..net.tls import TLSSetting, tls_context
from ..wire.datacentres import DataCentre, check_base_url, check_environment, data_centre
from .checks import check_secret
from .limits import TokenLimits

__all__ = ["RefreshTokenConfig", "RefreshTokenSettings", "accounts_server", "fingerprint"]


@attrs.frozen(slots=True, init=False, repr=False)
class RefreshTokenConfig:
    """Configure minting access tokens from a refresh token, checked once.

    Give the OAuth client's *client_id* and *client_secret*, a *refresh_token*,
    and the accounts server: a data centre name *dc* (``us``, ``eu``, ...) or
    an *accounts_url* (``http://`` only for loopback unless
    *allow_insecure_http*). Every field is then read-only.

    Args:
        client_id: The OAuth client's id (Zoho's API console).
        client_secret: The OAuth client's secret; never shown.
        refresh_token: The refresh token; never shown.
        dc: The data centre whose accounts server mints (``us``, ``eu``, ...).
        accounts_url: The accounts server's base URL, instead of *dc*.
        environment: ``production``, ``sandbox`` or ``developer``: which of the
            named data centre's API domains the tokens are used on.
        refresh_margin: Seconds before expiry to mint the next token (a quarter
            of the token's life at most).
        timeout: Seconds for one token request.
        throttle_cooldown: Seconds not to ask again after "too many requests".
        token_limits: Zoho's token limits to keep (default: `TokenLimits()`).
        proxy: A proxy URL or `Proxies` for token requests; ``None``: the
            environment's (``HTTPS_PROXY``, ...), read now.
        ssl: How to verify the accounts server: a CA bundle's path, an
            `ssl.SSLContext`, ``"system"``, or ``None`` for Python's defaults
            (``SSL_CERT_FILE`` honoured); ``ssl=False`` is refused.
        allow_insecure_http: Allow ``http://`` accounts URLs (and API domains
            in its answers) other than loopback.

    Raises:
        ValidationError: A secret is empty or holds whitespace; both or neither of
            *dc* and *accounts_url*; an unknown data centre or environment; a
            number out of range; ``ssl=False`` or a context that does not verify.
    """

    #: The OAuth client's id.
    client_id: str
    client_secret: str
    refresh_token: str
    #: The accounts server's base URL (from *dc*, or as given, checked).
    accounts_url: str
    #: The data centre named, if one was (`accounts_url` is then its own).
    dc: DataCentre | None
    #: ``production``, ``sandbox`` or ``developer``.
    environment: str
    #: Seconds before expiry to mint the next token.
    refresh_margin: float
    #: Seconds for one token request.
    timeout: float
    #: Seconds not to ask again after the accounts server said "too many requests".
    throttle_cooldown: float
    #: Zoho's token limits that minting keeps.
    token_limits: TokenLimits
    #: The proxies token requests go through.
    proxy: Proxies
    #: The TLS context the accounts server is verified against; ``None``: Python's defaults.
    ssl: SSLContext | None
    #: Whether plain ``http://`` is taken beyond loopback.
    allow_insecure_http: bool

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        dc: str | None = None,
        accounts_url: str | None = None,
        environment: str = "production",
        refresh_margin: float = 60.0,
        timeout: float = 30.0,
        throttle_cooldown: float = 60.0,
        token_limits: TokenLimits | None = None,
        proxy: str | Proxies | None = None,
        ssl: TLSSetting = None,
        allow_insecure_http: bool = False,
    ) -> None:
        check_secret(client_id, "client_id")
        check_secret(client_secret, "client_secret")
        check_secret(refresh_token, "refresh_token")
        if token_limits is not None and not isinstance(token_limits, TokenLimits):
            raise ValidationError("token_limits must be a TokenLimits", field="token_limits")
        check_positive(refresh_margin, "refresh_margin", zero=True)
        check_positive(timeout, "timeout")
        check_positive(throttle_cooldown, "throttle_cooldown", zero=True)
        self.__attrs_init__(
            client_id=client_id, client_secret=client_secret, refresh_token=refresh_token,
            accounts_url=accounts_server(dc, accounts_url, allow_insecure_http=allow_insecure_http),
            dc=data_centre(dc) if dc is not None else None,
            environment=check_environment(environment),
            refresh_margin=float(refresh_margin), timeout=float(timeout),
            throttle_cooldown=float(throttle_cooldown),
            token_limits=token_limits if token_limits is not None else TokenLimits(),
            proxy=as_proxies(proxy), ssl=tls_context(ssl),
            allow_insecure_http=bool(allow_insecure_http),
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"RefreshTokenConfig(client_id={self.client_id!r}, client_secret='***', "
            f"refresh_token='***', accounts_url={self.accounts_url!r}, "
            f"environment={self.environment!r})"
        )

    @property
    def token_url(self) -> str:
        """Where tokens are minted: ``{accounts_url}/oauth/v2/token``."""
        return f"{self.accounts_url}/oauth/v2/token"

    @property
    def store_key(self) -> str:
        """The key of these credentials in a token store: a hash that names no secret."""
        return fingerprint(self.accounts_url, self.client_id, self.refresh_token)


class RefreshTokenSettings(TypedDict, total=False):
    """The keywords of `RefreshTokenConfig`, as `RefreshTokenAuth` takes them without one."""

    client_id: str
    client_secret: str
    refresh_token: str
    dc: str | None
    accounts_url: str | None
    environment: str
    refresh_margin: float
    timeout: float
    throttle_cooldown: float
    token_limits: TokenLimits | None
    proxy: str | Proxies | None
    ssl: TLSSetting
    allow_insecure_http: bool


def accounts_server(
    dc: str | None, accounts_url: str | None, *, allow_insecure_http: bool = False
) -> str:
    """Return the accounts server's base URL, from exactly one of *dc* and *accounts_url*.

    Args:
        dc: A data centre's name (``us``, ``eu``, ...).
        accounts_url: An accounts server's base URL.
        allow_insecure_http: Take ``http://`` beyond loopback.

    Returns:
        The base URL, without a trailing slash.

    Raises:
        ValidationError: Both or neither given; an unknown data centre; an unusable URL.
    """
    if (dc is None) == (accounts_url is None):
        raise ValidationError("pass exactly one of dc or accounts_url", field="dc")
    if accounts_url is not None:
        return check_base_url(
            accounts_url, what="accounts_url", allow_insecure_http=allow_insecure_http
        )
    assert dc is not None
    return data_centre(dc).accounts_url


def fingerprint(accounts_url: str, client_id: str, refresh_token: str) -> str:
    """Return the token store's key for these credentials.

    Args:
        accounts_url: The accounts server's base URL.
        client_id: The OAuth client's id.
        refresh_token: The refresh token.

    Returns:
        A SHA-256 hex digest: entries are looked up by it, never by the secrets.
    """
    return hashlib.sha256("\0".join((accounts_url, client_id, refresh_token)).encode()).hexdigest()
