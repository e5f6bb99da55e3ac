"""Decision log (schema, I/O) and the seven failure-mode detectors."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tokenomy.allocate.decision_log import (
    DecisionRecord,
    net_value,
    option_effects,
    read_log,
    record_net_values,
    records_to_frame,
    remaining_gain,
    write_log,
)
from tokenomy.allocate.diagnose import MODES, Diagnosis, diagnose, diagnose_log
from tokenomy.allocate.synthetic_logs import (
    LAYER_SHARES,
    synthetic_case,
    synthetic_log,
    write_synthetic_log,
)
from tokenomy.errors import ConfigError, DataError, UnknownNameError
from tokenomy.prices import Prices

ECONOMICS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "economics.md"

# the (layer, kind) whose decisions each mode's detector examines
MODE_LAYER = {
    "over-routing": ("router", None),
    "under-routing": ("router", None),
    "over-delegation": ("agent", "autonomy"),
    "under-verification": ("agent", "step"),
    "serving congestion": ("serving", None),
    "stale rollouts": ("training", None),
    "cache misuse": ("cache", None),
}


def record(
    rid: str,
    layer: str,
    options: list[dict[str, Any]],
    chosen: str | None,
    *,
    value: float,
    latency: float = 0.0,
    risk: float = 0.0,
    kind: str | None = None,
    outcome: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": rid,
        "layer": layer,
        "prices": {"value": value, "latency": latency, "risk": risk},
        "options": options,
        "chosen": chosen,
        "outcome": outcome or {},
    }
    if kind is not None:
        data["kind"] = kind
    return data


def opt(name: str, dq: float, dc: float, dl: float = 0.0, dr: float = 0.0, **extra: Any) -> dict:
    return {"name": name, "dq": dq, "dc": dc, "dl": dl, "dr": dr, **extra}


# the position paper's worked example: cheap q=0.7 c=1, frontier q=0.9 c=5
def paper_router(
    rid: str, value: float, chosen: str | None, risk: float = 0.0, outcome: dict | None = None
) -> dict[str, Any]:
    r_cheap, r_frontier = (0.05, 0.01) if risk else (0.0, 0.0)
    return record(
        rid,
        "router",
        [opt("cheap", 0.7, 1.0, dr=r_cheap), opt("frontier", 0.9, 5.0, dr=r_frontier)],
        chosen,
        value=value,
        risk=risk,
        outcome=outcome,
    )


def only(diagnosis: Diagnosis, mode: str) -> None:
    """Every row but ``mode``'s has count 0."""
    others = {r.mode: r.count for r in diagnosis.rows if r.mode != mode}
    assert others == dict.fromkeys(others, 0)


def close(x: float, expected: float) -> bool:
    return x == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------- the reference table


def test_modes_follow_the_reference_table() -> None:
    if not ECONOMICS.is_file():
        missing = f"economics reference not found at {ECONOMICS} (expected ../shared beside)"
        pytest.skip(reason=missing)
    text = ECONOMICS.read_text(encoding="utf-8")
    block = text.split("Failure modes (each a violation of the rule)")[1].split("\n\n")[0]
    names = [
        line.split("|")[1].strip()
        for line in block.splitlines()
        if line.startswith("|") and not line.startswith("|---") and "detected when" not in line
    ]
    assert tuple(names) == MODES


def test_paper_numbers_through_the_log() -> None:
    low = DecisionRecord.model_validate(paper_router("r-1", 10.0, "cheap"))
    high = DecisionRecord.model_validate(paper_router("r-2", 100.0, "frontier"))
    assert (net_value(low, "cheap"), net_value(low, "frontier")) == (6.0, 4.0)
    assert (net_value(high, "cheap"), net_value(high, "frontier")) == (69.0, 85.0)
    # with risk 0.05 vs 0.01 priced at 50 the crossover is V* = 10: at V = 10 they tie
    tie = DecisionRecord.model_validate(paper_router("r-3", 10.0, "cheap", risk=50.0))
    assert close(net_value(tie, "cheap"), net_value(tie, "frontier"))
    # the helper is the shared accounting object, not a re-derivation
    prices = Prices(value=10.0, risk=50.0)
    assert close(net_value(tie, "frontier"), float(prices.net_value(0.9, 5.0, 0.0, 0.01)))
    assert net_value(low, None) == 0.0
    with pytest.raises(UnknownNameError):
        net_value(low, "medium")


