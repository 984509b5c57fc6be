"""Transport safety: TLS verified by default, no plain http:// off loopback, private files.

The TLS tests serve HTTPS on loopback with a self-signed certificate made by
the ``openssl`` command (skipped without it; the connector inspection runs
regardless): the client must fail with `TransportError`, and the server must
never see a request, so no token or client secret ever crosses it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from helpers import refresh_env

from zoho_locking import (
    FileTokenStore,
    LockingClient,
    OAuthError,
    RefreshTokenAuth,
    RetryPolicy,
    TransportError,
    UnexpectedResponse,
    ValidationError,
)
from zoho_locking.auth.stores import CachedToken
from zoho_locking.cli.main import run as cli_run
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
TOKEN = FakeCRM.DEFAULT_TOKEN
QUICK = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.01)


def assert_verifies(ssl_setting: object) -> None:
    """aiohttp's ``ssl`` setting of a connector: True (its verified default) or a strict context."""
    if isinstance(ssl_setting, ssl.SSLContext):
        assert ssl_setting.verify_mode == ssl.CERT_REQUIRED
        assert ssl_setting.check_hostname
    else:
        assert ssl_setting is True, f"TLS verification is off: ssl={ssl_setting!r}"


# -- TLS ----------------------------------------------------------------------------------


async def test_default_session_verifies_tls() -> None:
    async with LockingClient(access_token=TOKEN, dc="eu") as client:
        session = client.transport.get_session()  # type: ignore[attr-defined]
        assert isinstance(session, aiohttp.ClientSession)
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert_verifies(connector._ssl)
    assert session.closed


async def test_accounts_session_verifies_tls() -> None:
    # Nothing listens on the port: the mint fails, but the session it made is inspected.
    unused = _unused_port()
    async with RefreshTokenAuth(
        client_id="id", client_secret="s3cret", refresh_token="r3fresh",
        accounts_url=f"https://127.0.0.1:{unused}",
    ) as auth:  # fmt: skip
        with pytest.raises(OAuthError) as caught:
            await auth.get_token()
        assert caught.value.code == "TRANSPORT_ERROR"
        session = auth.session
        assert isinstance(session, aiohttp.ClientSession)
        assert isinstance(session.connector, aiohttp.TCPConnector)
        assert_verifies(session.connector._ssl)


def _unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a certificate (the connector tests still ran)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return Certificate(cert, key)


@attrs.define
class Recorder:
    """A loopback server that answers everything with an empty locks list, and remembers."""

    url: str = ""
    seen: list[tuple[str, str, bool, bytes]] = attrs.field(factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            (request.method, request.path_qs, "Authorization" in request.headers, body)
        )
        return web.Response(status=204)


@pytest.fixture
async def tls_server(self_signed: Certificate) -> AsyncIterator[Recorder]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(self_signed.cert, self_signed.key)
    recorder = Recorder()
    async with _serve(recorder.handle, ssl_context=context) as port:
        recorder.url = f"https://127.0.0.1:{port}"
        yield recorder


class _serve:
    """Serve *handler* on a free loopback port (async context manager yielding the port)."""

    def __init__(self, handler: Any, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_self_signed_crm_is_refused(tls_server: Recorder, self_signed: Certificate) -> None:
    async with LockingClient(access_token=TOKEN, api_domain=tls_server.url, retry=QUICK) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_locks("Deals", "5843104000001000001")
        assert "certificate" in str(caught.value).lower()
        assert caught.value.maybe_sent is False  # the request never left
        with pytest.raises(TransportError):
            await client.lock("Deals", "5843104000001000001", reason="r")
        report = await client.lock_many("Deals", ["1", "2", "3"], reason="r")
    # TLSError, a TransportError: the same certificate would fail every record.
    assert set(report.by_code) == {"TLS_ERROR"} and report.succeeded == 0
    assert report.stopped is not None and report.stopped.code == "TLS_ERROR"
    assert tls_server.seen == []
    # Control: a session that trusts this certificate gets through, so the refusal above
    # was certificate verification, not a broken server.
    trusting = ssl.create_default_context(cafile=str(self_signed.cert))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as session,
        LockingClient(access_token=TOKEN, api_domain=tls_server.url, session=session) as client,
    ):
        assert await client.get_locks("Deals", "5843104000001000001") == []
    assert len(tls_server.seen) == 1


