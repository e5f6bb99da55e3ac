"""Exceptions raised by tokenomy.

Every error tokenomy raises on purpose derives from :class:`TokenomyError`, so a caller can catch
the whole family with one ``except``. The tree::

    TokenomyError
    ├── DataError          a data file (YAML, Parquet, JSON) is malformed: names file, field, value
    ├── ConfigError        a run/sweep/price configuration is invalid: names the setting and value
    │   ├── UnknownNameError   a name (policy, search algorithm, model, preset) is not registered;
    │   │                      suggests the nearest registered name
    │   └── SpecError      an economy spec is malformed, non-convex or structurally infeasible:
    │                      names the field
    ├── SolverError        a solver cannot handle a spec (says which solver can)
    └── ResultsError       a results folder is missing, incomplete or would be overwritten

Invalid *protocol actions* (paying twice, an unknown item, ...) are not exceptions: the market
rejects them with a reason and records the rejection, as a real service would.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class TokenomyError(Exception):
    """Base class of every error tokenomy raises on purpose."""


class DataError(TokenomyError):
    """A data file is malformed.

    The message names the file, the field (a dotted path such as ``menu_features.Tacos``), the
    offending value, and what was expected, so that the user can fix the file without a debugger.
    """

    def __init__(
        self,
        file: str | Path,
        field: str | None,
        value: Any,
        expected: str,
    ) -> None:
        self.file = str(file)
        self.field = field
        self.value = value
        self.expected = expected
        where = f"{self.file}" + (f", field '{field}'" if field else "")
        shown = _short_repr(value)
        super().__init__(f"{where}: got {shown}; expected {expected}")


class ConfigError(TokenomyError):
    """A configuration setting is invalid (names the setting, the value and what is allowed)."""


class UnknownNameError(ConfigError):
    """A name is not among the registered ones; the message suggests the closest match."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        super().__init__(
            f"unknown {kind} '{name}'; expected one of: {', '.join(self.known)}.{hint}"
        )


class SpecError(ConfigError):
    """An economy spec is malformed, non-convex, or infeasible by construction (names the field)."""


class SolverError(TokenomyError):
    """A solver cannot handle this spec, or failed; the message says what to use instead."""


class ResultsError(TokenomyError):
    """A results folder is missing, incomplete, or would be overwritten."""


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
