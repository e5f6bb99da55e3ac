"""``tokenomy llm`` commands (the typer app, as mounted by the main CLI)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tokenomy.cli_llm import llm_app
from tokenomy.llm import ChatMessage, ChatRequest, RecordingChat, ScriptedChat
from tokenomy.llm.rules import echo_rule
from tokenomy.prices import estimate_tokens

runner = CliRunner()


def test_ask_prints_answer_and_usage(server_url):
    result = runner.invoke(
        llm_app, ["ask", "hello cli", "--base-url", server_url, "--model", "rule-market", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["text"] == "hello cli"
    assert answer["usage"] == {
        "input_tokens": estimate_tokens("hello cli"),
        "output_tokens": estimate_tokens("hello cli"),
        "estimated": False,
    }
    plain = runner.invoke(llm_app, ["ask", "hi", "--base-url", server_url, "--system", "S"])
    assert plain.exit_code == 0 and plain.stdout.startswith("hi\n")
    assert "rule-market" in plain.stdout


def test_ask_unknown_model_is_one_error_line(server_url):
    result = runner.invoke(llm_app, ["ask", "x", "--base-url", server_url, "--model", "nope"])
    assert result.exit_code == 2
    assert "HTTP 404" in result.output and "Traceback" not in result.output


def test_transcript_totals(tmp_path):
    path = tmp_path / "calls.jsonl"
    chat = RecordingChat(ScriptedChat(echo_rule, "echo"), path)
    for tag, text in [("a", "one"), ("b", "two two"), ("a", "three")]:
        chat.complete(ChatRequest((ChatMessage("user", text),), tag=tag))
    result = runner.invoke(llm_app, ["transcript", str(path), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["calls"] == 3
    assert stats["output_tokens"] == sum(estimate_tokens(t) for t in ["one", "two two", "three"])
    assert stats["by_tag"]["a"]["calls"] == 2 and stats["by_model"]["echo"]["calls"] == 3
    table = runner.invoke(llm_app, ["transcript", str(path)])
    assert table.exit_code == 0 and "echo" in table.stdout


def test_bad_transcript_and_unknown_rule_are_one_error_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("{}\n")
    result = runner.invoke(llm_app, ["transcript", str(path)])
    assert result.exit_code == 2 and "line 1" in result.output
    result = runner.invoke(llm_app, ["testserver", "--rule", "markte"])
    assert result.exit_code == 2 and "unknown answer rule 'markte'" in result.output