# --------------------------------------------------------------------- hand-built: routing


def test_over_routing_by_hand() -> None:
    d = diagnose([paper_router("r-1", 10.0, "frontier")])  # 4 chosen, 6 available
    row = d.row("over-routing")
    assert (row.decisions, row.count, row.examples) == (1, 1, ("r-1",))
    assert close(row.regret, 2.0) and close(row.mean_regret, 2.0)
    assert (row.ex_post_count, row.ex_post_regret) == (1, row.regret)
    only(d, "over-routing")


def test_under_routing_by_hand() -> None:
    d = diagnose([paper_router("r-1", 100.0, "cheap")])  # 69 chosen, 85 available
    assert d.row("under-routing").count == 1
    assert close(d.row("under-routing").regret, 16.0)
    only(d, "under-routing")


def test_risk_price_moves_the_verdict() -> None:
    # V = 15, rho = 50: cheap 10.5 - 1 - 2.5 = 7, frontier 13.5 - 5 - 0.5 = 8
    under = diagnose([paper_router("r-1", 15.0, "cheap", risk=50.0)])
    assert close(under.row("under-routing").regret, 1.0)
    # V = 5: cheap 3.5 - 1 - 2.5 = 0, frontier 4.5 - 5 - 0.5 = -1
    over = diagnose([paper_router("r-2", 5.0, "frontier", risk=50.0)])
    assert close(over.row("over-routing").regret, 1.0)
    assert under.row("over-routing").count == over.row("under-routing").count == 0


def test_bad_luck_is_not_a_rule_violation() -> None:
    # V = 100, frontier chosen as the rule says, but it realised quality 0.7: 65 < 69 ex post
    d = diagnose([paper_router("r-1", 100.0, "frontier", outcome={"quality": {"frontier": 0.7}})])
    row = d.row("over-routing")
    assert (row.count, row.regret) == (0, 0.0)
    assert row.ex_post_count == 1 and close(row.ex_post_regret or 0.0, 4.0)


def test_lucky_violation_is_counted_with_zero_regret() -> None:
    # V = 10, frontier chosen against the rule; the cheap model realised 0.2 (1 ex post) < 4
    d = diagnose([paper_router("r-1", 10.0, "frontier", outcome={"quality": {"cheap": 0.2}})])
    row = d.row("over-routing")
    assert (row.count, row.regret, row.ex_post_count) == (1, 0.0, 0)


def test_realised_cost_drives_ex_post_regret() -> None:
    # V = 10, cheap chosen (6 vs 4) but it cost 4.5: 7 - 4.5 = 2.5 < 4 ex post
    d = diagnose([paper_router("r-1", 10.0, "cheap", outcome={"cost": {"cheap": 4.5}})])
    row = d.row("under-routing")
    assert row.count == 0
    assert row.ex_post_count == 1 and close(row.ex_post_regret or 0.0, 1.5)
    rec = DecisionRecord.model_validate(paper_router("r-1", 10.0, "cheap", outcome=None))
    assert close(net_value(rec, "cheap", ex_post=True), 6.0)  # no outcome: the prediction


def test_refusals() -> None:
    worth_it = diagnose([paper_router("r-1", 10.0, None)])  # cheap was worth 6
    assert worth_it.row("under-routing").count == 1
    assert close(worth_it.row("under-routing").regret, 6.0)
    not_worth_it = diagnose([paper_router("r-2", 1.0, None)])  # -0.3 and -4.1
    assert all(r.count == 0 for r in not_worth_it.rows)


# ---------------------------------------------------------------- hand-built: other layers


def autonomy(rid: str, chosen: str) -> dict[str, Any]:
    # V = 10, rho = 1: a=0 5-0.2 = 4.8, a=0.5 8-0.4-1 = 6.6, a=1 9-0.6-3 = 5.4 (listed high first)
    return record(
        rid,
        "agent",
        [
            opt("full", 0.9, 0.6, dr=3.0, level=1.0),
            opt("half", 0.8, 0.4, dr=1.0, level=0.5),
            opt("none", 0.5, 0.2, level=0.0),
        ],
        chosen,
        value=10.0,
        risk=1.0,
        kind="autonomy",
        outcome={"succeeded": True},
    )


