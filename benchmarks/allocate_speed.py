"""Speed of the price router: batched decisions, single-request latency, feature extraction.

The router (``tokenomy.allocate.router.Router``) is fitted on DC-Router's training prompts
(9 models) with the default predictor (``logistic`` on ``hashing-tfidf`` features) and, for
reference, ``knn`` (on ``hashing-words``) and a dense 384-dimensional linear model. Everything
runs in one process, so the ratios printed at the end compare like with like:

1. batched decisions per second with precomputed features — ``Router.route_features`` on the
   500 DC-Router test rows tiled to 1M requests (sparse CSR; also 10k and 100k, for the
   growth exponent), ``Router.decide`` alone (the rule on given quality and cost matrices),
   dense 384-dimensional random unit rows, and ``knn`` (100k requests: it is not linear);
2. single-request latency without feature extraction — ``Router.route_one_features`` timed per
   call with ``time.perf_counter_ns`` on 10,000 precomputed rows after a warm-up (p50, p99),
   for ``logistic``, the dense model and ``knn``; each single answer is checked against the
   batch path's;
3. feature extraction throughput — ``Router.features`` on all test prompts repeated (batched)
   and on one prompt per call (``features([p])``), and ``Router.route_one`` (extraction + rule).

Batched times are the median of several calls after a first, cold call (printed too).
Targets: ≥ 1,000,000 decisions/s batched (logistic, sparse, 1M requests); single request
p50 ≤ 20 µs and p99 ≤ 100 µs (logistic). ``--quick`` uses smaller sizes and fits the logistic
router on the first 1,000 training prompts (routing speed does not depend on that number: ``W``
is a dense 262,149 × 9 array either way). Results with the machine and date go in BENCHMARKS.md.

    python benchmarks/allocate_speed.py            # everything (about 2 minutes on 2 cores)
    python benchmarks/allocate_speed.py --quick    # small sizes (under 30 s)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loglog_slope, peak_gb  # noqa: E402

from tokenomy.allocate.route_data import RouteData, load_dcrouter_split  # noqa: E402
from tokenomy.allocate.route_eval import fit_router  # noqa: E402
from tokenomy.allocate.router import ModelProfile, Router  # noqa: E402
from tokenomy.prices import Prices, tokens_from_chars  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DENSE_DIM = 384
DENSE_FIT_PROMPTS = 1500
BATCH_TARGET = 1_000_000
P50_TARGET_US = 20.0
P99_TARGET_US = 100.0

FloatArray = NDArray[np.float64]
Features = sp.csr_matrix | FloatArray


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    batch: int
    scaling: tuple[int, ...]
    dense_batch: int
    knn_batch: int
    single_calls: int
    knn_single_calls: int
    warmup: int
    repeats: int
    feature_reps: int
    feature_single_calls: int
    logistic_fit_prompts: int | None


FULL = Sizes(
    batch=1_000_000,
    scaling=(10_000, 100_000, 1_000_000),
    dense_batch=1_000_000,
    knn_batch=100_000,
    single_calls=10_000,
    knn_single_calls=2_000,
    warmup=1_000,
    repeats=5,
    feature_reps=20,
    feature_single_calls=2_000,
    logistic_fit_prompts=None,
)
QUICK = Sizes(
    batch=100_000,
    scaling=(10_000, 100_000),
    dense_batch=100_000,
    knn_batch=5_000,
    single_calls=2_000,
    knn_single_calls=200,
    warmup=200,
    repeats=3,
    feature_reps=2,
    feature_single_calls=300,
    logistic_fit_prompts=1_000,
)


# ----------------------------------------------------------------------------- inputs


class RandomUnitVectors:
    """A stand-in dense featurizer: one random unit vector per prompt text.

    Each text gets ``dim`` standard normals from a generator seeded by ``(seed, crc32(text))``,
    scaled to unit length — the shape of sentence embeddings (``minilm``: 384 dense columns)
    without the model. The vectors carry no information about the prompt; they exist so that a
    real :class:`~tokenomy.allocate.predictors.LogisticQuality` can be fitted through
    :meth:`Router.fit` with a dense 384 × models weight matrix, which is all the speed
    depends on.

    Args:
        dim: number of columns.
        seed: seed of the vectors.
    """

    name = "random-unit"

    def __init__(self, dim: int = DENSE_DIM, seed: int = 0) -> None:
        self.dim = dim
        self.seed = seed

    def fit(self, texts: Sequence[str]) -> RandomUnitVectors:
        """Nothing to learn."""
        return self

    def transform(self, texts: Sequence[str]) -> FloatArray:
        """One unit row per text (deterministic in ``seed`` and the text)."""
        out = np.empty((len(texts), self.dim))
        for i, text in enumerate(texts):
            rng = np.random.default_rng([self.seed, zlib.crc32(text.encode("utf-8"))])
            out[i] = rng.standard_normal(self.dim)
        return unit_rows(out)

    def state(self) -> dict[str, Any]:
        """Settings (the vectors are a function of them and the text)."""
        return {"name": self.name, "dim": self.dim, "seed": self.seed}


def unit_rows(x: FloatArray) -> FloatArray:
    """Scale each row of ``x`` to unit length, in place (no squared copy of ``x``)."""
    x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return x


def tiled(x: sp.csr_matrix, n: int) -> tuple[sp.csr_matrix, NDArray[np.int64]]:
    """The rows of ``x`` repeated in order to ``n`` rows (CSR), and the source row of each."""
    rows = np.arange(n, dtype=np.int64) % x.shape[0]
    return sp.csr_matrix(x[rows]), rows


def sparse_rows(x: sp.csr_matrix) -> list[tuple[NDArray[Any], FloatArray]]:
    """``(indices, values)`` of each row of a CSR matrix, as ``Router.route_one`` passes them."""
    return [
        (x.indices[x.indptr[i] : x.indptr[i + 1]], x.data[x.indptr[i] : x.indptr[i + 1]])
        for i in range(x.shape[0])
    ]


@dataclass
class Setup:
    """The fitted routers and the test inputs every measurement shares."""

    prices: Prices
    prompts: list[str]
    tokens: FloatArray
    logistic: Router
    knn: Router
    dense: Router
    fit_s: dict[str, float]
    train_prompts: int
    models: int


def dense_router(train: RouteData, prices: Prices) -> Router:
    """A logistic router on 384 random dense features, fitted through ``Router.fit``.

    Fitted on the first :data:`DENSE_FIT_PROMPTS` training prompts and their real outcomes with
    :class:`RandomUnitVectors` features, so ``W`` (384 × 9, dense) is fitted noise: only its
    shape matters for speed.
    """
    n = min(DENSE_FIT_PROMPTS, len(train))
    profiles = [
        ModelProfile(name, output_tokens=float(train.output_tokens[:, j].mean()))
        for j, name in enumerate(train.models)
    ]
    router = Router(profiles, prices, featurizer=RandomUnitVectors(), predictor="logistic")
    return router.fit(list(train.prompts[:n]), train.outcomes[:n])


def setup(sizes: Sizes) -> Setup:
    """Load DC-Router, fit the three routers (timed), tokenise the test prompts."""
    train, test = load_dcrouter_split(DATA)
    value = float(10.0 * test.cost().mean(axis=0).max())  # route_eval's default V
    prices = Prices(value=value, table=train.table)
    fit_s: dict[str, float] = {}
    t = time.perf_counter()
    logistic_train = train
    if sizes.logistic_fit_prompts is not None:
        logistic_train = train.subset(np.arange(min(sizes.logistic_fit_prompts, len(train))))
    logistic = fit_router(logistic_train, prices, "logistic", None, seed=0)
    fit_s["logistic"] = time.perf_counter() - t
    t = time.perf_counter()
    knn = fit_router(train, prices, "knn", None, seed=0)
    fit_s["knn"] = time.perf_counter() - t
    t = time.perf_counter()
    dense = dense_router(train, prices)
    fit_s["dense"] = time.perf_counter() - t
    prompts = list(test.prompts)
    return Setup(
        prices=prices,
        prompts=prompts,
        tokens=tokens_from_chars([len(p) for p in prompts]).astype(np.float64),
        logistic=logistic,
        knn=knn,
        dense=dense,
        fit_s=fit_s,
        train_prompts=len(logistic_train),
        models=len(train.models),
    )


# ----------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(first call s, median s of ``repeats`` further calls, last result)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), out


def per_call_ns(
    call: Callable[[int], Any], calls: int, warmup: int
) -> tuple[NDArray[np.int64], list[Any]]:
    """Time ``call(k)`` for ``k`` in ``range(calls)`` one by one, after ``warmup`` calls."""
    for k in range(warmup):
        call(k)
    ns = np.empty(calls, dtype=np.int64)
    results: list[Any] = [None] * calls
    clock = time.perf_counter_ns
    for k in range(calls):
        t0 = clock()
        results[k] = call(k)
        ns[k] = clock() - t0
    return ns, results


@dataclass
class Row:
    """One line of the results table."""

    what: str
    predictor: str
    features: str
    n: int
    unit: str
    seconds: float
    rate: float
    first_s: float | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    target: str = ""

    def line(self) -> str:
        """The Markdown table row."""

        def num(x: float | None, fmt: str) -> str:
            return "" if x is None else format(x, fmt)

        return (
            f"| {self.what} | {self.predictor} | {self.features} | {self.n:,} {self.unit} | "
            f"{self.seconds:.3f} | {num(self.first_s, '.3f')} | {self.rate:,.0f} | "
            f"{num(self.p50_us, '.1f')} | {num(self.p99_us, '.1f')} | {self.target} |"
        )


HEADER = (
    "| measurement | predictor | features | size | median s (single: total) | first call s | "
    "per second | p50 µs | p99 µs | target |\n|---|---|---|---:|---:|---:|---:|---:|---:|---|"
)


def mark(ok: bool, text: str) -> str:
    """``✓ text`` or ``✗ text``."""
    return ("✓ " if ok else "✗ ") + text


def batched(
    what: str,
    predictor: str,
    features: str,
    fn: Callable[[], Any],
    n: int,
    repeats: int,
    target: bool = False,
) -> tuple[Row, Any]:
    """A batched measurement of ``fn`` over ``n`` requests (and ``fn``'s result)."""
    first, median, out = timed(fn, repeats)
    rate = n / median
    text = ""
    if target:
        text = mark(rate >= BATCH_TARGET, "≥ 1,000,000/s")
    return Row(what, predictor, features, n, "requests", median, rate, first, target=text), out


def single(
    what: str,
    predictor: str,
    features: str,
    call: Callable[[int], Any],
    calls: int,
    warmup: int,
    target: bool = False,
) -> tuple[Row, list[Any]]:
    """Per-call latency percentiles of ``call`` over ``calls`` calls (and the answers)."""
    ns, results = per_call_ns(call, calls, warmup)
    us = ns / 1e3
    p50, p99 = float(np.percentile(us, 50)), float(np.percentile(us, 99))
    text = ""
    if target:
        text = mark(p50 <= P50_TARGET_US and p99 <= P99_TARGET_US, "p50 ≤ 20 µs, p99 ≤ 100 µs")
    total = float(ns.sum()) / 1e9
    row = Row(what, predictor, features, calls, "calls", total, calls / total, None, p50, p99, text)
    return row, results


def agreement(batch_choice: NDArray[np.int64], answers: list[Any]) -> str:
    """How many single-path answers equal the batch path's on the same rows, as ``k/n``."""
    k = len(answers)
    same = int(np.sum(np.asarray(answers, dtype=np.int64) == batch_choice[:k]))
    return f"{same:,}/{k:,}"


# ----------------------------------------------------------------------------- measurements


@dataclass
class Results:
    """Every row of the table, plus what the ratios need."""

    rows: list[Row] = field(default_factory=list)
    rate: dict[str, float] = field(default_factory=dict)
    p50: dict[str, float] = field(default_factory=dict)
    scaling: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row, key: str | None = None) -> None:
        """Keep ``row`` (and its rate / p50 under ``key``)."""
        self.rows.append(row)
        if key is not None:
            self.rate[key] = row.rate
            if row.p50_us is not None:
                self.p50[key] = row.p50_us


