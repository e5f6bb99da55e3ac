"""Routing data sets: counts, accuracies and decontamination checked against the raw files and
against ../shared/reference/routing-eval.md; split determinism; errors on bad files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tokenomy.allocate.route_data import (
    ROUTELLM_STRONG,
    ROUTELLM_WEAK,
    RouteData,
    load,
    load_dcrouter,
    load_dcrouter_split,
    load_routellm_csv,
    load_routellm_gsm8k,
)
from tokenomy.errors import ConfigError, DataError, UnknownNameError
from tokenomy.prices import PriceTable, estimate_tokens

# routing-eval.md prints accuracies in percent with one decimal: a number agrees "at printed
# precision" when it rounds to the printed value, i.e. lies within half a unit of the last digit.
HALF_PERCENT_DIGIT = 0.05  # percentage points
HALF_HUNDREDTH = 0.005  # for numbers printed with two decimals


def _raw_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _listed(path: Path) -> set[str]:
    return {json.loads(line)["eval_prompt"] for line in path.read_text().splitlines() if line}


# --------------------------------------------------------------------------- RouteLLM


def test_gsm8k_accuracies_match_the_reference_after_decontamination(gsm8k: RouteData) -> None:
    assert gsm8k.weak == ROUTELLM_WEAK and gsm8k.strong == ROUTELLM_STRONG
    # routing-eval.md: "GSM8K weak 63.7%, strong 85.8%"
    assert abs(100 * gsm8k.outcome(ROUTELLM_WEAK).mean() - 63.7) <= HALF_PERCENT_DIGIT
    assert abs(100 * gsm8k.outcome(ROUTELLM_STRONG).mean() - 85.8) <= HALF_PERCENT_DIGIT


def test_mmlu_accuracies_match_the_reference_after_decontamination(mmlu: RouteData) -> None:
    # routing-eval.md: "MMLU weak 68.1%, strong 80.6%"
    assert abs(100 * mmlu.outcome(ROUTELLM_WEAK).mean() - 68.1) <= HALF_PERCENT_DIGIT
    assert abs(100 * mmlu.outcome(ROUTELLM_STRONG).mean() - 80.6) <= HALF_PERCENT_DIGIT


def test_gsm8k_drops_exactly_the_listed_contaminated_prompts(
    shared: Path, gsm8k: RouteData
) -> None:
    rows = _raw_csv(shared / "routellm" / "gsm8k" / "gsm8k_responses.csv")
    listed = _listed(shared / "routellm" / "gsm8k" / "contaminated_prompts.jsonl")
    in_file = sum(row["prompt"] in listed for row in rows)
    assert len(rows) == 1319  # routing-eval.md: 1,319 prompts
    assert in_file == len(listed)  # every listed prompt matches a csv prompt exactly
    assert gsm8k.dropped_contaminated == in_file
    assert len(gsm8k) == len(rows) - in_file
    assert not listed & set(gsm8k.prompts)


def test_mmlu_reads_57_subjects_and_drops_listed_prompts(shared: Path, mmlu: RouteData) -> None:
    files = sorted((shared / "routellm" / "mmlu" / "responses").glob("mmlu_*.csv"))
    rows = [row for f in files for row in _raw_csv(f)]
    listed = _listed(shared / "routellm" / "mmlu" / "contaminated_prompts.jsonl")
    dropped = sum(row["prompt"] in listed for row in rows)
    assert len(files) == 57 and len(rows) == 14042  # routing-eval.md: 57 subjects, 14,042
    assert mmlu.dropped_contaminated == dropped > 0
    assert len(mmlu) == len(rows) - dropped
    assert not listed & set(mmlu.prompts)
    assert mmlu.groups is not None
    assert set(mmlu.groups) == {f.stem.removeprefix("mmlu_") for f in files}
    # the group of each prompt is the file it came from (first file's rows, in order)
    first = _raw_csv(files[0])
    subject = files[0].stem.removeprefix("mmlu_")
    kept = [r["prompt"] for r in first if r["prompt"] not in listed]
    assert list(mmlu.prompts[: len(kept)]) == kept
    assert set(mmlu.groups[: len(kept)]) == {subject}


def test_gsm8k_costs_follow_the_stated_token_rule(shared: Path, gsm8k: RouteData) -> None:
    rows = _raw_csv(shared / "routellm" / "gsm8k" / "gsm8k_responses.csv")
    table = PriceTable.default()
    row = next(r for r in rows if r["prompt"] == gsm8k.prompts[5])
    tin = estimate_tokens(row["prompt"])
    expected = [
        table.cost(
            "mixtral-8x7b-instruct-v0.1", tin, estimate_tokens(row[f"{ROUTELLM_WEAK}_response"])
        ),
        table.cost("gpt-4-1106-preview", tin, estimate_tokens(row[f"{ROUTELLM_STRONG}_response"])),
    ]
    # float64 arithmetic on the same formula: equal to rounding
    np.testing.assert_allclose(gsm8k.cost()[5], expected, rtol=1e-12)
    assert "ceil(characters / 4)" in gsm8k.token_rule
    assert gsm8k.table["gpt-4-1106-preview"].output_per_million == 30.0


def test_mmlu_counts_one_output_token_per_answer(mmlu: RouteData) -> None:
    assert np.all(mmlu.output_tokens == 1.0)
    assert "max_new_tokens=1" in mmlu.token_rule
    assert np.array_equal(mmlu.input_tokens, [estimate_tokens(p) for p in mmlu.prompts])


# --------------------------------------------------------------------------- DC-Router


def _raw_dcrouter(path: Path) -> tuple[list[str], np.ndarray]:
    records = json.loads(path.read_text())
    models = sorted(records[0]["scores"])
    return [r["question"] for r in records], np.array(
        [[r["scores"][m] for m in models] for r in records]
    )


def test_dcrouter_reference_numbers(shared: Path) -> None:
    # routing-eval.md: "DC-Router: best single model 0.62 mean score, oracle 0.80". These hold
    # on the published train file and on the whole set; the 500-prompt test file alone is
    # harder (checked against the raw file below).
    published_train, _ = load_dcrouter_split(shared, drop_overlap=False)
    for data in (published_train, load_dcrouter(shared)):
        assert abs(data.outcomes.mean(axis=0).max() - 0.62) <= HALF_HUNDREDTH
        assert abs(data.outcomes.max(axis=1).mean() - 0.80) <= HALF_HUNDREDTH


def test_dcrouter_split_is_the_published_one_without_overlap(shared: Path) -> None:
    train, test = load_dcrouter_split(shared)
    tq, _ = _raw_dcrouter(shared / "llmrouter" / "dcrouter" / "train.json")
    eq, es = _raw_dcrouter(shared / "llmrouter" / "dcrouter" / "test.json")
    assert (len(tq), len(eq)) == (5608, 500)  # routing-eval.md: 5,608 / 500
    overlap = set(tq) & set(eq)
    assert train.dropped_contaminated == len(overlap) > 0
    assert len(train) == len(tq) - len(overlap)
    assert not set(train.prompts) & set(test.prompts)
    assert test.prompts == tuple(eq)
    np.testing.assert_array_equal(test.outcomes, es)
    assert len(test.models) == 9 and train.models == test.models
    assert train.groups is not None and test.groups is None
    # the loader's test-set baselines are those of the raw file
    assert test.outcomes.mean(axis=0).max() == es.mean(axis=0).max()
    assert test.outcomes.max(axis=1).mean() == es.max(axis=1).mean()


def test_dcrouter_prices_come_from_the_candidate_list(shared: Path) -> None:
    train, _ = load_dcrouter_split(shared)
    candidates = json.loads((shared / "llmrouter" / "llm_candidates.json").read_text())
    for model in train.models:
        price = train.table[model]
        assert price.input_per_million == candidates[model]["input_price"]
        assert price.output_per_million == candidates[model]["output_price"]
    j = train.model_index("gemma-2-9b-it")
    tokens = estimate_tokens(train.prompts[0]) + train.output_tokens[0, j]
    assert math.isclose(
        train.cost()[0, j], tokens * candidates["gemma-2-9b-it"]["input_price"] / 1e6
    )
    assert "256" in train.token_rule


# --------------------------------------------------------------------------- RouteData


def test_split_is_deterministic_disjoint_and_complete(gsm8k: RouteData) -> None:
    train, test = gsm8k.split(seed=7, test_fraction=0.3)
    again_train, again_test = gsm8k.split(seed=7, test_fraction=0.3)
    other_train, _ = gsm8k.split(seed=8, test_fraction=0.3)
    assert train.prompts == again_train.prompts and test.prompts == again_test.prompts
    np.testing.assert_array_equal(train.outcomes, again_train.outcomes)
    assert train.prompts != other_train.prompts
    assert len(test) == round(0.3 * len(gsm8k)) and len(train) + len(test) == len(gsm8k)
    assert not set(train.prompts) & set(test.prompts)  # GSM8K prompts are distinct
    assert set(train.prompts) | set(test.prompts) == set(gsm8k.prompts)


def test_subset_keeps_rows_aligned(mmlu: RouteData) -> None:
    idx = np.array([10, 3, 14000])
    sub = mmlu.subset(idx)
    assert sub.prompts == tuple(mmlu.prompts[i] for i in idx)
    np.testing.assert_array_equal(sub.outcomes, mmlu.outcomes[idx])
    np.testing.assert_array_equal(sub.cost(), mmlu.cost()[idx])
    assert sub.groups is not None and mmlu.groups is not None
    np.testing.assert_array_equal(sub.groups, mmlu.groups[idx])
    mask = np.zeros(len(mmlu), dtype=bool)
    mask[[3, 10]] = True
    assert mmlu.subset(mask).prompts == (mmlu.prompts[3], mmlu.prompts[10])


def test_bad_split_and_unknown_model(gsm8k: RouteData) -> None:
    with pytest.raises(ConfigError, match="test_fraction"):
        gsm8k.split(seed=0, test_fraction=1.0)
    with pytest.raises(UnknownNameError, match="gpt-4-1106-preview"):
        gsm8k.model_index("gpt-4-1106")


def test_registry(shared: Path) -> None:
    assert load("routellm-gsm8k", shared).name == "routellm-gsm8k"
    assert len(load("dcrouter", shared, part="test")) == 500
    with pytest.raises(UnknownNameError, match="Did you mean 'routellm-mmlu'"):
        load("routellm-mmlux", shared)
    with pytest.raises(ConfigError, match="weak"):
        load("routellm-csv", shared / "routellm" / "gsm8k")


# --------------------------------------------------------------------------- generic csv


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _rows(weak: str = "small", strong: str = "big") -> list[dict[str, str]]:
    return [
        {"prompt": "What is 2+2?", weak: "True", strong: "True"},
        {"prompt": "Prove it,\nformally.", weak: "False", strong: "True"},
        {"prompt": "Leaked question", weak: "false", strong: "FALSE"},
    ]


def _prices(tmp_path: Path) -> PriceTable:
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  small: {input: 1.0, output: 2.0}\n  big: {input: 10, output: 20}\n")
    return PriceTable.load(path)


def test_generic_per_subject_csvs_with_contamination(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    (folder / "responses").mkdir(parents=True)
    _write(folder / "responses" / "bench_algebra.csv", _rows())
    _write(folder / "responses" / "bench_history.csv", _rows()[:2])
    (folder / "contaminated_prompts.jsonl").write_text(
        json.dumps({"train_prompt": "x", "eval_prompt": "Leaked question"}) + "\n"
    )
    data = load_routellm_csv(folder, "small", "big", table=_prices(tmp_path), output_tokens=3)
    assert data.dropped_contaminated == 1
    assert data.prompts == ("What is 2+2?", "Prove it,\nformally.") * 2
    assert data.groups is not None and list(data.groups) == ["algebra"] * 2 + ["history"] * 2
    np.testing.assert_array_equal(data.outcomes, [[1, 1], [0, 1], [1, 1], [0, 1]])
    # "Prove it,\nformally." has 19 characters -> 5 tokens; 3 output tokens each
    np.testing.assert_allclose(data.cost()[1], [(5 * 1 + 3 * 2) / 1e6, (5 * 10 + 3 * 20) / 1e6])
    assert "3 per answer" in data.token_rule


def test_missing_prompt_column_names_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    _write(folder / "bench_responses.csv", [{"question": "q", "small": "True", "big": "True"}])
    with pytest.raises(DataError) as err:
        load_routellm_csv(folder, "small", "big", table=_prices(tmp_path))
    assert err.value.field == "prompt"
    assert err.value.file.endswith("bench_responses.csv") and "question" in str(err.value)


def test_non_boolean_outcome_names_file_field_and_value(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    rows = _rows()
    rows[1]["big"] = "maybe"
    _write(folder / "bench_responses.csv", rows)
    with pytest.raises(DataError, match="maybe") as err:
        load_routellm_csv(folder, "small", "big", table=_prices(tmp_path))
    assert err.value.field is not None and err.value.field.startswith("big")
    assert "record 2" in err.value.field and err.value.file.endswith("bench_responses.csv")


def test_unknown_model_column_lists_the_columns_present(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    _write(folder / "bench_responses.csv", _rows())
    with pytest.raises(DataError, match=r"columns present: \['prompt', 'small', 'big'\]") as err:
        load_routellm_csv(folder, "small", "huge", table=_prices(tmp_path))
    assert err.value.field == "huge"


def test_unpriced_model_says_how_to_supply_a_price(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    _write(folder / "bench_responses.csv", _rows("tiny-model", "big"))
    with pytest.raises(ConfigError, match=r"no token price for model 'tiny-model'.*--prices"):
        load_routellm_csv(folder, "tiny-model", "big", table=_prices(tmp_path))


def test_bad_contamination_line_is_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    _write(folder / "bench_responses.csv", _rows())
    (folder / "contaminated_prompts.jsonl").write_text('{"eval_prompt": "a"}\n{"prompt": 1}\n')
    with pytest.raises(DataError, match="line 2"):
        load_routellm_csv(folder, "small", "big", table=_prices(tmp_path))


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_routellm_gsm8k(tmp_path)


def test_bad_dcrouter_score_names_file_record_and_model(tmp_path: Path) -> None:
    folder = tmp_path / "llmrouter" / "dcrouter"
    folder.mkdir(parents=True)
    good = {"question": "q1", "scores": {"a": 1.0, "b": 0.0}}
    bad = {"question": "q2", "scores": {"a": 2.0, "b": 0.0}}
    (folder / "train.json").write_text(json.dumps([good, bad]))
    (folder / "test.json").write_text(json.dumps([good]))
    with pytest.raises(DataError, match=r"\[1\]\.scores\.a") as err:
        load_dcrouter_split(tmp_path)
    assert err.value.file.endswith("train.json") and err.value.value == 2.0
