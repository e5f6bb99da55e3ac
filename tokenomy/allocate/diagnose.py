"""Failure-mode diagnosis: which logged decisions broke the marginal rule, and what it cost.

Every failure mode in the economics reference (§1, "Failure modes") is a violation of the one
rule ``argmax V·ΔQ − ΔC − λ·ΔL − ρ·ΔR`` at one layer. :func:`diagnose` reads a decision log
(:mod:`tokenomy.allocate.decision_log`) and returns one row per mode, always all seven, in the
table's order:

1. **over-routing** (router). Flagged when the rule was not followed *given the predictions in
   force* and the option the rule preferred was cheaper: its full price
   ``ΔC + λ·ΔL + ρ·ΔR`` is below the chosen model's (the task was not worth the stronger model).
2. **under-routing** (router). The same, with the preferred option at a full price at or above
   the chosen one's: a stronger model was worth its price (a refusal — ``chosen`` null — while
   some model had a positive net value also counts here).

   Each mis-chosen router decision lands in exactly one of the two rows, by where the best
   option lies. ``count`` counts rule violations only, so bad luck is never counted: a decision
   that followed its predictions is not a failure of the rule however it turned out. ``regret``
   of a flagged decision is measured against the *ex-post* best: the best realised net value
   among the options (realised quality/cost from the outcome, the prediction where missing)
   minus the chosen option's realised net value. The row also reports ``ex_post_count`` and
   ``ex_post_regret``: every router decision whose realised best option beat the chosen one in
   that direction, rule followed or not, and the total of those shortfalls. ``ex_post_count`` −
   ``count`` is (roughly) what mispredictions and bad luck added; a large gap points at the
   quality predictor, a large ``count`` at the routing rule.
3. **over-delegation** (agent, kind ``autonomy``). Flagged when a lower autonomy level than the
   chosen one had a higher (predicted) net value: raising autonomy added more priced risk and
   oversight cost than value (``∂R/∂a + ∂H/∂a > V·∂p/∂a``). Regret = best lower level's net
   value − chosen level's.
4. **under-verification** (agent, kind ``step``). Flagged when the ``verify`` option had a
   positive net value, something else was chosen, and the task spent no verify tokens
   (``verify_tokens == 0``). Regret = verify's net value − the chosen option's (0 when the
   chosen option's was higher; nothing chosen counts as 0).
5. **serving congestion** (serving). Flagged when a request was admitted although its realised
   net value — with the latency it actually cost, its own delay plus the delay it imposed on
   others (``delay_s + externality_s``) — fell below rejecting it: its value did not cover its
   full price. With ``ΔC = ΔR = 0`` and a rejection worth 0, that is ``V < λ·(delay_s +
   externality_s)``. Regret = reject's net value − admit's realised net value. This detector
   is ex post by nature: an admitter that leaves the externality out of its predictions looks
   right on them.
6. **stale rollouts** (training). Flagged when a rollout was kept although, at its depreciated
   gain ``gain·(1−δ)^age``, keeping it was worth less than dropping it (its remaining value no
   longer covered its cost). Regret = drop's net value − keep's (``cost − remaining value``
   when both are priced at cost only).
7. **cache misuse** (cache). Flagged when an entry was reused for a request whose value class
   or risk class differs from the entry's. Regret = the value the mismatch destroyed,
   ``V·quality_loss + ρ·risk_added`` (reuse's predicted minus realised net value); 0 when the
   outcome records no loss (still counted).

``decisions`` is the number of records each detector examined (router records for rows 1–2,
agent records of the matching kind for rows 3–4, the layer's records otherwise). ``regret`` is
in dollars and ``mean_regret`` is per flagged decision. A net value beats another only by more
than a relative tolerance of 1e-9, so rounding never flags a decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.table import Table

from tokenomy.allocate.decision_log import (
    DecisionRecord,
    as_records,
    option_effects,
    read_log,
    record_net_values,
)
from tokenomy.allocate.rule import net_values
from tokenomy.errors import UnknownNameError

__all__ = [
    "MODES",
    "Diagnosis",
    "FailureModeRow",
    "diagnose",
    "diagnose_log",
]

TOLERANCE = 1e-9
"""Relative margin by which one net value must exceed another to count as beating it."""

EXAMPLES = 5
"""Flagged ids shown per row."""


@dataclass(frozen=True)
class _Mode:
    name: str
    layer: str
    definition: str


_MODE_SPECS: tuple[_Mode, ...] = (
    _Mode(
        "over-routing",
        "router",
        "rule broken on the predictions in force; the preferred option had a lower full price",
    ),
    _Mode(
        "under-routing",
        "router",
        "rule broken on the predictions in force; a stronger, pricier option was worth it",
    ),
    _Mode(
        "over-delegation",
        "agent (autonomy)",
        "a lower autonomy level had a higher net value than the level chosen",
    ),
    _Mode(
        "under-verification",
        "agent (step)",
        "verify had a positive net value but the task spent no verify tokens",
    ),
    _Mode(
        "serving congestion",
        "serving",
        "admitted though value < full price at realised delay + externality",
    ),
    _Mode(
        "stale rollouts",
        "training",
        "kept though the depreciated gain no longer covered the cost",
    ),
    _Mode(
        "cache misuse",
        "cache",
        "reused an entry of a different value or risk class than the request",
    ),
)

MODES: tuple[str, ...] = tuple(m.name for m in _MODE_SPECS)
"""The seven failure modes, in the order of the economics reference's table."""


