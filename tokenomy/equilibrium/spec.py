"""Economy specifications: YAML files and the same thing as pydantic models.

Three kinds (the ``kind`` field):

* ``economy`` — the orchestrated agent system: metric trajectories over a basis, agents as firms
  with production sets from the catalogue, one consumer (the orchestrator) with a welfare over
  the delivered metrics, and optionally a DAG along which tasks are routed;
* ``fisher`` — a Fisher market: buyers with budgets and utilities over goods in fixed supply;
* ``exchange`` — an exchange economy: consumers with endowments and utilities.

:func:`load_spec` reads YAML and validates it; every problem raises one
:class:`~tokenomy.errors.SpecError` naming the field (``agents.coder.production.0.radii.tokens``)
and what was expected. Structural problems — an unknown metric or market, a cycle in the DAG,
a non-convex technology, bounds that admit no point — are found here, before any solver runs.

A trajectory is a number (constant in time), a formula of ``t`` and ``T`` (see
:mod:`.expressions`), or ``{coefficients: [...]}`` (its K basis coefficients).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from tokenomy.equilibrium.expressions import ExpressionError, compile_expression
from tokenomy.errors import SpecError

# ------------------------------------------------------------------------------ trajectories


class Coefficients(BaseModel):
    """A trajectory given by its basis coefficients."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coefficients: list[float] = Field(min_length=1)


