"""Recording transcripts and replaying them without a server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.llm.conftest import served
from tokenomy.errors import DataError
from tokenomy.llm import (
    ChatMessage,
    ChatRequest,
    RecordingChat,
    ReplayChat,
    ReplayMismatchError,
    ScriptedChat,
    read_transcript,
)
from tokenomy.llm.rules import echo_rule
from tokenomy.llm.testserver import create_app


def ask(tag: str, text: str, **kw) -> ChatRequest:
    messages = (ChatMessage("system", "Repeat after me."), ChatMessage("user", text))
    return ChatRequest(messages, tag=tag, **kw)


def test_prompt_hash_covers_everything_but_the_tag():
    base = ask("a", "hello", temperature=0.0, seed=1)
    assert base.prompt_hash() == ask("b", "hello", temperature=0.0, seed=1).prompt_hash()
    variants = [
        ask("a", "hello!", temperature=0.0, seed=1),
        ask("a", "hello", temperature=0.5, seed=1),
        ask("a", "hello", temperature=0.0, seed=2),
        ask("a", "hello", temperature=0.0, seed=1, max_tokens=9),
        ask("a", "hello", temperature=0.0, seed=1, model="m"),
        ask("a", "hello", temperature=0.0, seed=1, json_schema={"type": "object"}),
    ]
    hashes = {v.prompt_hash() for v in variants}
    assert len(hashes) == len(variants) and base.prompt_hash() not in hashes


def test_record_then_replay_without_server(tmp_path):
    path = tmp_path / "calls.jsonl"
    requests = [ask("alice", "one"), ask("bob", "two"), ask("alice", "three", max_tokens=1)]
    with served(create_app(echo_rule), "rule-market") as inner:
        recorder = RecordingChat(inner, path)
        live = [recorder.complete(r) for r in requests]
    records = list(read_transcript(path))
    assert [(r.seq, r.tag, r.tag_seq) for r in records] == [
        (0, "alice", 0),
        (1, "bob", 0),
        (2, "alice", 1),
    ]
    assert records[2].response.finish_reason == "length"
    assert all(r.model == "rule-market" for r in records)
    assert [r.prompt_hash for r in records] == [q.prompt_hash() for q in requests]
    # the server is gone: the replay answers from the file alone
    replay = ReplayChat(path)
    assert replay.name == "rule-market"
    assert [replay.complete(r) for r in requests] == live


def test_replay_matches_by_tag_whatever_the_interleaving(tmp_path):
    path = tmp_path / "calls.jsonl"
    tags = [f"agent_{i}" for i in range(6)]
    recorder = RecordingChat(ScriptedChat(echo_rule, "echo"), path)

    def conversation(tag: str) -> list[str]:
        return [recorder.complete(ask(tag, f"{tag} says {k}")).text for k in range(4)]

    with ThreadPoolExecutor(6) as pool:
        live = dict(zip(tags, pool.map(conversation, tags), strict=True))
    assert len(list(read_transcript(path))) == 24
    replay = ReplayChat(path)
    # replay agent by agent, in reverse order: a different interleaving from the recording
    for tag in reversed(tags):
        assert [replay.complete(ask(tag, f"{tag} says {k}")).text for k in range(4)] == live[tag]


def test_changed_prompt_is_a_mismatch_naming_the_difference(tmp_path):
    path = tmp_path / "calls.jsonl"
    recorder = RecordingChat(ScriptedChat(echo_rule), path)
    recorder.complete(ask("carol", "first"))
    recorder.complete(ask("carol", "the price is 10 dollars"))
    replay = ReplayChat(path)
    replay.complete(ask("carol", "first"))
    with pytest.raises(ReplayMismatchError) as info:
        replay.complete(ask("carol", "the price is 12 dollars"))
    text = str(info.value)
    assert "call #1" in text and "'carol'" in text
    assert "message 1 (user)" in text
    assert "10 dollars" in text and "12 dollars" in text


def test_changed_setting_is_a_mismatch(tmp_path):
    path = tmp_path / "calls.jsonl"
    RecordingChat(ScriptedChat(echo_rule), path).complete(ask("dan", "hi", temperature=0.0))
    with pytest.raises(ReplayMismatchError, match="field 'temperature'"):
        ReplayChat(path).complete(ask("dan", "hi", temperature=0.7))


def test_missing_record_is_a_mismatch(tmp_path):
    path = tmp_path / "calls.jsonl"
    RecordingChat(ScriptedChat(echo_rule), path).complete(ask("erin", "hi"))
    replay = ReplayChat(path)
    replay.complete(ask("erin", "hi"))
    with pytest.raises(ReplayMismatchError, match=r"no recorded call #1 for tag 'erin'"):
        replay.complete(ask("erin", "hi"))
    with pytest.raises(ReplayMismatchError, match=r"no recorded call #0 for tag 'frank'"):
        replay.complete(ask("frank", "hi"))


def test_append_continues_the_counters(tmp_path):
    path = tmp_path / "calls.jsonl"
    RecordingChat(ScriptedChat(echo_rule), path).complete(ask("gil", "a"))
    RecordingChat(ScriptedChat(echo_rule), path, append=True).complete(ask("gil", "b"))
    assert [(r.seq, r.tag_seq) for r in read_transcript(path)] == [(0, 0), (1, 1)]
    RecordingChat(ScriptedChat(echo_rule), path).complete(ask("gil", "c"))
    assert [(r.seq, r.tag_seq) for r in read_transcript(path)] == [(0, 0)]


def good_line(tmp_path) -> dict:
    path = tmp_path / "good.jsonl"
    RecordingChat(ScriptedChat(echo_rule), path).complete(ask("h", "hello"))
    return json.loads(path.read_text().splitlines()[0])


def write(tmp_path, lines: list[str]):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_json_line_names_file_and_line(tmp_path):
    line = json.dumps(good_line(tmp_path))
    path = write(tmp_path, [line, "{not json"])
    with pytest.raises(DataError, match=r"bad\.jsonl, field 'line 2'.*one JSON object"):
        ReplayChat(path)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["response"]["usage"].pop("input_tokens"), "response.usage.input_tokens"),
        (lambda d: d["response"]["usage"].update(output_tokens=-1), "response.usage.output_tokens"),
        (lambda d: d["request"]["messages"][0].update(role="robot"), "request.messages.0.role"),
        (lambda d: d.update(tag_seq="first"), "tag_seq"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_bad_field_names_line_and_field(tmp_path, edit, field):
    record = good_line(tmp_path)
    edit(record)
    path = write(tmp_path, ["", json.dumps(record)])
    with pytest.raises(DataError) as info:
        ReplayChat(path)
    assert str(info.value).startswith(f"{path}, field 'line 2: {field}'")


def test_tampered_prompt_is_caught_by_its_hash(tmp_path):
    record = good_line(tmp_path)
    record["request"]["messages"][1]["content"] = "something else"
    path = write(tmp_path, [json.dumps(record)])
    with pytest.raises(DataError, match="line 1: prompt_hash"):
        ReplayChat(path)


def test_duplicate_call_key_is_rejected(tmp_path):
    line = json.dumps(good_line(tmp_path))
    path = write(tmp_path, [line, line])
    with pytest.raises(DataError, match=r"one record per \(tag, tag_seq\)"):
        ReplayChat(path)


def test_missing_transcript_file(tmp_path):
    with pytest.raises(DataError, match="readable transcript"):
        ReplayChat(tmp_path / "absent.jsonl")
