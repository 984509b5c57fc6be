"""The ``zoho-locking`` command line (see `zoho_locking.cli.main`)."""

from .main import main, run

__all__ = ["main", "run"]
