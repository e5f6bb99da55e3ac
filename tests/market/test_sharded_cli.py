"""`tokenomy market run --shards N --executor E`: the same run folder as the unsharded run."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from tokenomy.cli import app
from tokenomy.market.generator import GeneratorSpec, generate_market
from tokenomy.market.io import write_market

runner = CliRunner()


def test_sharded_run_folder_equals_the_single_run(tmp_path: Path) -> None:
    data = tmp_path / "market"
    write_market(generate_market(GeneratorSpec(customers=120, businesses=200, seed=4)), data)
    common = ["market", "run", str(data), "--search", "bm25", "--limit", "4", "--seed", "3",
              "--customer-policy", "bounded", "--json"]  # fmt: skip
    single = runner.invoke(app, [*common, "--out", str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    sharded = runner.invoke(
        app, [*common, "--out", str(tmp_path / "three"), "--shards", "3", "--executor", "process",
              "--workers", "2"],
    )  # fmt: skip
    assert sharded.exit_code == 0, sharded.output
    a, b = json.loads(single.stdout), json.loads(sharded.stdout)
    assert a["welfare"] == b["welfare"] and a["events"] == b["events"] > 0
    for table in ("events", "messages", "payments", "customers"):
        left = pq.read_table(tmp_path / "one" / f"{table}.parquet")
        right = pq.read_table(tmp_path / "three" / f"{table}.parquet")
        assert left.equals(right), table


def test_sharding_what_cannot_be_sharded_is_one_error(tmp_path: Path) -> None:
    data = tmp_path / "market"
    write_market(generate_market(GeneratorSpec(customers=10, businesses=20, seed=1)), data)
    got = runner.invoke(
        app, ["market", "run", str(data), "--shards", "2", "--transport", "http",
              "--out", str(tmp_path / "run")],
    )  # fmt: skip
    assert got.exit_code == 2
    assert "shard" in got.output.lower()
    assert not (tmp_path / "run").exists()
