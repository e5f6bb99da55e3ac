"""Router evaluations as result folders and their HTML report (`tokenomy route report`).

A small RouteLLM-format csv set with a learnable pattern is written into a temporary folder,
evaluated, saved, reloaded and rendered: the folder round-trips exactly, the page renders from the
folder alone and names every router, states V and the token rule, and embeds the three figures.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tokenomy.allocate.route_data import RouteData, load_routellm_csv
from tokenomy.allocate.route_eval import EvalResult, evaluate_split
from tokenomy.errors import DataError, ResultsError
from tokenomy.prices import PriceTable, tokens_from_chars
from tokenomy.report import routing_figures as rf
from tokenomy.report import write_report
from tokenomy.report.figures import to_data_uri
from tokenomy.report.routing import (
    KIND,
    RouteEvalRecord,
    load_route_eval,
    route_eval_figures,
    save_route_eval,
    write_route_report,
)
from tokenomy.results import dumps, read_summary, write_result

WEAK = "mixtral-8x7b-instruct-v0.1"
STRONG = "gpt-4-1106-preview"
MIDDLE = "mixtral-8x22b-instruct-v0.1"
PNG = b"\x89PNG\r\n\x1a\n"
PROMPTS = 120


def _embedded_pngs(page: str) -> list[bytes]:
    found = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    return [base64.b64decode(b) for b in found]


def _toy_rows(seed: int = 7) -> list[dict[str, str]]:
    """Every third prompt is a proof the weak model mostly fails; the rest are sums both solve."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(PROMPTS):
        hard = i % 3 == 0
        topic = "integral calculus proof" if hard else "simple addition sum"
        weak_right = rng.random() < (0.15 if hard else 0.9)
        strong_right = True if hard else rng.random() < 0.95
        rows.append(
            {
                "prompt": f"Question {i}: a {topic} task about item {i}",
                WEAK: str(bool(weak_right)),
                STRONG: str(bool(strong_right)),
            }
        )
    return rows


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> RouteData:
    folder = tmp_path_factory.mktemp("toy")
    with (folder / "toy_responses.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["prompt", WEAK, STRONG])
        writer.writeheader()
        writer.writerows(_toy_rows())
    return load_routellm_csv(folder, WEAK, STRONG)


@pytest.fixture(scope="module")
def split(toy: RouteData) -> tuple[RouteData, RouteData]:
    return toy.split(0)


@pytest.fixture(scope="module")
def result(split: tuple[RouteData, RouteData]) -> EvalResult:
    train, test = split
    return evaluate_split(train, test)


@pytest.fixture(scope="module")
def saved(result: EvalResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_route_eval(result, tmp_path_factory.mktemp("evals") / "toy-eval")


def test_the_folder_holds_the_summary_and_the_curves(result: EvalResult, saved: Path) -> None:
    summary = read_summary(saved)
    assert summary["kind"] == KIND == "route-eval"
    expected = json.loads(dumps(result.to_dict()))
    assert {k: summary[k] for k in expected} == expected
    assert not (saved / "frontier.parquet").exists()  # a two-model set has no V sweep frontier

    table = pq.read_table(saved / "curves.parquet")
    assert table.column_names == ["router", "x", "pgr", "performance", "cost"]
    with_curve = [s for s in result.routers if s.curve is not None]
    assert {s.router for s in with_curve} == {"random", "quantile-threshold", "oracle", "price"}
    routers = table.column("router").to_pylist()
    assert sorted(set(routers)) == sorted(s.router for s in with_curve)
    assert table.num_rows == sum(s.curve.calls.size for s in with_curve if s.curve is not None)


def test_loading_gives_back_the_curves_exactly(result: EvalResult, saved: Path) -> None:
    record = load_route_eval(saved)
    assert record.frontier is None
    assert list(record.curves) == [s.router for s in result.routers if s.curve is not None]
    for score in result.routers:
        if score.curve is None:
            continue
        got, c = record.curves[score.router], score.curve
        assert c.cost is not None
        np.testing.assert_array_equal(got.x, c.calls)
        np.testing.assert_array_equal(got.pgr, c.pgr)
        np.testing.assert_array_equal(got.performance, c.performance)
        np.testing.assert_array_equal(got.cost, c.cost)
        assert got.x[0] == 0.0 and got.x[-1] == 1.0  # every curve runs over the whole axis


def test_the_report_renders_from_the_folder(
    result: EvalResult, saved: Path, split: tuple[RouteData, RouteData], tmp_path: Path
) -> None:
    copy = tmp_path / "moved"
    shutil.copytree(saved, copy)  # the page needs nothing but the folder
    page_file = write_route_report(copy, tmp_path / "out" / "route.html")
    page = page_file.read_text(encoding="utf-8")
    assert page_file == tmp_path / "out" / "route.html"

    images = _embedded_pngs(page)
    assert len(images) == 3 and all(img.startswith(PNG) for img in images)
    for score in result.routers:
        assert f"<td>{score.router}</td>" in page
    for caption in (
        "Performance gap recovered against the strong-call share",
        "Mean $ per prompt (log scale) against mean quality",
        "Welfare per prompt, V·quality − cost",
    ):
        assert caption in page  # the figures' captions

    _, test = split
    value = float(10.0 * test.cost().mean(axis=0).max())  # the default V, from the data
    assert result.value == pytest.approx(value, rel=1e-12)
    assert f"V = ${value:.4g} per unit of quality" in page
    assert html.escape(test.token_rule) in page
    assert "ceil(characters / 4)" in test.token_rule
    for j, model in enumerate(test.models):  # the single-model table, computed from the data
        quality = float(test.outcomes[:, j].mean())
        cost = float(test.cost()[:, j].mean())
        assert f"<td>{model}</td><td>{quality:,.4g}</td><td>{cost:,.4g}</td>" in page
    assert "http://" not in page and "https://" not in page


def test_the_generic_report_dispatches_on_the_kind(saved: Path, tmp_path: Path) -> None:
    page = write_report(saved, tmp_path / "generic.html").read_text(encoding="utf-8")
    direct = write_route_report(saved, tmp_path / "direct.html").read_text(encoding="utf-8")
    assert page == direct
    assert "tokenomy route eval — toy" in page


def test_memory_and_folder_draw_the_same_figures(result: EvalResult, saved: Path) -> None:
    from_memory = route_eval_figures(RouteEvalRecord.of_result(result))
    from_folder = route_eval_figures(load_route_eval(saved))
    assert [f.caption for f in from_memory] == [f.caption for f in from_folder]
    assert [f.uri for f in from_memory] == [f.uri for f in from_folder]


def test_the_pgr_figure_draws_the_curves_and_the_price_cpt(result: EvalResult) -> None:
    curves = rf.curves_of_result(result)
    price = result.score("price")
    assert price.cpt50 is not None and price.cpt80 is not None
    fig = rf.pgr_curves(curves, result.axis, {0.5: price.cpt50, 0.8: price.cpt80})
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["price (ours)"].get_xdata(), curves["price"].x)
    np.testing.assert_array_equal(lines["price (ours)"].get_ydata(), curves["price"].pgr)
    for name in ("random", "quantile-threshold", "oracle"):
        np.testing.assert_array_equal(lines[name].get_ydata(), curves[name].pgr)
    np.testing.assert_array_equal(lines["random (expected)"].get_ydata(), [0, 1])
    levels = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_marker() == "o")
    assert levels == [0.5, 0.8]
    assert to_data_uri(fig).startswith("data:image/png;base64,")


