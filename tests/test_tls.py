"""TLS: the fake CRM and accounts server over HTTPS on loopback, certified by a test CA.

Without the CA a request is refused with one clear error naming the host and
what to do; with it (``ssl=``, ``--ca-bundle``, ``ZOHO_CA_BUNDLE``,
``SSL_CERT_FILE``) CRM and token requests alike go through. Verification can
never be switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import trustme
from helpers import cli_env, refresh_env, run_cli, run_cli_process

from zoho_locking import (
    LockingClient,
    OAuthError,
    RefreshTokenAuth,
    TLSError,
    ValidationError,
    make_session,
)
from zoho_locking.net.tls import tls_context
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM(default_token=False)
    crm.add_records("Deals", 5)
    return crm


@pytest.fixture
async def server(ca: trustme.CA, crm: FakeCRM) -> AsyncIterator[FakeServer]:
    """The fake CRM and accounts server on https://127.0.0.1, certified by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with FakeServer(crm, accounts=FakeAccounts(), ssl_context=context) as server:
        yield server


def refresh_auth(server: FakeServer, **kwargs: object) -> RefreshTokenAuth:
    accounts = server.accounts
    assert accounts is not None
    return RefreshTokenAuth(
        client_id=accounts.client_id, client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token, accounts_url=server.url, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def ids(crm: FakeCRM) -> bytes:
    return "\n".join(crm.record_ids("Deals")).encode()


# -- the library ---------------------------------------------------------------------------


async def test_crm_request_without_the_ca_is_one_clear_tls_error(
    server: FakeServer, crm: FakeCRM
) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    async with LockingClient(access_token=crm.mint_token(3600), api_domain=server.url) as client:
        with pytest.raises(TLSError) as caught:
            await client.get_locks("Deals", crm.record_ids("Deals")[0])
    error = caught.value
    assert (error.code, error.retryable, error.maybe_sent) == ("TLS_ERROR", False, False)
    text = str(error)
    assert "\n" not in text and "127.0.0.1" in text and "certificate" in text
    assert "--ca-bundle" in text and "SSL_CERT_FILE" in text and "ssl=" in text
    assert error.__cause__ is None and error.__suppress_context__
    assert crm.requests == []  # never retried, never reached the CRM


@pytest.mark.parametrize("how", ["path", "str", "context"])
async def test_crm_requests_with_the_ca_go_through(
    server: FakeServer, crm: FakeCRM, ca_file: Path, how: str
) -> None:
    given: object = {
        "path": ca_file,
        "str": str(ca_file),
        "context": ssl.create_default_context(cafile=str(ca_file)),
    }[how]
    async with LockingClient(
        access_token=crm.mint_token(3600), api_domain=server.url, ssl=given  # type: ignore[arg-type]
    ) as client:  # fmt: skip
        lock = await client.lock("Deals", crm.record_ids("Deals")[0], reason="tls")
    assert lock.id and len(crm.requests) == 1


async def test_token_request_without_the_ca_is_an_oauth_tls_error(server: FakeServer) -> None:
    async with refresh_auth(server) as auth:
        with pytest.raises(OAuthError) as caught:
            await auth.get_token()
    assert caught.value.code == "TLS_ERROR"
    assert "accounts server" in str(caught.value) and "--ca-bundle" in str(caught.value)
    assert server.accounts is not None and server.accounts.requests == []


async def test_token_and_crm_requests_with_the_ca(
    server: FakeServer, crm: FakeCRM, ca: trustme.CA
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    auth = refresh_auth(server, ssl=context)
    async with LockingClient(auth=auth, ssl=context) as client:
        await client.lock("Deals", crm.record_ids("Deals")[0], reason="tls")
        assert client.api_domain == server.url
    assert server.accounts is not None and len(server.accounts.requests) == 1
    assert len(crm.requests) == 1


async def test_a_bulk_run_stops_on_the_first_tls_error(server: FakeServer, crm: FakeCRM) -> None:
    async with LockingClient(
        access_token=crm.mint_token(3600), api_domain=server.url, max_concurrency=2
    ) as client:  # fmt: skip
        report = await client.lock_many("Deals", crm.record_ids("Deals"), reason="r")
    assert report.stopped is not None and report.stopped.code == "TLS_ERROR"
    assert crm.requests == [] and report.succeeded == 0


async def test_one_shared_session_from_make_session_with_the_ca(
    server: FakeServer, crm: FakeCRM, ca_file: Path
) -> None:
    async with make_session(ssl=ca_file) as pool:
        auth = refresh_auth(server, session=pool)
        async with LockingClient(auth=auth, session=pool) as client:
            await client.get_locks("Deals", crm.record_ids("Deals")[0])
    assert len(crm.requests) == 1


async def test_a_session_of_your_own_gets_the_clients_ssl_per_request(
    server: FakeServer, crm: FakeCRM, ca_file: Path
) -> None:
    async with aiohttp.ClientSession() as mine, LockingClient(
        access_token=crm.mint_token(3600), api_domain=server.url, session=mine, ssl=ca_file
    ) as client:  # fmt: skip
        await client.get_locks("Deals", crm.record_ids("Deals")[0])
    assert len(crm.requests) == 1


async def test_through_a_connect_proxy_the_crms_certificate_is_verified(
    server: FakeServer, crm: FakeCRM, ca_file: Path
) -> None:
    async with connect_proxy() as (proxy_url, tunnels):
        token = crm.mint_token(3600)
        async with LockingClient(
            access_token=token, api_domain=server.url, proxy=proxy_url, retry=None
        ) as client:  # fmt: skip
            with pytest.raises(TLSError, match=r"127\.0\.0\.1"):
                await client.get_locks("Deals", crm.record_ids("Deals")[0])
        async with LockingClient(
            access_token=token, api_domain=server.url, proxy=proxy_url, ssl=ca_file
        ) as client:  # fmt: skip
            await client.get_locks("Deals", crm.record_ids("Deals")[0])
    assert len(tunnels) >= 2 and all(t == f"127.0.0.1:{server.port}" for t in tunnels)
    assert len(crm.requests) == 1


@contextlib.asynccontextmanager
async def connect_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback proxy that opens CONNECT tunnels (what a client asks for https:// URLs)."""
    tunnels: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n")[0].decode().split(" ")
        assert method == "CONNECT"
        tunnels.append(target)
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", tunnels
    finally:
        proxy.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proxy.wait_closed(), 1)


# -- verification cannot be switched off ---------------------------------------------------


def test_ssl_false_is_refused_everywhere() -> None:
    for make in (
        lambda: LockingClient(access_token="t", dc="us", ssl=False),  # type: ignore[arg-type]
        lambda: RefreshTokenAuth(
            client_id="c",
            client_secret="s",
            refresh_token="r",
            dc="us",
            ssl=False,  # type: ignore[arg-type]
        ),
        lambda: tls_context(False),
    ):
        with pytest.raises(ValidationError, match="never") as caught:
            make()
        assert caught.value.field == "ssl"


async def test_ssl_false_is_refused_by_make_session() -> None:
    with pytest.raises(ValidationError, match="never"):
        make_session(ssl=False)  # type: ignore[arg-type]


def test_a_context_that_does_not_verify_is_refused() -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    with pytest.raises(ValidationError, match="cannot be switched off"):
        tls_context(unverified)
    unverified.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValidationError, match="cannot be switched off"):
        LockingClient(access_token="t", dc="us", ssl=unverified)


def test_bad_bundles_are_refused_before_anything(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        tls_context(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValidationError, match="could not be read as PEM"):
        tls_context(junk)
    with pytest.raises(ValidationError, match="must be"):
        tls_context(42)
    assert tls_context(None) is None and tls_context(True) is None


async def test_ssl_beside_a_transport_or_connector_is_refused(ca_file: Path) -> None:
    from zoho_locking import MockTransport, Response

    transport = MockTransport(lambda request, headers: Response(204, {}, b""))
    with pytest.raises(ValidationError, match="pass ssl to your transport"):
        LockingClient(access_token="t", dc="us", transport=transport, ssl=ca_file)
    connector = aiohttp.TCPConnector()
    with pytest.raises(ValidationError, match="pass ssl to your connector"):
        make_session(connector=connector, ssl=ca_file)
    await connector.close()


def test_system_trust_store_needs_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "truststore", None)  # import fails
    with pytest.raises(ValidationError, match=r"zoho-locking\[truststore\]"):
        tls_context("system")


def test_system_trust_store_with_truststore() -> None:
    truststore = pytest.importorskip("truststore")
    context = tls_context("system")
    assert isinstance(context, truststore.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


# -- the command line ----------------------------------------------------------------------


async def test_cli_without_the_ca_is_one_line_exit_2_before_anything(
    server: FakeServer, crm: FakeCRM
) -> None:
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", env=refresh_env(server), stdin=ids(crm)
    )
    assert result.code == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "TLS_ERROR" in line and "127.0.0.1" in line and "--ca-bundle" in line
    assert "Traceback" not in result.stderr and crm.requests == []


@pytest.mark.parametrize("how", ["flag", "variable"])
async def test_cli_with_the_ca_bundle_locks_everything(
    server: FakeServer, crm: FakeCRM, ca_file: Path, how: str
) -> None:
    flag = ["--ca-bundle", str(ca_file)] if how == "flag" else []
    env = refresh_env(server, **({"ZOHO_CA_BUNDLE": str(ca_file)} if how == "variable" else {}))
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", *flag, env=env, stdin=ids(crm)
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(crm.locks("Deals")) == 5
    assert server.accounts is not None and len(server.accounts.requests) == 1


async def test_cli_tls_failing_mid_run_stops_it_exit_3(server: FakeServer, crm: FakeCRM) -> None:
    # A static token needs no token request: the first CRM request meets the certificate.
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "--api-domain", server.url,
        env=cli_env(ZOHO_ACCESS_TOKEN=crm.mint_token(3600)), stdin=ids(crm),
    )  # fmt: skip
    assert result.code == 3, result.stderr
    assert "run stopped: TLS_ERROR" in result.stderr and "--ca-bundle" in result.stderr
    assert "Traceback" not in result.stderr and crm.requests == []


