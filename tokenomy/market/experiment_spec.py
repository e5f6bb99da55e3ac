"""Experiment specs: a grid and/or a list of market conditions, times seeds, read from YAML.

An experiment is a set of **conditions** (one market design: the data, search, consideration-set
size, policies and their parameters, LLM agents), each run with every **seed**. One condition ×
seed is one **task**::

    name: search-and-size
    description: Welfare of lexical vs optimal search at two set sizes.
    seeds: 0-4                      # or [0, 1, 2], or "1,3,7"
    grid:                           # a list is an axis; anything else is fixed
      generate: {customers: 100, businesses: 300, seed: 0}
      search: [lexical, optimal]
      limit: [3, 10]
    conditions:                     # extra conditions, each complete
      - {data: ../data/mexican_100_300, customer_policy: bounded,
         customer_params: {contacts: 3}}
      - {generate: {customers: 20, businesses: 60}, agents: population.yaml}
    llm_concurrency: {local: 4, "*": 8}   # calls at once per backend, over all tasks

A condition has exactly one market source: ``data`` (a Magentic-format folder; a relative path
is relative to the spec file's folder) or ``generate`` (the fields of
:class:`~tokenomy.market.generator.GeneratorSpec`). The other fields are those of
:class:`Condition`. The grid's conditions come first, in the order of its axes' product (the
last axis varies fastest), then the listed ones; tasks follow that order with seeds innermost.

**Ids.** A condition's id is a short SHA-256 of the canonical JSON of the condition as written
(fields left at their default are left out, paths as written and normalised); a task's id hashes
the condition and the seed. Ids depend on nothing else — not the spec's name, the order of its
conditions, the machine or the executor — so a grown spec resumes into the same output folder:
tasks already run keep their ids and are skipped.

Every problem is one :class:`~tokenomy.errors.DataError` naming the spec file, the field
(``grid.limit.1``, ``conditions.2.data``, ``seeds``) and the value.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tokenomy.errors import ConfigError, DataError
from tokenomy.market.experiments import parse_seeds
from tokenomy.market.generator import GeneratorSpec
from tokenomy.market.policies.params import business_params, customer_params
from tokenomy.market.search import ALGORITHMS

if TYPE_CHECKING:  # populations import the LLM clients (openai SDK): loaded only when used
    from tokenomy.market.population import PopulationSpec

ID_LENGTH = 12
"""Hex digits of condition and task ids (48 bits)."""

DEFAULT_LIMIT = "*"
"""The key of ``llm_concurrency`` that caps every backend not named on its own."""


class Condition(BaseModel):
    """One market design (everything a run needs besides its seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str | None = Field(default=None, description="Data-set folder (Magentic format)")
    generate: dict[str, Any] | None = Field(
        default=None, description="Synthetic market: GeneratorSpec fields"
    )
    search: str = Field(default="lexical", description="Search algorithm")
    limit: int = Field(default=10, ge=1, description="Consideration-set size")
    customer_policy: str = Field(default="rational", description="Customer policy preset")
    business_policy: str = Field(default="posted-price", description="Business policy preset")
    customer_params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the customer preset's parameters"
    )
    business_params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the business preset's parameters"
    )
    engine: Literal["auto", "batch", "event"] = Field(default="auto", description="Engine")
    arrival_window_ms: int = Field(default=0, ge=0, description="Arrivals spread over [0, w)")
    context_tokens: int = Field(default=0, ge=0, description="Input tokens per action")
    focal_business: str | None = Field(default=None, description="Business whose share counts")
    agents: str | None = Field(default=None, description="Population YAML (LLM agents)")


CONDITION_FIELDS = tuple(Condition.model_fields)
"""Names a grid axis or a listed condition may use."""


