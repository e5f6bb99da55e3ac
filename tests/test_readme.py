"""The README's examples run as written (in a temporary folder)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def commands() -> list[str]:
    out = []
    for block in blocks("bash"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("tokenomy") and "../shared" not in line:
                out.append(line)
    return out


def test_the_readme_has_examples():
    assert len(commands()) >= 8
    assert len(blocks("python")) >= 3
    quick_start = README.read_text().split("## Quick start", 1)[1].split("##", 1)[0]
    assert re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S)[0].split() == [
        "make",
        "demo",
        "make",
        "test",
    ]


def write_files(folder: Path) -> list[str]:
    """YAML blocks whose first line is ``# file: NAME`` are files the commands use."""
    names = []
    for block in blocks("yaml"):
        first, _, rest = block.partition("\n")
        if first.startswith("# file:"):
            name = first.split(":", 1)[1].strip()
            (folder / name).write_text(rest)
            names.append(name)
    return names


def test_bash_examples_run(tmp_path):
    assert write_files(tmp_path) == [
        "spec.yaml",
        "agents.yaml",
        "replay.yaml",
        "contract.yaml",
        "pipeline.yaml",
        "fisher.yaml",
    ]
    exe = Path(sys.executable).with_name("tokenomy")
    for command in commands():
        argv = [str(exe), *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert (tmp_path / "example-runs" / "lexical-5" / "report.html").exists()
    assert (tmp_path / "example-runs" / "sweep" / "report.html").exists()
    assert (tmp_path / "example-eq" / "pipeline" / "report.html").exists()
    assert (tmp_path / "example-eq" / "dags.html").exists()
    assert (tmp_path / "example-runs" / "http" / "market.db").exists()
    live = json.loads((tmp_path / "example-runs" / "llm" / "summary.json").read_text())
    again = json.loads((tmp_path / "example-runs" / "llm-replay" / "summary.json").read_text())
    assert live["llm"]["calls"] > 0 and live["metrics"] == again["metrics"]
    contracted = json.loads((tmp_path / "example-runs" / "contracted" / "summary.json").read_text())
    assert contracted["contracts"]["totals"]["checks"] > 0
    assert (tmp_path / "example-runs" / "shell" / "transcripts.parquet").is_file()
    assert (tmp_path / "example-runs" / "shop" / "report.html").is_file()
    for name in ("exp", "exp-ray"):
        summary = json.loads((tmp_path / "example-runs" / name / "summary.json").read_text())
        assert summary["counts"]["done"] == 15 and summary["counts"]["failed"] == 0
    same = [
        (tmp_path / "example-runs" / name / "runs.parquet").read_bytes()
        for name in ("exp", "exp-ray")
    ]
    assert same[0] == same[1]  # byte-identical merged table, process pool vs Ray
    assert (tmp_path / "example-runs" / "exp" / "report.html").is_file()
    assert (tmp_path / "example-runs" / "sharded" / "events.parquet").is_file()


def test_python_examples_run(tmp_path, capsys):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict = {}
        for block in blocks("python"):
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "6.0 4.0" in printed and "69.0 85.0" in printed
    assert "'bread': 2.55" in printed
    assert (tmp_path / "example-data" / "api-market" / "customers").is_dir()
