"""Run choice experiments: scenario × condition × model × temperature × n samples.

Every sample is one :class:`~tokenomy.llm.protocol.ChatRequest` (the rendered prompt as a user
message) with its own seed (``seed`` + the sample's position in the design) and the tag
``{scenario}/{condition}/{i}`` (what a replay matches on). Calls run on a thread pool capped at
``concurrency``; results are put back in design order, so the table does not depend on timing.
Every answer is recorded with its parsed choice; an answer whose choice cannot be read is
recorded as ``unparsed``, never dropped. A failing call (after the backend's own retries)
fails the run and nothing is written.

    DIR/
      summary.json         kind "principal-run": design, backend, counts per cell
      transcripts.parquet  one row per sample
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from tokenomy.errors import ConfigError
from tokenomy.llm.protocol import ChatMessage, ChatModel, ChatRequest, ChatResponse
from tokenomy.principal.parsing import UNPARSED, choice_label
from tokenomy.principal.scenarios import Scenario
from tokenomy.results import environment, write_result

KIND = "principal-run"
"""``summary.json`` kind of a choice-experiment folder."""

TRANSCRIPTS = "transcripts"
"""Name of the per-sample table."""


@dataclass(frozen=True)
class Sample:
    """One planned call."""

    scenario: Scenario
    condition: str
    model: str
    temperature: float
    index: int
    seed: int

    @property
    def tag(self) -> str:
        """``{scenario}/{condition}/{index}``."""
        return f"{self.scenario.name}/{self.condition}/{self.index}"

    def request(self, max_tokens: int | None) -> ChatRequest:
        """The chat request of this sample."""
        prompt = self.scenario.render(self.condition)
        return ChatRequest(
            messages=(ChatMessage("user", prompt),),
            model=self.model,
            temperature=self.temperature,
            max_tokens=max_tokens,
            seed=self.seed,
            tag=self.tag,
        )


@dataclass
class ChoiceRun:
    """A finished experiment: one row per sample, plus the design."""

    transcripts: pd.DataFrame
    design: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> pd.DataFrame:
        """Samples per (model, temperature, scenario, condition, choice), non-zero cells only."""
        keys = ["model", "temperature", "scenario", "condition", "choice"]
        return self.transcripts.groupby(keys, sort=True).size().reset_index(name="count")


def plan(
    scenarios: Sequence[Scenario],
    models: Sequence[str],
    temperatures: Sequence[float],
    n: int,
    *,
    conditions: Sequence[str] | None = None,
    seed: int = 0,
) -> list[Sample]:
    """The samples of a design, in order (scenario, condition, model, temperature, index).

    Raises:
        ConfigError: ``n`` < 1, no scenario/model/temperature, or a condition a scenario lacks.
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    if not scenarios or not models or not temperatures:
        raise ConfigError("a design needs at least one scenario, one model and one temperature")
    out: list[Sample] = []
    for scenario in scenarios:
        chosen = list(conditions) if conditions else list(scenario.conditions)
        for condition in chosen:
            if condition not in scenario.conditions:
                raise ConfigError(
                    f"scenario '{scenario.name}' has no condition '{condition}'; "
                    f"expected one of {', '.join(scenario.conditions)}"
                )
            for model in models:
                for temperature in temperatures:
                    for i in range(n):
                        out.append(
                            Sample(scenario, condition, model, temperature, i, seed + len(out))
                        )
    return out


def _row(sample: Sample, request: ChatRequest, response: ChatResponse) -> dict[str, Any]:
    s = sample.scenario
    choice = choice_label(response.text, s.choice_pattern, s.product_ids)
    return {
        "scenario": s.name,
        "condition": sample.condition,
        "model": sample.model,
        "temperature": sample.temperature,
        "sample": sample.index,
        "seed": sample.seed,
        "tag": sample.tag,
        "prompt": request.prompt_text(),
        "response": response.text,
        "choice": choice,
        "parsed": choice != UNPARSED,
        "preferred": s.preferred,
        "override": choice != UNPARSED and choice != s.preferred,
        "input_tokens": response.usage.input_tokens,
        "output_tokens": response.usage.output_tokens,
        "usage_estimated": response.usage.estimated,
        "latency_s": response.latency_s,
        "response_model": response.model,
        "finish_reason": response.finish_reason,
    }


COLUMN_TYPES: dict[str, pa.DataType] = {
    "scenario": pa.string(),
    "condition": pa.string(),
    "model": pa.string(),
    "temperature": pa.float64(),
    "sample": pa.int64(),
    "seed": pa.int64(),
    "tag": pa.string(),
    "prompt": pa.string(),
    "response": pa.string(),
    "choice": pa.string(),
    "parsed": pa.bool_(),
    "preferred": pa.string(),
    "override": pa.bool_(),
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "usage_estimated": pa.bool_(),
    "latency_s": pa.float64(),
    "response_model": pa.string(),
    "finish_reason": pa.string(),
}
"""The transcripts table's columns and types."""


