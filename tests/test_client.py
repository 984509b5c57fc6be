"""End-to-end tests of LockingClient's five calls against the fake CRM over loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest

from zoho_locking import (
    ApiError,
    AuthError,
    LockingClient,
    LockSource,
    RequestTimeout,
    RetryPolicy,
    TransportError,
    UnexpectedResponse,
    ValidationError,
    ZohoLockingError,
)
from zoho_locking.testing import FakeCRM, FakeServer, Faults

TOKEN = FakeCRM.DEFAULT_TOKEN
NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
async def client(fake_server: FakeServer) -> AsyncIterator[LockingClient]:
    async with LockingClient(
        access_token=TOKEN, api_domain=fake_server.url, retry=NO_RETRY
    ) as client:
        yield client


@pytest.fixture
def deal(fake_crm: FakeCRM) -> str:
    return fake_crm.record_ids("Deals")[0]


async def test_lock_get_update_unlock_tour(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    assert await client.get_locks("Deals", deal) == []

    result = await client.lock("Deals", deal, reason="final negotiations")
    assert result.code == "SUCCESS"
    assert result.http_status == 201
    assert result.message == "record added"
    server_lock = fake_crm.lock_of("Deals", deal)
    assert server_lock is not None and server_lock.id == result.id
    assert server_lock.reason == "final negotiations"

    locks = await client.get_locks("Deals", deal)
    assert [lock.id for lock in locks] == [result.id]
    lock = locks[0]
    assert lock.locked_reason == "final negotiations"
    assert lock.lock_source is LockSource.MANUAL
    assert isinstance(lock.locked_time, datetime) and lock.locked_time.tzinfo is not None
    assert lock.locked_for is not None and lock.locked_for.id == deal
    assert lock.locked_for.module is not None and lock.locked_for.module.api_name == "Deals"
    assert lock.locked_by is not None
    assert lock.rule_id is None

    one = await client.get_lock("Deals", deal, result.id)
    assert one == lock

    updated = await client.update_lock("Deals", deal, result.id, reason="awaiting approval")
    assert (updated.id, updated.message) == (result.id, "relation updated")
    assert fake_crm.lock_of("Deals", deal).reason == "awaiting approval"  # type: ignore[union-attr]

    removed = await client.unlock("Deals", deal, result.id)
    assert (removed.id, removed.message) == (result.id, "relation removed")
    assert fake_crm.lock_of("Deals", deal) is None
    assert await client.get_locks("Deals", deal) == []


async def test_ids_may_be_ints_and_module_names_any_case(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    result = await client.lock("deals", int(deal), reason="r")
    assert fake_crm.lock_of("Deals", deal) is not None
    await client.unlock("DEALS", int(deal), int(result.id))
    assert fake_crm.lock_of("Deals", deal) is None


async def test_automatic_lock_reads_with_nulls(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    lock_id = fake_crm.auto_lock("Deals", deal)
    (lock,) = await client.get_locks("Deals", deal)
    assert lock.id == lock_id
    assert lock.lock_source is LockSource.AUTOMATIC and lock.is_automatic
    assert lock.locked_by is None and lock.locked_reason is None
    assert lock.rule_id is not None


@pytest.mark.parametrize(
    ("setup", "call", "status", "code"),
    [
        pytest.param(
            lambda crm, rid: crm.manual_lock("Deals", rid),
            lambda c, rid: c.lock("Deals", rid, reason="again"),
            403, "NOT_ALLOWED", id="already-locked",
        ),
        pytest.param(
            None,
            lambda c, rid: c.lock("Potatoes", rid, reason="r"),
            400, "INVALID_MODULE", id="invalid-module",
        ),
        pytest.param(
            None,
            lambda c, rid: c.lock("Deals", "1234567890", reason="r"),
            400, "INVALID_DATA", id="unknown-record",
        ),
        pytest.param(
            lambda crm, rid: crm.manual_lock("Deals", rid),
            lambda c, rid: c.unlock("Deals", rid, "999999999999"),
            400, "INVALID_DATA", id="unknown-locking-id",
        ),
        pytest.param(
            lambda crm, rid: crm.add_records("Invoices", ["5843104000009000001"]),
            lambda c, rid: c.lock("Invoices", "5843104000009000001", reason="r"),
            400, "NOT_ALLOWED", id="no-locking-configuration",
        ),
        pytest.param(
            lambda crm, rid: crm.add_records("Cases", ["5843104000009000002"]),
            lambda c, rid: c.lock("Cases", "5843104000009000002", reason="r"),
            403, "NOT_ALLOWED", id="automatic-only-module",
        ),
        pytest.param(
            lambda crm, rid: crm.auto_lock("Deals", rid),
            lambda c, rid: _unlock_first(c, rid),
            403, "NOT_ALLOWED", id="automatic-lock-cannot-be-unlocked",
        ),
        pytest.param(
            lambda crm, rid: crm.auto_lock("Deals", rid),
            lambda c, rid: _update_first(c, rid),
            403, "NOT_ALLOWED", id="automatic-lock-cannot-be-updated",
        ),
        pytest.param(
            lambda crm, rid: crm.deny("Deals", rid),
            lambda c, rid: c.lock("Deals", rid, reason="r"),
            403, "NO_PERMISSION", id="no-permission",
        ),
        pytest.param(
            lambda crm, rid: setattr(crm, "feature_supported", False),
            lambda c, rid: c.get_locks("Deals", rid),
            400, "FEATURE_NOT_SUPPORTED", id="feature-not-supported",
        ),
    ],
)
async def test_documented_errors_raise_api_error(
    client: LockingClient, fake_crm: FakeCRM, deal: str, setup, call, status, code  # type: ignore[no-untyped-def]
) -> None:
    if setup is not None:
        setup(fake_crm, deal)
    with pytest.raises(ApiError) as caught:
        await call(client, deal)
    assert caught.value.http_status == status
    assert caught.value.code == code
    assert caught.value.message
    assert str(status) in str(caught.value) and code in str(caught.value)


async def _unlock_first(client: LockingClient, record_id: str) -> object:
    (lock,) = await client.get_locks("Deals", record_id)
    return await client.unlock("Deals", record_id, lock.id)


async def _update_first(client: LockingClient, record_id: str) -> object:
    (lock,) = await client.get_locks("Deals", record_id)
    return await client.update_lock("Deals", record_id, lock.id, reason="new")


async def test_already_locked_error_carries_details(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    fake_crm.manual_lock("Deals", deal)
    with pytest.raises(ApiError) as caught:
        await client.lock("Deals", deal, reason="again")
    assert caught.value.details == {"resource_path_index": 1}


async def test_older_api_version_sends_fields(fake_server: FakeServer, deal: str) -> None:
    # v5-v7 refuse the list GET without `fields`; the client always sends it.
    async with LockingClient(
        access_token=TOKEN, api_domain=fake_server.url, api_version="v7"
    ) as client:
        assert await client.get_locks("Deals", deal) == []
    assert fake_server.crm.requests[-1].query["fields"].startswith("Locked_For__s")


async def test_expired_token_with_static_provider_is_invalid_token(
    fake_server: FakeServer, deal: str
) -> None:
    fake_server.crm.add_token("old-token", expires_at=0.0)
    async with LockingClient(access_token="old-token", api_domain=fake_server.url) as client:
        with pytest.raises(ApiError) as caught:
            await client.get_locks("Deals", deal)
    assert (caught.value.http_status, caught.value.code) == (401, "INVALID_TOKEN")
    assert "old-token" not in str(caught.value) and "old-token" not in repr(caught.value)


async def test_scope_mismatch_is_auth_error_naming_scopes(
    fake_server: FakeServer, deal: str
) -> None:
    read_only = frozenset({"ZohoCRM.modules.lockinginformation.READ"})
    fake_server.crm.add_token("narrow", scopes=read_only)
    async with LockingClient(access_token="narrow", api_domain=fake_server.url) as client:
        await client.get_locks("Deals", deal)
        with pytest.raises(AuthError) as caught:
            await client.lock("Deals", deal, reason="r")
    assert caught.value.code == "OAUTH_SCOPE_MISMATCH"
    assert "ZohoCRM.modules.lockinginformation" in str(caught.value)
    assert len(fake_server.crm.requests) == 2  # not retried


async def test_invalid_input_never_reaches_the_server(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    bad_calls = [
        client.lock("Deals", "123/../settings", reason="r"),
        client.lock("Deals/../x", deal, reason="r"),
        client.lock("Deals", deal, reason=""),
        client.lock("Deals", deal, reason="x" * 3001),
        client.unlock("Deals", deal, "12%2F3"),
        client.get_lock("Deals", deal, " 1"),
        client.update_lock("Deals", deal, "1", reason=None),  # type: ignore[arg-type]
    ]
    for call in bad_calls:
        with pytest.raises(ValidationError):
            await call
    assert fake_crm.requests == []


async def test_html_502_is_unexpected_response(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    fake_crm.faults = Faults(html_502_rate=1.0)
    with pytest.raises(UnexpectedResponse) as caught:
        await client.get_locks("Deals", deal)
    assert caught.value.http_status == 502
    assert "text/html" in caught.value.message


async def test_empty_503_is_unexpected_response(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    fake_crm.faults = Faults(empty_503_rate=1.0)
    with pytest.raises(UnexpectedResponse) as caught:
        await client.lock("Deals", deal, reason="r")
    assert caught.value.http_status == 503
    assert "empty body" in caught.value.message


async def test_dropped_connection_is_transport_error(
    client: LockingClient, fake_crm: FakeCRM, deal: str
) -> None:
    fake_crm.faults = Faults(drop_rate=1.0)
    with pytest.raises(TransportError) as caught:
        await client.get_locks("Deals", deal)
    assert not isinstance(caught.value, aiohttp.ClientError)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_connection_refused_is_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    async with LockingClient(
        access_token=TOKEN, api_domain=f"http://127.0.0.1:{port}", retry=NO_RETRY
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_locks("Deals", "1")
    assert caught.value.maybe_sent is False


async def test_slow_server_times_out(fake_server: FakeServer, deal: str) -> None:
    fake_server.latency = 0.5
    async with LockingClient(
        access_token=TOKEN, api_domain=fake_server.url, timeout=0.05, retry=NO_RETRY
    ) as client:
        with pytest.raises(RequestTimeout) as caught:
            await client.get_locks("Deals", deal)
    assert caught.value.code == "TIMEOUT"


async def test_caller_session_is_used_and_left_open(fake_server: FakeServer, deal: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with LockingClient(
            access_token=TOKEN, api_domain=fake_server.url, session=session
        ) as client:
            assert await client.get_locks("Deals", deal) == []
        assert not session.closed


async def test_closed_client_refuses_calls(fake_server: FakeServer, deal: str) -> None:
    client = LockingClient(access_token=TOKEN, api_domain=fake_server.url)
    async with client:
        pass
    with pytest.raises(ZohoLockingError, match="closed"):
        await client.get_locks("Deals", deal)


def test_token_never_in_repr() -> None:
    client = LockingClient(access_token="s3cr3t-token", dc="eu")
    assert "s3cr3t" not in repr(client)
    assert "s3cr3t" not in repr(vars(client) if hasattr(client, "__dict__") else client)
    assert client.api_domain == "https://www.zohoapis.eu"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"api_domain": "http://crm.example.com"},
        {"api_domain": "https://x", "dc": "us"},
        {"dc": "mars"},
        {"dc": "us", "api_version": "8"},
        {"dc": "us", "timeout": -1},
        {"dc": "us", "max_concurrency": 0},
    ],
)
def test_bad_configuration_is_a_validation_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LockingClient(access_token=TOKEN, **kwargs)  # type: ignore[arg-type]


def test_plain_http_allowed_when_asked() -> None:
    client = LockingClient(
        access_token=TOKEN, api_domain="http://crm.internal", allow_insecure_http=True
    )
    assert client.api_domain == "http://crm.internal"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_concurrency", 10),  # the default value too: beside flow= it would do nothing
        ("rate_limit", 5.0),
        ("adaptive_concurrency", False),
        ("clock", lambda: 0.0),
        ("sleep", lambda _seconds: None),
    ],
)
def test_options_of_the_own_flow_are_refused_beside_flow(option: str, value: object) -> None:
    from zoho_locking import FlowControl

    with pytest.raises(ValidationError, match=f"pass {option} to your flow") as caught:
        LockingClient(access_token=TOKEN, dc="us", flow=FlowControl(), **{option: value})  # type: ignore[arg-type]
    assert caught.value.field == option


def test_flow_alone_is_used_as_given() -> None:
    from zoho_locking import FlowControl

    flow = FlowControl(max_concurrency=3)
    client = LockingClient(access_token=TOKEN, dc="us", flow=flow)
    assert client.flow is flow
    assert client.concurrency_limit == 3


def test_public_calls_are_defined_on_the_client_itself() -> None:
    # No mixins: every public call lives in LockingClient's own body.
    assert LockingClient.__mro__ == (LockingClient, object)
    for name in ("lock", "unlock", "update_lock", "get_lock", "get_locks", "select_ids",
                 "lock_many", "unlock_many", "update_many", "get_many", "run_many"):  # fmt: skip
        assert name in vars(LockingClient), name


async def test_closing_twice_is_harmless_and_a_closed_client_stays_closed() -> None:
    client = LockingClient(access_token=TOKEN, dc="us")
    await client.aclose()
    await client.aclose()
    with pytest.raises(ZohoLockingError, match="closed"):
        async with client:
            pass


def test_the_token_header_never_shows_the_token() -> None:
    from zoho_locking import StaticToken
    from zoho_locking.http.exchange import TokenHeader

    shown = repr(TokenHeader(StaticToken("s3cr3t-token")))
    assert "s3cr3t" not in shown and shown.startswith("TokenHeader(")
