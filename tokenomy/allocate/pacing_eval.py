"""Replay a routing data set as a request stream and pace a budget over it.

The held-out prompts of a :mod:`~tokenomy.allocate.route_data` set arrive one by one in a
seeded order; the price router (fitted on the training prompts) predicts every model's quality
and cost, and :class:`~tokenomy.allocate.pacing.BudgetPacer` picks the model at the prices in
force, learning the budget price on the way. Realised quality and cost come from the recorded
outcomes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tokenomy.allocate.pacing import replay_stream
from tokenomy.allocate.route_data import load, load_dcrouter_split
from tokenomy.allocate.route_eval import fit_router
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = ["pace_stream"]


def pace_stream(
    data: str,
    *,
    data_dir: str | None = None,
    budget_share: float = 0.3,
    value: float | None = None,
    step_size: float = 0.05,
    predictor: str = "logistic",
    seed: int = 0,
) -> dict[str, Any]:
    """Pace a budget of ``budget_share`` × (every request to the priciest model) over a stream.

    Returns a JSON-ready summary: budget, realised spend and its ratio to the budget, what the
    unpaced router would have spent, realised quality with and without pacing, the final and
    largest budget price ``μ``, refusals (requests no model fitted in what was left), the
    largest gap between cumulative spend and the even pace (share of the budget), and the log
    of multipliers per request (``log``).
    """
    if not 0 < budget_share <= 1:
        raise ConfigError(f"--budget-share must be in (0, 1], got {budget_share}")
    if data == "dcrouter":
        train, test = load_dcrouter_split(data_dir)
    else:
        train, test = load(data, data_dir).split(seed)
    real_cost = test.cost()
    v = float(10.0 * real_cost.mean(axis=0).max()) if value is None else value
    prices = Prices(value=v, table=train.table)
    router = fit_router(train, prices, predictor, None, seed)
    decisions = router.route(list(test.prompts))
    order = np.random.default_rng(seed).permutation(len(test))
    quality, cost = decisions.quality[order], decisions.cost[order]
    budget = budget_share * float(cost.max(axis=1).sum())
    pacer = replay_stream(quality, cost, budget, prices, step_size=step_size)
    choice = np.array([s.choice for s in pacer.log])
    served = choice >= 0
    rows = order[served]
    realised_quality = float(test.outcomes[rows, choice[served]].sum()) / len(test)
    realised_cost = float(real_cost[rows, choice[served]].sum())
    unpaced = decisions.choice[order]
    cum = np.array([s.spent for s in pacer.log])
    pace = budget * np.arange(1, len(test) + 1) / len(test)
    mus = [s.budget_price for s in pacer.log]
    return {
        "data": test.name,
        "requests": len(test),
        "value": v,
        "budget": budget,
        "spent": pacer.spent,
        "spent_over_budget": pacer.spent / budget,
        "unpaced_spend": float(cost[np.arange(len(test)), unpaced].sum()),
        "realised_cost": realised_cost,
        "quality": realised_quality,
        "unpaced_quality": float(test.outcomes[order, unpaced].mean()),
        "final_budget_price": pacer.mu,
        "max_budget_price": float(max(mus)),
        "refused": int((~served).sum()),
        "max_pace_gap": float(np.max(np.abs(cum - pace)) / budget),
        "token_rule": test.token_rule,
        "log": pacer.log_rows(),
    }
