"""Drive a `LockingClient` against a `FakeCRM` in process: no sockets, no latency.

    client = LockingClient(
        access_token=FakeCRM.DEFAULT_TOKEN,
        api_domain="http://fake.invalid",
        allow_insecure_http=True,
        transport=crm_transport(crm),
    )
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from ..errors import TransportError
from ..http.transport import MockTransport, Response
from ..wire.protocol import Request
from .fakecrm import FakeCRM

__all__ = ["crm_transport"]


def crm_transport(crm: FakeCRM) -> MockTransport:
    """A transport that hands every request straight to *crm*; drops become TransportError."""

    def handle(request: Request, auth_headers: Mapping[str, str]) -> Response:
        parts = urlsplit(request.url)
        answer = crm.handle(
            request.method,
            parts.path,
            dict(parse_qsl(parts.query)),
            {**request.headers, **auth_headers},
            request.body or b"",
        )
        if answer.drop:
            raise TransportError(f"{request.method} failed: connection dropped by the fake CRM")
        return Response(answer.status, answer.headers, answer.body)

    return MockTransport(handle)
