"""The published transcripts: reading them, our parser against their choices, the replay."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from tokenomy.errors import DataError
from tokenomy.llm.errors import ReplayMismatchError
from tokenomy.llm.protocol import ChatMessage, ChatRequest
from tokenomy.principal.scenarios import load_scenario
from tokenomy.principal.tinmen import TinMenReplayChat, disagreements, read_tinmen


def test_reads_every_row_of_every_file(tinmen):
    records = read_tinmen(tinmen)
    raw = {m: pd.read_csv(tinmen / m / "temp-0.2.csv") for m in ("gpt-3.5-turbo", "gpt-4")}
    assert len(records) == sum(len(f) for f in raw.values())
    by_model = Counter(r.model for r in records)
    assert by_model == {m: len(f) for m, f in raw.items()}
    # The study's unreadable answers (empty Choice) are kept, with their text.
    unread = [r for r in records if r.recorded_choice is None]
    assert len(unread) == sum(int(f["Choice"].isna().sum()) for f in raw.values())
    assert all(r.response for r in unread)


def test_our_parser_agrees_with_every_recorded_choice(tinmen):
    records = read_tinmen(tinmen)
    assert [d.to_dict() for d in disagreements(records)] == []


def test_a_stricter_parser_disagrees_and_the_list_says_where(tinmen):
    # A line-anchored pattern misses "Choice: [Product id: 2]" and an inline "[Choice: 1]":
    # the disagreement list then names each such answer, with what each side read.
    records = read_tinmen(tinmen)
    strict = load_scenario("shell").model_copy(update={"choice_pattern": r"(?im)^Choice:\s*(\d+)"})
    openai = load_scenario("openai").model_copy(update={"choice_pattern": r"(?im)^Choice:\s*(\d+)"})
    found = disagreements(records, {"shell": strict, "openai": openai})
    assert found
    for d in found:
        assert d.ours == "unparsed" and d.recorded in ("1", "2")
        assert "Choice:" in d.record.response


def _request(tag: str, prompt: str, model: str = "gpt-4") -> ChatRequest:
    return ChatRequest((ChatMessage("user", prompt),), model=model, temperature=0.2, tag=tag)


def test_replay_answers_the_nth_recorded_answer_of_the_cell(tinmen):
    records = read_tinmen(tinmen)
    chat = TinMenReplayChat(records)
    shell = load_scenario("shell")
    cell = [
        r
        for r in records
        if (r.model, r.scenario, r.condition) == ("gpt-3.5-turbo", "shell", "principal-only")
    ]
    prompt = shell.render("principal-only")
    for i in (0, 7, len(cell) - 1):
        got = chat.complete(_request(f"shell/principal-only/{i}", prompt, "gpt-3.5-turbo"))
        assert got.text == cell[i].response
        assert got.usage.estimated


def test_replay_refuses_what_was_not_recorded(tinmen):
    chat = TinMenReplayChat(read_tinmen(tinmen))
    prompt = load_scenario("shell").render("both")
    with pytest.raises(ReplayMismatchError, match="scenario/condition"):
        chat.complete(_request("shell-both-0", prompt))
    with pytest.raises(ReplayMismatchError, match="no recorded answer #30"):
        chat.complete(_request("shell/both/30", prompt))
    with pytest.raises(ReplayMismatchError, match="no recorded answer"):
        chat.complete(_request("shell/both/0", prompt, model="gpt-5"))
    with pytest.raises(ReplayMismatchError, match="prompt differs"):
        chat.complete(_request("shell/both/0", prompt + " please"))


def test_malformed_csv_names_file_row_and_field(tinmen, tmp_path):
    frame = pd.read_csv(tinmen / "gpt-4" / "temp-0.2.csv").head(3)
    folder = tmp_path / "data" / "gpt-4"
    folder.mkdir(parents=True)
    bad = frame.copy()
    bad.loc[1, "Condition"] = "everyone"
    bad.to_csv(folder / "temp-0.2.csv", index=False)
    with pytest.raises(DataError) as info:
        read_tinmen(tmp_path / "data")
    assert info.value.field == "row 1.Condition" and info.value.value == "everyone"
    bad = frame.copy()
    bad.loc[2, "Choice"] = "PAChoice(2)"
    bad.to_csv(folder / "temp-0.2.csv", index=False)
    with pytest.raises(DataError, match=r"row 2\.Choice"):
        read_tinmen(tmp_path / "data")
    bad = frame.drop(columns=["Transcript"])
    bad.to_csv(folder / "temp-0.2.csv", index=False)
    with pytest.raises(DataError, match="Transcript"):
        read_tinmen(tmp_path / "data")
    with pytest.raises(DataError, match=r"MODEL/temp-T\.csv"):
        read_tinmen(tmp_path / "empty")
