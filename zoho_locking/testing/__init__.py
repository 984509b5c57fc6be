"""A fake Zoho CRM for testing code that locks records, with or without sockets.

`FakeCRM` is an in-memory org that answers Record Locking Information requests
(`FakeCRM.handle`, no I/O); `FakeServer` serves it over HTTP on loopback, with
latency, a concurrency limit and injectable `Faults`:

    from zoho_locking.testing import FakeCRM, FakeServer, Faults

    crm = FakeCRM()
    deal_ids = crm.add_records("Deals", 10)
    crm.auto_lock("Deals", deal_ids[0])
    crm.faults = Faults(error_500_rate=0.1, seed=1)
    async with FakeServer(crm, latency=0.01, concurrency_limit=10) as server:
        ...  # point a client at server.url with token FakeCRM.DEFAULT_TOKEN
    assert crm.lock_of("Deals", deal_ids[1]) is None

pytest users get the ``fake_crm`` and ``fake_server`` fixtures with
``pytest_plugins = ["zoho_locking.testing.plugin"]``. Run it standalone with
``python -m zoho_locking.testing --help``. `FakeAccounts` adds Zoho's OAuth
token endpoint: ``FakeServer(crm, accounts=FakeAccounts(token_life=1.0))``.
`OrgSpec` describes a whole fake Zoho (org, faults, limits, token life, OAuth)
and builds it as a `FakeZoho`; the plugin's ``make_fake_zoho`` serves one per call.
Besides the locking API, the fake answers the metadata Zoho's SDKs read first:
``/settings/fields``, ``/users`` and ``/org``.
"""

from __future__ import annotations

from ._faults import Faults
from ._wire import FakeAnswer, FakeLock, RecordedRequest
from .accounts import FakeAccounts, TokenRequest
from .credits import Credits
from .fakecrm import FakeCRM, FakeModule
from .orgspec import FakeZoho, OrgSpec
from .server import FakeServer

__all__ = [
    "Credits",
    "FakeAccounts",
    "FakeAnswer",
    "FakeCRM",
    "FakeLock",
    "FakeModule",
    "FakeServer",
    "FakeZoho",
    "Faults",
    "OrgSpec",
    "RecordedRequest",
    "TokenRequest",
]
