import pytest

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
