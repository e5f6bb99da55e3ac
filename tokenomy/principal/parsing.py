"""Reading the agent's choice from its answer (``Explanation: ...`` then ``Choice: <id>``).

The scenario's ``choice_pattern`` is searched in the answer; the first capture group is the
product id. When several ``Choice:`` lines appear the last one with an allowed id counts (the
final form field is what the purchasing API would read). No match, or only ids that are not
products, means *unparsed* — counted as such, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

UNPARSED = "unparsed"
"""The choice recorded for an answer whose choice cannot be read."""


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def parse_choice(text: str, pattern: str, allowed: Collection[str]) -> str | None:
    """The product id ``text`` chooses, or None when it cannot be read.

    Args:
        text: the agent's answer.
        pattern: a regular expression whose first group captures the id.
        allowed: the product ids the agent may choose.
    """
    found = [m.group(1).strip() for m in _compiled(pattern).finditer(text)]
    valid = [c for c in found if c in allowed]
    return valid[-1] if valid else None


def choice_label(text: str, pattern: str, allowed: Collection[str]) -> str:
    """:func:`parse_choice` as a label: the id, or :data:`UNPARSED`."""
    choice = parse_choice(text, pattern, allowed)
    return UNPARSED if choice is None else choice
