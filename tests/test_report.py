"""HTML reports exist, are self-contained and embed their figures."""

from __future__ import annotations

import base64
import re

import pytest

from tokenomy.errors import ResultsError
from tokenomy.market.experiments import SweepSpec, preset, run_sweep
from tokenomy.market.io import load_market
from tokenomy.market.runner import RunConfig, run_market
from tokenomy.report import write_report

PNG = b"\x89PNG\r\n\x1a\n"


def embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_run_report(magentic, tmp_path):
    folder = run_market(load_market(magentic / "mexican_33_99"), RunConfig()).save(tmp_path / "r")
    path = write_report(folder)
    html = path.read_text()
    images = embedded_pngs(html)
    assert path == folder / "report.html"
    assert len(images) == 2 and all(img.startswith(PNG) for img in images)
    assert "Welfare" in html and "optimal" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched


def test_sweep_report_has_the_consideration_figure(magentic, tmp_path):
    spec = preset("consideration-set-size", magentic, seeds=[0])
    spec = spec.model_copy(update={"limit": [1, 3, 10], "customer_policy": ["rational"]})
    folder = run_sweep(spec).save(tmp_path / "s")
    html = write_report(folder, tmp_path / "elsewhere" / "r.html").read_text()
    assert "dashed: optimal welfare" in html
    assert len(embedded_pngs(html)) == 2  # welfare vs size, utility distribution
    assert "rational</b>: welfare" in html


def test_manipulation_report(magentic, tmp_path):
    spec = preset("manipulation", magentic, seeds=[0, 1])
    folder = run_sweep(spec).save(tmp_path / "m")
    html = write_report(folder).read_text()
    assert len(embedded_pngs(html)) == 2
    assert "captured" in html


def test_a_folder_without_results_is_refused(tmp_path):
    with pytest.raises(ResultsError, match="not a tokenomy result folder"):
        write_report(tmp_path)


def test_sweep_without_focal_business_reports_no_share(magentic):
    spec = SweepSpec(data=[str(magentic / "mexican_3_9")])
    assert run_sweep(spec).runs["focal_share"].isna().all()
