"""The checks the token settings share: a number that must be positive, a secret's form.

No check here quotes the value it refuses: it may be a secret.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from ..errors import ValidationError

__all__ = ["check_positive", "check_secret", "is_number"]


def is_number(value: object) -> TypeGuard[int | float]:
    """Tell whether *value* is a finite int or float (not a bool).

    Args:
        value: Anything, such as a field read back from a token file.

    Returns:
        ``True`` for a finite number.
    """
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_positive(
    value: object, name: str, *, zero: bool = False, integer: bool = False
) -> float:
    """Return *value* as a float if it is a finite number above zero.

    Args:
        value: The setting given.
        name: Its name, for the error.
        zero: Take zero too (a margin, a cooldown).
        integer: Take only an int (a count).

    Returns:
        *value*, as a float.

    Raises:
        ValidationError: *value* is not such a number.
    """
    if integer:
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if zero else 1):
            raise ValidationError(f"{name} must be an integer >= {0 if zero else 1}", field=name)
        return float(value)
    if not is_number(value) or value < 0 or (value == 0 and not zero):
        wanted = "a number >= 0" if zero else "a positive number"
        raise ValidationError(f"{name} must be {wanted}", field=name)
    return float(value)


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
