"""The one check for "a positive number", for every argument that must be one.

`check_positive` refuses what is not a number (booleans included), NaN and
infinity, and zero or less; *integer* asks for an ``int`` of at least 1,
*zero* takes zero too (a margin, a cooldown) and *optional* lets ``None``
through. No message quotes the value refused: it may be a secret given in the
wrong place. Every argument of the package that must be
positive is checked here, so they all refuse the same values in the same words.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from .errors import ValidationError

__all__ = ["check_positive", "is_number"]


def is_number(value: object) -> TypeGuard[int | float]:
    """Tell whether *value* is a finite int or float (not a bool).

    Args:
        value: Anything, such as a field read back from a file.

    Returns:
        ``True`` for a finite number.
    """
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_positive(
    value: object,
    field: str,
    *,
    integer: bool = False,
    zero: bool = False,
    optional: bool = False,
) -> None:
    """Raise `ValidationError` naming *field* unless *value* is a positive finite number.

    Args:
        value: What the caller gave.
        field: The argument's name, for the message and `ValidationError.field`.
        integer: Ask for an ``int`` of at least 1 (at least 0 with *zero*).
        zero: Take zero too.
        optional: Let ``None`` through.

    Raises:
        ValidationError: *value* is not one.
    """
    if value is None and optional:
        return
    least = 0 if zero else 1
    if integer:
        fine = isinstance(value, int) and not isinstance(value, bool) and value >= least
        what = f"an integer >= {least}"
    else:
        fine = is_number(value) and (value > 0 or (zero and value == 0))
        what = "a number >= 0" if zero else "a positive number"
    if not fine:
        raise ValidationError(
            f"{field} must be {what}{' or None' if optional else ''}", field=field
        )
