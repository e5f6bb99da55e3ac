"""Mixed populations: which agents are LLM-driven (and by which model) and which are scripted.

A population file (YAML)::

    backends:
      local:  {kind: openai, base_url: "http://127.0.0.1:8000/v1", model: rule-market}
      replay: {kind: replay, transcript: calls.jsonl}
    customers:
      - {agents: {fraction: 0.5}, policy: llm, backend: local, params: {max_calls: 8}}
      - {agents: "*", policy: rational}
    businesses:
      - {agents: ["business_0001", "business_0002"], policy: llm, backend: replay}
      - {agents: "business_00*", policy: discounting, params: {concession: 0.5}}

Each rule's ``agents`` is ``"*"``, a glob on the agent id, a list of ids, or ``{fraction: f}``
(an agent is selected when the seeded keyed draw ``tokenomy.rng.uniform(seed,
"population/<side>", index) < f``, ``index`` being its index in the run — customers first, then
businesses, the event engine's numbering — so the same seed selects the same agents). The first
matching rule wins; agents no rule matches use the run's scripted presets. ``policy`` is ``llm``
(with ``backend``, and ``params`` of
:class:`~tokenomy.market.policies.llm.LLMCustomerParams` / ``LLMBusinessParams``) or a scripted
preset (customers: rational, first-proposal, bounded; businesses: posted-price, discounting)
with its parameter overrides. Backends (:class:`~tokenomy.llm.BackendSpec`) are built once and
shared by every agent using them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokenomy.errors import ConfigError, DataError
from tokenomy.llm.factory import BackendSpec, build_chat_model
from tokenomy.llm.protocol import ChatModel, close_model
from tokenomy.market.dataset import Market
from tokenomy.market.policies.interface import AgentContext, AgentPolicy, PolicyFactory
from tokenomy.market.policies.llm import (
    LLMBusiness,
    LLMBusinessParams,
    LLMCustomer,
    LLMCustomerParams,
)
from tokenomy.market.policies.params import (
    BUSINESS_PRESETS,
    CUSTOMER_PRESETS,
    BusinessParams,
    CustomerParams,
    business_params,
    customer_params,
)
from tokenomy.market.policies.scripted import ScriptedBusiness, ScriptedCustomer
from tokenomy.rng import uniform

Side = Literal["customers", "businesses"]


class FractionSelector(BaseModel):
    """Select each agent with probability ``fraction`` (a seeded keyed draw)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(ge=0.0, le=1.0, description="Share of agents selected")


class PolicyRule(BaseModel):
    """Which agents get which policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: str | list[str] | FractionSelector = Field(
        default="*", description='"*", a glob on the id, a list of ids, or {fraction: f}'
    )
    policy: str = Field(description="llm, or a scripted preset name")
    backend: str | None = Field(default=None, description="llm: the backend's name")
    params: dict[str, Any] = Field(default_factory=dict, description="Policy parameters")


class PopulationSpec(BaseModel):
    """Backends and per-side policy rules of a mixed population."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backends: dict[str, BackendSpec] = Field(default_factory=dict, description="Named backends")
    customers: list[PolicyRule] = Field(default_factory=list, description="Customer rules")
    businesses: list[PolicyRule] = Field(default_factory=list, description="Business rules")

    def recording_into(self, folder: Path) -> tuple[PopulationSpec, dict[str, Path]]:
        """A copy in which every live backend without ``record`` records to ``folder``.

        Returns the copy and the transcript file of each backend it set (``calls-NAME.jsonl``);
        replay backends are left alone (their calls are the transcript they read).
        """
        backends, files = {}, {}
        for name, spec in self.backends.items():
            if spec.record is None and spec.kind != "replay":
                files[name] = folder / f"calls-{name}.jsonl"
                spec = spec.model_copy(update={"record": files[name]})
            backends[name] = spec
        return self.model_copy(update={"backends": backends}), files


def _validation_error(path: str | Path, exc: ValidationError) -> DataError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    if err["type"] == "missing":
        return DataError(path, field, None, "this required field (it is missing)")
    if err["type"] == "extra_forbidden":
        return DataError(path, field, err.get("input"), "no such field (check the spelling)")
    return DataError(path, field, err.get("input"), err["msg"])