def measure_logistic(s: Setup, sizes: Sizes, res: Results) -> None:
    """Batched (several sizes; ``decide`` alone at the largest) and single, sparse features."""
    x = s.logistic.features(s.prompts)
    label = f"hashing-tfidf ({x.shape[1]:,} cols, {x.nnz / x.shape[0]:.0f} nnz/row)"
    choice = np.empty(0, dtype=np.int64)
    for n in sizes.scaling:
        xx, src = tiled(x, n)
        tokens = s.tokens[src]
        row, dec = batched(
            "batched route_features",
            "logistic",
            label,
            partial(s.logistic.route_features, xx, tokens),
            n,
            sizes.repeats,
            target=n >= BATCH_TARGET,
        )
        res.scaling.append((float(n), row.seconds))
        if n == sizes.batch:
            res.add(row, "sparse")
            choice = np.asarray(dec.choice)
            q, c = dec.quality, dec.cost
            row, _ = batched(
                "batched decide (the rule alone)",
                "logistic",
                "given q̂, ĉ",
                partial(s.logistic.decide, q, c),
                n,
                sizes.repeats,
            )
            res.add(row, "decide")

    rows = sparse_rows(x)
    m = len(rows)

    def one(k: int) -> int:
        idx, val = rows[k % m]
        return s.logistic.route_one_features(idx, val, float(s.tokens[k % m]))

    row, answers = single(
        "single route_one_features",
        "logistic",
        label,
        one,
        sizes.single_calls,
        sizes.warmup,
        target=True,
    )
    res.add(row, "sparse single")
    res.notes.append(
        f"logistic: the single path gives the batch path's model on {agreement(choice, answers)} "
        "requests"
    )


