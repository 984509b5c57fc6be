pytest_plugins = ["zoho_locking.testing.plugin"]
