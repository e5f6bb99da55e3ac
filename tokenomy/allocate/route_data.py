"""Routing data sets: recorded per-prompt outcomes of several models, with token prices.

A router is judged on recorded outcomes: for each prompt ``x`` and model ``m``, whether (or how
well) ``m`` answered ``x``. :class:`RouteData` holds one such set as arrays — the ``n × m``
outcome matrix, token counts per prompt and model, and the price table that turns them into
dollars — so the router and the metrics (:mod:`tokenomy.allocate.route_metrics`) see the same
thing whatever the source.

Sources (files under ``../shared/data``, provenance in its README):

- RouteLLM (lm-sys/RouteLLM, ``routellm/evals``): correctness of Mixtral-8x7B-Instruct (weak)
  and GPT-4-1106-preview (strong) on GSM8K (1,319 prompts, with both answers' text) and MMLU
  (14,042 prompts in 57 subject files). :func:`load_routellm_gsm8k`, :func:`load_routellm_mmlu`;
  any csv in the same format with :func:`load_routellm_csv`.
- DC-Router (ulab-uiuc/LLMRouter): 0/1 scores of 9 open models on 5,608 train and 500 test
  prompts, prices per million tokens in ``llm_candidates.json``. :func:`load_dcrouter`,
  :func:`load_dcrouter_split`.

Decontamination. RouteLLM ships, per benchmark, the list of evaluation prompts that also occur
in its routers' training data (``contaminated_prompts.jsonl``, field ``eval_prompt``); every
prompt equal to one of them is dropped and counted in :attr:`RouteData.dropped_contaminated`
(GSM8K: all 12 listed prompts match exactly; MMLU: all 5). DC-Router's published split is not
disjoint — 119 of the 500 test questions also occur, word for word, in the train file — so the
train part drops them (counted the same way) and a predictor fitted on it never sees a test
prompt.

Token counts. The sets record no token usage, so tokenomy estimates it with one rule,
:func:`tokenomy.prices.estimate_tokens` (``ceil(characters / 4)``), applied to the prompt and,
where the answer text is recorded (GSM8K), to each model's answer. Where it is not, a constant
is used: 1 output token on MMLU (the models were asked for one token, the answer letter;
``max_new_tokens=1`` in RouteLLM's ``generate_responses.py``) and
:data:`UNRECORDED_OUTPUT_TOKENS` elsewhere. :attr:`RouteData.token_rule` states the rule in one
sentence; print it next to every cost figure. Few-shot prefixes the models also read are not in
the data and are not counted.

Prices. Model ids are looked up in a :class:`~tokenomy.prices.PriceTable` (default: the
packaged one) through a small alias table (:data:`MODEL_ALIASES`), then as the id's last path
segment in lower case; a model with no price is an error that says how to supply one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tokenomy.errors import ConfigError, DataError, UnknownNameError
from tokenomy.prices import PriceTable, TokenPrice, tokens_from_chars

__all__ = [
    "DATASETS",
    "DCROUTER_OUTPUT_TOKENS",
    "MODEL_ALIASES",
    "ROUTELLM_STRONG",
    "ROUTELLM_WEAK",
    "UNRECORDED_OUTPUT_TOKENS",
    "RouteData",
    "default_data_dir",
    "load",
    "load_dcrouter",
    "load_dcrouter_split",
    "load_routellm_csv",
    "load_routellm_gsm8k",
    "load_routellm_mmlu",
]

ROUTELLM_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
"""The weak model of RouteLLM's recorded outcomes."""

ROUTELLM_STRONG = "gpt-4-1106-preview"
"""The strong model of RouteLLM's recorded outcomes."""

MODEL_ALIASES: Mapping[str, str] = {
    ROUTELLM_WEAK: "mixtral-8x7b-instruct-v0.1",
}
"""Model ids of the data sets → names in the price table (where they differ by more than case
and the vendor prefix, which the lookup strips anyway)."""

UNRECORDED_OUTPUT_TOKENS = 256
"""Output tokens assumed per answer where a set records no answer text (our choice: a short
worked answer; state it with every cost)."""