def _trajectory(value: Any) -> Any:
    """Read numbers written as text as numbers; check formulas when the spec is read."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            compile_expression(value)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
    return value


Trajectory = Annotated[float | str | Coefficients, BeforeValidator(_trajectory)]
"""A number, a formula in ``t`` and ``T``, or explicit coefficients."""

MetricMap = dict[str, Trajectory]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------ production


class BoxPiece(_Spec):
    """Bounds on the netput of some metrics: ``lower ≤ y ≤ upper``.

    ``space: values`` (default) reads the bounds as values over time, which is exact on the
    piecewise-constant basis; ``space: coefficients`` reads them as bounds on every basis
    coefficient (any basis).
    """

    kind: Literal["box"] = "box"
    market: str | None = Field(default=None, description="Market (default: the agent's own)")
    lower: MetricMap = Field(default_factory=dict)
    upper: MetricMap = Field(default_factory=dict)
    space: Literal["values", "coefficients"] = "values"


class EllipsoidPiece(_Spec):
    """An axis-aligned ellipsoid in coefficient space: Σ ((y − centre)/radius)² ≤ 1."""

    kind: Literal["ellipsoid"] = "ellipsoid"
    market: str | None = None
    center: MetricMap = Field(default_factory=dict)
    radii: dict[str, float | list[float]] = Field(
        description="Per metric: one radius for every coefficient, or K radii (all > 0)"
    )


class Activity(_Spec):
    """One linear activity: netput per unit of activity level."""

    vector: MetricMap
    max: float = Field(gt=0, description="Largest activity level")


class ActivitiesPiece(_Spec):
    """Linear technology: y = Σ_j u_j · vector_j with 0 ≤ u_j ≤ max_j (metric trade-offs)."""

    kind: Literal["activities"] = "activities"
    market: str | None = None
    activities: list[Activity] = Field(min_length=1)


class SlotRef(_Spec):
    """A metric in a market (default market: the agent's own)."""

    metric: str
    market: str | None = None


class QuadraticCostPiece(_Spec):
    """Producing ``output`` uses ``input`` at a convex cost, per basis coefficient.

    Input used ≥ linear·q + quadratic·q²/2 for output q ∈ [0, max_output].
    """

    kind: Literal["quadratic_cost"] = "quadratic_cost"
    output: SlotRef
    input: SlotRef
    linear: float = Field(default=0.0, ge=0)
    quadratic: float = Field(gt=0)
    max_output: float = Field(gt=0)
    max_input: float | None = Field(
        default=None, gt=0, description="Largest input use (default: the cost of max_output)"
    )


class PowerPiece(_Spec):
    """Cobb–Douglas technology, per basis coefficient: output ≤ scale · input^exponent."""

    kind: Literal["power"] = "power"
    output: SlotRef
    input: SlotRef
    scale: float = Field(gt=0)
    exponent: float = Field(description="In (0, 1) for a convex technology")
    max_input: float = Field(gt=0)


Piece = Annotated[
    BoxPiece | EllipsoidPiece | ActivitiesPiece | QuadraticCostPiece | PowerPiece,
    Field(discriminator="kind"),
]


PIECE_KINDS = ("box", "ellipsoid", "activities", "quadratic_cost", "power")


class AgentSpec(_Spec):
    """An agent: a firm selling in its own market (named after it) with a production set.

    Pieces may be written ``- kind: box`` plus fields, or compactly ``- box: {fields}``.
    """

    @model_validator(mode="before")
    @classmethod
    def _compact_pieces(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("production"), list):
            pieces = []
            for piece in data["production"]:
                if isinstance(piece, dict) and "kind" not in piece and len(piece) == 1:
                    kind, fields = next(iter(piece.items()))
                    if kind not in PIECE_KINDS:
                        raise ValueError(
                            f"unknown production piece '{kind}' (known: {', '.join(PIECE_KINDS)})"
                        )
                    piece = {"kind": kind, **(fields or {})}
                pieces.append(piece)
            data = {**data, "production": pieces}
        return data

    metrics: list[str] | None = Field(
        default=None,
        description="Metrics of the agent's own market (default: all; [] when it sells only in "
        "shared markets)",
    )
    production: list[Piece] = Field(
        min_length=1, description="Pieces; the production set is their Minkowski sum"
    )
    per_task: MetricMap | None = Field(
        default=None, description="What one routed task uses of this agent, per metric"
    )


class MarketSpec(_Spec):
    """An extra market (a resource such as time or a token pool)."""

    metrics: list[str] = Field(min_length=1)


# ------------------------------------------------------------------------------ consumer


class LinearWelfare(_Spec):
    """W = Σ_r coefficient_r · s_r, with s_r = ⟨weight_r, D_r⟩ (default weight 1: ∫ D_r dt)."""

    kind: Literal["linear"] = "linear"
    coefficients: dict[str, float] = Field(min_length=1)
    weights: MetricMap = Field(default_factory=dict)


class CobbDouglasWelfare(_Spec):
    """W = Σ_r exponent_r · log s_r."""

    kind: Literal["cobb_douglas"] = "cobb_douglas"
    exponents: dict[str, float] = Field(min_length=1)
    weights: MetricMap = Field(default_factory=dict)


class CESWelfare(_Spec):
    """W = (Σ_r share_r · s_r^rho)^(1/rho), rho < 1, rho ≠ 0."""

    kind: Literal["ces"] = "ces"
    shares: dict[str, float] = Field(min_length=1)
    rho: float
    weights: MetricMap = Field(default_factory=dict)


class QuadraticWelfare(_Spec):
    """W = Σ_r ⟨target_r, D_r⟩ − curvature_r/2 · ‖D_r‖² (over whole trajectories)."""

    kind: Literal["quadratic"] = "quadratic"
    target: MetricMap = Field(min_length=1)
    curvature: dict[str, float] = Field(min_length=1)


class QualityMinusCostWelfare(_Spec):
    """W = V·s_quality − token cost(s_tokens) − λ·s_latency − ρ·s_risk (tokenomy.prices)."""

    kind: Literal["quality_minus_cost"] = "quality_minus_cost"
    value: float = Field(gt=0, description="V: dollars per unit of quality")
    quality: str = "quality"
    tokens: str | None = "tokens"
    latency: str | None = "latency"
    risk: str | None = "risk"
    model: str = Field(default="llama-3.1-8b-instruct", description="Prices the tokens")
    token_unit: float = Field(
        default=1e6, gt=0, description="Tokens per unit of the tokens metric (default: millions)"
    )
    latency_price: float = Field(default=0.0, ge=0, description="λ, dollars per unit latency")
    risk_price: float = Field(default=0.0, ge=0, description="ρ, dollars per unit risk")
    weights: MetricMap = Field(default_factory=dict)


Welfare = Annotated[
    LinearWelfare | CobbDouglasWelfare | CESWelfare | QuadraticWelfare | QualityMinusCostWelfare,
    Field(discriminator="kind"),
]


class ConsumerSpec(_Spec):
    """The orchestrator: welfare over delivered metrics, an endowment per market, money.

    ``money``: whether unspent income is kept as money (the numéraire, worth 1 welfare unit),
    so the budget always binds. Default: yes when tasks are routed (routing fixes the
    quantities bought, so only money can absorb the rest of the income) and for welfare
    measured in money (linear, quality_minus_cost, quadratic); no for freely consumed goods
    under the ordinal kinds (cobb_douglas, ces), which never leave income unspent. Without
    money a routed orchestrator cannot spend all its income away from equilibrium, and
    Walras' law fails there. ``profit_share``: the share of the agents' profits paid to the
    orchestrator (1 in a closed economy; below 1 breaks Walras' law on purpose).
    """

    welfare: Welfare
    endowment: dict[str, MetricMap] = Field(default_factory=dict)
    money: bool | None = None
    profit_share: float = Field(default=1.0, ge=0.0, le=1.0)


class GraphSpec(_Spec):
    """The DAG tasks flow along, from ``source`` to ``sink``."""

    edges: list[tuple[str, str]] = Field(min_length=1)
    tasks: float = Field(default=1.0, gt=0, description="Tasks routed over the horizon")
    beta: float = Field(
        default=1.0,
        gt=0,
        description="Routing rationality per task: shares ∝ exp(β · per-task score)",
    )


class PriceLoopDefaults(_Spec):
    """Settings the price loop uses for this economy unless the caller overrides them."""

    eta: float = Field(default=0.1, gt=0, description="Dimensionless step size")
    max_iter: int = Field(default=5000, ge=1)


class GoodsPriceLoop(PriceLoopDefaults):
    """Price-loop settings of a Fisher or exchange market, with an optional starting point."""

    start: dict[str, float] | None = Field(
        default=None, description="Starting prices by good (default: all equal)"
    )


def _check_loop_start(loop: GoodsPriceLoop | None, goods: Mapping[str, Any]) -> None:
    if loop is None or loop.start is None:
        return
    for g, value in loop.start.items():
        if g not in goods:
            raise SpecError(_unknown(f"price_loop.start.{g}", "good", g, goods))
        if not value > 0:
            raise SpecError(f"field 'price_loop.start.{g}': must be > 0, got {value}")


class BasisSpec(_Spec):
    """The basis of the commodity space."""

    kind: Literal["piecewise", "legendre"] = "piecewise"
    size: int = Field(default=8, ge=1, le=4096)


class EconomySpec(_Spec):
    """An orchestrated agent system (or any one-consumer production economy)."""

    kind: Literal["economy"] = "economy"
    name: str = "economy"
    description: str = ""
    horizon: float = Field(default=1.0, gt=0)
    basis: BasisSpec = Field(default_factory=BasisSpec)
    metrics: list[str] = Field(min_length=1)
    markets: dict[str, MarketSpec] = Field(default_factory=dict)
    agents: dict[str, AgentSpec] = Field(min_length=1)
    consumer: ConsumerSpec
    graph: GraphSpec | None = None
    price_loop: PriceLoopDefaults | None = Field(
        default=None, description="Default settings of the price loop for this economy"
    )

    @model_validator(mode="after")
    def _semantics(self) -> EconomySpec:
        check_economy(self)
        return self


# ------------------------------------------------------------------------------ classic


class GoodsUtility(_Spec):
    """A utility over goods: Cobb–Douglas (exponents), linear (values) or Leontief (needs)."""

    kind: Literal["cobb_douglas", "linear", "leontief"]
    weights: dict[str, float] = Field(min_length=1)


class Buyer(_Spec):
    """A Fisher-market buyer."""

    budget: float = Field(gt=0)
    utility: GoodsUtility


class FisherSpec(_Spec):
    """A Fisher market: buyers with budgets; goods with supplies (default 1)."""

    kind: Literal["fisher"] = "fisher"
    name: str = "fisher"
    description: str = ""
    goods: dict[str, float] = Field(min_length=1)
    buyers: dict[str, Buyer] = Field(min_length=1)
    price_loop: GoodsPriceLoop | None = None

    @model_validator(mode="after")
    def _semantics(self) -> FisherSpec:
        for name, supply in self.goods.items():
            if not supply > 0:
                raise SpecError(f"field 'goods.{name}': supply must be > 0, got {supply}")
        for b, buyer in self.buyers.items():
            _check_goods_utility(buyer.utility, self.goods, f"buyers.{b}.utility")
        _check_loop_start(self.price_loop, self.goods)
        return self


class Trader(_Spec):
    """An exchange-economy consumer."""

    endowment: dict[str, float] = Field(min_length=1)
    utility: GoodsUtility


class ExchangeSpec(_Spec):
    """An exchange economy."""

    kind: Literal["exchange"] = "exchange"
    name: str = "exchange"
    description: str = ""
    goods: list[str] = Field(min_length=1)
    consumers: dict[str, Trader] = Field(min_length=1)
    price_loop: GoodsPriceLoop | None = None

    @model_validator(mode="after")
    def _semantics(self) -> ExchangeSpec:
        goods = {g: 1.0 for g in self.goods}
        if len(goods) != len(self.goods):
            raise SpecError("field 'goods': good names must be distinct")
        for c, trader in self.consumers.items():
            _check_goods_utility(trader.utility, goods, f"consumers.{c}.utility")
            for g, amount in trader.endowment.items():
                if g not in goods:
                    raise SpecError(_unknown(f"consumers.{c}.endowment.{g}", "good", g, goods))
                if amount < 0:
                    raise SpecError(f"field 'consumers.{c}.endowment.{g}': must be >= 0")
        totals = {g: sum(t.endowment.get(g, 0.0) for t in self.consumers.values()) for g in goods}
        for g, total in totals.items():
            if total <= 0:
                raise SpecError(f"field 'goods': nobody is endowed with good '{g}'")
        _check_loop_start(self.price_loop, goods)
        return self


Spec = Annotated[EconomySpec | FisherSpec | ExchangeSpec, Field(discriminator="kind")]


# ------------------------------------------------------------------------------ checks


def _unknown(field: str, what: str, name: str, known: Any) -> str:
    import difflib

    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"field '{field}': unknown {what} '{name}' (known: {', '.join(names)}){hint}"


def _check_goods_utility(u: GoodsUtility, goods: Any, field: str) -> None:
    for g, w in u.weights.items():
        if g not in goods:
            raise SpecError(_unknown(f"{field}.weights.{g}", "good", g, goods))
        if not w > 0:
            raise SpecError(f"field '{field}.weights.{g}': weights must be > 0, got {w}")


def _market_metrics(spec: EconomySpec) -> dict[str, list[str]]:
    out = {name: list(m.metrics) for name, m in spec.markets.items()}
    for name, agent in spec.agents.items():
        out[name] = list(spec.metrics if agent.metrics is None else agent.metrics)
    return out


def check_economy(spec: EconomySpec) -> None:
    """Structural checks of an economy spec (each failure names its field)."""
    metrics = set(spec.metrics)
    if len(metrics) != len(spec.metrics):
        raise SpecError("field 'metrics': metric names must be distinct")
    for reserved in ("source", "sink"):
        if reserved in spec.agents or reserved in spec.markets:
            raise SpecError(f"field 'agents.{reserved}': '{reserved}' is reserved for the DAG")
    clash = set(spec.markets) & set(spec.agents)
    if clash:
        name = sorted(clash)[0]
        raise SpecError(f"field 'markets.{name}': an agent already owns a market named '{name}'")
    for m, market in spec.markets.items():
        for i, r in enumerate(market.metrics):
            if r not in metrics:
                raise SpecError(_unknown(f"markets.{m}.metrics.{i}", "metric", r, metrics))
    markets = _market_metrics(spec)
    for a, agent in spec.agents.items():
        for i, r in enumerate(agent.metrics or []):
            if r not in metrics:
                raise SpecError(_unknown(f"agents.{a}.metrics.{i}", "metric", r, metrics))
        for j, piece in enumerate(agent.production):
            _check_piece(piece, f"agents.{a}.production.{j}", a, markets, spec.basis)
        if agent.per_task is not None:
            for r in agent.per_task:
                if r not in markets[a]:
                    raise SpecError(_unknown(f"agents.{a}.per_task.{r}", "metric", r, markets[a]))
    _check_welfare(spec)
    for m, amounts in spec.consumer.endowment.items():
        if m not in markets:
            raise SpecError(_unknown(f"consumer.endowment.{m}", "market", m, markets))
        for r in amounts:
            if r not in markets[m]:
                raise SpecError(_unknown(f"consumer.endowment.{m}.{r}", "metric", r, markets[m]))
    if spec.graph is not None:
        _check_graph(spec)


def _check_piece(
    piece: Any, field: str, agent: str, markets: dict[str, list[str]], basis: BasisSpec
) -> None:
    def slot(ref: SlotRef, sub: str) -> None:
        market = ref.market or agent
        if market not in markets:
            raise SpecError(_unknown(f"{field}.{sub}.market", "market", market, markets))
        if ref.metric not in markets[market]:
            raise SpecError(
                _unknown(f"{field}.{sub}.metric", "metric", ref.metric, markets[market])
            )

    def metric_keys(keys: Any, sub: str, market: str | None) -> None:
        m = market or agent
        if m not in markets:
            raise SpecError(_unknown(f"{field}.market", "market", m, markets))
        for r in keys:
            if r not in markets[m]:
                raise SpecError(_unknown(f"{field}.{sub}.{r}", "metric", r, markets[m]))

    if isinstance(piece, BoxPiece):
        metric_keys(piece.lower, "lower", piece.market)
        metric_keys(piece.upper, "upper", piece.market)
        if not piece.lower and not piece.upper:
            raise SpecError(f"field '{field}': a box needs lower or upper bounds")
        if piece.space == "values" and basis.kind != "piecewise":
            raise SpecError(
                f"field '{field}.space': value bounds are exact only on a piecewise-constant "
                f"basis (this spec uses '{basis.kind}'); give 'space: coefficients' or use an "
                "ellipsoid"
            )
        for r in set(piece.lower) & set(piece.upper):
            lo, hi = piece.lower[r], piece.upper[r]
            if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
                raise SpecError(
                    f"field '{field}.lower.{r}': lower bound {lo} exceeds upper bound {hi} "
                    "(the production set would be empty)"
                )
    elif isinstance(piece, EllipsoidPiece):
        metric_keys(piece.radii, "radii", piece.market)
        metric_keys(piece.center, "center", piece.market)
        for r, radius in piece.radii.items():
            values = radius if isinstance(radius, list) else [radius]
            if isinstance(radius, list) and len(radius) != basis.size:
                raise SpecError(
                    f"field '{field}.radii.{r}': expected 1 or {basis.size} radii, "
                    f"got {len(radius)}"
                )
            if min(values) <= 0:
                raise SpecError(f"field '{field}.radii.{r}': radii must be > 0, got {radius}")
        for r in piece.center:
            if r not in piece.radii:
                raise SpecError(f"field '{field}.center.{r}': no radius given for metric '{r}'")
    elif isinstance(piece, ActivitiesPiece):
        for i, act in enumerate(piece.activities):
            metric_keys(act.vector, f"activities.{i}.vector", piece.market)
    elif isinstance(piece, QuadraticCostPiece):
        slot(piece.output, "output")
        slot(piece.input, "input")
        if (piece.output.market or agent, piece.output.metric) == (
            piece.input.market or agent,
            piece.input.metric,
        ):
            raise SpecError(f"field '{field}.input': input and output must be different metrics")
        need = piece.linear * piece.max_output + 0.5 * piece.quadratic * piece.max_output**2
        if piece.max_input is not None and piece.max_input < need:
            raise SpecError(
                f"field '{field}.max_input': {piece.max_input} is less than the cost {need:g} "
                "of max_output"
            )
    elif isinstance(piece, PowerPiece):
        slot(piece.output, "output")
        slot(piece.input, "input")
        if not 0 < piece.exponent < 1:
            raise SpecError(
                f"field '{field}.exponent': {piece.exponent} makes the technology non-convex; "
                "expected 0 < exponent < 1"
            )


def _check_welfare(spec: EconomySpec) -> None:
    w = spec.consumer.welfare
    metrics = set(spec.metrics)
    field = "consumer.welfare"
    keys: dict[str, Any] = {}
    if isinstance(w, LinearWelfare):
        keys = {"coefficients": w.coefficients, "weights": w.weights}
    elif isinstance(w, CobbDouglasWelfare):
        keys = {"exponents": w.exponents, "weights": w.weights}
        for r, a in w.exponents.items():
            if not a > 0:
                raise SpecError(f"field '{field}.exponents.{r}': exponents must be > 0, got {a}")
    elif isinstance(w, CESWelfare):
        keys = {"shares": w.shares, "weights": w.weights}
        if not w.rho < 1 or w.rho == 0:
            raise SpecError(
                f"field '{field}.rho': {w.rho} makes the welfare non-concave or undefined; "
                "expected rho < 1 and rho != 0"
            )
        for r, a in w.shares.items():
            if not a > 0:
                raise SpecError(f"field '{field}.shares.{r}': shares must be > 0, got {a}")
    elif isinstance(w, QuadraticWelfare):
        keys = {"target": w.target, "curvature": w.curvature}
        for r, q in w.curvature.items():
            if not q > 0:
                raise SpecError(
                    f"field '{field}.curvature.{r}': {q} makes the welfare non-concave; "
                    "expected > 0"
                )
        for r in w.target:
            if r not in w.curvature:
                raise SpecError(f"field '{field}.curvature': no curvature for metric '{r}'")
    elif isinstance(w, QualityMinusCostWelfare):
        named: dict[str, str | None] = {
            "quality": w.quality,
            "tokens": w.tokens,
            "latency": w.latency,
            "risk": w.risk,
        }
        for role, name in named.items():
            if name is not None and name not in metrics:
                raise SpecError(_unknown(f"{field}.{role}", "metric", name, metrics))
        from tokenomy.errors import UnknownNameError
        from tokenomy.prices import PriceTable

        try:
            PriceTable.default()[w.model]
        except UnknownNameError as exc:
            raise SpecError(f"field '{field}.model': {exc}") from None
        keys = {"weights": w.weights}
    for sub, mapping in keys.items():
        for r in mapping:
            if r not in metrics:
                raise SpecError(_unknown(f"{field}.{sub}.{r}", "metric", r, metrics))


def _check_graph(spec: EconomySpec) -> None:
    assert spec.graph is not None
    g = nx.DiGraph()
    nodes = set(spec.agents) | {"source", "sink"}
    for i, (u, v) in enumerate(spec.graph.edges):
        for end, name in (("0", u), ("1", v)):
            if name not in nodes:
                raise SpecError(_unknown(f"graph.edges.{i}.{end}", "node", name, nodes))
        if u == "sink" or v == "source":
            raise SpecError(f"field 'graph.edges.{i}': edges leave 'source' and enter 'sink'")
        g.add_edge(u, v)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " -> ".join([e[0] for e in cycle] + [cycle[0][0]])
        raise SpecError(f"field 'graph.edges': the graph has a cycle: {path}")
    if "source" not in g or "sink" not in g:
        raise SpecError("field 'graph.edges': the graph needs edges from 'source' and into 'sink'")
    reach = nx.descendants(g, "source")
    coreach = nx.ancestors(g, "sink")
    for a in spec.agents:
        if a in g and (a not in reach or a not in coreach):
            side = (
                "cannot be reached from 'source'" if a not in reach else "does not lead to 'sink'"
            )
            raise SpecError(f"field 'graph.edges': agent '{a}' {side}")
        if a in g and spec.agents[a].per_task is None:
            raise SpecError(f"field 'agents.{a}.per_task': agents in the graph need a per_task")


# ------------------------------------------------------------------------------ loading


def parse_spec(data: Any, source: str = "<spec>") -> EconomySpec | FisherSpec | ExchangeSpec:
    """Validate a mapping as a spec; errors name the field and the file."""
    from pydantic import TypeAdapter

    if not isinstance(data, dict):
        raise SpecError(f"{source}: a spec is a mapping with a 'kind' field, got {data!r}")
    if "kind" not in data:
        raise SpecError(f"{source}: field 'kind' is missing; expected economy, fisher or exchange")
    adapter: TypeAdapter[EconomySpec | FisherSpec | ExchangeSpec] = TypeAdapter(Spec)
    try:
        return adapter.validate_python(data)
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in ("economy", "fisher", "exchange"):
            loc = loc[1:]
        # drop union-member names pydantic inserts (e.g. 'box', 'float', 'str')
        loc = [p for p in loc if p not in _UNION_TAGS]
        field = ".".join(loc)
        msg = str(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        raise SpecError(f"{source}: field '{field}': {msg} (got {shown})") from None


_UNION_TAGS = {
    "box",
    "ellipsoid",
    "activities",
    "quadratic_cost",
    "power",
    "linear",
    "cobb_douglas",
    "ces",
    "quadratic",
    "quality_minus_cost",
    "float",
    "str",
    "Coefficients",
    "list[float]",
    "tagged-union[BoxPiece,EllipsoidPiece,ActivitiesPiece,QuadraticCostPiece,PowerPiece]",
}


def load_spec(path: str | Path) -> EconomySpec | FisherSpec | ExchangeSpec:
    """Read a YAML spec file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_spec(data, str(path))
