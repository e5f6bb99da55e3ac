"""The marginal token allocator: one rule, ``V·ΔQ − ΔC − λ·ΔL − ρ·ΔR``, at every layer.

Modules, by layer:

- the rule: :mod:`~tokenomy.allocate.rule` (choose among options; crossover value; the
  Cobb–Douglas token split);
- router: :mod:`~tokenomy.allocate.router` (:class:`Router`), quality
  :mod:`~tokenomy.allocate.predictors` on prompt :mod:`~tokenomy.allocate.features`;
  evaluation on recorded outcomes: :mod:`~tokenomy.allocate.route_data`,
  :mod:`~tokenomy.allocate.route_metrics`, :mod:`~tokenomy.allocate.route_eval`;
- budget pacing: :mod:`~tokenomy.allocate.pacing`, :mod:`~tokenomy.allocate.pacing_eval`;
- agent: :mod:`~tokenomy.allocate.controller`, :mod:`~tokenomy.allocate.autonomy`,
  :mod:`~tokenomy.allocate.budget_tracker`, :mod:`~tokenomy.allocate.agent_simulation`;
- serving: :mod:`~tokenomy.allocate.serving_trace`, :mod:`~tokenomy.allocate.serving`;
- training and caches: :mod:`~tokenomy.allocate.training`, :mod:`~tokenomy.allocate.cache`;
- failure modes: :mod:`~tokenomy.allocate.decision_log`, :mod:`~tokenomy.allocate.diagnose`,
  :mod:`~tokenomy.allocate.synthetic_logs`.
"""

from tokenomy.allocate.diagnose import MODES, Diagnosis, diagnose, diagnose_log
from tokenomy.allocate.pacing import BudgetPacer, replay_stream
from tokenomy.allocate.route_eval import EvalResult, evaluate, fit_router
from tokenomy.allocate.router import Decisions, ModelProfile, Router
from tokenomy.allocate.rule import Options, choose, cobb_douglas_split, crossover_value, net_values

__all__ = [
    "MODES",
    "BudgetPacer",
    "Decisions",
    "Diagnosis",
    "EvalResult",
    "ModelProfile",
    "Options",
    "Router",
    "choose",
    "cobb_douglas_split",
    "crossover_value",
    "diagnose",
    "diagnose_log",
    "evaluate",
    "fit_router",
    "net_values",
    "replay_stream",
]