class ExperimentSpec(BaseModel):
    """The spec file's top level (conditions are checked and expanded by :func:`parse_spec`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="experiment", min_length=1, description="Label of the experiment")
    description: str = Field(default="", description="What the experiment studies")
    grid: dict[str, Any] = Field(
        default_factory=dict, description="Axes (lists) and fixed fields of the grid"
    )
    conditions: list[dict[str, Any]] = Field(
        default_factory=list, description="Conditions besides the grid, each complete"
    )
    seeds: list[int] = Field(default=[0], min_length=1, description="Seeds of every condition")
    llm_concurrency: dict[str, int] = Field(
        default_factory=dict, description='Model calls at once per backend name ("*": default)'
    )

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a list of seeds or a range such as '0-9'")
        if isinstance(value, int):
            value = [value]
        if isinstance(value, str):
            try:
                value = parse_seeds(value)
            except ConfigError:
                raise ValueError("a list of non-negative seeds or a range such as '0-9'") from None
        if isinstance(value, list):
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
                raise ValueError("non-negative integer seeds")
            if len(set(value)) != len(value):
                raise ValueError("distinct seeds (one appears twice)")
        return value

    @field_validator("llm_concurrency")
    @classmethod
    def _caps(cls, value: dict[str, int]) -> dict[str, int]:
        for name, cap in value.items():
            if cap < 1:
                raise ValueError(f"a cap of at least 1 call at once (backend '{name}')")
        return value


@dataclass(frozen=True)
class ConditionEntry:
    """A checked condition, its id, where the spec defines it, and its resolved files."""

    condition: Condition
    id: str
    origin: str
    data_dir: Path | None
    agents_file: Path | None
    population: PopulationSpec | None

    def label(self) -> str:
        """A short human description (market, search, k, policies)."""
        c = self.condition
        market = c.data if c.data is not None else _generated_label(c.generate or {})
        text = f"{market} {c.search} k={c.limit} {c.customer_policy}/{c.business_policy}"
        return text + (f" agents={c.agents}" if c.agents else "")


@dataclass(frozen=True)
class TaskDef:
    """One condition × seed: its id, its place in the spec's order, and what it runs."""

    id: str
    position: int
    condition_id: str
    seed: int


@dataclass(frozen=True)
class Experiment:
    """A loaded spec: its conditions, seeds and tasks, in the spec's order."""

    spec: ExperimentSpec
    source: Path | None
    base_dir: Path
    conditions: tuple[ConditionEntry, ...]
    tasks: tuple[TaskDef, ...]

    @property
    def name(self) -> str:
        """The spec's name."""
        return self.spec.name

    def condition(self, condition_id: str) -> ConditionEntry:
        """The condition with this id."""
        for entry in self.conditions:
            if entry.id == condition_id:
                return entry
        raise KeyError(condition_id)

    def backends(self) -> list[str]:
        """Names of the LLM backends the conditions' populations define (sorted)."""
        names = {n for e in self.conditions if e.population for n in e.population.backends}
        return sorted(names)

    def llm_caps(self) -> dict[str, int]:
        """The concurrency cap of every backend that has one (named, else the ``*`` default)."""
        caps = dict(self.spec.llm_concurrency)
        default = caps.pop(DEFAULT_LIMIT, None)
        out = {}
        for name in self.backends():
            cap = caps.get(name, default)
            if cap is not None:
                out[name] = cap
        return out


# ------------------------------------------------------------------------------- ids


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]


def _default_generator() -> dict[str, Any]:
    return GeneratorSpec().as_dict()


def canonical_condition(condition: Condition) -> dict[str, Any]:
    """The JSON a condition's id hashes: fields not at their default, paths normalised.

    ``generate`` keeps only the generator settings that differ from
    :class:`~tokenomy.market.generator.GeneratorSpec`'s defaults (ranges as lists), so
    ``{customers: 100}`` and ``{}`` name the same market.
    """
    data = condition.model_dump(mode="json", exclude_defaults=True)
    for key in ("data", "agents"):
        if key in data:
            data[key] = Path(os.path.normpath(data[key])).as_posix()
    if condition.generate is not None:
        full = GeneratorSpec(**condition.generate).as_dict()
        default = _default_generator()
        data["generate"] = {k: v for k, v in full.items() if v != default[k]}
    return data


def condition_id(condition: Condition) -> str:
    """The condition's stable id (see the module's docstring)."""
    return _digest(canonical_condition(condition))


def task_id(condition: Condition, seed: int) -> str:
    """The stable id of ``condition`` run with ``seed``."""
    return _digest({"condition": canonical_condition(condition), "seed": seed})


def _generated_label(generate: dict[str, Any]) -> str:
    spec = GeneratorSpec(**generate)
    label = f"generated/{spec.domain}_{spec.customers}_{spec.businesses}_seed{spec.seed}"
    default = _default_generator()
    named = {"domain", "customers", "businesses", "seed"}
    rest = {k: v for k, v in spec.as_dict().items() if k not in named and v != default[k]}
    return label + (f"_{_digest(rest)[:6]}" if rest else "")


