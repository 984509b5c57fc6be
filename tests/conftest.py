pytest_plugins = ["zoho_locking.testing.plugin", "redis_server", "pytester"]