async def test_cli_bad_ca_bundle_is_one_line_exit_2(crm: FakeCRM, tmp_path: Path) -> None:
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "--dc", "us",
        "--ca-bundle", str(tmp_path / "nope.pem"),
        env=cli_env(ZOHO_ACCESS_TOKEN="1000.x.y"), stdin=ids(crm),
    )  # fmt: skip
    assert result.code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--ca-bundle" in line and "does not exist" in line


async def test_cli_process_honours_ssl_cert_file(
    server: FakeServer, crm: FakeCRM, ca_file: Path
) -> None:
    # aiohttp's default context, made when it is imported, reads SSL_CERT_FILE.
    result = await run_cli_process(
        "lock", "--module", "Deals", "--reason", "r",
        env=refresh_env(server, SSL_CERT_FILE=str(ca_file)), stdin=ids(crm),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(crm.locks("Deals")) == 5


async def test_cli_process_with_ca_bundle_and_without(
    server: FakeServer, crm: FakeCRM, ca_file: Path
) -> None:
    result = await run_cli_process(
        "status", "--module", "Deals", env=refresh_env(server), stdin=ids(crm)
    )
    assert result.code == 2 and "TLS_ERROR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = await run_cli_process(
        "status", "--module", "Deals", "--ca-bundle", str(ca_file),
        env=refresh_env(server), stdin=ids(crm),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(crm.requests) == 5


async def test_cli_auth_verifies_the_accounts_server_with_the_ca_bundle(
    server: FakeServer, crm: FakeCRM, ca_file: Path
) -> None:
    accounts = server.accounts
    assert accounts is not None
    env = cli_env(
        ZOHO_CLIENT_ID=accounts.client_id, ZOHO_CLIENT_SECRET=accounts.client_secret,
        ZOHO_ACCOUNTS_URL=server.url,
    )  # fmt: skip
    code = accounts.issue_code(crm)
    refused = await run_cli("auth", env=env, stdin=code.encode())
    assert refused.code == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert "TLS_ERROR" in line and "--ca-bundle" in line and code not in line
    # Refused before any answer: the code was not used up, so it still works with the CA.
    granted = await run_cli(
        "auth", "--ca-bundle", str(ca_file), "--environment", "sandbox", env=env,
        stdin=code.encode(),
    )  # fmt: skip
    assert granted.code == 0, granted.stderr
    (token,) = granted.stdout.splitlines()
    assert token.startswith("1000.") and accounts.codes_exchanged == 1
    assert "sandbox API domain:" in granted.stderr
