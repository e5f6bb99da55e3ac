"""One decision as a decision-log record (the JSON Lines schema every layer shares).

A record is ``{"id", "layer", "kind"?, "prices": {"value", "latency", "risk"}, "options":
[{"name", "dq", "dc", "dl", "dr", "level"?}, ...], "chosen", "outcome"}``: the predictions in
force when the decision was taken, what was chosen (``None`` when nothing was), and the
layer's ex-post facts. The failure-mode diagnosis reads these records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tokenomy.allocate.rule import Options
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = ["LAYERS", "decision_record", "prices_record"]

LAYERS = ("router", "agent", "serving", "training", "cache")
"""The layers a record may belong to."""


def prices_record(prices: Prices) -> dict[str, float]:
    """The ``prices`` field of a record: ``{"value": V, "latency": λ, "risk": ρ}``."""
    return {
        "value": float(prices.value),
        "latency": float(prices.latency),
        "risk": float(prices.risk),
    }


def decision_record(
    record_id: str,
    layer: str,
    prices: Prices,
    options: Options,
    chosen: str | None,
    outcome: Mapping[str, Any],
    *,
    kind: str | None = None,
    levels: Sequence[float] | None = None,
) -> dict[str, Any]:
    """A decision-log record (plain JSON-ready dict) for one decision.

    Args:
        record_id: the record's id (unique within a log).
        layer: one of :data:`LAYERS`.
        prices: the prices in force (``V``, ``λ``, ``ρ``).
        options: the options in play with their predicted ``ΔQ, ΔC, ΔL, ΔR``.
        chosen: the name of the chosen option, or ``None`` when nothing was chosen.
        outcome: the layer's ex-post facts.
        kind: optional sub-kind (agent: ``"step"`` or ``"autonomy"``).
        levels: optional autonomy level of each option.

    Raises:
        ConfigError: unknown layer, a chosen name that is not an option, or levels of the
            wrong length.
    """
    if layer not in LAYERS:
        raise ConfigError(
            f"decision record layer must be one of {', '.join(LAYERS)}; got {layer!r}"
        )
    if chosen is not None and chosen not in options.names:
        raise ConfigError(
            f"decision record {record_id!r}: chosen {chosen!r} is not among the options "
            f"{list(options.names)}"
        )
    if levels is not None and len(levels) != len(options):
        raise ConfigError(
            f"decision record {record_id!r}: {len(levels)} levels for {len(options)} options"
        )
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(options.names):
        row: dict[str, Any] = {
            "name": name,
            "dq": float(options.dq[i]),
            "dc": float(options.dc[i]),
            "dl": float(options.dl[i]),
            "dr": float(options.dr[i]),
        }
        if levels is not None:
            row["level"] = float(levels[i])
        rows.append(row)
    record: dict[str, Any] = {"id": record_id, "layer": layer}
    if kind is not None:
        record["kind"] = kind
    record.update(
        {
            "prices": prices_record(prices),
            "options": rows,
            "chosen": chosen,
            "outcome": dict(outcome),
        }
    )
    return record