def test_overwrite_is_refused_without_the_flag(result: EvalResult, tmp_path: Path) -> None:
    target = save_route_eval(result, tmp_path / "eval")
    before = (target / "summary.json").read_bytes()
    with pytest.raises(ResultsError, match="already holds results"):
        save_route_eval(result, target)
    assert (target / "summary.json").read_bytes() == before  # nothing was touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]  # no temporary left behind
    save_route_eval(result, target, overwrite=True)
    assert read_summary(target)["kind"] == KIND


def test_another_kind_of_folder_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa

    folder = write_result(tmp_path / "run", {"t": pa.table({"a": [1]})}, {"kind": "run"})
    with pytest.raises(ResultsError, match="not a router evaluation"):
        write_route_report(folder)


def test_a_malformed_curves_table_names_the_file_and_column(saved: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    table = pq.read_table(broken / "curves.parquet").drop_columns(["pgr"])
    pq.write_table(table, broken / "curves.parquet")
    with pytest.raises(DataError, match=r"curves\.parquet, field 'pgr'.*columns"):
        load_route_eval(broken)


def test_a_missing_stated_value_is_named(saved: Path, tmp_path: Path) -> None:
    broken = tmp_path / "novalue"
    shutil.copytree(saved, broken)
    summary = read_summary(broken)
    summary["value"] = "ten dollars"
    (broken / "summary.json").write_text(dumps(summary), encoding="utf-8")
    with pytest.raises(DataError, match=r"summary\.json, field 'value': got 'ten dollars'"):
        load_route_eval(broken)


# ------------------------------------------------------------------------------ many models


def _three_models(toy: RouteData) -> RouteData:
    """The toy prompts with a middle model that solves the proofs half the time."""
    rng = np.random.default_rng(11)
    hard = np.array(["proof" in p for p in toy.prompts])
    middle = np.where(hard, rng.random(len(toy)) < 0.5, rng.random(len(toy)) < 0.93)
    outcomes = np.column_stack([toy.outcomes[:, 0], middle.astype(float), toy.outcomes[:, 1]])
    lengths = np.array([len(p) for p in toy.prompts])
    return RouteData(
        name="toy-three",
        prompts=toy.prompts,
        models=(WEAK, MIDDLE, STRONG),
        outcomes=outcomes,
        input_tokens=tokens_from_chars(lengths),
        output_tokens=np.full((len(toy), 3), 200.0),
        table=PriceTable.default(),
        token_rule="input tokens = ceil(characters / 4) of the prompt; 200 output tokens each.",
    )


def test_many_models_keep_the_price_frontier(toy: RouteData, tmp_path: Path) -> None:
    train, test = _three_models(toy).split(1)
    result = evaluate_split(train, test, seed=1)
    assert result.axis == "normalised cost"
    price = result.score("price")
    assert price.frontier is not None

    folder = save_route_eval(result, tmp_path / "three")
    assert read_summary(folder)["tables"] == ["curves", "frontier"]
    record = load_route_eval(folder)
    assert record.frontier is not None
    np.testing.assert_array_equal(record.frontier[0], price.frontier[0])
    np.testing.assert_array_equal(record.frontier[1], price.frontier[1])

    fig = rf.cost_quality_frontier(
        record.summary["models"], record.summary["routers"], record.frontier
    )
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    sweep = lines["price router (V sweep, ours)"]
    assert sorted(sweep.get_xdata()) == sorted(c for c in price.frontier[0] if c > 0)
    # the dashed frontier joins exactly the single models no other model dominates
    points = [(m["cost_per_prompt"], m["quality"]) for m in result.models]
    undominated = {
        p
        for p in points
        if not any((o[0] <= p[0] and o[1] >= p[1]) and (o[0] < p[0] or o[1] > p[1]) for o in points)
    }
    dashed = lines["single models' Pareto frontier"]
    assert set(zip(dashed.get_xdata(), dashed.get_ydata(), strict=True)) == undominated

    page = write_report(folder).read_text(encoding="utf-8")
    assert len(_embedded_pngs(page)) == 3
    assert "Performance gap recovered against the normalised cost" in page
    verdict = "dominates" if result.dominates_best_single else "does not dominate"
    assert f"V sweep {verdict} the best single model" in page


def test_the_welfare_bars_are_the_routers_welfare(result: EvalResult) -> None:
    routers = result.to_dict()["routers"]
    fig = rf.welfare_bars(routers, result.value)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [r["welfare"] for r in routers]
    assert [t.get_text() for t in ax.get_xticklabels()] == [r["router"] for r in routers]
    best_single = result.score("best-single").welfare
    dashed = [line for line in ax.get_lines() if line.get_label() == "best single model"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [best_single, best_single]
    assert f"{result.value:.4g}" in ax.get_title()
