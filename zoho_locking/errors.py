"""Every exception zoho_locking raises.

The tree:

    ZohoLockingError
    ├── ValidationError        bad input, caught before anything is sent
    ├── ApiError               the CRM answered with an error
    │   ├── UnexpectedResponse the answer was not a Zoho envelope (HTML from a proxy, empty 503)
    │   ├── QueryError         Zoho refused a COQL query (syntax, unknown field, limits)
    │   ├── AuthError          401 that a token refresh cannot fix (scope, authentication)
    │   ├── CreditsExhausted   429: the org's daily API credits are spent
    │   └── ThrottledTooLong   nothing but 429s, anywhere, for longer than stall_timeout
    ├── TransportError         the request did not complete (connection, TLS, timeout)
    │   ├── RequestTimeout     no answer within the configured timeout (or the call's deadline)
    │   ├── ProxyError         the proxy refused (407, a refused CONNECT) or could not be reached
    │   └── TLSError           the server's TLS certificate could not be verified
    ├── UncertainOutcome       a write may or may not have landed, and reading back failed
    │                          (or the call's deadline passed first)
    ├── RunStopped             a bulk run stopped (run-wide failure, max_requests): not sent
    ├── FlowUnavailable        the shared budget (Redis) was unreachable for too long
    ├── OAuthError             no access token: the accounts server refused, minting would
    │                          pass Zoho's token limits, or the shared token store is down
    └── JournalError           the resume journal cannot be used for this run

Every one has a ``code`` (Zoho's, or the client's own such as ``TIMEOUT``) and a
``message`` (for `ApiError`, Zoho's own words; ``str()`` adds the code and status).
No exception of aiohttp ever reaches the caller: the client converts them to
`TransportError` at the boundary. No exception text or repr contains a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "CreditsExhausted",
    "FlowUnavailable",
    "JournalError",
    "OAuthError",
    "ProxyError",
    "QueryError",
    "RequestTimeout",
    "RunStopped",
    "TLSError",
    "ThrottledTooLong",
    "TransportError",
    "UncertainOutcome",
    "UnexpectedResponse",
    "ValidationError",
    "ZohoLockingError",
    "describe",
]


class ZohoLockingError(Exception):
    """Base class of every error raised by zoho_locking.

    Args:
        message: What went wrong, in words; kept as `message`.
    """

    #: A short machine-readable code: Zoho's own code for API errors, a
    #: client-side code (``VALIDATION_ERROR``, ``TRANSPORT_ERROR``, ...) otherwise.
    code: str = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        #: What went wrong, in words (for `ApiError`, the server's own message).
        self.message = message


class ValidationError(ZohoLockingError, ValueError):
    """An argument is not acceptable; nothing was sent.

    Args:
        message: What is wrong with the argument.
        field: The argument's name, when one is to blame; kept as `field`.
    """

    code = "VALIDATION_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        #: The argument to blame, if one is (``module``, ``reason``, ...).
        self.field = field


class ApiError(ZohoLockingError):
    """The CRM answered with an error envelope (either of Zoho's two shapes).

    Args:
        http_status: The answer's HTTP status.
        code: Zoho's code (``NOT_ALLOWED``, ``INVALID_DATA``, ...).
        message: Zoho's own message.
        details: Zoho's ``details`` object (``api_name``, ``json_path``, ...), copied.
    """

    def __init__(
        self,
        http_status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        #: The answer's HTTP status.
        self.http_status = http_status
        self.code = code
        #: Zoho's ``details`` object: where the error is (``api_name``, ...).
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.code} (HTTP {self.http_status}): {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(http_status={self.http_status!r}, code={self.code!r}, "
            f"message={self.message!r}, details={self.details!r})"
        )


class UnexpectedResponse(ApiError):
    """The answer was not a Zoho JSON envelope: an HTML error page, an empty body, junk.

    Its `code` is ``UNEXPECTED_RESPONSE``.

    Args:
        http_status: The answer's HTTP status.
        message: What the answer was instead (a short excerpt, never a token).
    """

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(http_status, "UNEXPECTED_RESPONSE", message)


class QueryError(ApiError):
    """Zoho refused a COQL query: bad syntax, an unknown field, too many criteria, ...

    ``details`` says where (``near``, ``line``, ``column``, ``column_name``, ...);
    ``str()`` is one line naming the problem.
    """

    def __str__(self) -> str:
        where = ", ".join(f"{key} {value!r}" for key, value in self.details.items())
        return f"{self.code}: {self.message}" + (f" ({where})" if where else "")


class AuthError(ApiError):
    """A 401 that refreshing the token cannot fix, such as a missing OAuth scope."""

    #: What the token needs, added to the exception text (``message`` stays Zoho's).
    hint = (
        "the token needs ZohoCRM.modules.lockinginformation.READ/CREATE/UPDATE/DELETE "
        "(or .ALL) and ZohoCRM.modules.ALL or ZohoCRM.modules.{module}.{operation}"
    )

    def __str__(self) -> str:
        return f"{super().__str__()} ({self.hint})"


class CreditsExhausted(ApiError):
    """429 because the org's daily API credits are spent: retrying within seconds cannot help.

    Zoho's code is TOO_MANY_REQUESTS, as for a busy org; this one's `code` is
    ``CREDITS_EXHAUSTED``, to say which.

    Args:
        http_status: The answer's HTTP status (429).
        message: Zoho's message.
        details: Zoho's ``details`` object, copied.
    """

    def __init__(
        self, http_status: int, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(http_status, "CREDITS_EXHAUSTED", message, details)


class ThrottledTooLong(ApiError):
    """Every answer has been 429 for longer than `RetryPolicy.stall_timeout`: no recovery.

    Its `code` is ``THROTTLED_TOO_LONG``, its `http_status` 429.

    Args:
        seconds: How long nothing but 429s came, for the message.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(
            429,
            "THROTTLED_TOO_LONG",
            f"every answer for {seconds:.0f}s was 429 TOO_MANY_REQUESTS, with no success "
            "anywhere in the run; the org's credits may be spent, or another integration "
            "holds its whole concurrency",
        )


class RunStopped(ZohoLockingError):
    """A bulk run has stopped, so this request was not sent.

    *code* is ``MAX_REQUESTS`` when the run's own request budget is spent, else
    ``RUN_STOPPED`` (another record met a failure that ends the whole run).

    Args:
        message: Why the run stopped.
        code: ``RUN_STOPPED`` or ``MAX_REQUESTS``.
    """

    def __init__(self, message: str, *, code: str = "RUN_STOPPED") -> None:
        super().__init__(message)
        self.code = code


class FlowUnavailable(ZohoLockingError):
    """The budget shared with other processes (Redis) stayed unreachable: nothing was sent."""

    code = "FLOW_UNAVAILABLE"


class TransportError(ZohoLockingError):
    """The request never got a complete answer: connection refused or dropped, TLS, DNS.

    Args:
        message: What failed (aiohttp's words, as ``TypeName: text``).
        maybe_sent: Whether the request may have reached the server; kept as `maybe_sent`.
    """

    code = "TRANSPORT_ERROR"
    #: Whether another attempt may get through (a proxy refusing our credentials won't).
    retryable = True

    def __init__(self, message: str, *, maybe_sent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        #: False only when the request certainly never left (connection refused):
        #: a write that failed with ``maybe_sent`` may still have been applied.
        self.maybe_sent = maybe_sent


class RequestTimeout(TransportError):
    """No complete answer arrived within the configured timeout."""

    code = "TIMEOUT"


class ProxyError(TransportError):
    """The proxy refused the request (407, a refused ``CONNECT``) or could not be reached.

    Nothing reached the CRM. The message names the proxy, never its credentials.
    A refusal is final (*retryable* is false: another attempt would only repeat
    wrong credentials to the proxy); an unreachable proxy is retried like any
    connection error. Either fails every request alike, so a bulk run stops.

    Args:
        message: What the proxy did, naming it without its credentials.
        retryable: Whether another attempt may get through (unreachable: yes; refused: no).
    """

    code = "PROXY_ERROR"

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message, maybe_sent=False)
        self.retryable = retryable


class TLSError(TransportError):
    """The server's TLS certificate could not be verified: nothing was sent.

    The message names the host and what to do: give the CA bundle that signed
    the certificate (``ssl=`` on the client and the token provider;
    ``--ca-bundle`` or ``ZOHO_CA_BUNDLE`` on the command line), or set
    ``SSL_CERT_FILE``. Never retried (another attempt meets the same
    certificate), and it fails every request alike, so a bulk run stops.

    Args:
        message: The host, what failed and what to do about it.
    """

    code = "TLS_ERROR"
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_sent=False)