def test_over_delegation_by_hand() -> None:
    d = diagnose([autonomy("a-1", "full"), autonomy("a-2", "half"), autonomy("a-3", "none")])
    row = d.row("over-delegation")
    assert (row.decisions, row.count, d.flagged_ids("over-delegation")) == (3, 1, ["a-1"])
    assert close(row.regret, 1.2)
    only(d, "over-delegation")


def step(
    rid: str, chosen: str | None, verify_tokens: int, verify: dict | None = None, act_dq=0.05
) -> dict[str, Any]:
    # V = 10, rho = 2: verify 1 - 0.2 + 0.6 = 1.4; act 0.5 - 0.1 - 0.2 = 0.2; stop 0
    return record(
        rid,
        "agent",
        [
            opt("act", act_dq, 0.1, dr=0.1),
            verify or opt("verify", 0.1, 0.2, dr=-0.3),
            opt("stop", 0.0, 0.0),
        ],
        chosen,
        value=10.0,
        risk=2.0,
        kind="step",
        outcome={"verify_tokens": verify_tokens},
    )


def test_under_verification_by_hand() -> None:
    d = diagnose(
        [
            step("a-1", "act", 0),  # flagged: 1.4 - 0.2
            step("a-2", "stop", 0),  # flagged: 1.4 - 0
            step("a-3", "act", 500),  # verified later
            step("a-4", "verify", 0),
            step("a-5", "act", 0, verify=opt("verify", 0.01, 0.2)),  # verify worth -0.1
            step("a-6", "act", 0, act_dq=0.3),  # act worth 2.8 > 1.4: counted, no regret
        ]
    )
    row = d.row("under-verification")
    assert d.flagged_ids("under-verification") == ["a-1", "a-2", "a-6"]
    assert row.decisions == 6
    assert close(row.regret, 1.2 + 1.4)
    assert close(row.mean_regret, (1.2 + 1.4) / 3)
    only(d, "under-verification")


def serving(rid: str, chosen: str, delay: float, ext: float, dc: float = 0.0) -> dict[str, Any]:
    # V = 1 per request, lambda = 0.1 $/s; the admitter predicted 2 s
    out = {"delay_s": delay, "externality_s": ext}
    return record(
        rid,
        "serving",
        [opt("admit", 1.0, dc, dl=2.0), opt("reject", 0.0, 0.0)],
        chosen,
        value=1.0,
        latency=0.1,
        outcome=out,
    )


def test_serving_congestion_by_hand() -> None:
    d = diagnose(
        [
            serving("s-1", "admit", 3.0, 9.0),  # 1 - 1.2 = -0.2
            serving("s-2", "admit", 3.0, 5.0),  # 1 - 0.8 = 0.2: fine
            serving("s-3", "reject", 3.0, 9.0),
            serving("s-4", "admit", 3.0, 5.0, dc=0.3),  # 1 - 0.3 - 0.8 = -0.1
        ]
    )
    assert d.flagged_ids("serving congestion") == ["s-1", "s-4"]
    assert close(d.row("serving congestion").regret, 0.2 + 0.1)
    only(d, "serving congestion")
    rec = DecisionRecord.model_validate(serving("s-1", "admit", 3.0, 9.0))
    assert close(net_value(rec, "admit"), 0.8)  # on the prediction (2 s) it looked fine
    assert close(net_value(rec, "admit", ex_post=True), -0.2)


def training(rid: str, chosen: str, dq: float, age: float) -> dict[str, Any]:
    # V = 100, cost 1; undepreciated gain 0.02, delta = 0.1 per step
    return record(
        rid,
        "training",
        [opt("keep", dq, 1.0), opt("drop", 0.0, 0.0)],
        chosen,
        value=100.0,
        outcome={"gain": 0.02, "age": age, "depreciation_rate": 0.1},
    )


def test_stale_rollouts_by_hand() -> None:
    remaining = 0.02 * 0.9**10
    d = diagnose(
        [
            training("t-1", "keep", remaining, 10),  # 100 * 0.02 * 0.9^10 = 0.697 < 1
            training("t-2", "keep", 0.02, 10),  # logged without depreciation: still stale
            training("t-3", "keep", 0.02, 0),  # fresh: 2 - 1 = 1
            training("t-4", "drop", remaining, 10),
        ]
    )
    assert d.flagged_ids("stale rollouts") == ["t-1", "t-2"]
    assert close(d.row("stale rollouts").regret, 2 * (1.0 - 100 * remaining))
    assert close(float(remaining_gain(0.02, 10, 0.1)), remaining)
    only(d, "stale rollouts")


