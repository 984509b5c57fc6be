"""pytest fixtures for the fake Zoho CRM.

Enable them in a ``conftest.py``:

    pytest_plugins = ["zoho_locking.testing.plugin"]

then ask for ``fake_crm`` (an org with 100 Deals records) or ``fake_server``
(that org served on loopback; its ``url`` is the API domain), or for
``make_fake_zoho``, a factory that serves the org a test describes (the
fields of `OrgSpec`) and closes every server it started after the test:

    async def test_my_job(make_fake_zoho):
        zoho = await make_fake_zoho(
            records={"Deals": 50, "Leads": 5},
            modules={"Projects": "automatic_only"},
            faults=Faults(error_500_rate=0.1, seed=1),
            latency=0.01,
            concurrency_limit=5,
            credits=1000,
            token_life=60.0,
            oauth=True,
        )
        ...  # zoho.url, zoho.access_token, zoho.accounts.refresh_token, zoho.crm
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import attrs
import pytest
import pytest_asyncio

from .fakecrm import FakeCRM
from .orgspec import FakeZoho, OrgSpec
from .server import FakeServer

__all__ = ["FakeZohoFactory", "fake_crm", "fake_server", "make_fake_zoho"]


class FakeZohoFactory(Protocol):
    """What ``make_fake_zoho`` is: ``await make_fake_zoho(spec, **fields_of_OrgSpec)``."""

    async def __call__(self, spec: OrgSpec | None = None, /, **options: Any) -> FakeZoho:
        """Build and start a fake Zoho from *spec*, with *options* replacing its fields."""


@pytest.fixture
def fake_crm() -> FakeCRM:
    """Give a test a fresh fake org with 100 records in ``Deals``.

    Returns:
        The org, not served: give it to a `MockTransport`, or use `fake_server`.
    """
    crm = FakeCRM()
    crm.add_records("Deals", 100)
    return crm


@pytest_asyncio.fixture
async def fake_server(fake_crm: FakeCRM) -> AsyncIterator[FakeServer]:
    """Serve the ``fake_crm`` org on 127.0.0.1 for the duration of the test.

    Args:
        fake_crm: The org (the fixture of that name).

    Yields:
        The running server: ``fake_server.url`` is the API domain to give a client.
    """
    async with FakeServer(fake_crm) as server:
        yield server


@pytest_asyncio.fixture
async def make_fake_zoho() -> AsyncIterator[FakeZohoFactory]:
    """Give a test a factory of fake Zohos served on 127.0.0.1; each is closed after it.

    Yields:
        ``await make_fake_zoho(spec, **fields_of_OrgSpec)``: a started `FakeZoho`.
    """
    started: list[FakeServer] = []

    async def make(spec: OrgSpec | None = None, /, **options: Any) -> FakeZoho:
        chosen = OrgSpec(**options) if spec is None else attrs.evolve(spec, **options)
        zoho = chosen.build()
        await zoho.server.start()
        started.append(zoho.server)
        return zoho

    try:
        yield make
    finally:
        for server in reversed(started):
            await server.close()