class UncertainOutcome(ZohoLockingError):
    """A write's answer was lost and reading the record back failed: its fate is unknown.

    Also raised when a call's ``timeout`` passes while a write may have reached
    the server (in flight, or an earlier attempt's answer lost).
    """

    code = "UNCERTAIN"


class OAuthError(ZohoLockingError):
    """No access token could be had.

    The accounts server refused (its code: ``INVALID_CLIENT``, ``THROTTLED``, ...),
    or asking would pass Zoho's token limits (``TOO_MANY_TOKENS``,
    ``TOO_MANY_TOKEN_REQUESTS``), or the token store shared with other processes
    could not be reached (``TOKEN_STORE_UNAVAILABLE``, ``TOKEN_LOCK_TIMEOUT``).

    Args:
        code: The accounts server's code, or one of the client's codes above.
        message: What happened, never with a token or a secret in it.
        http_status: The accounts server's HTTP status, if it answered.
    """

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        #: The accounts server's HTTP status; ``None`` when it was not asked or not reached.
        self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class JournalError(ZohoLockingError):
    """The resume journal cannot be used for this run (in use, another run's, unreadable)."""

    code = "JOURNAL_ERROR"


def describe(exc: BaseException) -> str:
    """``TypeName: text`` of another library's exception, for our own messages."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
