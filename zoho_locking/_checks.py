"""The one check for "a positive number", for every argument that must be one.

`check_positive` refuses what is not a number (booleans included), NaN and
infinity, and zero or less; *integer* asks for an ``int`` of at least 1 and
*optional* lets ``None`` through. Every argument of the package that must be
positive is checked here, so they all refuse the same values in the same words.
"""

from __future__ import annotations

import math

from .errors import ValidationError

__all__ = ["check_positive"]


def check_positive(
    value: object, field: str, *, integer: bool = False, optional: bool = False
) -> None:
    """Raise `ValidationError` naming *field* unless *value* is a positive finite number.

    Args:
        value: What the caller gave.
        field: The argument's name, for the message and `ValidationError.field`.
        integer: Ask for an ``int`` of at least 1.
        optional: Let ``None`` through.

    Raises:
        ValidationError: *value* is not one.
    """
    if value is None and optional:
        return
    if integer:
        fine = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        what = "an integer >= 1"
    else:
        fine = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and 0 < value < math.inf
        )
        what = "a positive number"
    if not fine:
        raise ValidationError(
            f"{field} must be {what}{' or None' if optional else ''}", field=field
        )