def market_label(condition: Condition) -> str:
    """``parent/name`` of a data folder, or ``generated/<domain>_<C>_<B>_seed<s>[_<hash>]``."""
    if condition.data is not None:
        from tokenomy.market.experiments import data_label

        return data_label(os.path.normpath(condition.data))
    return _generated_label(condition.generate or {})


# ------------------------------------------------------------------------------- loading


def _pydantic_error(
    source: str | Path, exc: ValidationError, where: dict[str, str] | None = None, prefix: str = ""
) -> DataError:
    """The first error of ``exc`` as a DataError; ``where`` maps a condition key to its field."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if where is None:
        field = ".".join(loc) or None
    else:
        key = loc[0] if loc else ""
        field = where.get(key, f"{prefix}.{key}" if key else prefix)
        field += "".join(f".{p}" for p in loc[1:])
    if err["type"] == "missing":
        return DataError(source, field, None, "this required field (it is missing)")
    if err["type"] == "extra_forbidden":
        known = CONDITION_FIELDS if where is not None else tuple(ExperimentSpec.model_fields)
        return DataError(
            source, field, err.get("input"), f"no such field (known: {', '.join(known)})"
        )
    msg = str(err["msg"]).removeprefix("Value error, ")
    return DataError(source, field, err.get("input"), msg)


class _InvalidError(Exception):
    """A condition's problem: its field (relative to the condition), value, and expectation."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        super().__init__(field)
        self.field, self.value, self.expected = field, value, expected


