"""A budget tracker: show an agent what it has left after every call, refuse an overdraft.

The "budget tracker" idea from budget-aware agents (Google, 2025): after every tool call the
agent is shown its remaining budget, in words, so that it can weigh the next call against what
is left. Reported there: a tracked agent matched a 100-call ReAct baseline with 10 calls at
about 31% lower cost (their result, not reproduced here; :mod:`tokenomy.allocate.agent_simulation`
compares the policies in our own synthetic model).

:class:`BudgetTracker` holds up to three hard limits — tool calls, dollars, tokens (any may be
left unlimited) — records each :class:`ToolCall`, and refuses (:class:`BudgetExceededError`) a
call that would take any limit below zero, before anything is recorded. Dollars are accounted
exactly in billionths of a dollar, so that ``$0.01`` five times is exactly ``$0.05`` and the
message never shows a rounding artefact. :meth:`BudgetTracker.message` is the exact text shown
to the agent:

>>> tracker = BudgetTracker(calls=10, dollars=0.05)
>>> for _ in range(3):
...     _ = tracker.record(ToolCall(dollars=0.004))
>>> tracker.message()
'Budget: 3 of 10 tool calls used, $0.012 of $0.050; 7 calls and $0.038 left.'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenomy.errors import ConfigError, TokenomyError

__all__ = ["BudgetExceededError", "BudgetTracker", "Remaining", "ToolCall"]

_NANO = 1_000_000_000
"""Dollars are held as integer billionths of a dollar (exact sums)."""


class BudgetExceededError(TokenomyError):
    """A call would exceed a hard budget limit; nothing was recorded."""


@dataclass(frozen=True)
class ToolCall:
    """One call the agent makes (a tool call, a model call, a verifier call).

    Attributes:
        dollars: what the call costs, in dollars (>= 0).
        tokens: tokens it uses (>= 0).
        name: what the call is, for messages ("search", "verify", ...).
    """

    dollars: float = 0.0
    tokens: int = 0
    name: str = "tool call"

    def __post_init__(self) -> None:
        if (
            not isinstance(self.dollars, int | float)
            or isinstance(self.dollars, bool)
            or not math.isfinite(self.dollars)
            or self.dollars < 0
        ):
            raise ConfigError(
                f"ToolCall.dollars must be a finite number >= 0, got {self.dollars!r}"
            )
        if not isinstance(self.tokens, int) or isinstance(self.tokens, bool) or self.tokens < 0:
            raise ConfigError(f"ToolCall.tokens must be an integer >= 0, got {self.tokens!r}")


@dataclass(frozen=True)
class Remaining:
    """What is left of each limit (``None`` where that resource is unlimited)."""

    calls: int | None
    dollars: float | None
    tokens: int | None


def _nano(dollars: float) -> int:
    return round(dollars * _NANO)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


class BudgetTracker:
    """Hard limits on calls, dollars and tokens, with the message the agent sees after each call.

    Args:
        calls: most tool calls allowed (``None``: unlimited).
        dollars: most dollars that may be spent (``None``: unlimited).
        tokens: most tokens that may be used (``None``: unlimited).
        decimals: decimals of the dollar amounts in :meth:`message` (fixed, so the text is
            deterministic).

    Raises:
        ConfigError: a limit is negative, not finite, or of the wrong type.
    """

    def __init__(
        self,
        calls: int | None = None,
        dollars: float | None = None,
        tokens: int | None = None,
        *,
        decimals: int = 3,
    ) -> None:
        for name, limit in (("calls", calls), ("tokens", tokens)):
            if limit is not None and (
                not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
            ):
                raise ConfigError(
                    f"BudgetTracker.{name} must be an integer >= 0 or None, got {limit!r}"
                )
        if dollars is not None and (
            not isinstance(dollars, int | float)
            or isinstance(dollars, bool)
            or not math.isfinite(dollars)
            or dollars < 0
        ):
            raise ConfigError(
                f"BudgetTracker.dollars must be a finite number >= 0 or None, got {dollars!r}"
            )
        if not isinstance(decimals, int) or not 0 <= decimals <= 9:
            raise ConfigError(
                f"BudgetTracker.decimals must be an integer in [0, 9], got {decimals!r}"
            )
        self.call_limit = calls
        self.dollar_limit = dollars
        self.token_limit = tokens
        self.decimals = decimals
        self._dollar_limit_nano = None if dollars is None else _nano(dollars)
        self.calls_used = 0
        self.tokens_used = 0
        self._spent_nano = 0
        self.history: list[ToolCall] = []

    @property
    def dollars_used(self) -> float:
        """Dollars spent so far."""
        return self._spent_nano / _NANO

    @property
    def remaining(self) -> Remaining:
        """What is left of each limit (``None`` for an unlimited resource)."""
        return Remaining(
            calls=None if self.call_limit is None else self.call_limit - self.calls_used,
            dollars=(
                None
                if self._dollar_limit_nano is None
                else (self._dollar_limit_nano - self._spent_nano) / _NANO
            ),
            tokens=None if self.token_limit is None else self.token_limit - self.tokens_used,
        )

    def exhausted_limits(self) -> list[str]:
        """Names of the limits with nothing left (``calls``, ``dollars``, ``tokens``)."""
        out = []
        if self.call_limit is not None and self.calls_used >= self.call_limit:
            out.append("calls")
        if self._dollar_limit_nano is not None and self._spent_nano >= self._dollar_limit_nano:
            out.append("dollars")
        if self.token_limit is not None and self.tokens_used >= self.token_limit:
            out.append("tokens")
        return out

    @property
    def exhausted(self) -> bool:
        """Whether any limit has nothing left."""
        return bool(self.exhausted_limits())

    def shortfall(self, call: ToolCall) -> str | None:
        """Why ``call`` would exceed a limit, or ``None`` when it fits."""
        if self.call_limit is not None and self.calls_used + 1 > self.call_limit:
            return f"the call limit: {self.calls_used} of {self.call_limit} tool calls used"
        cost = _nano(call.dollars)
        limit = self._dollar_limit_nano
        if limit is not None and self._spent_nano + cost > limit:
            left = (limit - self._spent_nano) / _NANO
            return (
                f"the dollar limit: it costs {self._dollars(call.dollars)} and "
                f"{self._dollars(left)} of {self._dollars(self.dollar_limit or 0.0)} is left"
            )
        if self.token_limit is not None and self.tokens_used + call.tokens > self.token_limit:
            left_tokens = self.token_limit - self.tokens_used
            return (
                f"the token limit: it uses {call.tokens:,} tokens and {left_tokens:,} of "
                f"{self.token_limit:,} are left"
            )
        return None

    def can_afford(self, call: ToolCall) -> bool:
        """Whether ``call`` fits in every limit."""
        return self.shortfall(call) is None

    def record(self, call: ToolCall) -> Remaining:
        """Record ``call`` and return what is left.

        Raises:
            BudgetExceededError: the call would exceed a hard limit (nothing is recorded).
        """
        why = self.shortfall(call)
        if why is not None:
            raise BudgetExceededError(f"refused {call.name!r}: it would exceed {why}")
        self.calls_used += 1
        self.tokens_used += call.tokens
        self._spent_nano += _nano(call.dollars)
        self.history.append(call)
        return self.remaining

    def _dollars(self, amount: float) -> str:
        return f"${amount:.{self.decimals}f}"

    def message(self) -> str:
        """The exact text shown to the agent after a call (deterministic formatting).

        For example ``"Budget: 3 of 10 tool calls used, $0.012 of $0.050; 7 calls and $0.038
        left."``; an unlimited resource is reported as used only; once a limit is reached the
        text ends with ``"Budget exhausted (calls): make no more calls."``.
        """
        used: list[str] = []
        left: list[str] = []
        rem = self.remaining
        if self.call_limit is not None and rem.calls is not None:
            used.append(f"{self.calls_used} of {self.call_limit} tool calls used")
            left.append(_plural(rem.calls, "call"))
        else:
            used.append(f"{_plural(self.calls_used, 'tool call')} used")
        if self.dollar_limit is not None and rem.dollars is not None:
            used.append(f"{self._dollars(self.dollars_used)} of {self._dollars(self.dollar_limit)}")
            left.append(self._dollars(rem.dollars))
        else:
            used.append(f"{self._dollars(self.dollars_used)} spent")
        if self.token_limit is not None and rem.tokens is not None:
            used.append(f"{self.tokens_used:,} of {self.token_limit:,} tokens")
            left.append(f"{rem.tokens:,} tokens")
        elif self.tokens_used:
            used.append(f"{self.tokens_used:,} tokens")
        text = f"Budget: {', '.join(used)}; "
        text += f"{_join(left)} left." if left else "no limits set."
        gone = self.exhausted_limits()
        if gone:
            text += f" Budget exhausted ({', '.join(gone)}): make no more calls."
        return text