@dataclass(frozen=True)
class FailureModeRow:
    """One failure mode's findings.

    Attributes:
        mode: the mode's name (one of :data:`MODES`).
        layer: the layer (and agent kind) its detector examines.
        decisions: records the detector examined.
        count: decisions flagged (see the module docstring for each mode's definition).
        regret: total dollars of net value lost by the flagged decisions.
        mean_regret: ``regret / count`` (0 when nothing was flagged).
        examples: the first few flagged ids, in log order.
        definition: one line saying what is flagged.
        ex_post_count: router rows only: decisions whose realised best option beat the chosen
            one in this direction, whether or not the rule was followed (else ``None``).
        ex_post_regret: router rows only: total realised shortfall of those decisions.
    """

    mode: str
    layer: str
    decisions: int
    count: int
    regret: float
    mean_regret: float
    examples: tuple[str, ...]
    definition: str
    ex_post_count: int | None = None
    ex_post_regret: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "mode": self.mode,
            "layer": self.layer,
            "decisions": self.decisions,
            "count": self.count,
            "regret": self.regret,
            "mean_regret": self.mean_regret,
            "examples": list(self.examples),
            "definition": self.definition,
            "ex_post_count": self.ex_post_count,
            "ex_post_regret": self.ex_post_regret,
        }


