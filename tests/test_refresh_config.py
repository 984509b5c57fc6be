"""`RefreshTokenConfig`: the refresh-token settings as one value, checked once; its providers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs
import pytest

from zoho_locking import (
    FileTokenStore,
    LockingClient,
    Proxies,
    RefreshTokenAuth,
    RefreshTokenConfig,
    ValidationError,
)
from zoho_locking._checks import check_positive
from zoho_locking.auth.config import fingerprint
from zoho_locking.auth.limits import TokenLimits
from zoho_locking.testing import FakeAccounts, FakeServer

SECRET, REFRESH = "s3cr3t-client", "1000.r3fr3sh.t0k3n"
BASE: dict[str, Any] = {"client_id": "1000.ID", "client_secret": SECRET, "refresh_token": REFRESH}


def config_for(server: FakeServer, accounts: FakeAccounts, **options: Any) -> RefreshTokenConfig:
    return RefreshTokenConfig(
        client_id=accounts.client_id, client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token, accounts_url=server.url, **options,
    )  # fmt: skip


# -- the value ------------------------------------------------------------------


def test_a_data_centre_names_the_accounts_server_and_defaults_fill_the_rest() -> None:
    config = RefreshTokenConfig(**BASE, dc="eu")
    assert config.accounts_url == "https://accounts.zoho.eu"
    assert config.token_url == "https://accounts.zoho.eu/oauth/v2/token"
    assert config.dc is not None and config.dc.name == "eu"
    assert (config.environment, config.timeout, config.refresh_margin) == ("production", 30.0, 60.0)
    assert config.throttle_cooldown == 60.0 and config.token_limits == TokenLimits()
    assert config.ssl is None and config.allow_insecure_http is False
    assert isinstance(config.proxy, Proxies)


def test_an_accounts_url_is_checked_and_trimmed() -> None:
    config = RefreshTokenConfig(**BASE, accounts_url="https://accounts.zoho.com/")
    assert config.accounts_url == "https://accounts.zoho.com" and config.dc is None


def test_the_store_key_names_the_credentials_and_no_secret() -> None:
    config = RefreshTokenConfig(**BASE, dc="us")
    assert config.store_key == fingerprint("https://accounts.zoho.com", "1000.ID", REFRESH)
    assert RefreshTokenConfig(**BASE, dc="eu").store_key != config.store_key
    assert SECRET not in config.store_key and REFRESH not in config.store_key


def test_the_repr_shows_no_secret() -> None:
    config = RefreshTokenConfig(**BASE, dc="us", proxy="http://user:pw-proxy@proxy.example:3128")
    for text in (repr(config), str(config), repr(RefreshTokenAuth(config))):
        assert SECRET not in text and REFRESH not in text and "pw-proxy" not in text
    assert repr(config) == (
        "RefreshTokenConfig(client_id='1000.ID', client_secret='***', refresh_token='***', "
        "accounts_url='https://accounts.zoho.com', environment='production')"
    )


def test_it_is_frozen_and_equal_by_value() -> None:
    config = RefreshTokenConfig(**BASE, dc="us", proxy=Proxies())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.timeout = 1.0  # type: ignore[misc]
    assert config == RefreshTokenConfig(**BASE, dc="us", proxy=config.proxy)
    assert config != RefreshTokenConfig(**BASE, dc="us", proxy=config.proxy, timeout=5)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"dc": "us", "accounts_url": "https://accounts.zoho.com"}, "dc"),
        ({}, "dc"),
        ({"dc": "mars"}, "dc"),
        ({"accounts_url": "http://accounts.example.com"}, "accounts_url"),
        ({"dc": "us", "environment": "staging"}, "environment"),
        ({"dc": "us", "refresh_margin": -1}, "refresh_margin"),
        ({"dc": "us", "timeout": 0}, "timeout"),
        ({"dc": "us", "timeout": True}, "timeout"),
        ({"dc": "us", "timeout": "30"}, "timeout"),
        ({"dc": "us", "timeout": math.inf}, "timeout"),
        ({"dc": "us", "throttle_cooldown": math.nan}, "throttle_cooldown"),
        ({"dc": "us", "token_limits": {"requests": 5}}, "token_limits"),
        ({"dc": "us", "ssl": False}, "ssl"),
    ],
)
def test_every_setting_is_checked_when_the_value_is_made(
    options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        RefreshTokenConfig(**BASE, **options)
    assert caught.value.field == field
    assert SECRET not in str(caught.value) and REFRESH not in str(caught.value)


def test_a_zero_margin_and_cooldown_are_settings() -> None:
    config = RefreshTokenConfig(**BASE, dc="us", refresh_margin=0, throttle_cooldown=0)
    assert (config.refresh_margin, config.throttle_cooldown) == (0.0, 0.0)


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token"])
def test_credentials_are_checked_without_echoing_them(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RefreshTokenConfig(**{**BASE, field: "has space-secret"}, dc="us")
    assert caught.value.field == field and "space-secret" not in str(caught.value)


# -- the provider takes it ------------------------------------------------------------


async def test_a_provider_given_the_value_mints_with_it(
    server: FakeServer, accounts: FakeAccounts
) -> None:
    config = config_for(server, accounts, timeout=5)
    async with RefreshTokenAuth(config) as auth:
        assert auth.config is config
        token = await auth.get_token()
        async with LockingClient(auth=auth) as client:
            assert await client.get_locks("Deals", server.crm.record_ids("Deals")[0]) == []
    assert accounts.mints == 1 and auth.mint_requests == 1 and token
    assert auth.api_domain == server.url


async def test_keywords_build_the_same_value(server: FakeServer, accounts: FakeAccounts) -> None:
    proxies = Proxies()
    by_keywords = RefreshTokenAuth(
        client_id=accounts.client_id, client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token, accounts_url=server.url, proxy=proxies,
    )  # fmt: skip
    assert by_keywords.config == config_for(server, accounts, proxy=proxies)


def test_a_value_and_its_keywords_together_are_refused() -> None:
    config = RefreshTokenConfig(**BASE, dc="us")
    with pytest.raises(ValidationError, match="not both") as caught:
        RefreshTokenAuth(config, dc="eu", timeout=3)  # type: ignore[call-arg]
    assert caught.value.field == "config"
    assert "dc, timeout" in str(caught.value) and SECRET not in str(caught.value)


def test_something_else_in_place_of_the_value_is_refused() -> None:
    with pytest.raises(ValidationError, match="RefreshTokenConfig"):
        RefreshTokenAuth(BASE)  # type: ignore[arg-type]


def test_no_value_and_no_keywords_says_what_is_missing() -> None:
    with pytest.raises(TypeError, match="client_id"):
        RefreshTokenAuth()


async def test_one_value_two_providers_share_a_stored_token(
    server: FakeServer, accounts: FakeAccounts, tmp_path: Path
) -> None:
    config = config_for(server, accounts)
    async with RefreshTokenAuth(config, store=FileTokenStore(tmp_path / "t.json")) as first:
        token = await first.get_token()
    async with RefreshTokenAuth(config, store=FileTokenStore(tmp_path / "t.json")) as second:
        assert await second.get_token() == token
    assert second.mint_requests == 0 and accounts.mints == 1


# -- one check for positive numbers ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options"),
    [(1, {}), (0.5, {}), (0, {"zero": True}), (3, {"integer": True}),
     (0, {"integer": True, "zero": True}), (None, {"optional": True})],
)  # fmt: skip
def test_check_positive_takes_numbers_in_range(value: object, options: dict[str, bool]) -> None:
    check_positive(value, "x", **options)  # raises if refused


@pytest.mark.parametrize(
    ("value", "options", "message"),
    [(0, {}, "x must be a positive number"), (-1, {"zero": True}, "x must be a number >= 0"),
     (True, {}, "positive"), (math.nan, {}, "positive"), (math.inf, {}, "positive"),
     ("1", {}, "positive"), (None, {}, "positive"), (1.5, {"integer": True}, "integer >= 1"),
     (0, {"integer": True}, "x must be an integer >= 1"), (False, {"integer": True}, "integer")],
)  # fmt: skip
def test_check_positive_refuses_the_rest(
    value: object, options: dict[str, bool], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        check_positive(value, "x", **options)
    assert caught.value.field == "x"


@pytest.mark.parametrize(
    ("options", "field"),
    [({"live_tokens": 0}, "live_tokens"), ({"requests": 2.5}, "requests"),
     ({"window": 0}, "window"), ({"window": math.nan}, "window")],
)  # fmt: skip
def test_token_limits_use_the_same_check(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TokenLimits(**options)
    assert caught.value.field == field