def run_choices(
    chat: ChatModel,
    scenarios: Sequence[Scenario],
    models: Sequence[str],
    temperatures: Sequence[float],
    n: int,
    *,
    conditions: Sequence[str] | None = None,
    seed: int = 0,
    concurrency: int = 8,
    max_tokens: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> ChoiceRun:
    """Ask ``chat`` every sample of the design and parse each answer.

    Args:
        chat: the backend (``request.model`` names the model of each sample).
        scenarios: the scenarios.
        models: model names to ask.
        temperatures: sampling temperatures.
        n: samples per cell.
        conditions: the information conditions (default: all a scenario defines).
        seed: the first sample's seed; sample k of the design gets ``seed + k``.
        concurrency: calls in flight at once (at least 1).
        max_tokens: cap on each answer's tokens.
        on_done: called after each finished sample (progress bars).

    Raises:
        ConfigError: a bad design or ``concurrency`` < 1.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
    samples = plan(scenarios, models, temperatures, n, conditions=conditions, seed=seed)

    def one(sample: Sample) -> dict[str, Any]:
        request = sample.request(max_tokens)
        row = _row(sample, request, chat.complete(request))
        if on_done is not None:
            on_done()
        return row

    with ThreadPoolExecutor(max_workers=min(concurrency, len(samples))) as pool:
        rows = list(pool.map(one, samples))
    frame = pd.DataFrame(rows, columns=list(COLUMN_TYPES))
    design = {
        "scenarios": [s.name for s in scenarios],
        "conditions": list(conditions) if conditions else None,
        "models": list(models),
        "temperatures": [float(t) for t in temperatures],
        "n": n,
        "seed": seed,
        "concurrency": concurrency,
        "max_tokens": max_tokens,
    }
    return ChoiceRun(frame, design)


def transcripts_table(frame: pd.DataFrame) -> pa.Table:
    """The transcripts as an Arrow table with fixed column types."""
    schema = pa.schema([(name, kind) for name, kind in COLUMN_TYPES.items()])
    return pa.Table.from_pandas(frame[list(COLUMN_TYPES)], schema=schema, preserve_index=False)


def write_choice_run(
    run: ChoiceRun,
    out: str | Path,
    *,
    scenarios: Sequence[Scenario],
    backend: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``transcripts.parquet`` and ``summary.json`` (kind ``principal-run``) atomically.

    Raises:
        ResultsError: ``out`` already holds results and ``overwrite`` is false.
    """
    from tokenomy.principal.analysis import choice_shares, condition_tests, outcome_table

    outcomes = outcome_table(run.transcripts, scenarios)
    summary = {
        "kind": KIND,
        "design": run.design,
        "backend": backend,
        "scenarios": {s.name: s.model_dump(mode="json") for s in scenarios},
        "samples": len(run.transcripts),
        "unparsed": int((~run.transcripts["parsed"]).sum()),
        "counts": run.counts().to_dict(orient="records"),
        "outcomes": outcomes.to_dict(orient="records"),
        "shares": choice_shares(run.transcripts, scenarios).to_dict(orient="records"),
        "tests": condition_tests(outcomes).to_dict(orient="records"),
        "environment": environment(),
    }
    return write_result(
        out, {TRANSCRIPTS: transcripts_table(run.transcripts)}, summary, overwrite=overwrite
    )


def preference_rule(scenarios: Sequence[Scenario]) -> Callable[[ChatRequest], str]:
    """A deterministic agent that always buys the customer's stated preference.

    The scenario is read from the request's tag (``{scenario}/...``) or, where the tag does not
    travel (an HTTP server), recognised by its rendered prompt; for the scripted backend and for
    the OpenAI-compatible test server.

    Raises:
        ConfigError: (when called) neither tag nor prompt match a scenario given here.
    """
    by_name = {s.name: s for s in scenarios}
    by_prompt = {s.render(c): s for s in scenarios for c in s.conditions}

    def rule(request: ChatRequest) -> str:
        s = by_name.get(request.tag.split("/", 1)[0]) or by_prompt.get(request.prompt_text())
        if s is None:
            raise ConfigError(
                f"preference rule: tag {request.tag!r} and prompt match no known scenario"
            )
        product = s.product(s.preferred)
        return (
            f"Explanation: The customer prefers {product.name}, which fits their budget.\n\n"
            f"Choice: {product.id}"
        )

    return rule
