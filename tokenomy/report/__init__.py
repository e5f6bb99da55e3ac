"""Self-contained HTML reports with figures, for run, sweep, study and equilibrium folders.

>>> from tokenomy.report import write_report            # doctest: +SKIP
>>> write_report("results/demo")                        # doctest: +SKIP
PosixPath('results/demo/report.html')
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from tokenomy.errors import ResultsError
from tokenomy.results import read_summary, usual_mode

__all__ = ["render", "write_report"]


def write_report(folder: str | Path, out_file: str | Path | None = None) -> Path:
    """Render the report of a result folder to one HTML file (figures embedded).

    Args:
        folder: a run, sweep, study, equilibrium or route-eval folder (with ``summary.json``).
        out_file: where to write; default ``folder/report.html``.
    """
    from tokenomy.report.builder import run_sections, study_sections, sweep_sections

    folder = Path(folder)
    summary = read_summary(folder)
    kind = summary.get("kind")
    if kind == "run":
        sections = run_sections(folder, summary)
        title = f"tokenomy run — {summary.get('market')}"
    elif kind in ("sweep", "experiment"):
        sections = sweep_sections(folder, summary)
        title = f"tokenomy {kind} — {summary.get('name')}"
    elif kind == "study":
        sections = study_sections(folder, summary)
        title = f"tokenomy — {summary.get('name', 'study')}"
    elif kind in ("equilibrium", "equilibrium-set"):
        from tokenomy.report.equilibrium import equilibrium_sections, records_from_folder

        sections = equilibrium_sections(records_from_folder(folder, summary))
        title = f"tokenomy equilibrium — {summary.get('name')}"
    elif kind == "route-eval":
        from tokenomy.report.routing import load_route_eval, route_eval_sections, route_eval_title

        sections = route_eval_sections(load_route_eval(folder))
        title = route_eval_title(summary)
    elif kind == "principal-run":
        from tokenomy.report.principal import principal_sections

        sections = principal_sections(folder, summary)
        title = f"tokenomy principal — {', '.join(summary.get('design', {}).get('scenarios', []))}"
    elif kind == "principal-delegation":
        from tokenomy.report.principal import delegation_sections

        sections = delegation_sections(summary)
        title = f"tokenomy principal — delegated shopping on {summary.get('market')}"
    else:
        raise ResultsError(f"{folder}: unknown result kind {kind!r} in summary.json")
    created = summary.get("environment", {}).get("created_utc", "")
    target = Path(out_file) if out_file is not None else folder / "report.html"
    return render(title, f"{folder} · created {created}", sections, target)


def render(title: str, subtitle: str, sections: list[Any], target: str | Path) -> Path:
    """Write sections to a self-contained HTML file, atomically."""
    from tokenomy import __version__

    template_text = resources.files("tokenomy.report.templates").joinpath("report.html.j2")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(template_text.read_text(encoding="utf-8"))
    page = template.render(title=title, subtitle=subtitle, sections=sections, version=__version__)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".html", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(page)
    usual_mode(tmp)
    os.replace(tmp, target)
    return target
