"""The published transcripts of "Of Models and Tin Men" and a chat backend that replays them.

Layout (that of ``../shared/data/tinmen/``): ``DIR/MODEL/temp-T.csv``, one row per sample, with
columns ``Participant`` (a repr naming the ``principal``), ``Condition`` (``both``,
``user-only``, ``principal-only``, ``neither``), ``Choice`` (``PAChoice(value=2)``, or empty
when the study could not read a choice), ``Transcript`` (a Python list literal: the prompt and
the answer, or one string ``Cannot determine choice from {JSON message}``), ``Model`` and
``Temperature``.

:class:`TinMenReplayChat` answers a request tagged ``{scenario}/{condition}/{i}`` with the i-th
recorded answer (file order) of the cell (model, temperature, scenario, condition); where the
prompt was recorded it must equal the request's prompt.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tokenomy.errors import DataError
from tokenomy.llm.errors import ReplayMismatchError
from tokenomy.llm.protocol import ChatRequest, ChatResponse, estimated_usage
from tokenomy.principal.parsing import UNPARSED, choice_label
from tokenomy.principal.scenarios import CONDITIONS, Scenario, builtin_scenarios

CONDITION_NAMES: dict[str, str] = {
    "both": "both",
    "user-only": "customer-only",
    "customer-only": "customer-only",
    "principal-only": "principal-only",
    "neither": "neither",
}
"""The study's condition names → ours."""

CANNOT = "Cannot determine choice from "
"""How the study records an answer it could not read (followed by the message as JSON)."""

COLUMNS = ("Participant", "Condition", "Choice", "Transcript", "Model", "Temperature")
_FILE = re.compile(r"^temp-(\d+(?:\.\d+)?)\.csv$")
_PRINCIPAL = re.compile(r"principal='([^']*)'|principal=\"([^\"]*)\"")
_CHOICE = re.compile(r"^PAChoice\(value=(\d+)\)$")


@dataclass(frozen=True)
class TinMenRecord:
    """One recorded sample.

    Attributes:
        model: the model, as the file's folder names it.
        temperature: sampling temperature.
        scenario: our scenario name (``shell`` or ``openai``).
        condition: our condition name.
        index: position within its cell (file order).
        prompt: the recorded prompt, or None when only the answer was kept.
        response: the answer's text.
        recorded_choice: the study's parsed choice (a product id), or None (could not read).
        file: the CSV it came from.
        row: its 0-based data row in that file.
    """

    model: str
    temperature: float
    scenario: str
    condition: str
    index: int
    prompt: str | None
    response: str
    recorded_choice: str | None
    file: Path
    row: int

    @property
    def cell(self) -> tuple[str, float, str, str]:
        """(model, temperature, scenario, condition)."""
        return (self.model, self.temperature, self.scenario, self.condition)


@dataclass(frozen=True)
class Disagreement:
    """A recorded answer where our parser and the study's recorded choice differ."""

    record: TinMenRecord
    ours: str
    recorded: str

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        r = self.record
        return {
            "file": str(r.file),
            "row": r.row,
            "model": r.model,
            "scenario": r.scenario,
            "condition": r.condition,
            "index": r.index,
            "ours": self.ours,
            "recorded": self.recorded,
            "response": r.response,
        }


def _scenario_by_principal(scenarios: Mapping[str, Scenario]) -> dict[str, str]:
    return {s.principal.name: name for name, s in scenarios.items()}