@dataclass(frozen=True)
class Diagnosis:
    """The seven failure-mode rows of a decision log.

    Attributes:
        rows: one :class:`FailureModeRow` per mode, in :data:`MODES` order.
        decisions: records in the log.
        flagged: every flagged id per mode, in log order.
    """

    rows: tuple[FailureModeRow, ...]
    decisions: int
    flagged: Mapping[str, tuple[str, ...]] = field(repr=False)

    def row(self, mode: str) -> FailureModeRow:
        """The row of ``mode``.

        Raises:
            UnknownNameError: ``mode`` is not one of :data:`MODES`.
        """
        for r in self.rows:
            if r.mode == mode:
                return r
        raise UnknownNameError("failure mode", mode, MODES)

    def flagged_ids(self, mode: str) -> list[str]:
        """Ids of every decision flagged for ``mode``, in log order.

        Raises:
            UnknownNameError: ``mode`` is not one of :data:`MODES`.
        """
        if mode not in self.flagged:
            raise UnknownNameError("failure mode", mode, MODES)
        return list(self.flagged[mode])

    @property
    def total_regret(self) -> float:
        """Dollars lost over all modes (each decision is flagged by at most one mode)."""
        return float(sum(r.regret for r in self.rows))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: decisions, total regret and the seven rows."""
        return {
            "decisions": self.decisions,
            "total_regret": self.total_regret,
            "modes": [r.to_dict() for r in self.rows],
        }

    def table(self) -> Table:
        """The rows as a rich table for the command line."""
        table = Table(title=f"Failure modes in {self.decisions} decisions", title_justify="left")
        table.add_column("mode", no_wrap=True)
        table.add_column("layer", no_wrap=True)
        table.add_column("examined", justify="right")
        table.add_column("flagged", justify="right")
        table.add_column("regret $", justify="right")
        table.add_column("mean $", justify="right")
        table.add_column("ex-post flagged", justify="right")
        table.add_column("ex-post regret $", justify="right")
        table.add_column("examples")
        for r in self.rows:
            table.add_row(
                r.mode,
                r.layer,
                str(r.decisions),
                str(r.count),
                _money(r.regret),
                _money(r.mean_regret),
                "—" if r.ex_post_count is None else str(r.ex_post_count),
                "—" if r.ex_post_regret is None else _money(r.ex_post_regret),
                ", ".join(r.examples),
            )
        table.caption = (
            "router rows: flagged = rule broken on the predictions in force, regret against the"
            " ex-post best; ex-post columns count every decision beaten in hindsight"
        )
        return table


def _money(x: float) -> str:
    return f"{x:.4g}"


def _beats(a: float, b: float) -> bool:
    """``a`` exceeds ``b`` by more than the relative tolerance."""
    return a - b > TOLERANCE * max(1.0, abs(a), abs(b))


@dataclass
class _Found:
    ids: list[str] = field(default_factory=list)
    regrets: list[float] = field(default_factory=list)

    def add(self, rid: str, regret: float) -> None:
        self.ids.append(rid)
        self.regrets.append(regret)

    @property
    def total(self) -> float:
        return float(np.sum(self.regrets)) if self.regrets else 0.0


def _chosen_value(values: NDArray[np.float64], c: int | None) -> float:
    return 0.0 if c is None else float(values[c])


def _values(
    rec: DecisionRecord, *, ex_post: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Net values and full prices of every option (one evaluation of the effects)."""
    opts = option_effects(rec, ex_post=ex_post)
    prices = rec.prices.to_prices()
    return net_values(prices, opts), prices.full_price(opts.dc, opts.dl, opts.dr)


def _router_verdict(
    net: NDArray[np.float64], full: NDArray[np.float64], c: int | None
) -> tuple[str | None, float]:
    """(direction, regret) of one router decision judged on ``net``/``full`` alone.

    Alternatives are the options, plus doing nothing (net value 0) when the router refused.
    """
    b = int(np.argmax(net))
    best = float(net[b])
    if c is None:
        best = max(best, 0.0)
    chosen = _chosen_value(net, c)
    if not _beats(best, chosen):
        return None, 0.0
    direction = "over-routing" if float(full[b]) < _chosen_value(full, c) else "under-routing"
    return direction, best - chosen


def _routing(records: Sequence[DecisionRecord]) -> dict[str, tuple[_Found, _Found]]:
    found = {m: (_Found(), _Found()) for m in ("over-routing", "under-routing")}
    for rec in records:
        c = rec.chosen_index
        net_a, full_a = _values(rec, ex_post=False)
        net_p, full_p = _values(rec, ex_post=True) if rec.outcome else (net_a, full_a)
        direction_a, _ = _router_verdict(net_a, full_a, c)
        direction_p, regret_p = _router_verdict(net_p, full_p, c)
        if direction_a is not None:
            best_p = float(np.max(net_p)) if c is not None else max(float(np.max(net_p)), 0.0)
            found[direction_a][0].add(rec.id, best_p - _chosen_value(net_p, c))
        if direction_p is not None:
            found[direction_p][1].add(rec.id, regret_p)
    return found


def _over_delegation(records: Sequence[DecisionRecord]) -> _Found:
    found = _Found()
    for rec in records:
        c = rec.chosen_index
        if c is None:
            continue
        net = record_net_values(rec)
        levels = np.array([o.level for o in rec.options], dtype=np.float64)
        lower = levels < levels[c]
        if not lower.any():
            continue
        best_lower = float(np.max(net[lower]))
        if _beats(best_lower, float(net[c])):
            found.add(rec.id, best_lower - float(net[c]))
    return found