def cache(rid: str, chosen: str, entry_value: str, **losses: float) -> dict[str, Any]:
    # V = 2, rho = 10
    out: dict[str, Any] = {
        "entry_value_class": entry_value,
        "entry_risk_class": "low",
        "request_value_class": "high",
        "request_risk_class": "low",
        **losses,
    }
    return record(
        rid,
        "cache",
        [opt("reuse", 0.8, 0.001), opt("recompute", 0.85, 0.05, dl=3.0)],
        chosen,
        value=2.0,
        risk=10.0,
        outcome=out,
    )


def test_cache_misuse_by_hand() -> None:
    d = diagnose(
        [
            cache("c-1", "reuse", "low", quality_loss=0.25, risk_added=0.01),  # 0.5 + 0.1
            cache("c-2", "reuse", "low"),  # loss unknown: counted, no regret
            cache("c-3", "reuse", "high", quality_loss=0.0),  # same classes
            cache("c-4", "recompute", "low"),
        ]
    )
    row = d.row("cache misuse")
    assert d.flagged_ids("cache misuse") == ["c-1", "c-2"]
    assert close(row.regret, 0.6) and close(row.mean_regret, 0.3)
    only(d, "cache misuse")
    rec = DecisionRecord.model_validate(cache("c-1", "reuse", "low", quality_loss=0.25))
    effects = option_effects(rec, ex_post=True)
    assert close(float(effects.dq[0]), 0.55)


def test_empty_log_has_all_seven_rows() -> None:
    d = diagnose([])
    assert tuple(r.mode for r in d.rows) == MODES
    assert all((r.decisions, r.count, r.regret, r.mean_regret) == (0, 0, 0.0, 0.0) for r in d.rows)
    assert d.flagged_ids("cache misuse") == []
    summary = json.loads(json.dumps(d.to_dict()))
    assert [m["mode"] for m in summary["modes"]] == list(MODES)
    assert summary["total_regret"] == 0.0


def test_unknown_mode_and_layer() -> None:
    d = diagnose([])
    with pytest.raises(UnknownNameError, match="over-routing"):
        d.flagged_ids("overrouting")
    bad = paper_router("x-1", 10.0, "cheap") | {"layer": "billing"}
    with pytest.raises(DataError) as err:
        diagnose([bad])
    assert err.value.field == "record 0, layer" and err.value.value == "billing"


def test_table_lists_every_mode() -> None:
    d = diagnose([paper_router("r-1", 10.0, "frontier"), autonomy("a-1", "full")])
    console = Console(record=True, width=240)
    console.print(d.table())
    text = console.export_text()
    for mode in MODES:
        assert mode in text
    assert "r-1" in text and "a-1" in text


# -------------------------------------------------------------------------- synthetic logs


def expected_injections(records: list[DecisionRecord], mode: str, rate: float) -> int:
    layer, kind = MODE_LAYER[mode]
    n_layer = sum(1 for r in records if r.layer == layer and (kind is None or r.kind == kind))
    return math.floor(rate * n_layer + 0.5)


@pytest.mark.parametrize("mode", MODES)
def test_injected_mode_is_found_exactly(mode: str) -> None:
    case = synthetic_case(mode, n=600, seed=7, rate=0.1)
    d = diagnose(case.records)
    row = d.row(mode)
    k = expected_injections(case.records, mode, 0.1)
    assert k > 0 and len(case.injected) == k
    assert d.flagged_ids(mode) == list(case.injected)
    assert row.count == k
    assert row.regret > 0 and close(row.mean_regret, row.regret / k)
    only(d, mode)
    if row.ex_post_count is not None:  # calibrated outcomes: hindsight agrees with the rule
        assert row.ex_post_count == k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_log_has_no_failures(seed: int) -> None:
    d = diagnose(synthetic_log(None, n=600, seed=seed))
    assert [r.count for r in d.rows] == [0] * len(MODES)
    assert [r.ex_post_count for r in d.rows[:2]] == [0, 0]
    assert d.total_regret == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_injection_changes_only_the_injected_decisions(mode: str) -> None:
    clean = synthetic_log(None, n=300, seed=4)
    case = synthetic_case(mode, n=300, seed=4, rate=0.2)
    changed = [b.id for a, b in zip(clean, case.records, strict=True) if a != b]
    assert [r.id for r in clean] == [r.id for r in case.records]
    assert changed == list(case.injected)


