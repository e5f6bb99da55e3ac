"""The demo behind `make demo`, on a smaller market so the test stays quick."""

from __future__ import annotations

import json

import pytest

from tokenomy.demo import run_demo
from tokenomy.errors import ResultsError


def test_demo_writes_three_studies_and_a_report(tmp_path):
    seen = []
    report = run_demo(
        tmp_path / "demo",
        customers=20,
        businesses=60,
        progress=lambda d, t, label: seen.append((d, t)),
    )
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["kind"] == "study"
    assert summary["sweeps"] == ["consideration-set-size", "position-bias", "manipulation"]
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 6
    assert seen and seen[-1][0] == seen[-1][1]  # progress reached the total
    assert (tmp_path / "demo" / "data" / "synthetic_20_60" / "customers").is_dir()
    with pytest.raises(ResultsError, match="--overwrite"):
        run_demo(tmp_path / "demo", customers=20, businesses=60)
