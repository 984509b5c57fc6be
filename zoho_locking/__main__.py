"""``python -m zoho_locking``: the same as the ``zoho-locking`` command."""

from .cli.main import main

main()
