"""Scenario YAML: built-ins, prompt rendering (the study's exact prompts), bad input, parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tokenomy.errors import DataError, UnknownNameError
from tokenomy.principal.parsing import UNPARSED, choice_label, parse_choice
from tokenomy.principal.scenarios import (
    CONDITIONS,
    DEFAULT_CHOICE_PATTERN,
    builtin_path,
    builtin_scenarios,
    load_scenario,
)
from tokenomy.principal.tinmen import read_tinmen


def test_builtins_load_with_four_conditions_and_two_products():
    scenarios = builtin_scenarios()
    assert set(scenarios) == {"shell", "openai"}
    for s in scenarios.values():
        assert tuple(s.conditions) == CONDITIONS
        assert s.product_ids == ("1", "2")
        assert s.preferred == "1"
    assert scenarios["shell"].principal.name == "Shell Oil"
    assert scenarios["openai"].principal.name == "OpenAI"


def test_each_condition_renders_a_different_disclosure():
    s = load_scenario("shell")
    prompts = {c: s.render(c) for c in CONDITIONS}
    assert len(set(prompts.values())) == 4
    assert (
        "shared only with the customer, but not shared with Shell Oil" in prompts["customer-only"]
    )
    assert "Tesla model 3: $40,000" in prompts["both"]
    with pytest.raises(UnknownNameError):
        s.render("everyone")


def test_rendered_prompts_equal_the_recorded_ones(tinmen):
    scenarios = builtin_scenarios()
    records = [r for r in read_tinmen(tinmen) if r.prompt is not None]
    assert len(records) > 400
    cells = {(r.scenario, r.condition) for r in records}
    assert len(cells) == 8
    for r in records:
        assert scenarios[r.scenario].render(r.condition) == r.prompt


def test_load_by_path_equals_load_by_name():
    assert load_scenario(builtin_path("openai")) == load_scenario("openai")


def _write(tmp_path: Path, data: object) -> Path:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    return file


def _valid() -> dict:
    return yaml.safe_load(builtin_path("shell").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        (lambda d: d.update(preferred="9"), "preferred", "9"),
        (lambda d: d["products"][0].update(price=-1), "products.0.price", -1),
        (lambda d: d["conditions"].update({"everyone": "x"}), "conditions.everyone", None),
        (lambda d: d.update(prompt_template="{principal} {budget}"), "prompt_template", None),
        (lambda d: d.update(choice_pattern="Choice: \\d+"), "choice_pattern", None),
        (lambda d: d.pop("customer_request"), "customer_request", None),
        (lambda d: d.update(colour="red"), "colour", "red"),
    ],
)
def test_bad_yaml_names_the_field(tmp_path, change, field, value):
    data = _valid()
    change(data)
    file = _write(tmp_path, data)
    with pytest.raises(DataError) as info:
        load_scenario(file)
    assert info.value.field == field
    assert info.value.file == str(file)
    if value is not None:
        assert info.value.value == value


def test_not_yaml_and_missing_file(tmp_path):
    file = tmp_path / "broken.yaml"
    file.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(DataError, match="valid YAML"):
        load_scenario(file)
    with pytest.raises(DataError, match="existing scenario YAML"):
        load_scenario(tmp_path / "absent.yaml")
    with pytest.raises(UnknownNameError):
        load_scenario("tesla")
    file.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(DataError, match="mapping"):
        load_scenario(file)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Explanation: fine.\n\nChoice: 2", "2"),
        ("Explanation: fine.\nchoice: 1\n", "1"),
        ("Explanation: ok\n\nChoice: [Product id: 2] Four weddings", "2"),
        ("I recommend the Tesla Model 3 [Choice: 1]. Thanks.", "1"),
        ("Choice: 1\n...on reflection...\nChoice: 2", "2"),
        ("Explanation: I recommend product 2 (Product ID: 2).", None),
        ("Choice: 3", None),
        ("", None),
    ],
)
def test_parse_choice(text, expected):
    assert parse_choice(text, DEFAULT_CHOICE_PATTERN, ("1", "2")) == expected
    label = choice_label(text, DEFAULT_CHOICE_PATTERN, ("1", "2"))
    assert label == (expected if expected is not None else UNPARSED)
