"""pytest fixtures for the fake Zoho CRM.

Enable them in a ``conftest.py``::

    pytest_plugins = ["zoho_locking.testing.plugin"]

then ask for ``fake_crm`` (an org with 100 Deals records) or ``fake_server``
(that org served on loopback; its ``url`` is the API domain).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .fakecrm import FakeCRM
from .server import FakeServer

__all__ = ["fake_crm", "fake_server"]


@pytest.fixture
def fake_crm() -> FakeCRM:
    """A fresh fake org with 100 records in ``Deals``."""
    crm = FakeCRM()
    crm.add_records("Deals", 100)
    return crm


@pytest_asyncio.fixture
async def fake_server(fake_crm: FakeCRM) -> AsyncIterator[FakeServer]:
    """The ``fake_crm`` org, served on 127.0.0.1 for the duration of the test."""
    async with FakeServer(fake_crm) as server:
        yield server