def _under_verification(records: Sequence[DecisionRecord]) -> _Found:
    found = _Found()
    for rec in records:
        if "verify" not in rec.names or rec.chosen == "verify":
            continue
        if rec.outcome["verify_tokens"] != 0:
            continue
        net = record_net_values(rec)
        verify = float(net[rec.index("verify")])
        if _beats(verify, 0.0):
            found.add(rec.id, max(verify - _chosen_value(net, rec.chosen_index), 0.0))
    return found


def _kept_against_alternative(
    records: Sequence[DecisionRecord], kept: str, alternative: str
) -> _Found:
    """Chose ``kept`` although, ex post, it was worth less than ``alternative`` (0 if absent)."""
    found = _Found()
    for rec in records:
        if rec.chosen != kept:
            continue
        net = record_net_values(rec, ex_post=True)
        mine = float(net[rec.index(kept)])
        other = float(net[rec.index(alternative)]) if alternative in rec.names else 0.0
        if _beats(other, mine):
            found.add(rec.id, other - mine)
    return found


def _cache_misuse(records: Sequence[DecisionRecord]) -> _Found:
    found = _Found()
    for rec in records:
        if rec.chosen != "reuse":
            continue
        out = rec.outcome
        if (
            out["entry_value_class"] == out["request_value_class"]
            and out["entry_risk_class"] == out["request_risk_class"]
        ):
            continue
        i = rec.index("reuse")
        lost = float(record_net_values(rec)[i] - record_net_values(rec, ex_post=True)[i])
        found.add(rec.id, lost)
    return found


_Selector = Callable[[DecisionRecord], bool]

_EXAMINES: dict[str, _Selector] = {
    "over-routing": lambda r: r.layer == "router",
    "under-routing": lambda r: r.layer == "router",
    "over-delegation": lambda r: r.layer == "agent" and r.kind == "autonomy",
    "under-verification": lambda r: r.layer == "agent" and r.kind == "step",
    "serving congestion": lambda r: r.layer == "serving",
    "stale rollouts": lambda r: r.layer == "training",
    "cache misuse": lambda r: r.layer == "cache",
}


def diagnose(records: Iterable[DecisionRecord | Mapping[str, Any]]) -> Diagnosis:
    """Detect the seven failure modes in a decision log.

    Args:
        records: the log's decisions (:class:`DecisionRecord` or plain dicts, validated).

    Returns:
        A :class:`Diagnosis` with one row per mode (all seven, in :data:`MODES` order; count 0
        where nothing was flagged or nothing examined).

    Raises:
        DataError: a record is malformed (an unknown layer, say) or repeats an id.
    """
    recs = as_records(records)
    examined = {m: [r for r in recs if _EXAMINES[m](r)] for m in MODES}
    routing = _routing(examined["over-routing"])
    found: dict[str, _Found] = {
        "over-routing": routing["over-routing"][0],
        "under-routing": routing["under-routing"][0],
        "over-delegation": _over_delegation(examined["over-delegation"]),
        "under-verification": _under_verification(examined["under-verification"]),
        "serving congestion": _kept_against_alternative(
            examined["serving congestion"], "admit", "reject"
        ),
        "stale rollouts": _kept_against_alternative(examined["stale rollouts"], "keep", "drop"),
        "cache misuse": _cache_misuse(examined["cache misuse"]),
    }
    rows = []
    for spec in _MODE_SPECS:
        f = found[spec.name]
        ex_post = routing[spec.name][1] if spec.name in routing else None
        count = len(f.ids)
        rows.append(
            FailureModeRow(
                mode=spec.name,
                layer=spec.layer,
                decisions=len(examined[spec.name]),
                count=count,
                regret=f.total,
                mean_regret=f.total / count if count else 0.0,
                examples=tuple(f.ids[:EXAMPLES]),
                definition=spec.definition,
                ex_post_count=None if ex_post is None else len(ex_post.ids),
                ex_post_regret=None if ex_post is None else ex_post.total,
            )
        )
    return Diagnosis(
        rows=tuple(rows),
        decisions=len(recs),
        flagged={m: tuple(found[m].ids) for m in MODES},
    )


def diagnose_log(path: str | Path) -> Diagnosis:
    """Read a JSON Lines decision log and diagnose it (the ``tokenomy`` command's entry point).

    Raises:
        ConfigError: the file does not exist.
        DataError: a line is malformed (names the file, line and field).
    """
    return diagnose(read_log(path))
