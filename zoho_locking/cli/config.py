"""What one bulk command runs with: built once, at the door, from arguments and environment.

`CommandConfig.from_args` is the only code that reads the parsed arguments
(an `argparse.Namespace`) and the environment; everything after it takes the
frozen, typed `CommandConfig`. Building it checks what can be checked without
sending anything (one source of ids, the module, the reason, the API domain,
a previous run's file), so a mistake is a `UsageError` (exit 2) before any work.
Credentials are only gathered here: a dry run by ids needs none, and
`zoho_locking.cli.wiring` says what is missing when a run does.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TypeAlias

import attrs

from ..errors import ValidationError
from ..models import Operation
from ..net.proxy import Proxies
from ..net.tls import tls_context
from ..wire import coql, protocol
from ..wire.datacentres import check_base_url, check_environment, data_centre
from .parser import COMMANDS
from .previous import read_locks

__all__ = [
    "LIMIT_STORE_NAME",
    "CommandConfig",
    "Credentials",
    "FlowSettings",
    "FromReport",
    "IdsFile",
    "IdSource",
    "Query",
    "UsageError",
    "ca_bundle_from",
    "credentials_from",
    "environment_from",
    "log_format",
    "proxies_from",
    "tls_from",
]

#: The learned-limit file's name beside ZOHO_TOKEN_STORE, when ZOHO_LIMIT_STORE is not set.
LIMIT_STORE_NAME = "zoho-locking-limits.json"


class UsageError(Exception):
    """A bad flag, file or setting: exit 2, nothing sent."""


@attrs.frozen(kw_only=True)
class IdsFile:
    """Ids from a file or standard input (``-``): one per line, or a CSV column."""

    path: str = "-"
    id_column: str | None = None
    locking_id_column: str | None = None


@attrs.frozen(kw_only=True)
class Query:
    """The ids of every record of the module that a COQL condition matches."""

    where: str


@attrs.frozen(kw_only=True)
class FromReport:
    """The ``(record_id, locking_id)`` of each lock a previous run made (its report or journal)."""

    path: Path
    locks: tuple[tuple[str, str], ...] = attrs.field(repr=lambda locks: f"<{len(locks)} locks>")


IdSource: TypeAlias = IdsFile | Query | FromReport


@attrs.frozen(kw_only=True)
class Credentials:
    """Where access tokens come from: the environment, never a flag that ``ps`` shows."""

    access_token: str | None = attrs.field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    accounts_url: str | None = None
    #: The data centre, when the accounts server is named by it.
    dc: str | None = None
    #: ``production``, ``sandbox`` or ``developer`` (--environment, ZOHO_ENVIRONMENT).
    environment: str = "production"
    #: A file caching access tokens between runs (ZOHO_TOKEN_STORE).
    token_store: Path | None = None


@attrs.frozen(kw_only=True)
class FlowSettings:
    """How fast the run may go, and whether it shares the org's budget through Redis."""

    concurrency: int = 10
    rate: float | None = None
    #: May hold a password: never shown.
    redis_url: str | None = attrs.field(default=None, repr=False)
    budget_key: str | None = None
    #: Where a learned in-flight limit is kept (ZOHO_LIMIT_STORE, or beside the token store).
    limit_store: Path | None = None