def check_population(spec: PopulationSpec, source: str | Path = "<population>") -> None:
    """Check the cross-references and parameters of ``spec``.

    Raises:
        DataError: an ``llm`` rule without a known backend, a backend on a scripted rule, an
            unknown preset, or parameters the policy does not accept (names the rule's field).
    """
    for side, rules in (("customers", spec.customers), ("businesses", spec.businesses)):
        presets = CUSTOMER_PRESETS if side == "customers" else BUSINESS_PRESETS
        for i, rule in enumerate(rules):
            where = f"{side}.{i}"
            if rule.policy == "llm":
                if rule.backend is None or rule.backend not in spec.backends:
                    known = ", ".join(sorted(spec.backends)) or "none defined"
                    raise DataError(
                        source, f"{where}.backend", rule.backend, f"a backend name ({known})"
                    )
                model: type[BaseModel] = (
                    LLMCustomerParams if side == "customers" else LLMBusinessParams
                )
                try:
                    model(**rule.params)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    field = ".".join(str(p) for p in err["loc"])
                    raise DataError(
                        source, f"{where}.params.{field}", err.get("input"), err["msg"]
                    ) from None
                continue
            if rule.policy not in presets:
                raise DataError(
                    source,
                    f"{where}.policy",
                    rule.policy,
                    f"llm or a {side[:-1]} preset ({', '.join(sorted(presets))})",
                )
            if rule.backend is not None:
                raise DataError(source, f"{where}.backend", rule.backend, "no backend (scripted)")
            try:
                if side == "customers":
                    customer_params(rule.policy, rule.params)
                else:
                    business_params(rule.policy, rule.params)
            except ConfigError as exc:
                raise DataError(source, f"{where}.params", rule.params, str(exc)) from None


def load_population(path: str | Path) -> PopulationSpec:
    """Read and check a population file (YAML or JSON).

    Raises:
        DataError: the file is missing or malformed (names the file, the field and the value).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, None, str(exc), "a readable population file (YAML)") from None
    except yaml.YAMLError as exc:
        raise DataError(path, None, str(exc).splitlines()[0], "valid YAML") from None
    if not isinstance(data, dict):
        raise DataError(path, None, data, "a mapping with backends, customers, businesses")
    try:
        spec = PopulationSpec.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(path, exc) from None
    check_population(spec, path)
    return spec


def agent_index(market: Market, agent_id: str) -> int:
    """An agent's index in the run: customers first, then businesses (the engine's numbering).

    Raises:
        KeyError: ``agent_id`` is not an agent of ``market``.
    """
    g = market.agent_index(agent_id)
    if g < 0:
        raise KeyError(agent_id)
    return g


def rule_matches(rule: PolicyRule, agent_id: str, index: int, seed: int, side: Side) -> bool:
    """Whether ``rule`` selects the agent ``agent_id`` (``index``: see :func:`agent_index`)."""
    agents = rule.agents
    if isinstance(agents, FractionSelector):
        return bool(uniform(seed, f"population/{side}", index)[0] < agents.fraction)
    if isinstance(agents, list):
        return agent_id in agents
    return fnmatch.fnmatchcase(agent_id, agents)


def matching_rule(rules: list[PolicyRule], agent_id: str, index: int, seed: int, side: Side) -> int:
    """Index of the first rule that selects the agent, or −1 if none does."""
    for i, rule in enumerate(rules):
        if rule_matches(rule, agent_id, index, seed, side):
            return i
    return -1


def assign_policies(spec: PopulationSpec, market: Market, seed: int) -> dict[str, str]:
    """Every agent's policy label: ``llm:<backend>``, a preset name, or ``default``."""
    labels: dict[str, str] = {}
    sides: tuple[tuple[Side, list[PolicyRule], list[str]], ...] = (
        ("customers", spec.customers, list(market.customer_ids)),
        ("businesses", spec.businesses, list(market.business_ids)),
    )
    for side, rules, ids in sides:
        for agent in ids:
            r = matching_rule(rules, agent, agent_index(market, agent), seed, side)
            if r < 0:
                labels[agent] = "default"
            else:
                rule = rules[r]
                labels[agent] = f"llm:{rule.backend}" if rule.policy == "llm" else rule.policy
    return labels


