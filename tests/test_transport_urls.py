"""The transport's URLs: the origin parsed once, the same `yarl.URL` as parsing it whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from zoho_locking.http.transport import AiohttpTransport
from zoho_locking.testing import FakeCRM, FakeServer
from zoho_locking.wire import protocol

ORIGINS = ["https://www.zohoapis.com", "https://www.zohoapis.eu", "http://127.0.0.1:8080"]
SEGMENT = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(ORIGINS),
            st.lists(SEGMENT, min_size=1, max_size=5),
            st.none() | st.from_regex(r"fields=[A-Za-z_,]{1,20}", fullmatch=True),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_urls_equal_the_whole_parse(requests: list[tuple[str, list[str], str | None]]) -> None:
    transport = AiohttpTransport()
    for origin, segments, query in requests:
        url = origin + "/" + "/".join(segments) + (f"?{query}" if query else "")
        built = transport._url(url)
        assert built == URL(url, encoded=True)
        assert str(built) == url


async def test_one_transport_reaches_two_servers_in_turn() -> None:
    crms = [FakeCRM(), FakeCRM()]
    ids = [crm.add_records("Deals", 1)[0] for crm in crms]
    auth = protocol.authorization(FakeCRM.DEFAULT_TOKEN)
    transport = AiohttpTransport()
    try:
        async with FakeServer(crms[0]) as one, FakeServer(crms[1]) as two:
            for _ in range(2):
                for server, crm, record in ((one, crms[0], ids[0]), (two, crms[1], ids[1])):
                    request = protocol.build_lock(f"{server.url}/crm/v8", "Deals", record, "r")
                    await transport.send(request, auth)
                    assert crm.lock_of("Deals", record) is not None
    finally:
        await transport.aclose()
