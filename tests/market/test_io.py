"""Loading Magentic-format folders, and one clear error per malformed file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MAIN_SETS
from tokenomy.errors import DataError, ResultsError
from tokenomy.market.io import load_market, write_market


@pytest.mark.parametrize("name", MAIN_SETS)
def test_loads_every_main_set(magentic, name):
    folder = magentic / name
    market = load_market(folder)
    n_c = len(list((folder / "customers").glob("*.yaml")))
    n_b = len(list((folder / "businesses").glob("*.yaml")))
    assert (market.n_customers, market.n_businesses) == (n_c, n_b)
    assert market.customer_ids == sorted(market.customer_ids)
    c0 = market.customer_entity(0)
    assert c0.id == "customer_0001" and c0.menu_features and c0.request


def test_values_survive_the_round_trip(magentic, tmp_path):
    market = load_market(magentic / "contractors_10_30")
    for fmt in ("yaml", "parquet"):
        out = write_market(market, tmp_path / fmt, fmt=fmt)
        again = load_market(out)
        for c in range(market.n_customers):
            assert again.customer_entity(c) == market.customer_entity(c)
        for b in range(market.n_businesses):
            assert again.business_entity(b) == market.business_entity(b)


def _copy_small(magentic: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(magentic / "mexican_3_9", dst)
    return dst


@pytest.mark.parametrize(
    ("kind", "content", "field", "value_hint", "expected"),
    [
        (
            "businesses",
            "id: business_0001\nname: X\nrating: 1.0\n",
            "menu_features",
            None,
            "required",
        ),
        ("businesses", None, "menu_features.Tacos", "'cheap'", "valid number"),
        ("businesses", None, "min_price_factor", "1.5", "less than or equal to 1"),
        (
            "customers",
            "id: customer_0001\nname: A\nrequest: r\nmenu_features: {X: -3}\n",
            "menu_features",
            "-3",
            ">= 0",
        ),
        (
            "customers",
            "id: customer_0001\nname: A\nrequest: r\nmenu_features: {X: 3}\nshoe: 1\n",
            "shoe",
            "1",
            "no such field",
        ),
        ("customers", "- just\n- a list\n", None, "['just', 'a list']", "YAML mapping"),
        ("customers", "id: [unclosed\n", None, "unparseable YAML", "valid YAML"),
    ],
)
def test_malformed_file_names_file_field_and_value(
    magentic, tmp_path, kind, content, field, value_hint, expected
):
    folder = _copy_small(magentic, tmp_path)
    stem = "customer" if kind == "customers" else "business"
    target = folder / kind / f"{stem}_0001.yaml"
    if content is None:
        text = target.read_text()
        if field == "menu_features.Tacos":
            text = text.replace("menu_features:\n", "menu_features:\n  Tacos: cheap\n", 1)
        else:
            text = text.replace("min_price_factor: ", "min_price_factor: 1.5 #", 1)
        content = text
    target.write_text(content)
    with pytest.raises(DataError) as err:
        load_market(folder)
    message = str(err.value)
    assert str(target) in message
    if field:
        assert f"field '{field}'" in message
    if value_hint:
        assert value_hint in message
    assert expected in message


def test_duplicate_ids_are_refused(magentic, tmp_path):
    folder = _copy_small(magentic, tmp_path)
    shutil.copy(folder / "businesses" / "business_0001.yaml", folder / "businesses" / "zz.yaml")
    with pytest.raises(DataError, match="unique business id") as err:
        load_market(folder)
    assert "zz.yaml" in str(err.value)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_market(tmp_path / "nowhere")
    (tmp_path / "d" / "customers").mkdir(parents=True)
    with pytest.raises(DataError, match="businesses"):
        load_market(tmp_path / "d")
    (tmp_path / "d" / "businesses").mkdir()
    with pytest.raises(DataError, match="at least one customer"):
        load_market(tmp_path / "d")


def test_writing_never_leaves_half_a_folder_and_does_not_clobber(magentic, tmp_path):
    market = load_market(magentic / "mexican_3_9")
    out = write_market(market, tmp_path / "out")
    before = sorted(p.name for p in (out / "customers").iterdir())
    with pytest.raises(ResultsError, match="already holds"):
        write_market(market, out)
    assert sorted(p.name for p in (out / "customers").iterdir()) == before
    write_market(market, out, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_money_is_exact_micro_dollars(magentic):
    market = load_market(magentic / "mexican_3_9")
    assert market.b_prices.dtype == np.int64
    assert np.all(market.b_prices % 10_000 == 0)  # the data has whole cents