DCROUTER_OUTPUT_TOKENS = UNRECORDED_OUTPUT_TOKENS
"""Output tokens assumed per DC-Router answer (the set records scores, not responses)."""

_ROUTELLM_SOURCE = "RouteLLM (lm-sys/RouteLLM, routellm/evals, Apache-2.0)"
_DCROUTER_SOURCE = "DC-Router via LLMRouter (ulab-uiuc/LLMRouter, data/dcrouter_preprocessed, MIT)"
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def default_data_dir() -> Path:
    """The shared data folder: ``../shared/data`` relative to the current directory."""
    return Path.cwd() / ".." / "shared" / "data"


def _data_dir(data_dir: str | Path | None) -> Path:
    return Path(data_dir) if data_dir is not None else default_data_dir()


@dataclass(frozen=True)
class RouteData:
    """Recorded outcomes of ``m`` models on ``n`` prompts, with token counts and prices.

    Attributes:
        name: data-set name (``routellm-gsm8k``, ``dcrouter``...).
        prompts: the ``n`` prompt texts.
        models: the ``m`` model names (columns of the matrices; priced in ``table``).
        outcomes: ``n × m`` realised quality: 0/1 correctness or a score in [0, 1].
        input_tokens: ``n`` prompt tokens (every model reads the same prompt).
        output_tokens: ``n × m`` answer tokens.
        table: token prices of every model in ``models``.
        weak: the weak model of a two-model set (``None`` for many-model sets).
        strong: the strong model of a two-model set.
        groups: ``n`` group labels (MMLU subject, DC-Router cluster) or ``None``.
        token_rule: one sentence saying how the token counts were obtained; print it next to
            every cost.
        dropped_contaminated: prompts dropped because they also occur in training or
            evaluation data (RouteLLM's contamination list; DC-Router's train/test overlap).
        source: where the data came from.
    """

    name: str
    prompts: tuple[str, ...]
    models: tuple[str, ...]
    outcomes: NDArray[np.float64]
    input_tokens: NDArray[np.int64]
    output_tokens: NDArray[np.float64]
    table: PriceTable
    weak: str | None = None
    strong: str | None = None
    groups: NDArray[np.str_] | None = None
    token_rule: str = ""
    dropped_contaminated: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        n, m = len(self.prompts), len(self.models)
        if m == 0:
            raise ConfigError(f"RouteData '{self.name}' needs at least one model")
        if len(set(self.models)) != m:
            raise ConfigError(f"RouteData '{self.name}': model names repeat: {list(self.models)}")
        outcomes = np.asarray(self.outcomes, dtype=np.float64)
        tin = np.asarray(self.input_tokens, dtype=np.int64)
        tout = np.asarray(self.output_tokens, dtype=np.float64)
        for label, arr, shape in (
            ("outcomes", outcomes, (n, m)),
            ("input_tokens", tin, (n,)),
            ("output_tokens", tout, (n, m)),
        ):
            if arr.shape != shape:
                raise ConfigError(
                    f"RouteData '{self.name}'.{label} must have shape {shape} "
                    f"(prompts × models), got {arr.shape}"
                )
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ConfigError(f"RouteData '{self.name}'.{label} must be finite and >= 0")
        for model in self.models:
            if model not in self.table:
                raise ConfigError(f"RouteData '{self.name}': model '{model}' has no price")
        for role in ("weak", "strong"):
            model = getattr(self, role)
            if model is not None and model not in self.models:
                raise UnknownNameError(f"{role} model", model, self.models)
        object.__setattr__(self, "outcomes", outcomes)
        object.__setattr__(self, "input_tokens", tin)
        object.__setattr__(self, "output_tokens", tout)
        if self.groups is not None:
            groups = np.asarray(self.groups, dtype=np.str_)
            if groups.shape != (n,):
                raise ConfigError(f"RouteData '{self.name}'.groups must have shape {(n,)}")
            object.__setattr__(self, "groups", groups)

    def __len__(self) -> int:
        return len(self.prompts)

    def model_index(self, name: str) -> int:
        """Column of model ``name`` (an unknown name suggests the closest one)."""
        try:
            return self.models.index(name)
        except ValueError:
            raise UnknownNameError("model", name, self.models) from None

    def outcome(self, name: str) -> NDArray[np.float64]:
        """The ``n`` recorded outcomes of model ``name``."""
        return self.outcomes[:, self.model_index(name)]

    def cost(self) -> NDArray[np.float64]:
        """``n × m`` dollar cost of each model answering each prompt, at ``table``'s prices."""
        columns = [
            self.table.cost(model, self.input_tokens, self.output_tokens[:, j])
            for j, model in enumerate(self.models)
        ]
        return np.stack(columns, axis=1) if columns else np.zeros((len(self), 0))

    def subset(self, idx: ArrayLike) -> RouteData:
        """The prompts at ``idx`` (integer positions or a boolean mask), in that order."""
        sel = np.asarray(idx)
        if sel.dtype == np.bool_:
            if sel.shape != (len(self),):
                raise ConfigError(f"a boolean mask must have {len(self)} entries, got {sel.shape}")
            sel = np.flatnonzero(sel)
        sel = sel.astype(np.int64, copy=False).reshape(-1)
        if sel.size and (sel.min() < -len(self) or sel.max() >= len(self)):
            raise ConfigError(f"subset index out of range for {len(self)} prompts")
        return replace(
            self,
            prompts=tuple(self.prompts[int(i)] for i in sel),
            outcomes=self.outcomes[sel],
            input_tokens=self.input_tokens[sel],
            output_tokens=self.output_tokens[sel],
            groups=None if self.groups is None else self.groups[sel],
        )

    def split(self, seed: int, test_fraction: float = 0.5) -> tuple[RouteData, RouteData]:
        """Deterministic random ``(train, test)`` split: the same seed gives the same split.

        A seeded permutation (``numpy.random.default_rng(seed)``) puts
        ``round(n · test_fraction)`` prompts in the test part; both parts keep the original
        order of their prompts.
        """
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
        n = len(self)
        n_test = round(n * test_fraction)
        if n_test < 1 or n_test > n - 1:
            raise ConfigError(f"test_fraction={test_fraction} leaves an empty part of {n} prompts")
        perm = np.random.default_rng(seed).permutation(n)
        return self.subset(np.sort(perm[n_test:])), self.subset(np.sort(perm[:n_test]))