def measure_dense(s: Setup, sizes: Sizes, res: Results) -> None:
    """Batched and single on dense random unit rows (384 columns, W 384 × 9)."""
    n = sizes.dense_batch
    x = unit_rows(np.random.default_rng(0).standard_normal((n, DENSE_DIM)))
    tokens = s.tokens[np.arange(n) % len(s.tokens)]
    label = "random unit rows, 384 dense"
    row, dec = batched(
        "batched route_features",
        "logistic, dense W 384×9",
        label,
        lambda: s.dense.route_features(x, tokens),
        n,
        sizes.repeats,
    )
    res.add(row, "dense")
    choice = np.asarray(dec.choice)
    every = np.arange(DENSE_DIM, dtype=np.int64)

    def one(k: int) -> int:
        return s.dense.route_one_features(every, x[k], float(tokens[k]))

    row, answers = single(
        "single route_one_features",
        "logistic, dense W 384×9",
        label,
        one,
        min(sizes.single_calls, n),
        sizes.warmup,
    )
    res.add(row, "dense single")
    res.notes.append(
        f"dense: the single path gives the batch path's model on {agreement(choice, answers)} "
        "requests"
    )


def measure_knn(s: Setup, sizes: Sizes, res: Results) -> None:
    """Batched (smaller batch) and single for the k-nearest-neighbour predictor."""
    x = s.knn.features(s.prompts)
    label = f"hashing-words ({x.nnz / x.shape[0]:.0f} nnz/row)"
    xx, src = tiled(x, sizes.knn_batch)
    tokens = s.tokens[src]
    row, dec = batched(
        "batched route_features",
        "knn (k = 25)",
        label,
        lambda: s.knn.route_features(xx, tokens),
        sizes.knn_batch,
        1,
    )
    res.add(row, "knn")
    choice = np.asarray(dec.choice)
    rows = sparse_rows(x)
    m = len(rows)

    def one(k: int) -> int:
        idx, val = rows[k % m]
        return s.knn.route_one_features(idx, val, float(s.tokens[k % m]))

    row, answers = single(
        "single route_one_features",
        "knn (k = 25)",
        label,
        one,
        sizes.knn_single_calls,
        max(sizes.warmup // 10, 10),
    )
    res.add(row, "knn single")
    res.notes.append(
        f"knn: the single path gives the batch path's model on {agreement(choice, answers)} "
        "requests"
    )


def measure_features(s: Setup, sizes: Sizes, res: Results) -> None:
    """hashing-tfidf extraction, batched and one prompt per call; route_one end to end."""
    many = s.prompts * sizes.feature_reps
    row, _ = batched(
        "features, batched",
        "—",
        "hashing-tfidf",
        lambda: s.logistic.features(many),
        len(many),
        max(sizes.repeats - 2, 1),
    )
    row.unit = "prompts"
    res.add(row, "features batched")
    m = len(s.prompts)
    warmup = max(sizes.warmup // 10, 10)
    row, _ = single(
        "features([p]), one prompt per call",
        "—",
        "hashing-tfidf",
        lambda k: s.logistic.features([s.prompts[k % m]]),
        sizes.feature_single_calls,
        warmup,
    )
    res.add(row, "features single")
    row, _ = single(
        "route_one (extraction + rule)",
        "logistic",
        "hashing-tfidf",
        lambda k: s.logistic.route_one(s.prompts[k % m]),
        sizes.feature_single_calls,
        warmup,
    )
    res.add(row, "route_one")


# ----------------------------------------------------------------------------- report


def section(row: Row) -> int:
    """Table order: batched rows, then single-request rows, then feature extraction."""
    if row.what.startswith("batched"):
        return 0
    return 1 if row.what.startswith("single") else 2


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ratios(res: Results) -> list[str]:
    """Comparisons within this run, one line each."""
    r, p = res.rate, res.p50
    out = [
        f"batched route_features {r['sparse']:,.0f}/s; decide alone {r['decide']:,.0f}/s, so "
        f"prediction (the sparse product X·W and the sigmoid) is "
        f"{1 - r['sparse'] / r['decide']:.0%} of the batch time",
        f"sparse hashing-tfidf rows route {r['sparse'] / r['dense']:.2f}× as fast as dense "
        "384-dimensional rows",
        "batched vs one request at a time (logistic): "
        f"{r['sparse'] * p['sparse single'] / 1e6:.0f}× more decisions "
        "per second than back-to-back single calls at the p50 latency",
        f"knn vs logistic: batched {r['sparse'] / r['knn']:,.0f}× slower, single p50 "
        f"{p['knn single'] / p['sparse single']:,.0f}× slower",
        f"feature extraction: batched {r['features batched']:,.0f} prompts/s vs one per call "
        f"{r['features single']:,.0f}/s ({r['features batched'] / r['features single']:.0f}×); "
        f"routing with features given is {r['sparse'] / r['features batched']:,.0f}× faster "
        "than extracting them (batched), and extraction is "
        f"{1 - p['sparse single'] / p['route_one']:.0%} of route_one's p50",
    ]
    slope = loglog_slope(res.scaling)
    if slope is not None:
        points = ", ".join(f"{int(n):,} in {t:.3f} s" for n, t in res.scaling)
        out.append(f"batched route_features time grows as N^{slope:.2f} ({points})")
    return out + res.notes


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (< 30 s)")
    args = parser.parse_args()
    if not (DATA / "llmrouter").is_dir():
        raise SystemExit(f"DC-Router data not found under {DATA} (expected ../shared/data)")
    sizes = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    print(f"# allocate_speed — {platform.node()} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, load average at start "
        f"{os.getloadavg()[0]:.2f}" + (" — QUICK: small sizes" if args.quick else "")
    )
    s = setup(sizes)
    print(
        f"# DC-Router, {s.models} models; logistic fitted on {s.train_prompts:,} training "
        f"prompts; V = {s.prices.value:.3g} $ per unit quality; fit s: "
        + ", ".join(f"{k} {v:.1f}" for k, v in s.fit_s.items())
        + "\n"
    )
    res = Results()
    measure_logistic(s, sizes, res)
    measure_dense(s, sizes, res)
    measure_knn(s, sizes, res)
    measure_features(s, sizes, res)
    print(HEADER)
    for row in sorted(res.rows, key=section):
        print(row.line())
    print("\nWithin this run:")
    for line in ratios(res):
        print(f"- {line}")
    print(
        f"- peak memory {peak_gb():.2f} GB; load average at end {os.getloadavg()[0]:.2f}; "
        f"total {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
