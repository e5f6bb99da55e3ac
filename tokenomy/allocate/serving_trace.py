"""Arrivals, service times and request values for the serving layer's queueing simulation.

The data are the Azure LLM inference traces (one hour of production arrivals, November 2023,
columns ``TIMESTAMP, ContextTokens, GeneratedTokens``; Patel et al., "Splitwise: Efficient
generative LLM inference using phase splitting", ISCA 2024; CC-BY-4.0): ``code`` has 8,819
requests, ``conv`` 19,366. :func:`load_azure_trace` reads either (or any CSV of that format);
:func:`synthetic_trace` draws a seeded Poisson trace so that nothing needs the shared data.

Service model (our choice; every number is a field of :class:`ServiceModel`): one replica is
one GPU serving a ~70B-parameter model (FP8 weights, about 70 GB, fit on one 80 GB H100) and
serves one request at a time, so its service time is

    s = overhead + prefill · context_tokens + decode · generated_tokens

- ``prefill = 0.2 ms/token`` (5,000 tokens/s): a forward pass costs about 2 × 70e9 FLOP per
  token; an H100 at roughly 40% of its ~2 PFLOP/s dense FP8 peak does about 5,700 tokens/s.
- ``decode = 25 ms/token`` (40 tokens/s): batch-one decoding reads every weight once per token;
  70 GB at ~80% of 3.35 TB/s takes about 26 ms.
- ``overhead = 10 ms`` per request (tokenisation, scheduling, first-token bookkeeping).

With these numbers the mean service time is about 1.1 s on ``code`` (long prompts, short
answers) and 5.5 s on ``conv`` (short prompts, long answers).

Load: :func:`rescale_to_load` multiplies every arrival time by one factor so that the offered
load ``ρ = arrival rate × mean service time / servers`` (arrival rate = 1 / mean inter-arrival
time) equals a target. One factor keeps the trace's burstiness: the shape of the inter-arrival
distribution (its coefficient of variation, on/off periods) is unchanged.

Request values (our choice, :class:`ValueModel`): request ``i`` is worth
``V_i = median · exp(σ·z_i)`` dollars, ``z_i`` standard normal keyed by ``(seed, i)``
(default median $0.05, ``σ = 1``): a request's value does not depend on how many others there
are, so two traces that share a prefix share their values.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import ndtri

from tokenomy import rng
from tokenomy.errors import ConfigError, DataError

__all__ = [
    "AZURE_TRACES",
    "ServiceModel",
    "ServingTrace",
    "ValueModel",
    "default_data_dir",
    "load_azure_trace",
    "offered_load",
    "rescale_to_load",
    "synthetic_trace",
]

AZURE_TRACES = {
    "code": "AzureLLMInferenceTrace_code.csv",
    "conv": "AzureLLMInferenceTrace_conv.csv",
}
"""Names accepted by :func:`load_azure_trace` and their file names."""

_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def default_data_dir() -> Path:
    """Folder of the shared data sets: ``$TOKENOMY_DATA_DIR``, else ``../shared/data``."""
    env = os.environ.get("TOKENOMY_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


@dataclass(frozen=True)
class ServingTrace:
    """A sequence of requests in arrival order.

    Attributes:
        name: where it came from (``"code"``, a file path, ``"synthetic"``...).
        arrival: arrival times in seconds, relative to the first request (non-decreasing).
        context: prompt (context) tokens per request.
        generated: generated (output) tokens per request.
    """

    name: str
    arrival: NDArray[np.float64]
    context: NDArray[np.int64]
    generated: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = self.arrival.shape[0]
        if self.context.shape != (n,) or self.generated.shape != (n,) or self.arrival.ndim != 1:
            raise ConfigError(
                f"ServingTrace arrays must be 1-D of equal length, got {self.arrival.shape}, "
                f"{self.context.shape}, {self.generated.shape}"
            )
        if n and (not np.all(np.isfinite(self.arrival)) or np.any(np.diff(self.arrival) < 0)):
            raise ConfigError("ServingTrace.arrival must be finite and non-decreasing")

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.arrival.shape[0])

    def mean_interarrival(self) -> float:
        """Mean time between consecutive arrivals in seconds (``inf`` with fewer than two)."""
        if self.n < 2:
            return math.inf
        return float((self.arrival[-1] - self.arrival[0]) / (self.n - 1))

    def head(self, n: int) -> ServingTrace:
        """The first ``n`` requests."""
        return replace(
            self,
            arrival=self.arrival[:n],
            context=self.context[:n],
            generated=self.generated[:n],
        )

    def time_scaled(self, factor: float) -> ServingTrace:
        """The same requests with every arrival time multiplied by ``factor`` (> 0)."""
        if not (math.isfinite(factor) and factor > 0):
            raise ConfigError(f"time scale factor must be finite and > 0, got {factor!r}")
        return replace(self, arrival=self.arrival * factor)


def _trace_path(path_or_name: str | Path, data_dir: str | Path | None) -> tuple[str, Path]:
    key = str(path_or_name)
    if key in AZURE_TRACES:
        base = Path(data_dir) if data_dir is not None else default_data_dir()
        return key, base / "azure-llm-trace" / AZURE_TRACES[key]
    return Path(key).stem, Path(key)


def load_azure_trace(path_or_name: str | Path, data_dir: str | Path | None = None) -> ServingTrace:
    """Load an Azure LLM inference trace.

    Args:
        path_or_name: ``"code"`` or ``"conv"`` (looked up in ``data_dir/azure-llm-trace/``), or
            the path of a CSV file with columns ``TIMESTAMP, ContextTokens, GeneratedTokens``.
        data_dir: folder of the shared data sets (default :func:`default_data_dir`).

    Returns:
        The trace with arrival times in seconds relative to the first request (rows sorted by
        time, stably, should the file not already be).

    Raises:
        ConfigError: the file does not exist.
        DataError: a column is missing or a row holds an unparseable timestamp or a token count
            that is not a non-negative integer (the message names file, line, field and value).
    """
    name, path = _trace_path(path_or_name, data_dir)
    if not path.is_file():
        raise ConfigError(
            f"trace file {path} does not exist (give 'code', 'conv' or the path of a CSV file "
            "with columns TIMESTAMP, ContextTokens, GeneratedTokens)"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(path, None, "<unreadable CSV>", f"a CSV file ({exc})") from None
    for column in _COLUMNS:
        if column not in frame.columns:
            raise DataError(path, column, list(frame.columns), f"a column named {column}")
    if len(frame) == 0:
        raise DataError(path, None, "no rows", "at least one request")
    stamps = pd.to_datetime(frame["TIMESTAMP"], errors="coerce", format="ISO8601")
    _first_bad(path, frame["TIMESTAMP"], stamps.isna().to_numpy(), "a timestamp")
    counts = []
    for column in _COLUMNS[1:]:
        raw = frame[column]
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(numbers) | (numbers < 0) | (numbers != np.floor(numbers))
        _first_bad(path, raw, bad, "an integer >= 0")
        counts.append(numbers.astype(np.int64))
    nanos = stamps.to_numpy("datetime64[ns]").astype(np.int64)
    order = np.argsort(nanos, kind="stable")
    seconds = (nanos[order] - nanos[order[0]]).astype(np.float64) / 1e9
    return ServingTrace(name, seconds, counts[0][order], counts[1][order])


def _first_bad(path: Path, raw: pd.Series, bad: NDArray[np.bool_], expected: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        # line numbers count the header as line 1
        raise DataError(path, f"line {row + 2}, {raw.name}", raw.iloc[row], expected)


def synthetic_trace(
    n: int,
    rate: float,
    seed: int,
    *,
    context_median: float = 1000.0,
    generated_median: float = 100.0,
    sigma: float = 1.0,
) -> ServingTrace:
    """A Poisson trace with lognormal token counts, for runs without the shared data.

    Args:
        n: number of requests.
        rate: arrival rate (requests per second); inter-arrival times are exponential.
        seed: seed of the draws (same seed, same trace).
        context_median: median prompt length in tokens.
        generated_median: median output length in tokens.
        sigma: log-scale standard deviation of both token counts (rounded, at least 1).
    """
    if n < 1 or not (math.isfinite(rate) and rate > 0):
        raise ConfigError(f"synthetic_trace needs n >= 1 and rate > 0, got n={n}, rate={rate}")
    gen = np.random.default_rng(seed)
    gaps = gen.exponential(1.0 / rate, size=n)
    gaps[0] = 0.0
    ctx = np.maximum(1, np.rint(context_median * np.exp(sigma * gen.standard_normal(n))))
    out = np.maximum(1, np.rint(generated_median * np.exp(sigma * gen.standard_normal(n))))
    return ServingTrace("synthetic", np.cumsum(gaps), ctx.astype(np.int64), out.astype(np.int64))


@dataclass(frozen=True)
class ServiceModel:
    """Service time of one request on one replica (see the module docstring for the numbers).

    Attributes:
        prefill_s_per_token: seconds per context token (prefill).
        decode_s_per_token: seconds per generated token (decode).
        overhead_s: fixed seconds per request.
    """

    prefill_s_per_token: float = 0.0002
    decode_s_per_token: float = 0.025
    overhead_s: float = 0.010

    def __post_init__(self) -> None:
        for name in ("prefill_s_per_token", "decode_s_per_token", "overhead_s"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"ServiceModel.{name} must be a finite number >= 0, got {v!r}")

    def service_times(self, trace: ServingTrace) -> NDArray[np.float64]:
        """Service time of every request of ``trace`` in seconds (vectorised)."""
        return (
            self.overhead_s
            + self.prefill_s_per_token * trace.context.astype(np.float64)
            + self.decode_s_per_token * trace.generated.astype(np.float64)
        )


def offered_load(trace: ServingTrace, service: ServiceModel, servers: int) -> float:
    """Offered load ``ρ = arrival rate × mean service time / servers`` of a trace."""
    if servers < 1:
        raise ConfigError(f"servers must be >= 1, got {servers}")
    gap = trace.mean_interarrival()
    if not math.isfinite(gap) or gap <= 0:
        raise ConfigError(f"trace {trace.name!r} needs two arrivals at distinct times for a load")
    return float(np.mean(service.service_times(trace)) / gap / servers)


def rescale_to_load(
    trace: ServingTrace, load: float, service: ServiceModel, servers: int
) -> ServingTrace:
    """The trace with arrival times scaled by one factor so its offered load equals ``load``."""
    if not (math.isfinite(load) and load > 0):
        raise ConfigError(f"load must be finite and > 0, got {load!r}")
    return trace.time_scaled(offered_load(trace, service, servers) / load)


@dataclass(frozen=True)
class ValueModel:
    """Lognormal request values in dollars: ``V_i = median · exp(σ·z_i)``.

    Attributes:
        median: median value of a request in dollars.
        sigma: log-scale standard deviation.
    """

    median: float = 0.50
    sigma: float = 1.0

    def __post_init__(self) -> None:
        ok = math.isfinite(self.median) and self.median > 0
        if not (ok and math.isfinite(self.sigma) and self.sigma >= 0):
            raise ConfigError(
                f"ValueModel needs median > 0 and sigma >= 0, got {self.median}, {self.sigma}"
            )

    def draw(self, n: int, seed: int) -> NDArray[np.float64]:
        """Values of requests ``0..n-1`` (keyed by ``(seed, index)``: prefixes agree)."""
        u = rng.uniform(seed, "serving/value", np.arange(n))
        z = ndtri(np.clip(u, 2.0**-53, 1.0 - 2.0**-53))
        return np.asarray(self.median * np.exp(self.sigma * z), dtype=np.float64)
