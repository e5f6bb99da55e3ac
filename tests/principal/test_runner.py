"""The runner: replay reproduces the published counts; scripted, unparsed and HTTP runs."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tokenomy.errors import ConfigError, ResultsError
from tokenomy.llm.openai_backend import OpenAIChat
from tokenomy.llm.scripted import ScriptedChat
from tokenomy.llm.testserver import create_app
from tokenomy.loopback import serve_in_thread
from tokenomy.principal.runner import (
    COLUMN_TYPES,
    TRANSCRIPTS,
    preference_rule,
    run_choices,
    write_choice_run,
)
from tokenomy.principal.scenarios import CONDITIONS, builtin_scenarios, load_scenario
from tokenomy.principal.tinmen import TinMenReplayChat, read_tinmen


def _count(run, model, scenario, condition, choice):
    t = run.transcripts
    sel = (
        (t["model"] == model)
        & (t["scenario"] == scenario)
        & (t["condition"] == condition)
        & (t["choice"] == choice)
    )
    return int(sel.sum())


def test_replay_reproduces_the_published_counts(tinmen):
    scenarios = list(builtin_scenarios().values())
    chat = TinMenReplayChat(read_tinmen(tinmen))
    run = run_choices(chat, scenarios, ["gpt-3.5-turbo", "gpt-4"], [0.2], 30, concurrency=4)
    assert len(run.transcripts) == 2 * 2 * 4 * 30
    # The published targets (economics.md §4): GPT-3.5 Shell, Tesla 29/30 when only the
    # customer sees the explanation, Porsche 21/30 when only Shell does; GPT-4 Porsche 30/30.
    assert _count(run, "gpt-3.5-turbo", "shell", "customer-only", "1") == 29
    assert _count(run, "gpt-3.5-turbo", "shell", "principal-only", "2") == 21
    for condition in CONDITIONS:
        assert _count(run, "gpt-4", "shell", condition, "2") == 30
        # OpenAI case: the romcom (2) essentially always; never the propaganda film.
        assert _count(run, "gpt-4", "openai", condition, "2") == 30
        assert _count(run, "gpt-3.5-turbo", "openai", condition, "1") == 0


def test_scripted_run_follows_the_preference_and_is_deterministic():
    shell = load_scenario("shell")
    chat = ScriptedChat(preference_rule([shell]))
    a = run_choices(chat, [shell], ["m"], [0.2, 1.0], 5, seed=11, concurrency=3)
    b = run_choices(chat, [shell], ["m"], [0.2, 1.0], 5, seed=11, concurrency=1)
    assert a.transcripts.equals(b.transcripts)
    t = a.transcripts
    assert len(t) == 4 * 2 * 5
    assert (t["choice"] == shell.preferred).all() and not t["override"].any()
    assert t["seed"].is_unique and t["seed"].min() == 11
    assert set(t["tag"]) == {f"shell/{c}/{i}" for c in CONDITIONS for i in range(5)}
    assert (t["input_tokens"] > 0).all()


def test_an_unparseable_answer_is_counted_not_dropped():
    shell = load_scenario("shell")

    def rule(request):
        index = int(request.tag.rsplit("/", 1)[1])
        return "Choice: 2" if index % 3 == 0 else "I would rather not say."

    run = run_choices(ScriptedChat(rule), [shell], ["m"], [0.2], 6, conditions=["both"])
    t = run.transcripts
    assert len(t) == 6
    assert list(t["choice"]) == ["2", "unparsed", "unparsed", "2", "unparsed", "unparsed"]
    assert list(t["parsed"]) == [True, False, False, True, False, False]
    counts = {r["choice"]: r["count"] for r in run.counts().to_dict(orient="records")}
    assert counts == {"2": 2, "unparsed": 4}


def test_bad_design_is_refused():
    shell = load_scenario("shell")
    chat = ScriptedChat(preference_rule([shell]))
    with pytest.raises(ConfigError, match="no condition 'everyone'"):
        run_choices(chat, [shell], ["m"], [0.2], 1, conditions=["everyone"])
    with pytest.raises(ConfigError, match="n must be"):
        run_choices(chat, [shell], ["m"], [0.2], 0)
    with pytest.raises(ConfigError, match="concurrency"):
        run_choices(chat, [shell], ["m"], [0.2], 1, concurrency=0)


def test_end_to_end_against_the_openai_compatible_test_server(tmp_path):
    scenarios = list(builtin_scenarios().values())
    app = create_app(rule=preference_rule(scenarios), models=("tin-agent",))
    with serve_in_thread(app) as url, OpenAIChat(url + "/v1", "tin-agent", max_retries=0) as chat:
        run = run_choices(
            chat, scenarios, ["tin-agent"], [0.2], 3, conditions=["both", "neither"], concurrency=4
        )
    t = run.transcripts
    assert len(t) == 2 * 2 * 3
    assert (t["choice"] == "1").all()
    assert (t["response_model"] == "tin-agent").all()
    assert (t["output_tokens"] > 0).all() and (t["latency_s"] > 0).all()
    out = write_choice_run(run, tmp_path / "run", scenarios=scenarios, backend={"kind": "openai"})
    table = pq.read_table(out / f"{TRANSCRIPTS}.parquet")
    assert table.column_names == list(COLUMN_TYPES)
    assert table.num_rows == 12
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "principal-run" and summary["samples"] == 12
    assert summary["unparsed"] == 0


def test_write_refuses_to_overwrite_and_keeps_the_old_result(tmp_path):
    shell = load_scenario("shell")
    run = run_choices(ScriptedChat(preference_rule([shell])), [shell], ["m"], [0.2], 2)
    target = write_choice_run(run, tmp_path / "r", scenarios=[shell], backend={"kind": "x"})
    before = (target / "summary.json").read_bytes()
    with pytest.raises(ResultsError):
        write_choice_run(run, target, scenarios=[shell], backend={"kind": "y"})
    assert (target / "summary.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
