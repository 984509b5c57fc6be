"""The pytest plugin, as a user's test suite meets it (pytester): the fixtures and the factory."""

from __future__ import annotations

import pytest
from docs_blocks import python_blocks

CONFTEST = 'pytest_plugins = ["zoho_locking.testing.plugin"]\n'
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""
USER_TESTS = '''
import socket

import pytest

from zoho_locking import ApiError, LockingClient, RefreshTokenAuth, RetryPolicy
from zoho_locking.testing import FakeCRM, FakeServer, FakeZoho, Faults, OrgSpec

PORTS = []


async def test_the_simple_fixtures_are_as_before(fake_crm, fake_server):
    assert isinstance(fake_server, FakeServer) and fake_server.crm is fake_crm
    assert len(fake_crm.record_ids("Deals")) == 100
    assert fake_server.concurrency_limit is None and fake_server.accounts is None


async def test_a_test_chooses_its_org(make_fake_zoho):
    zoho = await make_fake_zoho(
        records={"Deals": 3, "Leads": 2, "Projects_X": 1},
        modules={"Projects_X": "automatic_only", "Invoices": "manual_and_automatic"},
        faults=Faults(error_500_rate=0.5, seed=7),
        latency=0.001,
        concurrency_limit=4,
        credits=50,
    )
    assert isinstance(zoho, FakeZoho) and zoho.url.startswith("http://127.0.0.1:")
    PORTS.append(zoho.server.port)
    crm = zoho.crm
    assert [len(crm.record_ids(m)) for m in ("Deals", "Leads", "Projects_X")] == [3, 2, 1]
    assert crm.module("Projects_X").locking == "automatic_only"
    assert crm.module("Invoices").locking == "manual_and_automatic"
    assert (zoho.server.latency, zoho.server.concurrency_limit) == (0.001, 4)
    assert crm.faults.error_500_rate == 0.5 and crm.credits.limit == 50
    assert zoho.access_token == FakeCRM.DEFAULT_TOKEN and zoho.accounts is None
    fast = RetryPolicy(max_attempts=10, base_delay=0.001, max_delay=0.01)
    async with LockingClient(
        access_token=zoho.access_token, api_domain=zoho.url, retry=fast
    ) as client:
        report = await client.lock_many("Deals", crm.record_ids("Deals"), reason="r")
    assert report.succeeded == 3 and crm.status_counts[500] >= 1
    assert crm.credits.used == 3  # a fault in front of the org costs no credit


async def test_token_life_and_oauth_on_an_injected_clock(make_fake_zoho):
    now = [1000.0]
    zoho = await make_fake_zoho(records={"Deals": 1}, token_life=30.0, oauth=True,
                                clock=lambda: now[0])
    PORTS.append(zoho.server.port)
    (deal,) = zoho.crm.record_ids("Deals")
    assert zoho.access_token != FakeCRM.DEFAULT_TOKEN
    async with LockingClient(access_token=zoho.access_token, api_domain=zoho.url) as client:
        assert await client.get_locks("Deals", deal) == []
        now[0] += 30.0
        with pytest.raises(ApiError) as refused:
            await client.get_locks("Deals", deal)
    assert refused.value.code == "INVALID_TOKEN"
    accounts = zoho.accounts
    assert accounts is not None and accounts.token_life == 30.0
    auth = RefreshTokenAuth(client_id=accounts.client_id, client_secret=accounts.client_secret,
                            refresh_token=accounts.refresh_token, accounts_url=zoho.url)
    async with auth, LockingClient(auth=auth) as client:
        await client.lock("Deals", deal, reason="minted")
    assert accounts.mints == 1 and zoho.crm.lock_of("Deals", deal) is not None


async def test_a_spec_is_reused_and_varied(make_fake_zoho):
    spec = OrgSpec(records={"Deals": 2}, concurrency_limit=3)
    one = await make_fake_zoho(spec)
    two = await make_fake_zoho(spec, credits=5)
    PORTS.extend([one.server.port, two.server.port])
    assert one.url != two.url and one.crm is not two.crm
    assert one.crm.credits is None and two.crm.credits.limit == 5
    assert two.server.concurrency_limit == 3
    with pytest.raises(ValueError, match="records"):
        await make_fake_zoho(records={"Deals": -1})
    with pytest.raises(TypeError):
        await make_fake_zoho(colour="blue")


def test_every_server_was_closed_after_its_test():
    assert len(PORTS) == 4
    for port in PORTS:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
'''


def test_the_factory_fixture_in_a_users_suite(pytester: pytest.Pytester) -> None:
    (block,) = [block for block in python_blocks() if "make_fake_zoho" in block.code]
    docs_example = block.code
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    # One session for both files: starting one costs more than the tests in it.
    pytester.makepyfile(test_users_code=USER_TESTS, test_docs_example=docs_example)
    # Hypothesis's plugin alone would take seconds to load here, and is no part of the test.
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=6)
