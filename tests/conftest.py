import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from helpers import DropsSecond

from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

pytest_plugins = ["zoho_locking.testing.plugin", "redis_server", "pytester"]

# Proxy variables of the machine running the tests would send the tests' requests
# to loopback servers through that proxy: every test starts without them (a test
# that wants one sets it).
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# The accounts server most token tests talk to: the plugin's `fake_crm` served on
# loopback with Zoho's token endpoint. A module with a `server` or `accounts` of its
# own (other settings, TLS, no accounts) overrides these.
@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts()


@pytest_asyncio.fixture
async def server(fake_crm: FakeCRM, accounts: FakeAccounts) -> AsyncIterator[FakeServer]:
    async with FakeServer(fake_crm, accounts=accounts) as server:
        yield server


# A server that drops the second request of every connection (`helpers.DropsSecond`).
@pytest_asyncio.fixture
async def drops_second() -> AsyncIterator[DropsSecond]:
    server = DropsSecond()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    async with listening:
        yield server