async def test_self_signed_accounts_server_never_gets_the_secret(tls_server: Recorder) -> None:
    async with RefreshTokenAuth(
        client_id="1000.ID", client_secret="s3cret-value", refresh_token="1000.r3fresh",
        accounts_url=tls_server.url,
    ) as auth, LockingClient(auth=auth) as client:  # fmt: skip
        with pytest.raises(OAuthError) as caught:
            await client.get_locks("Deals", "5843104000001000001")
    assert caught.value.code == "TLS_ERROR"
    assert "certificate" in caught.value.message.lower()
    assert tls_server.seen == []


# -- plain http:// -----------------------------------------------------------------------

REFUSED = [
    "http://crm.example.com", "http://www.zohoapis.com", "HTTP://www.zohoapis.com",
    " http://www.zohoapis.com/ ", "http://www.zohoapis.com:443", "http://10.0.0.1",
    "http://192.168.1.10:8080", "http://0.0.0.0", "http://[::]", "http://[2001:db8::1]",
    "http://127.0.0.1.nip.io", "http://localhost.example.com", "http://localhost.",
    "http://0x7f000001", "http://2130706433", "http://127.1",
    "http://127.0.0.1@evil.example", "http://evil.example\\@127.0.0.1",
    "http://user:pw@127.0.0.1", "https://user:pw@www.zohoapis.com",
    "ftp://127.0.0.1", "ws://127.0.0.1", "file:///etc/passwd", "//127.0.0.1", "127.0.0.1:80",
    "http://", "", "   ",
]  # fmt: skip
LOOPBACK = [
    "http://127.0.0.1", "http://127.0.0.1:8080", "http://127.3.4.5:1", "http://localhost:1",
    "http://LOCALHOST", "http://[::1]:8080",
]  # fmt: skip


@pytest.mark.parametrize("url", REFUSED)
def test_insecure_or_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LockingClient(access_token=TOKEN, api_domain=url)
    assert caught.value.field == "api_domain"
    with pytest.raises(ValidationError) as caught:
        RefreshTokenAuth(client_id="i", client_secret="s", refresh_token="r", accounts_url=url)
    assert caught.value.field == "accounts_url"


MALFORMED = [
    "https://[::1", "http://[::1", "https://[zz]", "https://\u2100.com",
    "https://www.zohoapis.com:99999", "https://www.zohoapis.com:port",
    "https://www.zoho apis.com", "https://www.zoho\napis.com", "https://www.zohoapis.com/a b",
    "https://www.zohoapis.com/x\r\nX-Injected: 1", "http://127.0.0.1:8080/\x00",
]  # fmt: skip


@pytest.mark.parametrize("url", MALFORMED, ids=repr)
def test_malformed_urls_are_a_validation_error(url: str) -> None:
    # Not a bare ValueError from urllib, and not accepted only to send a broken request
    # line later (a space in the path reaches the wire as is).
    with pytest.raises(ValidationError) as caught:
        LockingClient(access_token=TOKEN, api_domain=url)
    assert caught.value.field == "api_domain"
    with pytest.raises(ValidationError):
        RefreshTokenAuth(client_id="i", client_secret="s", refresh_token="r", accounts_url=url)


def test_the_refusal_says_how_to_opt_in() -> None:
    with pytest.raises(ValidationError) as caught:
        LockingClient(access_token=TOKEN, api_domain="http://crm.example.com")
    assert "http://" in str(caught.value) and "allow_insecure_http" in str(caught.value)


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_may_use_plain_http(url: str) -> None:
    client = LockingClient(access_token=TOKEN, api_domain=url)
    assert client.api_domain == url.rstrip("/")
    auth = RefreshTokenAuth(client_id="i", client_secret="s", refresh_token="r", accounts_url=url)
    assert auth.config.token_url == f"{url}/oauth/v2/token"


@pytest.mark.parametrize("url", ["http://crm.example.com", "http://10.0.0.1:8080"])
def test_plain_http_elsewhere_needs_an_explicit_opt_in(url: str) -> None:
    client = LockingClient(access_token=TOKEN, api_domain=url, allow_insecure_http=True)
    assert client.api_domain == url
    auth = RefreshTokenAuth(
        client_id="i", client_secret="s", refresh_token="r", accounts_url=url,
        allow_insecure_http=True,
    )  # fmt: skip
    assert auth.config.accounts_url == url


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM(default_token=False)
    crm.add_records("Deals", 3)
    return crm


