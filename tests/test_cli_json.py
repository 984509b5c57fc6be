"""``--log-format json``: every line on standard error is one JSON object."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from helpers import TOKEN, cli_env, refresh_env, run_cli

from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer, Faults


def _lines(stderr: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stderr.splitlines()]  # each one parses, or this fails
    for line in lines:
        assert {"time", "level", "event", "message"} <= line.keys(), line
    return lines


async def test_json_lines_with_one_per_request(tmp_path: Any) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 200)
    crm.faults = Faults(error_500_rate=0.05, seed=3)
    async with FakeServer(crm, latency=0.01, concurrency_limit=3) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "q4", "--api-domain", server.url,
            "--concurrency", "6", "--log-format", "json", "-v",
            stdin="\n".join(ids).encode(),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    lines = _lines(result.stderr)
    events = Counter(line["event"] for line in lines)
    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) == len(server.arrivals)  # one line per request the server saw
    assert events["throttled"] == server.too_many_requests > 0
    assert Counter(line["status"] for line in requests)[500] == sum(
        1 for r in crm.requests if r.status == 500
    )
    assert events["run_started"] == 1 and events["summary"] == 1
    (summary,) = [line for line in lines if line["event"] == "summary"]
    assert summary["succeeded"] == 200 and summary["requests"] == len(server.arrivals)
    assert summary["throttled"] == server.too_many_requests
    assert all(line["method"] == "POST" and line["url"].startswith(server.url) for line in requests)
    assert TOKEN not in result.stderr


async def test_environment_default_token_refreshes_and_stops(tmp_path: Any) -> None:
    crm = FakeCRM(default_token=False, credits=60)
    ids = crm.add_records("Deals", 100)
    accounts = FakeAccounts(token_life=0.4)
    async with FakeServer(crm, accounts=accounts, latency=0.01) as server:
        env = refresh_env(server, ZOHO_LOG_FORMAT="json")
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r", "--concurrency", "2",
            env=env, stdin="\n".join(ids).encode(),
        )  # fmt: skip
    assert result.code == 3, result.stderr  # the credits ran out: a clean stop
    lines = _lines(result.stderr)
    events = Counter(line["event"] for line in lines)
    assert events["token_refreshed"] == accounts.mints - 1 >= 1
    assert events["run_stopped"] == 2  # as it stopped, then the closing advice
    assert "request" not in events  # no -v: no line per request
    for secret in (accounts.client_secret, accounts.refresh_token):
        assert secret not in result.stderr


async def test_usage_errors_are_json_too() -> None:
    bad_flag = await run_cli("lock", "--module", "Deals", "--reason", "r", "--concurrency", "0",
                             "--log-format", "json")  # fmt: skip
    bad_module = await run_cli(
        "lock", "--module", "Dea/ls", "--reason", "r", "--api-domain", "https://www.zohoapis.com",
        env=cli_env(ZOHO_ACCESS_TOKEN=TOKEN, ZOHO_LOG_FORMAT="json"),
    )  # fmt: skip
    for result in (bad_flag, bad_module):
        assert result.code == 2
        (line,) = _lines(result.stderr)
        assert line["level"] == "error" and line["event"] == "usage_error"
    assert "--concurrency" in _lines(bad_flag.stderr)[0]["message"]
    assert "module" in _lines(bad_module.stderr)[0]["message"]
