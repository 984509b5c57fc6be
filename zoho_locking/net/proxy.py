"""Which proxy a request goes through, and its credentials kept out of every message.

`Proxies` is read once, from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
``NO_PROXY``, in either case, as `urllib.request` reads them) or from one
explicit proxy URL, and answers each origin with a `ProxyRoute`: the proxy's
URL without credentials, the ``Proxy-Authorization`` header they make, and a
redacted form for messages. The transport and the token minter pass the route
to aiohttp per request, rather than setting aiohttp's ``trust_env``, which
would look the environment up in a thread for every request and apply
``~/.netrc`` entries as ``Authorization`` headers to CRM requests.

`proxy_failure` turns what aiohttp raises or answers when the proxy itself
refuses (407, a refused ``CONNECT``) or cannot be reached into one line that
names the proxy without its credentials.

No proxy user name or password appears in any repr, log line or exception
text of this module.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from http import HTTPStatus
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

import aiohttp
import attrs
from yarl import URL

from ..errors import ValidationError

__all__ = ["Proxies", "ProxyRoute", "as_proxies", "proxy_failure", "redact_proxy"]

# The proxy a request for each scheme goes through, by the variable's stem.
_SCHEMES = ("http", "https")


@attrs.frozen(slots=True)
class ProxyRoute:
    """How to reach one origin through a proxy."""

    #: The proxy's URL, without credentials (what aiohttp is given).
    url: str
    #: ``Proxy-Authorization``, when the proxy URL carried credentials; never shown.
    headers: Mapping[str, str] = attrs.field(repr=False, factory=dict)
    #: Whether requests tunnel through it (``CONNECT``, for ``https://`` origins).
    tunnel: bool = False

    def apply(
        self, headers: Mapping[str, str]
    ) -> tuple[Mapping[str, str], str, Mapping[str, str] | None]:
        """The request's headers, aiohttp's ``proxy`` and ``proxy_headers`` for this route.

        Through a tunnel, the credentials go in the ``CONNECT`` only: never inside
        it, to the server. A plain ``http://`` request carries them itself (aiohttp
        sends ``proxy_headers`` with a ``CONNECT`` only).
        """
        if self.tunnel or not self.headers:
            return headers, self.url, self.headers or None
        return {**headers, **self.headers}, self.url, None

    @property
    def shown(self) -> str:
        """The proxy for messages: ``http://***@proxy:3128`` when credentials are sent."""
        if not self.headers:
            return self.url
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://***@{rest}"


class Proxies:
    """The proxies requests go through: per URL scheme, minus the hosts *no_proxy* names.

    ``Proxies()`` sends everything direct; `Proxies.from_env` reads the
    environment; `Proxies.to` sends every request through one proxy. A proxy
    URL may carry ``user:password@`` (percent-encoded): they are sent as
    ``Proxy-Authorization`` and never shown. A URL without a scheme is taken as
    ``http://``.

    Args:
        http: The proxy URL for plain ``http://`` requests.
        https: The proxy URL for ``https://`` requests (the CRM's).
        no_proxy: ``NO_PROXY``'s list: hosts reached direct, comma-separated.

    Raises:
        ValidationError: A proxy URL that cannot be used (its scheme, no host).
    """

    __slots__ = ("_routes", "http", "https", "no_proxy")

    def __init__(
        self, *, http: str | None = None, https: str | None = None, no_proxy: str = ""
    ) -> None:
        #: The route of plain ``http://`` requests, and of ``https://`` ones.
        self.http = _route(http, "http_proxy") if http else None
        self.https = _route(https, "https_proxy") if https else None
        #: Hosts (``example.com``, ``.example.com``, ``host:port``, ``*``) reached direct.
        self.no_proxy = no_proxy.strip() if isinstance(no_proxy, str) else ""
        self._routes: dict[str, ProxyRoute | None] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Proxies:
        """The proxies *env* (default: ``os.environ``) names, as `urllib.request` reads them.

        Lower-case names win over upper-case ones; ``HTTP_PROXY`` is ignored when
        ``REQUEST_METHOD`` is set (a CGI script: the variable may come from a
        request header, CVE-2016-1000110).

        Args:
            env: The variables to read (default: ``os.environ``).

        Returns:
            The proxies they name; direct for everything if none.

        Raises:
            ValidationError: A variable names a proxy URL that cannot be used.
        """
        found = _environment(os.environ if env is None else env)
        return cls(http=found.get("http"), https=found.get("https"), no_proxy=found.get("no", ""))

    @classmethod
    def to(cls, url: str) -> Proxies:
        """Send every request through the proxy at *url*, whatever its host.

        Args:
            url: The proxy's URL; ``user:password@`` in it is sent, never shown.

        Returns:
            Proxies with *url* for both schemes and no ``NO_PROXY`` exception.

        Raises:
            ValidationError: *url* cannot be used as a proxy.
        """
        proxies = cls()
        proxies.http = proxies.https = _route(url, "proxy")
        return proxies

    def __repr__(self) -> str:
        shown = [
            f"{name}={route.shown!r}"
            for name, route in (("http", self.http), ("https", self.https))
            if route is not None
        ]
        if self.no_proxy:
            shown.append(f"no_proxy={self.no_proxy!r}")
        return f"Proxies({', '.join(shown)})"

    def __bool__(self) -> bool:
        return self.http is not None or self.https is not None

    def route(self, url: str) -> ProxyRoute | None:
        """The route to the origin of *url* (``scheme://host[:port]...``); ``None``: direct."""
        if self.http is None and self.https is None:
            return None
        # Keyed by the origin, cut from the string: one dict look-up per request.
        end = url.find("/", url.find("://") + 3)
        origin = url if end < 0 else url[:end]
        try:
            return self._routes[origin]
        except KeyError:
            pass
        parsed = URL(origin)
        tunnel = parsed.scheme == "https"
        route = self.https if tunnel else self.http
        if route is not None:
            route = None if self._bypassed(parsed) else attrs.evolve(route, tunnel=tunnel)
        self._routes[origin] = route
        return route

    def _bypassed(self, url: URL) -> bool:
        if not self.no_proxy or url.host is None:
            return False
        host = url.host if url.explicit_port is None else f"{url.host}:{url.explicit_port}"
        # urllib's rules: "*", exact names, domain suffixes, an optional :port.
        return bool(proxy_bypass_environment(host, {"no": self.no_proxy}))


