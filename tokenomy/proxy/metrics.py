"""Prometheus metrics of the proxy, in the text exposition format (written by hand).

Counters and gauges are keyed by their label values; the latency histogram has fixed buckets.
Everything is guarded by one lock, so handler threads may update it concurrently.

Metrics (all prefixed ``tokenomy_proxy_``):

- ``requests_total{key, backend, status}``: finished requests by HTTP status
  (``backend="none"`` when no backend served it);
- ``spend_dollars_total{key, backend}``: realised spend debited in the ledger;
- ``chosen_total{backend}``: requests each backend served;
- ``tokens_total{backend, direction}``: input and output tokens reported (or estimated);
- ``fallbacks_total{backend}``: upstream failures that moved a request to the next backend;
- ``refusals_total{key, reason}``: requests refused (``budget``, ``auth``, ``bad_request``, ...);
- ``unpaid_dollars_total{account}``: batched payments the ledger refused (another process
  spent the money first; see :mod:`tokenomy.proxy.settlement`);
- ``budget_price{account}``: the pacing multiplier ``μ`` of each paced account;
- ``upstream_latency_seconds{backend}``: histogram of upstream latency.
"""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["LATENCY_BUCKETS", "ProxyMetrics"]

LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Upper bounds (seconds) of the latency histogram's buckets."""

_PREFIX = "tokenomy_proxy_"
_HELP: dict[str, tuple[str, str]] = {
    "requests_total": ("counter", "Finished chat requests by key, backend and HTTP status."),
    "spend_dollars_total": ("counter", "Realised spend debited in the ledger, in dollars."),
    "chosen_total": ("counter", "Requests served by each backend."),
    "tokens_total": ("counter", "Tokens reported by the backends (estimated where absent)."),
    "fallbacks_total": ("counter", "Upstream failures that moved a request to another backend."),
    "refusals_total": ("counter", "Requests refused, by key and reason."),
    "unpaid_dollars_total": ("counter", "Batched payments the ledger refused, in dollars."),
    "budget_price": ("gauge", "Pacing multiplier mu (price of a budget dollar) per account."),
}

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = (*labels, *extra)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(x: float) -> str:
    return repr(float(x)) if x != int(x) else str(int(x))


class ProxyMetrics:
    """Thread-safe counters, gauges and a latency histogram, rendered as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._hist: dict[Labels, list[float]] = {}
        self._hist_sum: dict[Labels, float] = defaultdict(float)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to counter ``name`` with ``labels``."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set gauge ``name`` with ``labels`` to ``value``."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] = value

    def observe_latency(self, seconds: float, backend: str) -> None:
        """Record one upstream latency in the histogram of ``backend``."""
        key = (("backend", backend),)
        with self._lock:
            counts = self._hist.setdefault(key, [0.0] * (len(LATENCY_BUCKETS) + 1))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._hist_sum[key] += seconds

    def value(self, name: str, **labels: str) -> float:
        """Current value of a counter or gauge series (0 when never touched)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            return self._values.get(name, {}).get(key, 0.0)

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, text) in _HELP.items():
                lines.append(f"# HELP {_PREFIX}{name} {text}")
                lines.append(f"# TYPE {_PREFIX}{name} {kind}")
                for labels, value in sorted(self._values.get(name, {}).items()):
                    lines.append(f"{_PREFIX}{name}{_labels(labels)} {_number(value)}")
            hist = f"{_PREFIX}upstream_latency_seconds"
            lines.append(f"# HELP {hist} Upstream latency of served requests in seconds.")
            lines.append(f"# TYPE {hist} histogram")
            for labels, counts in sorted(self._hist.items()):
                for bound, count in zip(LATENCY_BUCKETS, counts, strict=False):
                    le = (("le", _number(bound)),)
                    lines.append(f"{hist}_bucket{_labels(labels, le)} {_number(count)}")
                inf = (("le", "+Inf"),)
                lines.append(f"{hist}_bucket{_labels(labels, inf)} {_number(counts[-1])}")
                lines.append(f"{hist}_sum{_labels(labels)} {_number(self._hist_sum[labels])}")
                lines.append(f"{hist}_count{_labels(labels)} {_number(counts[-1])}")
        return "\n".join(lines) + "\n"
