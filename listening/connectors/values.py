"""Plain values out of a platform's JSON: the one set of coercions every connector uses.

An API answer is a stranger's document: a field may be missing, null, of another type than
documented, or a number written oddly. Each connector used to carry its own helpers, and
they disagreed (one read a JSON ``true`` as a count of 1, two refused ``5.0``). The rules:

- A string field is the string, or "" for anything else (null, a number, a list): a missing
  title is an empty title, never the text "None" or "5".
- An integer field (``json_int``) is an ``int``; ``bool`` is never a number (Python's True
  is an int, a JSON true is not a count); a float counts only when it is integral and finite
  (``5.0`` and ``1e3`` are 5 and 1000, as some encoders write big integers); a string of
  digits, a fraction, inf and NaN are not integers. Anything else is None: unknown.
- A count (``json_count``: followers, likes, replies, reposts) is a ``json_int`` that is not
  negative; below zero it is unknown (None), not 0. A signed number that Earshot turns into
  a count (a Reddit score) is read with ``json_int`` and clamped by the caller, who knows why.

Bounds (a count over 2**63 - 1) are applied later, to every item, by listening.outside.
Pure functions: no I/O, no ORM.
"""

from __future__ import annotations

import math

__all__ = ["json_count", "json_int", "json_str"]


def json_str(value: object) -> str:
    """value when it is a str, else ""."""
    return value if isinstance(value, str) else ""


def json_int(value: object) -> int | None:
    """value as an int by the rule above (bool never; integral finite floats yes), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def json_count(value: object) -> int | None:
    """json_int(value) when it is 0 or more, else None (a negative count is unknown)."""
    number = json_int(value)
    return number if number is not None and number >= 0 else None