@attrs.frozen(kw_only=True)
class CommandConfig:
    """Everything one bulk command of the command line runs with."""

    #: The subcommand's name (``status`` runs `Operation.GET`).
    command: str
    operation: Operation
    module: str
    reason: str | None = None
    source: IdSource = IdsFile()
    #: The CRM's API domain, if named (a refresh token's answer names it otherwise).
    api_domain: str | None = None
    api_version: str = "v8"
    timeout: float = 30.0
    max_attempts: int = 5
    max_requests: int | None = None
    report: Path | None = None
    journal: Path | None = None
    resume: bool = False
    dry_run: bool = False
    any_lock: bool = False
    quiet: bool = False
    verbose: bool = False
    #: ``text`` or ``json`` (one JSON object per line on standard error).
    log_format: str = "text"
    credentials: Credentials = Credentials()
    flow: FlowSettings = FlowSettings()
    #: The proxies of every request (--proxy, else the environment's); its repr hides passwords.
    proxies: Proxies = attrs.field(factory=Proxies)
    #: --ca-bundle or ZOHO_CA_BUNDLE as given (a path, or ``system``); ``None``: Python's trust.
    ca_bundle: str | None = None
    #: The SSL context *ca_bundle* makes, checked at the door; ``None``: aiohttp's default.
    tls: ssl.SSLContext | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def org(self) -> str:
        """What names the org's servers, for the keys of its shared budget and learned limit."""
        if self.api_domain is not None:
            return self.api_domain
        named = self.credentials.accounts_url or self.credentials.dc or ""
        environment = self.credentials.environment
        # A sandbox has limits of its own: never the production org's key.
        return named if environment == "production" else f"{named} {environment}"

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str]) -> CommandConfig:
        """Read *args* (parsed by `zoho_locking.cli.parser`) and *env*; `UsageError` if wrong."""
        if args.resume and not args.journal:
            raise UsageError("--resume needs --journal")
        operation = COMMANDS[args.command]
        module, source = _source(args)
        module = protocol.validate_module(module)
        reason = protocol.validate_reason(args.reason) if operation.needs_reason else None
        dc = args.dc or env.get("ZOHO_DC") or None
        environment = environment_from(args.environment, env)
        return cls(
            command=args.command,
            operation=operation,
            module=module,
            reason=reason,
            source=source,
            api_domain=_api_domain(
                args.api_domain or env.get("ZOHO_API_DOMAIN") or None, dc, environment
            ),
            api_version=args.api_version,
            timeout=args.timeout,
            max_attempts=args.max_attempts,
            max_requests=args.max_requests,
            report=Path(args.report) if args.report else None,
            journal=Path(args.journal) if args.journal else None,
            resume=args.resume,
            dry_run=args.dry_run,
            any_lock=getattr(args, "any_lock", False),
            quiet=args.quiet,
            verbose=args.verbose,
            log_format=log_format(args.log_format, env),
            credentials=credentials_from(env, dc, environment),
            flow=FlowSettings(
                concurrency=args.concurrency,
                rate=args.rate,
                redis_url=args.redis_url or env.get("ZOHO_REDIS_URL") or None,
                budget_key=args.budget_key,
                limit_store=_limit_store(env),
            ),
            proxies=proxies_from(args.proxy, env),
            ca_bundle=ca_bundle_from(args.ca_bundle, env),
            tls=tls_from(args.ca_bundle, env),
        )


def log_format(flag: str | None, env: Mapping[str, str]) -> str:
    """``json`` or ``text``: the flag, else ZOHO_LOG_FORMAT, else text."""
    chosen = flag or env.get("ZOHO_LOG_FORMAT") or "text"
    if chosen not in ("text", "json"):
        raise UsageError(f"ZOHO_LOG_FORMAT must be text or json, not {chosen!r}")
    return chosen


def _source(args: argparse.Namespace) -> tuple[str, IdSource]:
    """The module and the one source of ids the arguments name."""
    where = args.where
    path = getattr(args, "from_report", None)
    locking_id_column = getattr(args, "locking_id_column", None)
    from_file = args.ids != "-" or args.id_column or locking_id_column
    if where is not None:
        if path is not None or from_file:
            raise UsageError("--where replaces --ids, --id-column and --from-report: give one")
        if args.module is None:
            raise UsageError("--where needs --module")
        return args.module, Query(where=coql.validate_condition(where))
    if path is None:
        if args.module is None:
            raise UsageError("--module is required (or --from-report)")
        ids = IdsFile(
            path=args.ids, id_column=args.id_column, locking_id_column=locking_id_column
        )
        return args.module, ids
    if args.ids != "-" or args.id_column:
        raise UsageError("--from-report replaces --ids and --id-column: give one or the other")
    previous = read_locks(path)
    module = args.module
    if module is None:
        module = previous.module
    elif module.lower() != previous.module.lower():
        raise UsageError(f"--module {module} but {path} is a report of {previous.module}")
    return module, FromReport(path=Path(path), locks=tuple(previous.locks))


