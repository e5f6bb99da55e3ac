"""The decision log: one JSON line per allocation decision, shared by every layer.

Every layer of the allocator (router, agent controller, serving admission, training, caches)
records its decisions in the same form, so one reader and one diagnosis serve them all::

    {"id": "r-17", "layer": "router", "kind": null,
     "prices": {"value": V, "latency": λ, "risk": ρ},
     "options": [{"name": "cheap", "dq": 0.7, "dc": 1.0, "dl": 0.0, "dr": 0.0}, ...],
     "chosen": "cheap",
     "outcome": {...}}

``options`` hold the *predictions in force at decision time* (ΔQ, ΔC, ΔL, ΔR of each option);
``chosen`` names one of them, or is ``null`` when nothing was chosen (stopped, refused);
``outcome`` holds the facts known afterwards, validated per layer:

========================  ====================================================================
layer (kind)              outcome
========================  ====================================================================
router                    ``quality`` and ``cost``: ``{option: realised value}``, each optional
agent (``step``)          ``verify_tokens``: verification tokens the task spent (int >= 0)
agent (``autonomy``)      ``succeeded``: optional bool; options carry their autonomy ``level``
serving                   ``delay_s``, ``externality_s`` (required when the request was admitted)
training                  ``gain`` (undepreciated), ``age`` (steps), ``depreciation_rate`` δ
cache                     entry/request value and risk classes (required when reused),
                          optional ``quality_loss`` and ``risk_added``
========================  ====================================================================

Option names are fixed where the diagnosis relies on them: serving options are ``admit`` and
``reject``, training ``keep`` and ``drop``, cache ``reuse`` and ``recompute``.

**Ex post.** :func:`option_effects` with ``ex_post=True`` replaces predictions by realised facts
where the outcome has them: router quality and cost per option; the admitted request's latency
becomes ``delay_s + externality_s`` (its own delay plus the delay it imposed on others, which is
what congestion pricing charges); a kept rollout's ΔQ becomes its depreciated gain
:func:`remaining_gain` (``gain·(1−δ)^age``, our choice of geometric depreciation per step); a
reused cache entry loses ``quality_loss`` of ΔQ and gains ``risk_added`` of ΔR. Agent records
carry no realised counterfactuals and are judged on their predictions.

Net values always come from :meth:`tokenomy.prices.Prices.net_value` (through
:func:`tokenomy.allocate.rule.net_values`); nothing here re-derives the formula.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tokenomy.allocate.rule import Options
from tokenomy.allocate.rule import net_values as _rule_net_values
from tokenomy.errors import ConfigError, DataError, UnknownNameError
from tokenomy.prices import Prices, PriceTable
from tokenomy.results import usual_mode

__all__ = [
    "AGENT_KINDS",
    "LAYERS",
    "AgentAutonomyOutcome",
    "AgentStepOutcome",
    "CacheOutcome",
    "DecisionRecord",
    "OptionRecord",
    "PricesInForce",
    "RouterOutcome",
    "ServingOutcome",
    "TrainingOutcome",
    "as_records",
    "net_value",
    "option_effects",
    "read_log",
    "record_full_prices",
    "record_net_values",
    "records_to_frame",
    "remaining_gain",
    "write_log",
]

Layer = Literal["router", "agent", "serving", "training", "cache"]
LAYERS: tuple[str, ...] = ("router", "agent", "serving", "training", "cache")
"""The layers a decision can come from."""
AGENT_KINDS: tuple[str, ...] = ("step", "autonomy")
"""Kinds of agent decisions: one step (plan/act/verify/defer/stop) or an autonomy level."""

_FIXED_NAMES: dict[str, tuple[str, ...]] = {
    "serving": ("admit", "reject"),
    "training": ("keep", "drop"),
    "cache": ("reuse", "recompute"),
}

Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0)]
Fraction = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=1.0)]
Count = Annotated[int, Field(strict=True, ge=0)]
Name = Annotated[str, Field(strict=True, min_length=1)]


def _fail(field: str, value: Any, expected: str) -> PydanticCustomError:
    """A validation error that names its own field (used where pydantic's location is coarse)."""
    return PydanticCustomError(
        "decision_log",
        "{field}: expected {expected}",
        {"field": field, "value": value, "expected": expected},
    )


def _dotted(loc: tuple[int | str, ...]) -> str:
    """``('options', 1, 'dc')`` → ``options[1].dc``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(exc: ValidationError) -> tuple[str, Any, str]:
    """Field (dotted path), offending value and what was expected, for the first error."""
    err = exc.errors(include_url=False)[0]
    if err["type"] == "decision_log":
        ctx = err.get("ctx") or {}
        return str(ctx["field"]), ctx.get("value"), str(ctx["expected"])
    field = _dotted(tuple(err["loc"]))
    if err["type"] == "missing":
        return field, None, "this required field (it is missing)"
    if err["type"] == "extra_forbidden":
        return field, err.get("input"), "no such field (check the spelling)"
    msg = str(err["msg"])
    for prefix in ("Input should be ", "Value error, "):
        msg = msg.removeprefix(prefix)
    return field, err.get("input"), msg[:1].lower() + msg[1:]


class PricesInForce(BaseModel):
    """The prices a decision was taken at: value ``V``, latency price ``λ``, risk price ``ρ``.

    Attributes:
        value: ``V``, dollars per unit of quality (>= 0).
        latency: ``λ``, dollars per second (>= 0).
        risk: ``ρ``, dollars per unit of risk (>= 0).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: NonNegative
    latency: NonNegative = 0.0
    risk: NonNegative = 0.0

    def to_prices(self, table: PriceTable | None = None) -> Prices:
        """The shared accounting object at these prices (default token price table)."""
        return Prices(
            value=self.value,
            latency=self.latency,
            risk=self.risk,
            table=table if table is not None else _default_table(),
        )


@cache
def _default_table() -> PriceTable:
    return PriceTable.default()


class OptionRecord(BaseModel):
    """One option in play and its predicted marginal effects.

    Attributes:
        name: the option's name, unique within its decision.
        dq: predicted quality gained ``ΔQ``.
        dc: predicted cost in dollars ``ΔC``.
        dl: predicted latency in seconds ``ΔL``.
        dr: predicted risk ``ΔR`` (probability × consequence; negative when the option removes
            risk, as verification does).
        level: autonomy level ``a`` in ``[0, 1]`` (agent autonomy decisions only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    dq: Finite
    dc: Finite
    dl: Finite = 0.0
    dr: Finite = 0.0
    level: Fraction | None = None


class _Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouterOutcome(_Outcome):
    """Realised quality and cost per option (each optional; missing → the prediction)."""

    quality: dict[Name, Finite] = Field(default_factory=dict)
    cost: dict[Name, Finite] = Field(default_factory=dict)


class AgentStepOutcome(_Outcome):
    """Verification tokens the task spent, this step included (0: it never verified)."""

    verify_tokens: Count


class AgentAutonomyOutcome(_Outcome):
    """Whether the task succeeded (optional)."""

    succeeded: StrictBool | None = None


class ServingOutcome(_Outcome):
    """Realised own latency of the request and the delay it imposed on others, in seconds."""

    delay_s: NonNegative | None = None
    externality_s: NonNegative | None = None


class TrainingOutcome(_Outcome):
    """Undepreciated capability gain of the rollout, its age in steps, depreciation rate δ."""

    gain: Finite
    age: NonNegative
    depreciation_rate: Fraction


class CacheOutcome(_Outcome):
    """Value and risk classes of the cache entry and of the request; realised losses."""

    entry_value_class: Name | None = None
    entry_risk_class: Name | None = None
    request_value_class: Name | None = None
    request_risk_class: Name | None = None
    quality_loss: NonNegative | None = None
    risk_added: NonNegative | None = None


def _outcome_model(layer: str, kind: str | None) -> type[_Outcome]:
    if layer == "agent":
        return AgentStepOutcome if kind == "step" else AgentAutonomyOutcome
    models: dict[str, type[_Outcome]] = {
        "router": RouterOutcome,
        "serving": ServingOutcome,
        "training": TrainingOutcome,
        "cache": CacheOutcome,
    }
    return models[layer]


class DecisionRecord(BaseModel):
    """One logged decision: the options in play, the prices, the choice and its outcome.

    Validation enforces the schema in the module docstring: finite numbers, prices >= 0, unique
    option names, ``chosen`` among the options (or null), agent ``kind`` set, autonomy levels
    present, fixed option names where the diagnosis relies on them, and the outcome's fields
    for the layer. ``outcome`` is kept as a plain dict holding what was given (validated).

    Attributes:
        id: decision id, unique within a log.
        layer: ``router``, ``agent``, ``serving``, ``training`` or ``cache``.
        kind: ``step`` or ``autonomy`` for agent decisions; free text (optional) elsewhere.
        prices: the prices in force.
        options: the options in play, with their predicted effects.
        chosen: the chosen option's name, or ``None`` when nothing was chosen.
        outcome: layer-specific ex-post facts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Name
    layer: Layer
    kind: Name | None = None
    prices: PricesInForce
    options: Annotated[list[OptionRecord], Field(min_length=1)]
    chosen: Name | None
    outcome: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("outcome")
    @classmethod
    def _check_outcome(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        layer = info.data.get("layer")
        kind = info.data.get("kind")
        if layer is None or (layer == "agent" and kind not in AGENT_KINDS):
            return value  # the layer or kind error is reported instead
        try:
            parsed = _outcome_model(layer, kind).model_validate(value)
        except ValidationError as exc:
            field, bad, expected = _describe(exc)
            raise _fail(f"outcome.{field}" if field else "outcome", bad, expected) from None
        return parsed.model_dump(exclude_unset=True)

    @model_validator(mode="after")
    def _check_consistency(self) -> DecisionRecord:
        if self.layer == "agent" and self.kind not in AGENT_KINDS:
            raise _fail("kind", self.kind, "'step' or 'autonomy' for an agent decision")
        names = [o.name for o in self.options]
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise _fail(f"options[{i}].name", name, "option names unique within a decision")
            seen.add(name)
        if self.chosen is not None and self.chosen not in seen:
            raise _fail("chosen", self.chosen, f"one of the options {names} or null")
        fixed = _FIXED_NAMES.get(self.layer)
        if fixed is not None:
            for i, name in enumerate(names):
                if name not in fixed:
                    raise _fail(
                        f"options[{i}].name", name, f"one of {list(fixed)} for a {self.layer} log"
                    )
        if self.layer == "agent" and self.kind == "autonomy":
            for i, opt in enumerate(self.options):
                if opt.level is None:
                    raise _fail(
                        f"options[{i}].level", None, "an autonomy level in [0, 1] (autonomy)"
                    )
        self._check_outcome_against_options(names)
        return self

    def _check_outcome_against_options(self, names: list[str]) -> None:
        out = self.outcome
        if self.layer == "router":
            for side in ("quality", "cost"):
                for key in out.get(side, {}):
                    if key not in names:
                        raise _fail(f"outcome.{side}.{key}", key, f"an option name among {names}")
        elif self.layer == "serving" and self.chosen == "admit":
            for key in ("delay_s", "externality_s"):
                if key not in out:
                    raise _fail(f"outcome.{key}", None, "seconds >= 0 (required when admitted)")
        elif self.layer == "cache" and self.chosen == "reuse":
            for key in (
                "entry_value_class",
                "entry_risk_class",
                "request_value_class",
                "request_risk_class",
            ):
                if key not in out:
                    raise _fail(f"outcome.{key}", None, "a class name (required when reused)")

    @property
    def names(self) -> tuple[str, ...]:
        """Option names, in order."""
        return tuple(o.name for o in self.options)

    def index(self, name: str) -> int:
        """Position of the option called ``name``.

        Raises:
            UnknownNameError: no option has that name.
        """
        for i, opt in enumerate(self.options):
            if opt.name == name:
                return i
        raise UnknownNameError("option", name, self.names)

    @property
    def chosen_index(self) -> int | None:
        """Position of the chosen option, or ``None`` when nothing was chosen."""
        return None if self.chosen is None else self.index(self.chosen)

    def to_json_dict(self) -> dict[str, Any]:
        """The record as the log stores it (``kind`` and ``level`` left out when unset)."""
        data = self.model_dump(mode="json")
        if data["kind"] is None:
            del data["kind"]
        for opt in data["options"]:
            if opt["level"] is None:
                del opt["level"]
        return data


def remaining_gain(
    gain: ArrayLike, age: ArrayLike, depreciation_rate: ArrayLike
) -> NDArray[np.float64]:
    """Depreciated capability gain ``gain·(1 − δ)^age`` (geometric depreciation per step).

    Vectorised: arrays broadcast (scalars give a 0-d array).
    """
    g = np.asarray(gain, dtype=np.float64)
    a = np.asarray(age, dtype=np.float64)
    d = np.asarray(depreciation_rate, dtype=np.float64)
    return np.asarray(g * np.power(1.0 - d, a), dtype=np.float64)


def option_effects(record: DecisionRecord, *, ex_post: bool = False) -> Options:
    """The options' (ΔQ, ΔC, ΔL, ΔR), predicted or (``ex_post``) with realised facts swapped in.

    Ex post, per layer (see the module docstring): router quality/cost per option where the
    outcome has them; serving ``admit`` latency = ``delay_s`` (else the prediction) +
    ``externality_s`` (else 0); training ``keep`` ΔQ = :func:`remaining_gain`; cache ``reuse``
    ΔQ − ``quality_loss`` and ΔR + ``risk_added``. Agent records are unchanged.
    """
    names = record.names
    dq = np.array([o.dq for o in record.options], dtype=np.float64)
    dc = np.array([o.dc for o in record.options], dtype=np.float64)
    dl = np.array([o.dl for o in record.options], dtype=np.float64)
    dr = np.array([o.dr for o in record.options], dtype=np.float64)
    if ex_post:
        out = record.outcome
        if record.layer == "router":
            quality: Mapping[str, float] = out.get("quality", {})
            cost: Mapping[str, float] = out.get("cost", {})
            for i, name in enumerate(names):
                if name in quality:
                    dq[i] = quality[name]
                if name in cost:
                    dc[i] = cost[name]
        elif record.layer == "serving" and "admit" in names:
            i = names.index("admit")
            if "delay_s" in out or "externality_s" in out:
                dl[i] = out.get("delay_s", dl[i]) + out.get("externality_s", 0.0)
        elif record.layer == "training" and "keep" in names:
            i = names.index("keep")
            dq[i] = float(
                remaining_gain(out["gain"], out["age"], out["depreciation_rate"])  # required
            )
        elif record.layer == "cache" and "reuse" in names:
            i = names.index("reuse")
            dq[i] -= out.get("quality_loss", 0.0)
            dr[i] += out.get("risk_added", 0.0)
    return Options(names=names, dq=dq, dc=dc, dl=dl, dr=dr)  # finite by validation


def record_net_values(record: DecisionRecord, *, ex_post: bool = False) -> NDArray[np.float64]:
    """Net value ``V·ΔQ − ΔC − λ·ΔL − ρ·ΔR`` of every option, at the record's prices."""
    return _rule_net_values(record.prices.to_prices(), option_effects(record, ex_post=ex_post))


def record_full_prices(record: DecisionRecord, *, ex_post: bool = False) -> NDArray[np.float64]:
    """Full price ``ΔC + λ·ΔL + ρ·ΔR`` of every option (what it costs, value aside)."""
    opts = option_effects(record, ex_post=ex_post)
    return record.prices.to_prices().full_price(opts.dc, opts.dl, opts.dr)


def net_value(
    record: DecisionRecord, option: str | OptionRecord | None, ex_post: bool = False
) -> float:
    """Net value of one option of ``record`` (``None``: doing nothing, worth 0).

    Args:
        record: the decision.
        option: the option (or its name); ``None`` stands for choosing nothing.
        ex_post: swap realised facts in for predictions where the outcome has them
            (:func:`option_effects`).

    Raises:
        UnknownNameError: the record has no option of that name.
    """
    if option is None:
        return 0.0
    name = option if isinstance(option, str) else option.name
    i = record.index(name)
    return float(record_net_values(record, ex_post=ex_post)[i])


# --------------------------------------------------------------------------- reading, writing


def _validate(raw: Any, file: str | Path, where: str) -> DecisionRecord:
    if isinstance(raw, DecisionRecord):
        return raw
    if not isinstance(raw, Mapping):
        raise DataError(file, where, raw, "a JSON object describing one decision")
    try:
        return DecisionRecord.model_validate(dict(raw))
    except ValidationError as exc:
        field, value, expected = _describe(exc)
        raise DataError(file, f"{where}, {field}" if field else where, value, expected) from None


def as_records(
    records: Iterable[DecisionRecord | Mapping[str, Any]], source: str = "<records>"
) -> list[DecisionRecord]:
    """Validate records given as models or plain dicts (errors name ``record i`` and the field).

    Raises:
        DataError: a record is malformed or repeats an earlier record's id.
    """
    out: list[DecisionRecord] = []
    first: dict[str, int] = {}
    for i, raw in enumerate(records):
        rec = _validate(raw, source, f"record {i}")
        _check_unique(rec.id, i, first, source, f"record {i}", "record")
        out.append(rec)
    return out


def _check_unique(
    rid: str, pos: int, first: dict[str, int], file: str | Path, where: str, unit: str
) -> None:
    if rid in first:
        raise DataError(
            file, f"{where}, id", rid, f"a unique decision id (already used by {unit} {first[rid]})"
        )
    first[rid] = pos


def write_log(path: str | Path, records: Iterable[DecisionRecord | Mapping[str, Any]]) -> Path:
    """Write a decision log as JSON Lines, atomically.

    The lines go to a temporary file beside ``path`` that is renamed into place only when every
    record was valid and written, so a failure leaves any earlier ``path`` untouched and no
    partial file behind.

    Args:
        path: the ``.jsonl`` file to write (its folder is created).
        records: :class:`DecisionRecord` objects or plain dicts of the same shape.

    Returns:
        ``path``.

    Raises:
        DataError: a record is malformed (names ``record i`` and the field) or repeats an id.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            first: dict[str, int] = {}
            for i, raw in enumerate(records):
                rec = _validate(raw, path, f"record {i}")
                _check_unique(rec.id, i, first, path, f"record {i}", "record")
                fh.write(json.dumps(rec.to_json_dict(), separators=(",", ":"), allow_nan=False))
                fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def read_log(path: str | Path) -> list[DecisionRecord]:
    """Read a JSON Lines decision log (blank lines are skipped).

    Raises:
        ConfigError: the file does not exist.
        DataError: a line is not valid JSON, not an object, breaks the schema, or repeats an
            id; the error names the file, ``line N`` and the field (``line 7, options[1].dc``),
            the value, and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"decision log {path} does not exist (expected a .jsonl file)")
    records: list[DecisionRecord] = []
    first: dict[str, int] = {}
    try:
        with path.open("r", encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                text = line.strip()
                if not text:
                    continue
                try:
                    raw = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        path,
                        f"line {n}",
                        text,
                        f"one JSON object per line ({exc.msg} at column {exc.colno})",
                    ) from None
                rec = _validate(raw, path, f"line {n}")
                _check_unique(rec.id, n, first, path, f"line {n}", "line")
                records.append(rec)
    except UnicodeDecodeError:
        raise DataError(path, None, "<binary content>", "UTF-8 encoded JSON Lines") from None
    return records


_FRAME_COLUMNS: dict[str, str] = {
    "id": "object",
    "layer": "object",
    "kind": "object",
    "chosen": "object",
    "value": "float64",
    "latency": "float64",
    "risk": "float64",
    "n_options": "int64",
    "options": "object",
    "best": "object",
    "net_best": "float64",
    "net_chosen": "float64",
    "net_chosen_ex_post": "float64",
    "chosen_dq": "float64",
    "chosen_dc": "float64",
    "chosen_dl": "float64",
    "chosen_dr": "float64",
    "outcome": "object",
}


def records_to_frame(records: Iterable[DecisionRecord]) -> pd.DataFrame:
    """One row per decision, for analysis (pandas, DuckDB, Parquet).

    Columns: ``id, layer, kind, chosen`` (None when nothing was chosen), the prices
    ``value, latency, risk``, ``n_options``, ``options`` (names joined by commas), ``best`` (the
    option with the highest predicted net value) and ``net_best``, ``net_chosen`` and
    ``net_chosen_ex_post`` (0 when nothing was chosen), the chosen option's predicted
    ``chosen_dq/dc/dl/dr`` (NaN when nothing was chosen), and ``outcome`` as a JSON string.
    """
    rows: dict[str, list[Any]] = {c: [] for c in _FRAME_COLUMNS}
    for rec in records:
        ante = record_net_values(rec)
        post = record_net_values(rec, ex_post=True)
        best = int(np.argmax(ante))
        c = rec.chosen_index
        opt = rec.options[c] if c is not None else None
        rows["id"].append(rec.id)
        rows["layer"].append(rec.layer)
        rows["kind"].append(rec.kind)
        rows["chosen"].append(rec.chosen)
        rows["value"].append(rec.prices.value)
        rows["latency"].append(rec.prices.latency)
        rows["risk"].append(rec.prices.risk)
        rows["n_options"].append(len(rec.options))
        rows["options"].append(",".join(rec.names))
        rows["best"].append(rec.names[best])
        rows["net_best"].append(float(ante[best]))
        rows["net_chosen"].append(float(ante[c]) if c is not None else 0.0)
        rows["net_chosen_ex_post"].append(float(post[c]) if c is not None else 0.0)
        for field in ("dq", "dc", "dl", "dr"):
            rows[f"chosen_{field}"].append(getattr(opt, field) if opt is not None else np.nan)
        rows["outcome"].append(json.dumps(rec.outcome, sort_keys=True))
    return pd.DataFrame({c: pd.Series(rows[c], dtype=t) for c, t in _FRAME_COLUMNS.items()})
