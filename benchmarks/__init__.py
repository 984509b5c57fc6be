"""Benchmarks of zoho-locking: run them with ``python -m benchmarks`` (see README.md)."""