@pytest.mark.parametrize("mode", ["over-routing", "stale rollouts", "cache misuse"])
def test_every_decision_of_the_layer_can_fail(mode: str) -> None:
    case = synthetic_case(mode, n=200, seed=3, rate=1.0)
    layer, _ = MODE_LAYER[mode]
    assert len(case.injected) == sum(1 for r in case.records if r.layer == layer)
    assert diagnose(case.records).row(mode).count == len(case.injected)
    assert synthetic_case(mode, n=200, seed=3, rate=0.0).injected == ()


def test_synthetic_is_deterministic_and_mixed() -> None:
    first = synthetic_log("under-routing", n=200, seed=5)
    assert first == synthetic_log("under-routing", n=200, seed=5)
    assert first != synthetic_log("under-routing", n=200, seed=6)
    counts: dict[tuple[str, str | None], int] = {}
    for r in first:
        counts[(r.layer, r.kind)] = counts.get((r.layer, r.kind), 0) + 1
    assert counts == {(layer, kind): round(share * 200) for layer, kind, share in LAYER_SHARES}
    routed = {r.chosen for r in first if r.layer == "router"}
    assert len(routed) >= 3  # the rule spreads requests over several models


def test_outcome_noise_shows_bad_luck_not_violations() -> None:
    d = diagnose(synthetic_case(None, n=600, seed=1, outcome_noise=0.05).records)
    over, under = d.row("over-routing"), d.row("under-routing")
    assert over.count == under.count == 0
    assert (over.ex_post_count or 0) + (under.ex_post_count or 0) > 0
    assert (over.ex_post_regret or 0.0) + (under.ex_post_regret or 0.0) > 0.0


def test_synthetic_arguments_are_checked() -> None:
    with pytest.raises(UnknownNameError):
        synthetic_log("over-routeing")
    with pytest.raises(ConfigError):
        synthetic_log(None, rate=1.5)
    with pytest.raises(ConfigError):
        synthetic_log(None, n=-1)
    assert synthetic_log(None, n=0) == []


# ---------------------------------------------------------------------------------- the log


def test_round_trip(tmp_path: Path) -> None:
    records = synthetic_log("cache misuse", n=150, seed=2)
    path = write_log(tmp_path / "log.jsonl", records)
    assert read_log(path) == records
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 150
    first = json.loads(lines[0])
    assert set(first) >= {"id", "layer", "prices", "options", "chosen", "outcome"}
    assert diagnose_log(path).to_dict() == diagnose(records).to_dict()


def test_write_accepts_dicts_and_frames(tmp_path: Path) -> None:
    rows = [paper_router("r-1", 10.0, "frontier"), autonomy("a-1", "half"), step("a-2", None, 0)]
    path = write_log(tmp_path / "sub" / "log.jsonl", rows)
    records = read_log(path)
    assert [r.id for r in records] == ["r-1", "a-1", "a-2"]
    assert "kind" not in json.loads(path.read_text().splitlines()[0])
    frame = records_to_frame(records)
    assert list(frame["id"]) == ["r-1", "a-1", "a-2"]
    assert list(frame["best"]) == ["cheap", "half", "verify"]
    assert frame["net_chosen"].tolist() == [4.0, net_value(records[1], "half"), 0.0]
    assert math.isnan(frame["chosen_dq"].iloc[2])
    assert records_to_frame([]).columns.tolist() == frame.columns.tolist()
    nets = record_net_values(records[0])
    assert nets.tolist() == [6.0, 4.0]


GOOD = paper_router("r-0", 10.0, "cheap")


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(paper_router("r-1", 10.0, "cheap")))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


