"""A whole fake Zoho, described once: the org, its OAuth token endpoint, its server.

`OrgSpec` says what a test (or ``zoho-locking fake-server``) wants: modules
and record counts, faults, latency, concurrency limit, API credits, token
life, OAuth. `OrgSpec.build` makes the pieces and hands them back as a
`FakeZoho`, whose server is not started yet:

    zoho = OrgSpec(records={"Deals": 10}, oauth=True, token_life=60.0).build()
    async with zoho.server:
        ...  # zoho.url, zoho.access_token, zoho.accounts.refresh_token

The pytest plugin's ``make_fake_zoho`` fixture builds and starts them for a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import attrs

from ._faults import Faults
from .accounts import TOKEN_PATH, FakeAccounts
from .fakecrm import FakeCRM
from .org import LockingMode
from .server import FakeServer

__all__ = ["FakeZoho", "OrgSpec"]

#: How long access tokens minted by the token endpoint live unless told: Zoho's hour.
ZOHO_TOKEN_LIFE = 3600.0


def _counts(records: Mapping[str, int]) -> dict[str, int]:
    counts = dict(records)
    for module, count in counts.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"records[{module!r}] must be a whole number >= 0, got {count!r}")
    return counts


def _positive(_: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds, got {value!r}")


@attrs.frozen(kw_only=True)
class OrgSpec:
    """What a fake Zoho looks like. Every field has a default: an org with 100 Deals."""

    #: Records to create, by module: ``{"Deals": 100}``.
    records: dict[str, int] = attrs.field(factory=lambda: {"Deals": 100}, converter=_counts)
    #: Modules to add (custom) or to reconfigure, with their locking configuration
    #: (``"manual_and_automatic"``, ``"automatic_only"``, or ``None``: none).
    modules: dict[str, LockingMode | None] = attrs.field(factory=dict, converter=dict)
    #: Faults injected in front of the org (one `Faults`, and one random sequence, shared
    #: by every org built from this spec).
    faults: Faults | None = None
    #: Seconds added to every CRM answer, and the org's limit of requests in flight (429 past it).
    latency: float = 0.0
    concurrency_limit: int | None = None
    #: The part of `latency` (0 to 1) spent after the org applied a request (`FakeServer`).
    apply_after: float = 0.0
    #: The org's daily API credits (`Credits`); ``None``: unlimited.
    credits: int | None = None
    #: Seconds every access token lives, the one handed out and those the token
    #: endpoint mints. ``None``: `FakeCRM.DEFAULT_TOKEN`, valid forever, and minted
    #: tokens live an hour, as Zoho's do.
    token_life: float | None = attrs.field(default=None, validator=_positive)
    #: Serve Zoho's OAuth token endpoint (`FakeAccounts`) at ``/oauth/v2/token``.
    oauth: bool = False
    #: The clock (seconds, any epoch) that expires tokens and spaces token requests.
    clock: Callable[[], float] = time.monotonic
    #: ``False``: keep no log of requests (`FakeCRM.requests`), for long runs.
    record_requests: bool = True

    def build(self, *, host: str = "127.0.0.1", port: int = 0) -> FakeZoho:
        """Make the org, its token endpoint (with `oauth`) and its server (not started).

        Args:
            host: The address the server will listen on.
            port: Its TCP port (0: any free one).

        Returns:
            The org, its accounts server and its server, not started.
        """
        crm = FakeCRM(
            clock=self.clock,
            faults=self.faults,
            default_token=self.token_life is None,
            record_requests=self.record_requests,
            credits=self.credits,
        )
        for name, locking in self.modules.items():
            if crm.org.find_module(name) is None:
                crm.add_module(name, locking=locking)
            else:
                crm.set_locking(name, locking)
        for name, count in self.records.items():
            crm.add_records(name, count)
        life = self.token_life
        token = FakeCRM.DEFAULT_TOKEN if life is None else crm.mint_token(life)
        accounts = FakeAccounts(token_life=life or ZOHO_TOKEN_LIFE) if self.oauth else None
        server = FakeServer(
            crm,
            host=host,
            port=port,
            latency=self.latency,
            apply_after=self.apply_after,
            concurrency_limit=self.concurrency_limit,
            accounts=accounts,
        )
        return FakeZoho(server=server, access_token=token)


@attrs.frozen
class FakeZoho:
    """A fake Zoho built by `OrgSpec.build`: the server, and what a client needs to reach it."""

    server: FakeServer
    #: An access token the org accepts (for `OrgSpec.token_life` seconds from the build).
    access_token: str = attrs.field(repr=False)

    @property
    def crm(self) -> FakeCRM:
        """The org: set it up and look inside it."""
        return self.server.crm

    @property
    def accounts(self) -> FakeAccounts | None:
        """The OAuth token endpoint (its client id, secret and refresh token), with `oauth`."""
        return self.server.accounts

    @property
    def url(self) -> str:
        """The API domain, and the accounts URL with `oauth`; known once the server started."""
        return self.server.url

    @property
    def token_url(self) -> str:
        """The token endpoint's full URL, as Zoho's SDKs take it (``.../oauth/v2/token``)."""
        return self.server.url + TOKEN_PATH