def _transcript(text: object, file: Path, row: int) -> tuple[str | None, str]:
    if not isinstance(text, str):
        raise DataError(file, f"row {row}.Transcript", text, "a list literal [prompt, answer]")
    try:
        parts = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise DataError(file, f"row {row}.Transcript", text, "a Python list literal") from None
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise DataError(file, f"row {row}.Transcript", text, "a list of strings")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1 and parts[0].startswith(CANNOT):
        try:
            message = json.loads(parts[0][len(CANNOT) :])
            content = message["content"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DataError(
                file, f"row {row}.Transcript", parts[0], f"'{CANNOT}' and a JSON message"
            ) from None
        if not isinstance(content, str):
            raise DataError(file, f"row {row}.Transcript", parts[0], "a string 'content'")
        return None, content
    raise DataError(file, f"row {row}.Transcript", text, "[prompt, answer] or ['Cannot ...']")


def read_tinmen_csv(
    file: str | Path, scenarios: Mapping[str, Scenario] | None = None
) -> list[TinMenRecord]:
    """Read one ``MODEL/temp-T.csv``.

    Args:
        file: the CSV.
        scenarios: our scenarios by name, matched to rows by the principal's name
            (default: the built-ins).

    Raises:
        DataError: a missing column, an unknown principal or condition, a malformed transcript
            or choice (naming the file, row and field).
    """
    path = Path(file)
    by_principal = _scenario_by_principal(scenarios or builtin_scenarios())
    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, None, path.name, f"a readable CSV ({exc})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(path, missing[0], list(frame.columns), f"columns {list(COLUMNS)}")
    records: list[TinMenRecord] = []
    counts: Counter[tuple[str, float, str, str]] = Counter()
    for row, item in enumerate(frame.itertuples(index=False)):
        values = dict(zip(frame.columns, item, strict=True))
        found = _PRINCIPAL.search(str(values["Participant"]))
        principal = (found.group(1) or found.group(2)) if found else None
        if principal not in by_principal:
            raise DataError(
                path, f"row {row}.Participant", principal, f"a principal of {sorted(by_principal)}"
            )
        condition = CONDITION_NAMES.get(str(values["Condition"]))
        if condition is None:
            raise DataError(
                path, f"row {row}.Condition", values["Condition"], f"one of {list(CONDITION_NAMES)}"
            )
        raw_choice = str(values["Choice"]).strip()
        match = _CHOICE.match(raw_choice)
        if raw_choice and match is None:
            raise DataError(path, f"row {row}.Choice", raw_choice, "PAChoice(value=N) or empty")
        try:
            temperature = float(values["Temperature"])
        except ValueError:
            raise DataError(
                path, f"row {row}.Temperature", values["Temperature"], "a number"
            ) from None
        prompt, response = _transcript(values["Transcript"], path, row)
        scenario = by_principal[principal]
        key = (str(values["Model"]), temperature, scenario, condition)
        records.append(
            TinMenRecord(
                model=key[0],
                temperature=temperature,
                scenario=scenario,
                condition=condition,
                index=counts[key],
                prompt=prompt,
                response=response,
                recorded_choice=match.group(1) if match else None,
                file=path,
                row=row,
            )
        )
        counts[key] += 1
    return records


def read_tinmen(
    folder: str | Path, scenarios: Mapping[str, Scenario] | None = None
) -> list[TinMenRecord]:
    """Read every ``MODEL/temp-T.csv`` under ``folder`` (sorted by model, then temperature).

    Raises:
        DataError: ``folder`` holds no such file, or one is malformed.
    """
    root = Path(folder)
    files = sorted(
        (f for f in root.glob("*/temp-*.csv") if _FILE.match(f.name)),
        key=lambda f: (f.parent.name, float(_FILE.match(f.name).group(1))),  # type: ignore[union-attr]
    )
    if not files:
        raise DataError(root, None, str(root), "a folder of MODEL/temp-T.csv files")
    known = scenarios or builtin_scenarios()
    return [r for f in files for r in read_tinmen_csv(f, known)]


def cells(records: Iterable[TinMenRecord]) -> dict[tuple[str, float, str, str], list[TinMenRecord]]:
    """Records grouped by (model, temperature, scenario, condition), in index order."""
    out: dict[tuple[str, float, str, str], list[TinMenRecord]] = {}
    for r in records:
        out.setdefault(r.cell, []).append(r)
    return out


def disagreements(
    records: Iterable[TinMenRecord], scenarios: Mapping[str, Scenario] | None = None
) -> list[Disagreement]:
    """Recorded answers where our parser's choice differs from the study's recorded choice."""
    known = scenarios or builtin_scenarios()
    out = []
    for r in records:
        s = known[r.scenario]
        ours = choice_label(r.response, s.choice_pattern, s.product_ids)
        recorded = r.recorded_choice or UNPARSED
        if ours != recorded:
            out.append(Disagreement(r, ours, recorded))
    return out


class TinMenReplayChat:
    """A :class:`~tokenomy.llm.protocol.ChatModel` answering from the published transcripts.

    ``request.model`` and ``request.temperature`` pick the recording; the tag
    ``{scenario}/{condition}/{i}`` picks the cell and the i-th recorded answer. Usage is the
    documented estimate; latency is 0.
    """

    def __init__(self, records: Sequence[TinMenRecord], name: str = "tinmen-replay") -> None:
        self.name = name
        self._cells = cells(records)

    @property
    def models(self) -> list[tuple[str, float]]:
        """The (model, temperature) pairs recorded, sorted."""
        return sorted({(m, t) for m, t, _, _ in self._cells})

    def cell_sizes(self) -> dict[tuple[str, float, str, str], int]:
        """Recorded answers per cell."""
        return {k: len(v) for k, v in self._cells.items()}

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The recorded answer for ``request``.

        Raises:
            ReplayMismatchError: the tag is not ``scenario/condition/i``, the cell has no i-th
                answer, or the recorded prompt differs from the request's.
        """
        parts = request.tag.split("/")
        if len(parts) != 3 or not parts[2].isdigit():
            raise ReplayMismatchError(
                f"replay tag {request.tag!r}: expected 'scenario/condition/sample index'"
            )
        scenario, condition, i = parts[0], parts[1], int(parts[2])
        key = (request.model, request.temperature, scenario, condition)
        recorded = self._cells.get(key, [])
        if i >= len(recorded):
            raise ReplayMismatchError(
                f"no recorded answer #{i} for model {request.model!r}, temperature "
                f"{request.temperature}, scenario {scenario!r}, condition {condition!r} "
                f"({len(recorded)} recorded; conditions are {', '.join(CONDITIONS)})"
            )
        record = recorded[i]
        if record.prompt is not None and record.prompt != request.prompt_text():
            raise ReplayMismatchError(
                f"{record.file} row {record.row}: the recorded prompt differs from the request's "
                f"(tag {request.tag!r})"
            )
        text = record.response
        return ChatResponse(text, estimated_usage(request, text), record.model, 0.0)