# --------------------------------------------------------------------------- prices


def _price_name(model: str, table: PriceTable, aliases: Mapping[str, str]) -> str | None:
    for candidate in (aliases.get(model), model, model.rsplit("/", 1)[-1].lower()):
        if candidate is not None and candidate in table:
            return candidate
    return None


def _priced_table(
    models: Sequence[str],
    table: PriceTable | None,
    aliases: Mapping[str, str] | None,
    where: str,
) -> PriceTable:
    """A table keyed by the data set's own model ids, priced from ``table`` via aliases."""
    full = table if table is not None else PriceTable.default()
    names = {**MODEL_ALIASES, **(aliases or {})}
    priced: dict[str, TokenPrice] = {}
    for model in models:
        key = _price_name(model, full, names)
        if key is None:
            known = ", ".join(sorted(full.models))
            raise ConfigError(
                f"no token price for model '{model}' (a model column of {where}); the price "
                f"table has: {known}. Supply one: a YAML file `models: {{'{model}': {{input: "
                f"<$ per 1M>, output: <$ per 1M>}}}}` loaded with PriceTable.load(path) and passed "
                f"as table= (CLI: --prices FILE), or map the id to a priced name with aliases="
            )
        priced[model] = full[key]
    return PriceTable(models=priced)


# --------------------------------------------------------------------------- RouteLLM csv


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(path, None, "<unparseable CSV>", f"a RouteLLM csv ({exc})") from None


