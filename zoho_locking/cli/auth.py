"""``zoho-locking auth``: from Zoho's grant code to the first refresh token.

The grant code comes from standard input (a prompt that does not echo on a
terminal), or with ``--browser`` from Zoho's consent page through a loopback
redirect (`zoho_locking.cli.loopback`); never from a flag or a variable. The
refresh token is printed alone on standard output, one line, so that
``export ZOHO_REFRESH_TOKEN=$(zoho-locking auth < code.txt)`` works; what Zoho
granted (scopes, API domain), whether the scopes cover each command, and what
to do next go to standard error. Any failure is one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import attrs

from ..auth.grant import GrantedTokens, exchange_grant_code
from ..auth.stores import FileTokenStore
from ..net.proxy import Proxies
from ..wire.datacentres import check_base_url, data_centre, in_environment
from ..wire.scopes import coverage, granted_modules
from . import logs
from .config import (
    UsageError,
    credentials_from,
    environment_from,
    log_format,
    proxies_from,
    tls_from,
)
from .loopback import ConsentError, catch_code, consent_url
from .parser import EXIT_INTERRUPTED

__all__ = ["AuthConfig", "read_code", "run_auth"]


@attrs.frozen(kw_only=True)
class AuthConfig:
    """What ``zoho-locking auth`` runs with, from its arguments and the environment."""

    client_id: str
    client_secret: str = attrs.field(repr=False)
    #: The accounts server's base URL.
    accounts_url: str
    #: ZOHO_TOKEN_STORE: where to keep the access token that comes with the refresh token.
    token_store: Path | None = None
    proxies: Proxies = attrs.field(factory=Proxies)
    browser: bool = False
    redirect_uri: str = "http://127.0.0.1:8765/callback"
    scopes: str = ""
    wait: float = 300.0
    timeout: float = 30.0
    log_format: str = "text"
    #: --environment / ZOHO_ENVIRONMENT: whose API domain to name for the next runs.
    environment: str = "production"
    #: --ca-bundle / ZOHO_CA_BUNDLE, checked at the door; ``None``: Python's trust.
    tls: ssl.SSLContext | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str]) -> AuthConfig:
        """Read *args* (the ``auth`` subcommand's) and *env*; `UsageError` if something is off."""
        dc = args.dc or env.get("ZOHO_DC") or None
        environment = environment_from(args.environment, env)
        creds = credentials_from(env, dc, environment)
        tls = tls_from(args.ca_bundle, env)
        missing = [
            name
            for name, value in (
                ("ZOHO_CLIENT_ID", creds.client_id),
                ("ZOHO_CLIENT_SECRET", creds.client_secret),
            )
            if not value
        ]
        if missing:
            raise UsageError(
                f"{' and '.join(missing)} not set (the OAuth client's, from Zoho's API console)"
            )
        if creds.accounts_url is not None:
            accounts_url = check_base_url(creds.accounts_url, what="ZOHO_ACCOUNTS_URL")
        elif dc is not None:
            accounts_url = data_centre(dc).accounts_url
        else:
            raise UsageError("set ZOHO_ACCOUNTS_URL or a data centre (--dc or ZOHO_DC)")
        assert creds.client_id is not None and creds.client_secret is not None
        return cls(
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            accounts_url=accounts_url,
            token_store=creds.token_store,
            proxies=proxies_from(None, env),
            browser=args.browser,
            redirect_uri=args.redirect_uri,
            scopes=args.scope,
            wait=args.wait,
            timeout=args.timeout,
            log_format=log_format(None, env),
            environment=environment,
            tls=tls,
        )


def read_code(stdin: IO[bytes], *, interactive: bool) -> str:
    """The grant code: prompted for without echo on a terminal, else the first line of *stdin*."""
    if interactive:
        text = getpass.getpass("Zoho grant code (not shown): ")
    else:
        lines = stdin.read().decode("utf-8", "replace").splitlines()
        text = next((line for line in lines if line.strip()), "")
    code = text.strip()
    if not code:
        raise UsageError("no grant code on standard input (generate one in Zoho's API console)")
    if any(ch.isspace() for ch in code):
        raise UsageError("the grant code must be one word on one line")
    return code


def run_auth(
    config: AuthConfig,
    *,
    stdin: IO[bytes],
    stdout: IO[str],
    stderr: IO[str],
    interactive: bool,
) -> int:
    """Get the refresh token, print it alone on *stdout*, and the rest on *stderr*; exit 0.

    Raises:
        UsageError: No code was given, or the browser flow failed.
        ZohoLockingError: The accounts server gave no refresh token (an `OAuthError`).
    """

    def say(message: str) -> None:
        if config.log_format == "json":
            print(logs.json_line("info", "auth", message), file=stderr, flush=True)
        else:
            print(message, file=stderr, flush=True)

    try:
        with logs.logging_to(stderr, json_format=config.log_format == "json", verbose=False):
            granted = asyncio.run(_obtain(config, stdin, say, interactive))
    except (KeyboardInterrupt, EOFError):  # Ctrl-C or Ctrl-D at the prompt: nothing asked
        print("zoho-locking auth: interrupted, no refresh token", file=stderr)
        return EXIT_INTERRUPTED
    print(granted.refresh_token, file=stdout, flush=True)
    for line in report_lines(granted, config):
        say(line)
    return 0


async def _obtain(
    config: AuthConfig, stdin: IO[bytes], say: Callable[[str], None], interactive: bool
) -> GrantedTokens:
    store = FileTokenStore(config.token_store) if config.token_store is not None else None
    redirect_uri = None
    if config.browser:
        import webbrowser

        def consent(uri: str, state: str) -> str:
            return consent_url(
                config.accounts_url, client_id=config.client_id, scopes=config.scopes,
                redirect_uri=uri, state=state,
            )  # fmt: skip

        try:
            caught = await catch_code(
                config.redirect_uri, consent=consent, open_browser=webbrowser.open, say=say,
                wait=config.wait,
            )  # fmt: skip
        except ConsentError as exc:
            raise UsageError(str(exc)) from None
        code, redirect_uri = caught.code, caught.redirect_uri
    else:
        code = read_code(stdin, interactive=interactive)
    return await exchange_grant_code(
        code,
        client_id=config.client_id,
        client_secret=config.client_secret,
        accounts_url=config.accounts_url,
        redirect_uri=redirect_uri,
        store=store,
        timeout=config.timeout,
        proxy=config.proxies,
        ssl=config.tls,
    )


def report_lines(granted: GrantedTokens, config: AuthConfig) -> list[str]:
    """What Zoho granted and what it allows, for standard error (no secret in it)."""
    lines = [f"Zoho granted a refresh token to client {granted.client_id} ({granted.accounts_url})"]
    if granted.scopes:
        lines.append("scopes:")
        lines.extend(f"  {scope}" for scope in granted.scopes)
    else:
        lines.append("scopes: Zoho named none, so which commands they cover is not known")
    lines.append(f"API domain: {granted.api_domain or 'not named (give --dc or --api-domain)'}")
    if config.environment != "production" and granted.api_domain:
        other = in_environment(granted.api_domain, config.environment)
        lines.append(
            f"{config.environment} API domain: {other}" if other
            else f"{config.environment} API domain: not known for {granted.api_domain}"
        )
    if granted.scopes:
        modules = granted_modules(granted.scopes)
        for module in (None,) if modules is None or not modules else modules:
            cover = coverage(granted.scopes, module)
            where = module or ("every module" if modules is None else "any module")
            if cover.covered:
                lines.append(f"covered on {where}: {', '.join(cover.covered)}")
            for command, scope in cover.missing:
                lines.append(f"not covered on {where}: {command} (needs {scope})")
    if granted.kept:
        lines.append(f"the access token is kept in {config.token_store}: the first run mints none")
    lines.append(
        "next: keep the refresh token secret (it lasts until revoked) and set it as "
        "ZOHO_REFRESH_TOKEN, with ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and the same accounts "
        "server; then try: zoho-locking status --module Deals --ids ids.txt"
    )
    return lines
