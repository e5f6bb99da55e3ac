"""Specs: one clear error naming the field for every kind of bad input; YAML round trips."""

from __future__ import annotations

import copy

import pytest
import yaml

from tokenomy.equilibrium import load_spec, parse_spec, solve
from tokenomy.equilibrium.examples import EXAMPLES, example, example_yaml
from tokenomy.errors import SpecError

BASE = yaml.safe_load(example_yaml("agent-dag"))


def _with(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


CASES = {
    "unknown metric": (
        lambda d: d["agents"]["planner"]["per_task"].update(qualty=1.0),
        r"agents\.planner\.per_task\.qualty.*unknown metric 'qualty'.*did you mean 'quality'",
    ),
    "cycle": (
        lambda d: d["graph"]["edges"].append(["verifier", "planner"]),
        r"graph\.edges.*cycle: planner -> .* -> planner",
    ),
    "unknown node": (
        lambda d: d["graph"]["edges"].append(["planner", "ghost"]),
        r"graph\.edges\.8\.1.*unknown node 'ghost'",
    ),
    "empty box": (
        lambda d: d["agents"]["planner"]["production"][0]["box"].update(lower={"quality": 50}),
        r"agents\.planner\.production\.0\.lower\.quality.*exceeds upper bound",
    ),
    "non-concave CD": (
        lambda d: d["consumer"].update(welfare={"kind": "cobb_douglas",
                                                "exponents": {"quality": -0.5}}),
        r"consumer\.welfare\.exponents\.quality.*must be > 0",
    ),
    "non-concave CES": (
        lambda d: d["consumer"].update(welfare={"kind": "ces", "shares": {"quality": 1},
                                                "rho": 1.5}),
        r"consumer\.welfare\.rho.*non-concave",
    ),
    "non-concave quadratic": (
        lambda d: d["consumer"].update(welfare={"kind": "quadratic", "target": {"quality": 1},
                                                "curvature": {"quality": -1}}),
        r"consumer\.welfare\.curvature\.quality.*non-concave",
    ),
    "non-convex technology": (
        lambda d: d["agents"]["coder_fast"].update(production=[{"power": {
            "output": {"metric": "quality"}, "input": {"metric": "tokens"}, "scale": 1,
            "exponent": 1.5, "max_input": 1}}]),
        r"agents\.coder_fast\.production\.0\.exponent.*non-convex",
    ),
    "bad formula": (
        lambda d: d["agents"]["coder_fast"]["production"][0]["box"]["upper"].update(
            tokens="2 + foo(t)"),
        r"agents\.coder_fast\.production\.0\.upper\.tokens.*function 'foo' not allowed",
    ),
    "unknown piece": (
        lambda d: d["agents"]["coder_fast"].update(production=[{"blob": {}}]),
        r"agents\.coder_fast.*unknown production piece 'blob'",
    ),
    "unreachable agent": (
        lambda d: d["graph"].update(edges=[["source", "planner"], ["planner", "sink"],
                                           ["coder_fast", "verifier"]]),
        r"graph\.edges.*'coder_fast' cannot be reached from 'source'",
    ),
    "unknown welfare metric": (
        lambda d: d["consumer"]["welfare"].update(quality="qual"),
        r"consumer\.welfare\.quality.*unknown metric 'qual'",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_spec_names_the_field(case):
    change, pattern = CASES[case]
    with pytest.raises(SpecError, match=pattern):
        parse_spec(_with(change), "spec.yaml")


def test_load_spec_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: economy\nmetrics: [a\n")
    with pytest.raises(SpecError, match=r"bad\.yaml"):
        load_spec(bad)
    with pytest.raises(SpecError, match=r"missing\.yaml"):
        load_spec(tmp_path / "missing.yaml")
    data = _with(lambda d: d["graph"]["edges"].append(["verifier", "planner"]))
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"bad\.yaml: field 'graph\.edges'"):
        load_spec(bad)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_examples_round_trip_through_yaml(name, tmp_path):
    spec = example(name)
    again = parse_spec(spec.model_dump(mode="json"), "dump")
    assert again == spec
    path = tmp_path / f"{name}.yaml"
    path.write_text(example_yaml(name))
    assert load_spec(path) == spec


def test_relabelling_changes_nothing():
    """Renaming agents and metrics and reordering them gives the same equilibrium."""
    rename = {"planner": "p0", "coder_strong": "zz", "coder_fast": "aa", "coder_backup": "mm",
              "verifier": "v9"}  # fmt: skip
    metrics = {"quality": "q", "tokens": "k", "latency": "l", "risk": "r"}
    data = copy.deepcopy(BASE)
    agents = {}
    for name in reversed(list(data["agents"])):  # reversed order as well
        agent = data["agents"][name]
        agent["per_task"] = {metrics[m]: v for m, v in agent["per_task"].items()}
        box = agent["production"][0]["box"]
        box["upper"] = {metrics[m]: v for m, v in box["upper"].items()}
        agents[rename[name]] = agent
    data["agents"] = agents
    data["metrics"] = [metrics[m] for m in reversed(data["metrics"])]
    data["graph"]["edges"] = [[rename.get(u, u), rename.get(v, v)]
                              for u, v in reversed(data["graph"]["edges"])]  # fmt: skip
    welfare = data["consumer"]["welfare"]
    welfare.update(quality="q", tokens="k", latency="l", risk="r")
    # the first-order method at a tight tolerance: accurate well beyond the 1e-7 compared
    original = solve(example("agent-dag"), "first-order", tol=1e-11)
    relabelled = solve(parse_spec(data, "relabelled"), "first-order", tol=1e-11)
    assert relabelled.welfare == pytest.approx(original.welfare, rel=1e-9)
    for name, new in rename.items():
        for metric, short in metrics.items():
            assert relabelled.prices[new][short] == pytest.approx(
                original.prices[name][metric], abs=1e-7
            ), (name, metric)


def test_welfare_units_scale_prices_not_the_allocation():
    """Doubling the value of everything doubles the prices and leaves the allocation alone."""
    base = solve(example("dag-tree"), "planner")
    data = yaml.safe_load(example_yaml("dag-tree"))
    data["consumer"]["welfare"]["coefficients"] = {
        k: 2 * v for k, v in data["consumer"]["welfare"]["coefficients"].items()
    }
    data["graph"]["beta"] = data["graph"]["beta"] / 2  # β is per welfare unit
    doubled = solve(parse_spec(data, "doubled"), "planner")
    import numpy as np

    np.testing.assert_allclose(doubled.price_vector, 2 * base.price_vector, atol=1e-6)
    flows = [e["flow"] for e in base.routing["edges"]]
    np.testing.assert_allclose([e["flow"] for e in doubled.routing["edges"]], flows, atol=1e-6)