def _check_generate(generate: dict[str, Any]) -> None:
    known = [f.name for f in fields(GeneratorSpec)]
    for key in generate:
        if key not in known:
            raise _InvalidError(
                f"generate.{key}", generate[key], f"a generator setting ({', '.join(known)})"
            )
    try:
        GeneratorSpec(**generate)
    except ConfigError as exc:
        raise _InvalidError("generate", generate, str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise _InvalidError("generate", generate, f"valid generator settings ({exc})") from None


def _resolve(path: str, base_dir: Path) -> Path:
    resolved = Path(path).expanduser()
    return (resolved if resolved.is_absolute() else base_dir / resolved).resolve()


def _check_condition(cond: Condition, base_dir: Path) -> tuple[Path | None, Path | None]:
    """The resolved (data folder, agents file) of ``cond``; raises :class:`_InvalidError`."""
    if (cond.data is None) == (cond.generate is None):
        field = "data" if cond.data is not None else "generate"
        raise _InvalidError(
            field, cond.data, "exactly one market source: 'data' (a folder) or 'generate'"
        )
    data_dir = None
    if cond.data is not None:
        data_dir = _resolve(cond.data, base_dir)
        if not data_dir.is_dir():
            raise _InvalidError(
                "data", cond.data, f"an existing data-set folder (looked for {data_dir})"
            )
    if cond.generate is not None:
        _check_generate(cond.generate)
    if cond.search not in ALGORITHMS:
        raise _InvalidError("search", cond.search, f"a search algorithm ({', '.join(ALGORITHMS)})")
    for side, name, params in (
        ("customer", cond.customer_policy, cond.customer_params),
        ("business", cond.business_policy, cond.business_params),
    ):
        build = customer_params if side == "customer" else business_params
        try:
            build(name, None)
        except ConfigError as exc:
            raise _InvalidError(f"{side}_policy", name, str(exc)) from None
        try:
            build(name, params)
        except ConfigError as exc:
            raise _InvalidError(f"{side}_params", params, str(exc)) from None
    agents_file = None
    if cond.agents is not None:
        agents_file = _resolve(cond.agents, base_dir)
        if not agents_file.is_file():
            raise _InvalidError(
                "agents", cond.agents, f"an existing population file (looked for {agents_file})"
            )
    return data_dir, agents_file


def _grid_points(
    source: str | Path, grid: dict[str, Any]
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every grid point, with the spec field each of its values came from."""
    axes: list[tuple[str, list[Any], bool]] = []
    for key, value in grid.items():
        if key not in CONDITION_FIELDS:
            raise DataError(
                source,
                f"grid.{key}",
                value,
                f"a condition field as the axis ({', '.join(CONDITION_FIELDS)})",
            )
        if isinstance(value, list):
            if not value:
                raise DataError(source, f"grid.{key}", value, "a non-empty list of values")
            axes.append((key, value, True))
        else:
            axes.append((key, [value], False))
    if not axes:
        return []
    points = []
    for combo in itertools.product(*(range(len(values)) for _, values, _ in axes)):
        point, where = {}, {}
        for (key, values, is_axis), i in zip(axes, combo, strict=True):
            point[key] = values[i]
            where[key] = f"grid.{key}.{i}" if is_axis else f"grid.{key}"
        points.append((point, where))
    return points


def parse_spec(
    data: Any, *, source: str | Path = "<spec>", base_dir: str | Path | None = None
) -> Experiment:
    """Check a spec given as data (a mapping read from YAML) and expand it into tasks.

    Args:
        data: the spec's top-level mapping.
        source: the spec file, named in errors.
        base_dir: folder relative ``data`` and ``agents`` paths are relative to (default: the
            current folder).

    Raises:
        DataError: anything wrong, naming ``source``, the field and the value.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if not isinstance(data, dict):
        raise DataError(source, None, data, "a mapping with grid and/or conditions, and seeds")
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(source, exc) from None
    raw: list[tuple[dict[str, Any], dict[str, str], str]] = []
    for point, where in _grid_points(source, spec.grid):
        raw.append((point, where, f"grid[{len(raw)}]"))
    for i, item in enumerate(spec.conditions):
        if not isinstance(item, dict):
            raise DataError(source, f"conditions.{i}", item, "a mapping of condition fields")
        raw.append((item, {k: f"conditions.{i}.{k}" for k in item}, f"conditions.{i}"))
    if not raw:
        raise DataError(source, "grid", None, "a grid or a list of conditions (or both)")
    entries: list[ConditionEntry] = []
    seen: dict[str, str] = {}
    for values, where, origin in raw:
        prefix = origin if origin.startswith("conditions") else "grid"
        try:
            cond = Condition.model_validate(values)
        except ValidationError as exc:
            raise _pydantic_error(source, exc, where, prefix) from None
        try:
            data_dir, agents_file = _check_condition(cond, base)
        except _InvalidError as bad:
            top = bad.field.split(".", 1)
            name = where.get(top[0], f"{prefix}.{top[0]}")
            name += f".{top[1]}" if len(top) > 1 else ""
            raise DataError(source, name, bad.value, bad.expected) from None
        population = None
        if agents_file is not None:
            from tokenomy.market.population import load_population

            population = load_population(agents_file)
        cid = condition_id(cond)
        if cid in seen:
            raise DataError(
                source, origin, values, f"a condition different from {seen[cid]} (it repeats it)"
            )
        seen[cid] = origin
        entries.append(ConditionEntry(cond, cid, origin, data_dir, agents_file, population))
    experiment = Experiment(
        spec=spec,
        source=Path(source) if not str(source).startswith("<") else None,
        base_dir=base,
        conditions=tuple(entries),
        tasks=tuple(
            TaskDef(task_id(e.condition, seed), pos, e.id, seed)
            for pos, (e, seed) in enumerate(itertools.product(entries, spec.seeds))
        ),
    )
    backends = set(experiment.backends())
    for name in spec.llm_concurrency:
        if name != DEFAULT_LIMIT and name not in backends:
            known = ", ".join(sorted(backends)) or "none: no condition has agents"
            raise DataError(
                source,
                f"llm_concurrency.{name}",
                spec.llm_concurrency[name],
                f'a backend of the conditions\' populations ({known}) or "*"',
            )
    return experiment


def load_spec(path: str | Path) -> Experiment:
    """Read, check and expand an experiment spec file (YAML).

    Relative ``data`` and ``agents`` paths are resolved against the file's folder.

    Raises:
        DataError: the file is missing, is not YAML, or anything in it is wrong (names the
            file, the field and the value).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(path, None, str(exc), "a readable experiment spec (YAML)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DataError(
            path, None, f"<unparseable YAML{where}>", f"valid YAML: {problem}"
        ) from None
    if isinstance(data, dict) and "name" not in data:
        data = {"name": path.stem, **data}
    return parse_spec(data, source=path, base_dir=path.resolve().parent)


def builtin_spec(name: str) -> Path | None:
    """The packaged spec ``name`` (``tokenomy/data/experiments/NAME.yaml``), if there is one."""
    from importlib import resources

    folder = resources.files("tokenomy.data").joinpath("experiments")
    candidate = folder.joinpath(f"{name}.yaml")
    if candidate.is_file():
        return Path(str(candidate))
    return None
