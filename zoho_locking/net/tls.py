"""TLS settings of every request: which certificate authorities to trust, never whether to check.

`tls_context` turns what a user gives as ``ssl=`` (a CA bundle's path, an
`ssl.SSLContext`, ``"system"`` for the operating system's trust store, or
``None`` for Python's defaults) into the context aiohttp verifies servers
with. Verification cannot be switched off: ``ssl=False``, or a context that
checks no certificate or no host name, is refused before anything is sent.

`tls_failure` words aiohttp's certificate errors: the host, what failed, and
what to do about it (a corporate proxy that inspects TLS, Python without
certificates).
"""

from __future__ import annotations

import importlib
import os
import ssl
from typing import TypeAlias

from ..errors import ValidationError

__all__ = ["SYSTEM", "TLSSetting", "TLS_HINT", "tls_context", "tls_failure"]

#: ``ssl=SYSTEM`` trusts the operating system's store (the ``truststore`` extra).
SYSTEM = "system"

#: What ``ssl=`` accepts: a CA bundle (PEM file or directory), a context, ``"system"``, ``None``.
TLSSetting: TypeAlias = ssl.SSLContext | str | os.PathLike[str] | None

#: What to do when a certificate cannot be verified, for the end of an error message.
TLS_HINT = (
    "if a proxy or firewall inspects TLS, or this Python has no certificates (python.org's "
    "macOS build: run 'Install Certificates.command'), give the CA bundle that signed it: "
    "ssl='/path/to/ca.pem' (command line: --ca-bundle PATH or ZOHO_CA_BUNDLE), "
    "or set SSL_CERT_FILE"
)


def tls_context(setting: object) -> ssl.SSLContext | None:
    """Return the SSL context *setting* describes; ``None`` for aiohttp's default.

    Args:
        setting: ``None`` (or ``True``): Python's default trust (which honours
            ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``); a path to a PEM bundle of
            CA certificates, or a directory of them, trusted instead of the
            defaults; ``"system"``: the operating system's trust store
            (needs ``pip install 'zoho-locking[truststore]'``); an
            `ssl.SSLContext`, used as it is.

    Returns:
        The context to verify servers with, or ``None`` for the default.

    Raises:
        ValidationError: *setting* would switch verification off (``False``, a
            context with ``CERT_NONE`` or without host name checks), names no
            readable bundle, or asks for ``"system"`` without ``truststore``.
    """
    if setting is None or setting is True:
        return None
    if setting is False:
        raise ValidationError(
            "ssl=False would switch certificate verification off, which zoho-locking never "
            "does; to trust a proxy's or a private CA, give its bundle: ssl='/path/to/ca.pem'",
            field="ssl",
        )
    if isinstance(setting, ssl.SSLContext):
        if setting.verify_mode != ssl.CERT_REQUIRED or not setting.check_hostname:
            raise ValidationError(
                "ssl= got an SSLContext that does not verify certificates and host names "
                "(verify_mode CERT_REQUIRED and check_hostname are needed); verification "
                "cannot be switched off",
                field="ssl",
            )
        return setting
    if not isinstance(setting, str | os.PathLike):
        raise ValidationError(
            "ssl must be a CA bundle's path, an ssl.SSLContext, 'system' or None", field="ssl"
        )
    path = os.fspath(setting)
    if not isinstance(path, str) or not path.strip():
        raise ValidationError("ssl must name a CA bundle file", field="ssl")
    if path == SYSTEM:
        return _system_context()
    return _bundle_context(path)


def _bundle_context(path: str) -> ssl.SSLContext:
    """A verifying context that trusts the CA certificates in *path* (a file or a directory)."""
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise ValidationError(f"the CA bundle {path} does not exist", field="ssl") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ValidationError(
            f"the CA bundle {path} could not be read as PEM certificates ({reason})",
            field="ssl",
        ) from None


def _system_context() -> ssl.SSLContext:
    """A verifying context backed by the operating system's trust store (truststore)."""
    try:
        truststore = importlib.import_module("truststore")
    except ImportError:
        raise ValidationError(
            "ssl='system' (--ca-bundle system) needs the truststore extra: "
            "pip install 'zoho-locking[truststore]'",
            field="ssl",
        ) from None
    context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context


def tls_failure(error: BaseException, host: str | None = None) -> str | None:
    """Words for an aiohttp certificate error; ``None`` if *error* is none.

    Args:
        error: what aiohttp raised.
        host: the server's host name, if *error* does not carry it.

    Returns:
        One line naming the host, what failed and what to do, or ``None``.
    """
    # Imported here: the CLI's parser and config import this module and must stay
    # light; only a transport that has aiohttp loaded calls this.
    import aiohttp

    if not isinstance(error, aiohttp.ClientConnectorCertificateError):
        return None
    cause = error.certificate_error
    reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
    reason = str(reason or cause).strip().rstrip(".")
    where = error.host or host or "the server"
    return f"could not verify the TLS certificate of {where} ({reason}); {TLS_HINT}"
