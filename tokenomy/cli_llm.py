"""``tokenomy llm``: chat-model clients on the command line.

    tokenomy llm testserver [--host 127.0.0.1] [--port 8000] [--rule market]
    tokenomy llm ask "PROMPT" [--base-url URL] [--model NAME] [--system TEXT] [--json]
    tokenomy llm transcript FILE [--json]

``testserver`` runs the OpenAI-compatible test server in the foreground (answers from a rule:
``market`` plays the marketplace for tokenomy's prompts, ``echo`` echoes); point any
OpenAI-compatible client at ``http://HOST:PORT/v1`` with model ``rule-<rule>``. ``ask`` sends
one prompt to a server configured by ``TOKENOMY_LLM_*`` variables (or the options) and prints
the answer and its usage (``--json``: ``{"text", "model", "usage": {"input_tokens",
"output_tokens", "estimated"}, "latency_s", "finish_reason"}``). ``transcript`` checks a
recorded transcript and sums its calls and tokens per model and per tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomy.cli_support import guard, out, print_json

llm_app = typer.Typer(
    help="Chat-model clients: OpenAI-compatible test server, one-off prompts, transcripts.",
    no_args_is_help=True,
)


@llm_app.command("testserver")
def serve_testserver(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    rule: Annotated[str, typer.Option(help="Answer rule: market | echo")] = "market",
    model: Annotated[
        list[str] | None, typer.Option(help="Model name to serve (repeatable; default rule-RULE)")
    ] = None,
) -> None:
    """Serve an OpenAI-compatible chat API that answers from a rule (for offline demos)."""
    from tokenomy.llm.rules import get_rule
    from tokenomy.llm.testserver import serve

    guard(lambda: get_rule(rule))
    out.print(f"serving rule '{rule}' at http://{host}:{port}/v1 (Ctrl-C stops)", highlight=False)
    serve(host=host, port=port, rule=rule, models=model or None)


@llm_app.command("ask")
def ask(
    prompt: Annotated[str, typer.Argument(help="The user message")],
    base_url: Annotated[
        str | None, typer.Option(help="Server URL ending in /v1 (default TOKENOMY_LLM_BASE_URL)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model (default TOKENOMY_LLM_MODEL)")] = None,
    system: Annotated[str | None, typer.Option(help="A system message")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Cap on the answer's tokens", min=1)] = (
        None
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
) -> None:
    """Send one prompt to an OpenAI-compatible server; print the answer and its token usage."""
    from tokenomy.llm.openai_backend import OpenAIChat
    from tokenomy.llm.protocol import ChatMessage, ChatRequest
    from tokenomy.llm.settings import LLMSettings

    def go() -> dict[str, Any]:
        settings = LLMSettings()
        updates: dict[str, Any] = {}
        if base_url is not None:
            updates["base_url"] = base_url
        if model is not None:
            updates["model"] = model
        messages = [ChatMessage("user", prompt)]
        if system is not None:
            messages.insert(0, ChatMessage("system", system))
        with OpenAIChat.from_settings(settings.model_copy(update=updates)) as chat:
            response = chat.complete(ChatRequest(tuple(messages), max_tokens=max_tokens))
        return response.to_dict()

    answer = guard(go)
    if as_json:
        print_json(answer)
        return
    out.print(answer["text"], highlight=False, markup=False)
    usage = answer["usage"]
    mark = " (estimated)" if usage["estimated"] else ""
    out.print(
        f"[dim]{answer['model']}: {usage['input_tokens']} in, {usage['output_tokens']} out"
        f"{mark}, {answer['latency_s']:.2f} s, {answer['finish_reason']}[/]",
        highlight=False,
    )


def transcript_stats(path: Path) -> dict[str, Any]:
    """Calls and tokens of a transcript, in total, per model and per tag (validates it)."""
    from tokenomy.llm.recording import read_transcript

    def add(table: dict[str, dict[str, int]], key: str, tin: int, tout: int) -> None:
        row = table.setdefault(key, {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        row["calls"] += 1
        row["input_tokens"] += tin
        row["output_tokens"] += tout

    total: dict[str, dict[str, int]] = {}
    by_model: dict[str, dict[str, int]] = {}
    by_tag: dict[str, dict[str, int]] = {}
    for record in read_transcript(path):
        usage = record.response.usage
        add(total, "all", usage.input_tokens, usage.output_tokens)
        add(by_model, record.model, usage.input_tokens, usage.output_tokens)
        add(by_tag, record.tag, usage.input_tokens, usage.output_tokens)
    empty = {"calls": 0, "input_tokens": 0, "output_tokens": 0}
    return {
        "file": str(path),
        **total.get("all", empty),
        "by_model": by_model,
        "by_tag": by_tag,
    }


@llm_app.command("transcript")
def transcript(
    path: Annotated[Path, typer.Argument(help="A JSON-lines transcript (RecordingChat)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the totals as JSON")] = False,
) -> None:
    """Check a recorded transcript; sum its calls and tokens per model."""
    stats = guard(lambda: transcript_stats(path))
    if as_json:
        print_json(stats)
        return
    table = Table("model", "calls", "input tokens", "output tokens", title=str(path))
    for name, row in sorted(stats["by_model"].items()):
        table.add_row(name, str(row["calls"]), str(row["input_tokens"]), str(row["output_tokens"]))
    table.add_row(
        "all", str(stats["calls"]), str(stats["input_tokens"]), str(stats["output_tokens"])
    )
    out.print(table)
    out.print(f"{len(stats['by_tag'])} tag(s)", highlight=False)