@pytest.mark.parametrize("auth_allows", [False, True])
async def test_an_insecure_api_domain_from_the_token_answer_is_not_used(
    crm: FakeCRM, auth_allows: bool
) -> None:
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        token = crm.mint_token(3600)
        accounts.answer_next(
            200, {"access_token": token, "api_domain": "http://crm.example.com", "expires_in": 3600}
        )
        async with RefreshTokenAuth(
            client_id=accounts.client_id, client_secret=accounts.client_secret,
            refresh_token=accounts.refresh_token, accounts_url=server.url,
            allow_insecure_http=auth_allows,
        ) as auth, LockingClient(auth=auth) as client:  # fmt: skip
            # The client itself did not opt in: whatever the provider accepted, it refuses.
            with pytest.raises(ValidationError) as caught:
                await client.get_locks("Deals", crm.record_ids("Deals")[0])
    assert caught.value.field == "api_domain"
    assert crm.requests == []


@pytest.mark.parametrize(
    "env",
    [
        {"ZOHO_ACCESS_TOKEN": TOKEN, "ZOHO_API_DOMAIN": "http://crm.example.com"},
        {"ZOHO_CLIENT_ID": "1000.ID", "ZOHO_CLIENT_SECRET": "s3cret", "ZOHO_REFRESH_TOKEN": "r",
         "ZOHO_ACCOUNTS_URL": "http://accounts.example.com"},
        {"ZOHO_CLIENT_ID": "1000.ID", "ZOHO_CLIENT_SECRET": "s3cret", "ZOHO_REFRESH_TOKEN": "r",
         "ZOHO_ACCOUNTS_URL": "https://accounts.zoho.com", "ZOHO_API_DOMAIN": "http://10.1.1.1"},
    ],
)  # fmt: skip
def test_cli_refuses_plain_http_off_loopback(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_run(["status", "--module", "Deals", "--ids", os.devnull], env)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "http://" in err and "s3cret" not in err


# -- redirects ----------------------------------------------------------------------------


@pytest.fixture
async def sink() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    async with _serve(recorder.handle) as port:
        recorder.url = f"http://127.0.0.1:{port}"
        yield recorder


async def test_redirects_are_not_followed(crm: FakeCRM, sink: Recorder) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{sink.url}{request.path_qs}")

    async with _serve(redirect) as port:
        origin = f"http://127.0.0.1:{port}"
        async with LockingClient(access_token=TOKEN, api_domain=origin, retry=QUICK) as client:
            with pytest.raises(UnexpectedResponse) as caught:
                await client.lock("Deals", "5843104000001000001", reason="r")
            assert caught.value.http_status == 302
        async with RefreshTokenAuth(
            client_id="1000.ID", client_secret="s3cret", refresh_token="r3fresh",
            accounts_url=origin,
        ) as auth:  # fmt: skip
            with pytest.raises(OAuthError):
                await auth.get_token()
    assert sink.seen == []  # neither the token nor the secret followed the redirect


# -- file modes ---------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: files are private because the library says so."""
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
@pytest.mark.usefixtures("open_umask")
async def test_journal_is_created_private(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 5)
    journal = tmp_path / "run.jsonl"
    async with FakeServer(crm) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url
    ) as client:  # fmt: skip
        await client.lock_many("Deals", ids[:3], reason="r", journal=journal)
        assert mode(journal) == 0o600
        await client.lock_many("Deals", ids, reason="r", journal=journal, resume=True)
    assert mode(journal) == 0o600


@posix_only
@pytest.mark.usefixtures("open_umask")
def test_token_store_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "token.json"
    store = FileTokenStore(path)
    asyncio.run(store.save("key", CachedToken("1000.access", expires_at=4e9, api_domain=None)))
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    # A store file someone made readable is private again after the next save.
    path.chmod(0o666)
    asyncio.run(store.save("other", CachedToken("1000.other", expires_at=4e9)))
    assert mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["token.json"]  # no temp files


def test_the_token_lock_file_is_created_private(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "new" / "dir" / "token.json")

    async def hold() -> None:
        async with store.mint_lock("key"):
            pass

    asyncio.run(hold())
    assert mode(store.lock_path) == 0o600 and mode(store.lock_path.parent) == 0o700


@posix_only
async def test_cli_creates_journal_and_token_store_private(tmp_path: Path) -> None:
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 3)
    accounts = FakeAccounts()
    journal, store = tmp_path / "run.jsonl", tmp_path / "cache" / "token.json"
    async with FakeServer(crm, accounts=accounts) as server:
        env = refresh_env(server, ZOHO_TOKEN_STORE=str(store))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "zoho_locking", "lock", "--module", "Deals", "--reason", "r",
            "--journal", str(journal), "-q",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, umask=0o000,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate("\n".join(ids).encode()), 60)
    assert process.returncode == 0, err.decode()
    assert set(crm.locks("Deals")) == set(ids)
    assert mode(journal) == 0o600
    assert mode(store) == 0o600
    assert mode(store.parent) == 0o700
