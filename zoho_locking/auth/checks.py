"""The form of a secret (a client id, a secret, a token, a grant code): the checks auth shares.

No check here quotes the value it refuses: it is a secret. Numbers are checked by
`zoho_locking._checks.check_positive`, the package's one check for them.
"""

from __future__ import annotations

from ..errors import ValidationError

__all__ = ["check_secret", "has_space"]


def check_secret(value: object, name: str) -> None:
    """Raise `ValidationError` unless *value* is a non-empty string without whitespace.

    Args:
        value: The client id, a secret, a token or a grant code.
        name: Its name, for the error.

    Raises:
        ValidationError: *value* is empty, not a string, or holds whitespace.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty string", field=name)
    if has_space(value):
        raise ValidationError(f"{name} must not contain whitespace", field=name)


def has_space(text: str) -> bool:
    """Tell whether *text* holds any whitespace (a token never does).

    Args:
        text: A token or a secret.

    Returns:
        ``True`` if any character of it is whitespace.
    """
    return any(ch.isspace() for ch in text)
