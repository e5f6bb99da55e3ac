"""Experiment specs: grids and lists of conditions, seeds, ids, and errors naming file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tokenomy.errors import DataError
from tokenomy.market.experiment_spec import (
    Condition,
    builtin_spec,
    condition_id,
    load_spec,
    parse_spec,
    task_id,
)


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_grid_product_then_listed_conditions_then_seeds(tmp_path: Path) -> None:
    (tmp_path / "data" / "set").mkdir(parents=True)
    path = spec_file(
        tmp_path,
        """
        seeds: 0-2
        grid:
          generate: {customers: 10, businesses: 30}
          search: [lexical, optimal]
          limit: [1, 5]
        conditions:
          - {data: data/set, customer_policy: bounded}
        """,
    )
    experiment = load_spec(path)
    assert experiment.name == "spec"  # the file's stem when the spec has no name
    conds = [e.condition for e in experiment.conditions]
    assert [(c.search, c.limit) for c in conds[:4]] == [
        ("lexical", 1),
        ("lexical", 5),
        ("optimal", 1),
        ("optimal", 5),
    ]
    assert conds[4].customer_policy == "bounded" and conds[4].generate is None
    assert experiment.conditions[4].data_dir == (tmp_path / "data" / "set").resolve()
    assert [e.origin for e in experiment.conditions] == [
        "grid[0]",
        "grid[1]",
        "grid[2]",
        "grid[3]",
        "conditions.0",
    ]
    assert len(experiment.tasks) == 5 * 3
    assert [t.seed for t in experiment.tasks[:4]] == [0, 1, 2, 0]
    assert [t.position for t in experiment.tasks] == list(range(15))
    assert experiment.tasks[3].condition_id == experiment.conditions[1].id


def test_task_ids_are_stable_distinct_and_ignore_spelling_and_order(tmp_path: Path) -> None:
    a = parse_spec(
        {"seeds": [0, 1], "grid": {"generate": {"customers": 10}, "limit": [3, 10]}},
        base_dir=tmp_path,
    )
    # the same conditions, listed in the other order, with defaults spelled out
    b = parse_spec(
        {
            "seeds": "1,0",
            "conditions": [
                {"generate": {"customers": 10, "seed": 0}, "limit": 10, "search": "lexical"},
                {"generate": {"customers": 10, "domain": "restaurants"}, "limit": 3},
            ],
        },
        base_dir=tmp_path,
    )
    ids_a = [t.id for t in a.tasks]
    assert len(set(ids_a)) == 4
    assert sorted(ids_a) == sorted(t.id for t in b.tasks)
    # an id is a hash of the condition and seed, recomputed the same way every time
    cond = Condition(generate={"customers": 10}, limit=3)
    assert (
        task_id(cond, 1)
        == a.tasks[1].id
        == task_id(Condition.model_validate({"generate": {"customers": 10}, "limit": 3}), 1)
    )
    assert task_id(cond, 0) != task_id(cond, 1)
    assert condition_id(cond) != condition_id(cond.model_copy(update={"limit": 4}))
    # growing the spec keeps the ids of the tasks it had
    grown = parse_spec(
        {"seeds": [0, 1, 2], "grid": {"generate": {"customers": 10}, "limit": [3, 10, 20]}},
        base_dir=tmp_path,
    )
    assert set(ids_a) < {t.id for t in grown.tasks}


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("seeds: [0]\ngrid: {generate: {}, limt: [1, 2]}\n", "grid.limt", "a condition field"),
        (
            "seeds: [0]\nconditions:\n  - {generate: {}, serch: bm25}\n",
            "conditions.0.serch",
            "no such field",
        ),
        ("seeds: [0]\nsweep: 3\ngrid: {generate: {}}\n", "sweep", "no such field"),
        ("seeds: a-b\ngrid: {generate: {}}\n", "seeds", "range such as '0-9'"),
        ("seeds: [0, -1]\ngrid: {generate: {}}\n", "seeds", "non-negative"),
        ("seeds: [1, 1]\ngrid: {generate: {}}\n", "seeds", "distinct seeds"),
        (
            "conditions:\n  - {data: x, generate: {customers: 5}}\n",
            "conditions.0.data",
            "exactly one market source",
        ),
        ("conditions:\n  - {search: bm25}\n", "conditions.0.generate", "exactly one market source"),
        ("grid: {generate: {}, limit: [3, 0]}\n", "grid.limit.1", "greater than or equal to 1"),
        ("grid: {generate: {}, search: [bm25, bm52]}\n", "grid.search.1", "search algorithm"),
        ("grid: {generate: {custmers: 3}}\n", "grid.generate.custmers", "generator setting"),
        ("grid: {generate: {customers: 0}}\n", "grid.generate", "customers must be >= 1"),
        (
            "grid: {generate: {}, customer_policy: [rational, rationl]}\n",
            "grid.customer_policy.1",
            "Did you mean 'rational'",
        ),
        (
            "grid: {generate: {}, customer_params: {patience: 3}}\n",
            "grid.customer_params",
            "patience",
        ),
        (
            "conditions:\n  - {generate: {}}\n  - {generate: {}, limit: 10}\n",
            "conditions.1",
            "repeats",
        ),
        ("grid: {generate: {}}\nllm_concurrency: {local: 2}\n", "llm_concurrency.local", "backend"),
        ("seeds: [0]\n", "grid", "a grid or a list of conditions"),
    ],
)
def test_bad_specs_name_file_and_field(
    tmp_path: Path, text: str, field: str, expected: str
) -> None:
    path = spec_file(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_spec(path)
    assert info.value.file == str(path)
    assert info.value.field == field
    assert expected in str(info.value)


def test_missing_data_folder_names_the_file_the_field_and_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    path = spec_file(
        tmp_path,
        """
        grid:
          data: [present, absent]
        """,
    )
    with pytest.raises(DataError) as info:
        load_spec(path)
    message = str(info.value)
    assert info.value.field == "grid.data.1" and info.value.value == "absent"
    assert str(path) in message and str((tmp_path / "absent").resolve()) in message
    assert str(info.value).count("\n") == 0  # one line


def test_missing_agents_file_and_malformed_yaml(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "conditions:\n  - {generate: {}, agents: pop.yaml}\n")
    with pytest.raises(DataError, match="population file") as info:
        load_spec(path)
    assert info.value.field == "conditions.0.agents"
    with pytest.raises(DataError, match="valid YAML"):
        load_spec(spec_file(tmp_path, "grid: {generate: [unclosed\n"))
    with pytest.raises(DataError, match="a mapping"):
        load_spec(spec_file(tmp_path, "- just\n- a list\n"))
    with pytest.raises(DataError, match="readable experiment spec"):
        load_spec(tmp_path / "absent.yaml")


def test_population_backends_and_concurrency_caps(tmp_path: Path) -> None:
    (tmp_path / "pop.yaml").write_text(
        textwrap.dedent(
            """
            backends:
              small: {kind: scripted, rule: market}
              large: {kind: scripted, rule: market}
            customers:
              - {agents: "*", policy: llm, backend: small}
            """
        ),
        encoding="utf-8",
    )
    experiment = load_spec(
        spec_file(
            tmp_path,
            """
            conditions:
              - {generate: {customers: 5, businesses: 15}, agents: pop.yaml}
            llm_concurrency: {small: 3, "*": 8}
            """,
        )
    )
    assert experiment.conditions[0].population is not None
    assert experiment.backends() == ["large", "small"]
    assert experiment.llm_caps() == {"large": 8, "small": 3}


def test_the_packaged_demo_spec_loads() -> None:
    path = builtin_spec("demo")
    assert path is not None
    experiment = load_spec(path)
    assert experiment.name == "demo"
    assert all(e.condition.generate is not None for e in experiment.conditions)
    assert len(experiment.tasks) == len(experiment.conditions) * len(experiment.spec.seeds)
    assert builtin_spec("no-such-spec") is None