def as_proxies(proxy: str | Proxies | None) -> Proxies:
    """The `Proxies` *proxy* names: a URL for every request, or ``None`` for the environment's."""
    if proxy is None:
        return Proxies.from_env()
    if isinstance(proxy, Proxies):
        return proxy
    if isinstance(proxy, str):
        return Proxies.to(proxy)
    raise ValidationError("proxy must be a URL, a Proxies or None", field="proxy")


def redact_proxy(url: str) -> str:
    """*url* as a message may show it: its user name and password replaced by ``***``."""
    try:
        return _route(url, "proxy").shown
    except ValidationError:
        return "the proxy"


def proxy_failure(error: BaseException | int, route: ProxyRoute | None) -> str | None:
    """What a failure says of the proxy: one line naming it; ``None`` if not the proxy's doing.

    *error* is what aiohttp raised, or the HTTP status of an answer (a plain
    ``http://`` request gets the proxy's 407 as its answer).
    """
    where = f"the proxy {route.shown}" if route is not None else "a proxy on the way"
    if isinstance(error, int):
        if error != 407:
            return None
        return f"{where} demands authentication (HTTP 407){_hint(route)}"
    if isinstance(error, aiohttp.ClientHttpProxyError):
        status = error.status
        text = f"{where} refused the connection (HTTP {status} {_phrase(status)})"
        return text + (_hint(route) if status == 407 else "")
    if isinstance(error, aiohttp.ClientProxyConnectionError):
        reason = error.os_error.strerror or type(error.os_error).__name__
        return f"could not reach {where}: {reason}"
    return None


def _hint(route: ProxyRoute | None) -> str:
    if route is None:
        return "; configure it with HTTPS_PROXY or proxy="
    if route.headers:
        return "; check the user name and password in the proxy URL"
    return "; put user:password@ in the proxy URL"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _route(url: str, what: str) -> ProxyRoute:
    """Parse a proxy URL into its route; `ValidationError` (never quoting it) if unusable."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(f"{what} must be a non-empty URL", field=what)
    text = url.strip()
    if "://" not in text:
        text = "http://" + text  # "proxy.example.com:3128", as curl and urllib take it
    try:
        parsed = URL(text)
        port = parsed.port
    except ValueError:
        parsed, port = None, None
    if parsed is None or parsed.scheme not in _SCHEMES or not parsed.host:
        raise ValidationError(
            f"{what} must look like http://host:port (or http://user:password@host:port)",
            field=what,
        )
    headers: dict[str, str] = {}
    if parsed.user is not None or parsed.password is not None:
        # Basic credentials, UTF-8 (RFC 7617), as percent-decoded from the URL.
        pair = f"{parsed.user or ''}:{parsed.password or ''}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return ProxyRoute(f"{parsed.scheme}://{host}:{port}", headers)


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    """``{"http": ..., "https": ..., "no": ...}`` from *env*, by urllib's rules."""
    found: dict[str, str] = {}
    # Two passes, as urllib.request.getproxies_environment: any case first, then
    # lower case only, so that lower-case names win.
    for name, value in env.items():
        key = name.lower()
        if value and key.endswith("_proxy"):
            found[key[:-6]] = value
    if "REQUEST_METHOD" in env:
        found.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy"):
            if value:
                found[name[:-6].lower()] = value
            else:
                found.pop(name[:-6].lower(), None)
    return {key: found[key] for key in ("http", "https", "no") if key in found}