def _booleans(path: Path, frame: pd.DataFrame, column: str) -> NDArray[np.float64]:
    text = frame[column].str.strip().str.lower().to_numpy(dtype=str)
    is_true = np.isin(text, list(_TRUE))
    bad = ~(is_true | np.isin(text, list(_FALSE)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            path,
            f"{column} (record {row + 1})",
            frame[column].iloc[row],
            "a boolean: True or False (correctness of the model's answer)",
        )
    return is_true.astype(np.float64)


def _routellm_files(folder: Path, name: str) -> tuple[list[Path], bool]:
    """The csv files of a RouteLLM set and whether they are per-subject files."""
    single = folder / f"{name}_responses.csv"
    if single.is_file():
        return [single], False
    singles = sorted(folder.glob("*_responses.csv"))
    if len(singles) == 1:
        return singles, False
    for sub in (folder / "responses", folder):
        files = sorted(p for p in sub.glob("*.csv") if p.is_file())
        if files:
            return files, True
    raise ConfigError(
        f"no RouteLLM csv in {folder}: expected {single.name} or per-subject csvs in "
        f"{folder / 'responses'} (is the data folder right? pass data_dir= / --data-dir)"
    )


def _contaminated(folder: Path) -> set[str]:
    path = folder / "contaminated_prompts.jsonl"
    if not path.is_file():
        return set()
    prompts: set[str] = set()
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(path, f"line {k}", line, "one JSON object per line") from None
        prompt = record.get("eval_prompt") if isinstance(record, dict) else None
        if not isinstance(prompt, str):
            raise DataError(path, f"line {k}.eval_prompt", prompt, "the evaluation prompt text")
        prompts.add(prompt)
    return prompts


def load_routellm_csv(
    folder: str | Path,
    weak: str,
    strong: str,
    name: str | None = None,
    *,
    table: PriceTable | None = None,
    aliases: Mapping[str, str] | None = None,
    output_tokens: int | None = None,
) -> RouteData:
    """Load a set in RouteLLM's csv format.

    The folder holds either ``<name>_responses.csv`` or per-subject csvs (in ``folder`` or
    ``folder/responses``; the subject, the file stem without a ``<name>_`` prefix, becomes the
    group). Each csv has a ``prompt`` column and one boolean column per model; ``weak`` and
    ``strong`` name two of them. A ``<model>_response`` column, where present, holds the
    answer text, from which output tokens are estimated. Prompts listed (field
    ``eval_prompt``) in ``folder/contaminated_prompts.jsonl`` are dropped.

    Args:
        folder: the set's folder.
        weak: the weak model's column.
        strong: the strong model's column.
        name: the set's name (default: the folder's name).
        table: prices (default: the packaged table); ids are mapped with ``aliases``.
        aliases: extra model id → price-table name mappings (on top of :data:`MODEL_ALIASES`).
        output_tokens: output tokens per answer where no answer text is recorded (default
            :data:`UNRECORDED_OUTPUT_TOKENS`).

    Raises:
        DataError: a csv lacks the ``prompt`` or a model column (the message lists the columns
            present) or holds a non-boolean outcome.
        ConfigError: no csv found, or a model has no price.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"RouteLLM data folder {folder} does not exist (pass data_dir=)")
    set_name = name or folder.name
    files, per_subject = _routellm_files(folder, set_name)
    models = (weak, strong)
    if weak == strong:
        raise ConfigError(f"weak and strong must be different model columns, got '{weak}' twice")
    prompts: list[str] = []
    outcome_parts: list[NDArray[np.float64]] = []
    answer_tokens: tuple[list[NDArray[np.int64]], list[NDArray[np.int64]]] = ([], [])
    group_parts: list[NDArray[np.str_]] = []
    for path in files:
        frame = _read_csv(path)
        for column in ("prompt", *models):
            if column not in frame.columns:
                what = "prompt text" if column == "prompt" else "boolean model"
                raise DataError(
                    path,
                    column,
                    f"columns present: {list(frame.columns)}",
                    f"a {what} column named '{column}'",
                )
        prompts.extend(frame["prompt"].tolist())
        outcome_parts.append(np.stack([_booleans(path, frame, m) for m in models], axis=1))
        for j, model in enumerate(models):
            if f"{model}_response" in frame.columns:
                answers = frame[f"{model}_response"].str.len().to_numpy(dtype=np.int64)
                answer_tokens[j].append(tokens_from_chars(answers))
        if per_subject:
            subject = path.stem.removeprefix(f"{set_name}_")
            group_parts.append(np.full(len(frame), subject))
    if not prompts:
        raise DataError(files[0], "prompt", "no rows", "at least one prompt")
    outcomes = np.concatenate(outcome_parts, axis=0)
    constant = UNRECORDED_OUTPUT_TOKENS if output_tokens is None else output_tokens
    if constant < 0:
        raise ConfigError(f"output_tokens must be >= 0, got {constant}")
    # A model's output tokens are counted from its answers only when every file records them.
    counted = [len(answer_tokens[j]) == len(files) for j in range(2)]
    tout = np.empty(outcomes.shape, dtype=np.float64)
    for j in range(2):
        tout[:, j] = np.concatenate(answer_tokens[j]) if counted[j] else constant

    listed = _contaminated(folder)
    keep = ~np.isin(np.asarray(prompts, dtype=object), list(listed)) if listed else None
    dropped = 0 if keep is None else int((~keep).sum())
    matched = len(listed & set(prompts))

    lengths = np.fromiter((len(p) for p in prompts), dtype=np.int64, count=len(prompts))
    if all(counted):
        out_rule = "ceil(characters / 4) of each model's recorded answer"
    elif any(counted):
        have, lack = (models[0], models[1]) if counted[0] else (models[1], models[0])
        out_rule = (
            f"ceil(characters / 4) of {have}'s recorded answers and {constant} per answer of "
            f"{lack} (no answer text recorded)"
        )
    else:
        out_rule = f"{constant} per answer (a constant: the csv records no answer text)"
    rule = (
        f"input tokens = ceil(characters / 4) of the recorded prompt; output tokens = {out_rule}"
        " (few-shot prefixes are not in the data and not counted)."
    )
    source = f"{folder}: {len(files)} csv file(s)"
    if listed:
        source += (
            f"; {matched} of {len(listed)} listed contaminated prompts matched exactly, "
            f"{dropped} rows dropped"
        )
    data = RouteData(
        name=set_name,
        prompts=tuple(prompts),
        models=models,
        outcomes=outcomes,
        input_tokens=tokens_from_chars(lengths),
        output_tokens=tout,
        table=_priced_table(models, table, aliases, str(files[0])),
        weak=weak,
        strong=strong,
        groups=np.concatenate(group_parts) if per_subject else None,
        token_rule=rule,
        dropped_contaminated=dropped,
        source=source,
    )
    return data if keep is None else data.subset(keep)


def load_routellm_gsm8k(
    data_dir: str | Path | None = None, *, table: PriceTable | None = None
) -> RouteData:
    """RouteLLM's GSM8K outcomes (Mixtral-8x7B vs GPT-4-1106), decontaminated (1,307 prompts).

    Output tokens are estimated from each model's recorded answer text.
    """
    folder = _data_dir(data_dir) / "routellm" / "gsm8k"
    data = load_routellm_csv(folder, ROUTELLM_WEAK, ROUTELLM_STRONG, "gsm8k", table=table)
    return replace(
        data,
        name="routellm-gsm8k",
        token_rule=(
            "input tokens = ceil(characters / 4) of the question; output tokens = "
            "ceil(characters / 4) of each model's recorded answer (the 8-shot prefix both "
            "models also read is not in the data and not counted)."
        ),
        source=f"{_ROUTELLM_SOURCE}; {data.source}",
    )


def load_routellm_mmlu(
    data_dir: str | Path | None = None, *, table: PriceTable | None = None
) -> RouteData:
    """RouteLLM's MMLU outcomes, 57 subjects (group = subject), decontaminated (14,037 prompts).

    The models were asked for exactly one token (``max_new_tokens=1``: the answer letter), so
    output tokens are 1 per answer.
    """
    folder = _data_dir(data_dir) / "routellm" / "mmlu"
    data = load_routellm_csv(
        folder, ROUTELLM_WEAK, ROUTELLM_STRONG, "mmlu", table=table, output_tokens=1
    )
    return replace(
        data,
        name="routellm-mmlu",
        token_rule=(
            "input tokens = ceil(characters / 4) of the question with its four choices; output "
            "tokens = 1 per answer (RouteLLM generated with max_new_tokens=1, the answer "
            "letter); the 5-shot prefix the models also read (up to 1,536 tokens) is not in "
            "the data and not counted."
        ),
        source=f"{_ROUTELLM_SOURCE}; {data.source}",
    )


# --------------------------------------------------------------------------- DC-Router


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist (is the data folder right? pass data_dir=)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, None, "<unparseable JSON>", f"valid JSON ({exc})") from None


def _dcrouter_records(
    path: Path,
) -> tuple[list[str], list[str], NDArray[np.float64], list[str] | None]:
    """Questions, models (sorted), the score matrix and cluster ids (if every record has one)."""
    records = _read_json(path)
    if not isinstance(records, list) or not records:
        raise DataError(path, None, type(records).__name__, "a non-empty list of records")
    first = records[0].get("scores") if isinstance(records[0], dict) else None
    if not isinstance(first, dict) or not first:
        raise DataError(path, "[0].scores", first, "a mapping model -> score in [0, 1]")
    models = sorted(str(m) for m in first)
    scores = np.empty((len(records), len(models)), dtype=np.float64)
    questions: list[str] = []
    clusters: list[str] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(path, f"[{i}]", record, "a record with question and scores")
        question = record.get("question")
        if not isinstance(question, str):
            raise DataError(path, f"[{i}].question", question, "the question text")
        row = record.get("scores")
        if not isinstance(row, dict) or set(row) != set(models):
            got = sorted(row) if isinstance(row, dict) else row
            raise DataError(path, f"[{i}].scores", got, f"scores of exactly {models}")
        for j, model in enumerate(models):
            value = row[model]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0.0 <= value <= 1.0
            ):
                raise DataError(path, f"[{i}].scores.{model}", value, "a score in [0, 1]")
            scores[i, j] = float(value)
        questions.append(question)
        if "cluster_id" in record:
            clusters.append(str(record["cluster_id"]))
    return questions, models, scores, clusters if len(clusters) == len(records) else None


def _dcrouter_table(path: Path, models: Sequence[str]) -> PriceTable:
    candidates = _read_json(path)
    if not isinstance(candidates, dict):
        raise DataError(path, None, type(candidates).__name__, "a mapping model -> description")
    priced: dict[str, dict[str, float]] = {}
    for model in models:
        entry = candidates.get(model)
        if not isinstance(entry, dict):
            raise DataError(path, model, entry, "a candidate entry with input_price/output_price")
        sides: dict[str, float] = {}
        for side in ("input", "output"):
            value = entry.get(f"{side}_price")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise DataError(path, f"{model}.{side}_price", value, "a price >= 0 in $ per 1M")
            sides[side] = float(value)
        priced[model] = sides
    return PriceTable.from_mapping(priced, source=str(path))


def _dcrouter_part(
    name: str,
    questions: list[str],
    models: list[str],
    scores: NDArray[np.float64],
    clusters: list[str] | None,
    table: PriceTable,
    dropped: int,
    source: str,
) -> RouteData:
    lengths = np.fromiter((len(q) for q in questions), dtype=np.int64, count=len(questions))
    return RouteData(
        name=name,
        prompts=tuple(questions),
        models=tuple(models),
        outcomes=scores,
        input_tokens=tokens_from_chars(lengths),
        output_tokens=np.full(scores.shape, float(DCROUTER_OUTPUT_TOKENS)),
        table=table,
        groups=None if clusters is None else np.asarray(clusters, dtype=np.str_),
        token_rule=(
            "input tokens = ceil(characters / 4) of the question; output tokens = "
            f"{DCROUTER_OUTPUT_TOKENS} per answer (a constant: the set records scores, "
            "not responses)."
        ),
        dropped_contaminated=dropped,
        source=source,
    )


def load_dcrouter_split(
    data_dir: str | Path | None = None,
    *,
    table: PriceTable | None = None,
    drop_overlap: bool = True,
) -> tuple[RouteData, RouteData]:
    """DC-Router's published ``(train, test)`` split (5,608 / 500 prompts, 9 models).

    Prices come from ``llmrouter/llm_candidates.json`` unless ``table`` is given. With
    ``drop_overlap`` (default) the train part drops the questions that also occur in the test
    file (119 in the published files), counted in ``dropped_contaminated``; the test part is
    kept whole. Groups are the train file's cluster ids (the test file has none).
    """
    root = _data_dir(data_dir) / "llmrouter"
    train_path = root / "dcrouter" / "train.json"
    test_path = root / "dcrouter" / "test.json"
    tq, tm, ts, tc = _dcrouter_records(train_path)
    eq, em, es, ec = _dcrouter_records(test_path)
    if tm != em:
        raise DataError(test_path, "scores", em, f"the train file's models {tm}")
    prices = (
        _priced_table(tm, table, None, str(train_path))
        if table is not None
        else _dcrouter_table(root / "llm_candidates.json", tm)
    )
    dropped = 0
    if drop_overlap:
        keep = ~np.isin(np.asarray(tq, dtype=object), list(set(eq)))
        dropped = int((~keep).sum())
        idx = np.flatnonzero(keep)
        tq = [tq[i] for i in idx]
        ts = ts[idx]
        tc = None if tc is None else [tc[i] for i in idx]
    train = _dcrouter_part(
        "dcrouter-train",
        tq,
        tm,
        ts,
        tc,
        prices,
        dropped,
        f"{_DCROUTER_SOURCE}: {train_path}"
        + (f"; {dropped} questions also in the test file dropped" if dropped else ""),
    )
    test = _dcrouter_part(
        "dcrouter-test", eq, em, es, ec, prices, 0, f"{_DCROUTER_SOURCE}: {test_path}"
    )
    return train, test


def load_dcrouter(
    data_dir: str | Path | None = None,
    *,
    part: Literal["all", "train", "test"] = "all",
    table: PriceTable | None = None,
) -> RouteData:
    """DC-Router outcomes, one part of the published split or both.

    ``part="all"`` is the train part without the questions it shares with the test part, then
    the test part (5,989 distinct questions); ``"train"`` and ``"test"`` are the parts of
    :func:`load_dcrouter_split`.
    """
    if part not in ("all", "train", "test"):
        raise ConfigError(f"part must be 'all', 'train' or 'test', got {part!r}")
    train, test = load_dcrouter_split(data_dir, table=table)
    if part == "train":
        return train
    if part == "test":
        return test
    return RouteData(
        name="dcrouter",
        prompts=train.prompts + test.prompts,
        models=train.models,
        outcomes=np.concatenate([train.outcomes, test.outcomes]),
        input_tokens=np.concatenate([train.input_tokens, test.input_tokens]),
        output_tokens=np.concatenate([train.output_tokens, test.output_tokens]),
        table=train.table,
        token_rule=train.token_rule,
        dropped_contaminated=train.dropped_contaminated,
        source=f"{train.source} + {test.source}",
    )


# --------------------------------------------------------------------------- registry


def _load_csv_set(data_dir: str | Path | None = None, **kw: Any) -> RouteData:
    if data_dir is None:
        raise ConfigError("routellm-csv needs the data set's folder (data_dir=, CLI --data-dir)")
    missing = [k for k in ("weak", "strong") if not kw.get(k)]
    if missing:
        raise ConfigError(f"routellm-csv needs {' and '.join(missing)}= (model column names)")
    return load_routellm_csv(data_dir, **kw)


DATASETS: Mapping[str, Callable[..., RouteData]] = {
    "routellm-gsm8k": load_routellm_gsm8k,
    "routellm-mmlu": load_routellm_mmlu,
    "dcrouter": load_dcrouter,
    "routellm-csv": _load_csv_set,
}
"""Registered routing data sets: name → loader."""


def load(name: str, data_dir: str | Path | None = None, **kw: Any) -> RouteData:
    """Load a registered routing data set by name (see :data:`DATASETS`).

    ``data_dir`` is the shared data folder (default :func:`default_data_dir`), or for
    ``routellm-csv`` the set's own folder; ``kw`` goes to the loader (``table=``, and for
    ``routellm-csv`` ``weak=``, ``strong=``, ``name=``...).
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise UnknownNameError("routing data set", name, DATASETS) from None
    return loader(data_dir, **kw)