def environment_from(flag: str | None, env: Mapping[str, str]) -> str:
    """--environment, else ZOHO_ENVIRONMENT, else production; `UsageError` naming the three."""
    chosen = flag or env.get("ZOHO_ENVIRONMENT") or "production"
    try:
        return check_environment(chosen)
    except ValidationError:
        name = "--environment" if flag else "ZOHO_ENVIRONMENT"
        raise UsageError(
            f"{name} must be production, sandbox or developer, not {chosen!r}"
        ) from None


def _api_domain(domain: str | None, dc: str | None, environment: str) -> str | None:
    """The API domain: --api-domain / ZOHO_API_DOMAIN, else the data centre's in *environment*."""
    if domain is not None:
        if environment != "production":
            raise UsageError(
                f"--environment {environment} picks a data centre's domain: give --dc "
                "(or ZOHO_DC), or --api-domain alone"
            )
        # Plain http:// only for loopback (the fake server): never for a real org.
        return check_base_url(domain, what="api_domain")
    if dc is not None:
        return data_centre(dc).domain(environment)
    return None


def ca_bundle_from(flag: str | None, env: Mapping[str, str]) -> str | None:
    """--ca-bundle, else ZOHO_CA_BUNDLE, as given (a path, or ``system``); ``None``: neither."""
    return flag or env.get("ZOHO_CA_BUNDLE") or None


def tls_from(flag: str | None, env: Mapping[str, str]) -> ssl.SSLContext | None:
    """The SSL context of --ca-bundle / ZOHO_CA_BUNDLE, checked before anything is sent."""
    ca_bundle = ca_bundle_from(flag, env)
    if ca_bundle is None:
        return None
    try:
        return tls_context(ca_bundle)
    except ValidationError as exc:
        raise UsageError(f"{'--ca-bundle' if flag else 'ZOHO_CA_BUNDLE'}: {exc}") from None


def proxies_from(proxy: str | None, env: Mapping[str, str]) -> Proxies:
    """--proxy for every request, else HTTP(S)_PROXY and NO_PROXY from *env*."""
    try:
        return Proxies.to(proxy) if proxy else Proxies.from_env(env)
    except ValidationError as exc:
        # Named by its setting, never shown: the URL may hold a password.
        name = "--proxy" if proxy else (exc.field or "proxy").upper()
        raise UsageError(
            f"{name} is not a usable proxy URL (want http://host:port, "
            "or http://user:password@host:port)"
        ) from None


def credentials_from(env: Mapping[str, str], dc: str | None, environment: str) -> Credentials:
    store = env.get("ZOHO_TOKEN_STORE") or None
    return Credentials(
        access_token=env.get("ZOHO_ACCESS_TOKEN") or None,
        client_id=env.get("ZOHO_CLIENT_ID") or None,
        client_secret=env.get("ZOHO_CLIENT_SECRET") or None,
        refresh_token=env.get("ZOHO_REFRESH_TOKEN") or None,
        accounts_url=env.get("ZOHO_ACCOUNTS_URL") or None,
        dc=dc,
        environment=environment,
        token_store=Path(store) if store else None,
    )


def _limit_store(env: Mapping[str, str]) -> Path | None:
    """Where learned in-flight limits are kept: ZOHO_LIMIT_STORE, else beside the token store."""
    path = env.get("ZOHO_LIMIT_STORE") or None
    if path is not None:
        return Path(path)
    store = env.get("ZOHO_TOKEN_STORE") or None
    return Path(store).with_name(LIMIT_STORE_NAME) if store else None