Maker = Callable[[AgentContext], AgentPolicy]


def _customer_maker(rule: PolicyRule, models: dict[str, ChatModel]) -> Maker:
    if rule.policy == "llm":
        assert rule.backend is not None
        model, lp = models[rule.backend], LLMCustomerParams(**rule.params)
        return lambda ctx: LLMCustomer(ctx, model, lp)
    cp = customer_params(rule.policy, rule.params)
    return lambda ctx: ScriptedCustomer(ctx, cp)


def _business_maker(rule: PolicyRule, models: dict[str, ChatModel]) -> Maker:
    if rule.policy == "llm":
        assert rule.backend is not None
        model, lp = models[rule.backend], LLMBusinessParams(**rule.params)
        return lambda ctx: LLMBusiness(ctx, model, lp)
    bp = business_params(rule.policy, rule.params)
    return lambda ctx: ScriptedBusiness(ctx, bp)


def build_backends(
    spec: PopulationSpec, *, base_dir: str | Path | None = None
) -> dict[str, ChatModel]:
    """Build every backend a rule uses (once each); on a failure, close those already built."""
    used = [r.backend for r in (*spec.customers, *spec.businesses) if r.policy == "llm"]
    models: dict[str, ChatModel] = {}
    try:
        for name in dict.fromkeys(used):
            assert name is not None
            models[name] = build_chat_model(spec.backends[name], base_dir=base_dir)
    except BaseException:
        for model in models.values():
            close_model(model)
        raise
    return models


def population_factories(
    spec: PopulationSpec,
    *,
    customer_params: CustomerParams,
    business_params: BusinessParams,
    seed: int,
    base_dir: str | Path | None = None,
    market: Market | None = None,
    models: dict[str, ChatModel] | None = None,
) -> tuple[PolicyFactory, PolicyFactory, dict[str, ChatModel]]:
    """Policy factories for the event engine, and the chat models they share.

    Args:
        spec: the population.
        customer_params: scripted parameters of customers no rule matches.
        business_params: scripted parameters of businesses no rule matches.
        seed: the run's seed (for ``fraction`` selection).
        base_dir: folder that relative transcript/record paths are relative to.
        market: the market. With it, the ``fraction`` draw is computed here from ``seed`` and
            :func:`agent_index`; without it, the engine's keyed draw
            ``ctx.draw("population/<side>", None)`` is used — the same number when the engine
            runs with ``seed``.
        models: already built backends to use instead of building them (by name).

    Returns:
        ``(customer_factory, business_factory, models)``; close the models when the run is
        over (:func:`tokenomy.llm.close_model`).
    """
    check_population(spec)
    built = models if models is not None else build_backends(spec, base_dir=base_dir)
    c_makers = [_customer_maker(r, built) for r in spec.customers]
    b_makers = [_business_maker(r, built) for r in spec.businesses]

    def pick(rules: list[PolicyRule], ctx: AgentContext, side: Side) -> int:
        stream = f"population/{side}"
        for i, rule in enumerate(rules):
            if isinstance(rule.agents, FractionSelector):
                if market is None:
                    u = ctx.draw(stream, None)
                else:
                    u = float(uniform(seed, stream, agent_index(market, ctx.agent_id))[0])
                if u < rule.agents.fraction:
                    return i
            elif rule_matches(rule, ctx.agent_id, -1, seed, side):
                return i
        return -1

    def make_customer(ctx: AgentContext) -> AgentPolicy:
        r = pick(spec.customers, ctx, "customers")
        return ScriptedCustomer(ctx, customer_params) if r < 0 else c_makers[r](ctx)

    def make_business(ctx: AgentContext) -> AgentPolicy:
        r = pick(spec.businesses, ctx, "businesses")
        return ScriptedBusiness(ctx, business_params) if r < 0 else b_makers[r](ctx)

    return make_customer, make_business, built