BAD_LINES = [
    ("chosen", json.dumps(with_change(["chosen"], "medium")), "chosen", "medium"),
    (
        "non-finite dc",
        json.dumps(with_change(["options", 1, "dc"], "X")).replace('"X"', "NaN"),
        "options[1].dc",
        "nan",
    ),
    (
        "overflowing dc",
        json.dumps(with_change(["options", 1, "dc"], "X")).replace('"X"', "1e999"),
        "options[1].dc",
        "inf",
    ),
    (
        "negative price",
        json.dumps(with_change(["prices", "latency"], -0.5)),
        "prices.latency",
        -0.5,
    ),
    ("unknown layer", json.dumps(with_change(["layer"], "billing")), "layer", "billing"),
    ("invalid JSON", '{"id": "r-1", "layer": "router",', None, None),
    ("not an object", "[1, 2]", None, [1, 2]),
    ("duplicate id", json.dumps(with_change(["id"], "r-0")), "id", "r-0"),
    ("string number", json.dumps(with_change(["options", 0, "dq"], "0.7")), "options[0].dq", "0.7"),
    (
        "missing chosen",
        json.dumps({k: v for k, v in paper_router("r-1", 1.0, None).items() if k != "chosen"}),
        "chosen",
        None,
    ),
    (
        "outcome key",
        json.dumps(with_change(["outcome"], {"quality": {"medium": 0.5}})),
        "outcome.quality.medium",
        "medium",
    ),
]


@pytest.mark.parametrize(
    ("case", "line", "field", "value"),
    BAD_LINES,
    ids=[b[0] for b in BAD_LINES],
)
def test_bad_line_names_file_line_and_field(
    tmp_path: Path, case: str, line: str, field: str | None, value: Any
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_log(path)
    exc = err.value
    assert exc.file == str(path)
    assert exc.field == ("line 3" if field is None else f"line 3, {field}")
    if value == "nan":
        assert math.isnan(exc.value)
    elif value == "inf":
        assert exc.value == math.inf
    elif value is not None:
        assert exc.value == value
    assert str(path) in str(exc) and "line 3" in str(exc) and "expected" in str(exc)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"layer": "serving", "options": [opt("admit", 1.0, 0.0)], "chosen": "admit"}, "delay_s"),
        ({"layer": "agent", "kind": "plan"}, "kind"),
        ({"layer": "agent"}, "kind"),
        ({"layer": "agent", "kind": "step"}, "outcome.verify_tokens"),
        ({"layer": "agent", "kind": "autonomy"}, "options[0].level"),
        ({"layer": "training", "options": [opt("keep", 1.0, 0.5)], "chosen": "keep"}, "gain"),
        ({"layer": "cache", "options": [opt("serve", 1.0, 0.5)], "chosen": "serve"}, "name"),
        ({"options": [opt("cheap", 0.7, 1.0), opt("cheap", 0.9, 5.0)]}, "options[1].name"),
        ({"options": []}, "options"),
        ({"extra": 1}, "extra"),
    ],
)
def test_schema_rules(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    path = tmp_path / "log.jsonl"
    with pytest.raises(DataError) as err:
        write_log(path, [GOOD, paper_router("r-1", 10.0, "cheap") | change])
    assert err.value.field is not None and err.value.field.startswith("record 1, ")
    assert err.value.field.endswith(field)
    assert not path.exists()


def test_outcome_is_checked_when_left_out() -> None:
    data = step("a-1", "act", 0)
    del data["outcome"]
    with pytest.raises(DataError) as err:
        diagnose([data])
    assert err.value.field == "record 0, outcome.verify_tokens"
    router = paper_router("r-1", 10.0, "cheap")
    del router["outcome"]
    assert diagnose([router]).row("over-routing").decisions == 1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_log(tmp_path / "nope.jsonl")


def test_write_is_atomic(tmp_path: Path) -> None:
    path = write_log(tmp_path / "log.jsonl", [GOOD])
    before = path.read_bytes()
    with pytest.raises(DataError):
        write_log(path, [GOOD, paper_router("r-1", 10.0, "medium")])

    def interrupted() -> Any:
        yield GOOD
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        write_log(path, interrupted())
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["log.jsonl"]


def test_write_synthetic_log(tmp_path: Path) -> None:
    path = write_synthetic_log(tmp_path / "s.jsonl", "over-delegation", n=100, seed=9, rate=0.2)
    assert read_log(path) == synthetic_log("over-delegation", n=100, seed=9, rate=0.2)
