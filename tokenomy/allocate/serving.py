"""Serving admission: first-come-first-served against congestion pricing, on a real trace.

The serving row of the marginal-token-allocation table: the first-best admission rule is
congestion pricing, "charge each request the delay it imposes on others". Each request ``i``
(value ``V_i`` dollars, service time ``s_i`` seconds, :mod:`~tokenomy.allocate.serving_trace`)
faces two options, ``admit`` (``ΔQ = 1`` at value ``V_i``) and ``reject`` (nothing), priced by
:meth:`tokenomy.prices.Prices.net_value` with ``λ = Prices.latency`` dollars per second of
latency; admitted, it is worth ``V_i − λ·latency_i``, rejected 0. The queue is FCFS over
``servers`` identical replicas, each serving one request at a time (the request goes to the
replica that frees first).

Policies:

- ``fcfs`` admits everything (the latency cost it imposes on others is unpriced).
- ``congestion`` admits ``i`` iff ``V_i − λ·(W_i + s_i + E_i) ≥ 0``, where ``W_i + s_i`` is its
  own latency (exact at decision time: FCFS means later arrivals never delay it) and ``E_i`` the
  online estimate of the waiting it adds to later requests, in request-seconds.

The externality estimate (derived here; it uses only the past). In a single-server FCFS queue,
removing a job of size ``s`` that arrives to workload ``W`` lowers the workload at every later
time ``t`` by ``D(t) = min(s, min_{u∈[t_i,t]} V(u))`` (``V`` = workload with the job): while the
queue without it is busy the two workloads fall together and the gap stays ``s``; when it is
idle the gap follows ``V`` down. For Poisson arrivals at rate ``λ_a`` and load ``ρ < 1`` the
time ``V`` takes to fall from ``W + s`` to level ``x`` has mean ``(W + s − x)/(1 − ρ)`` (a busy
period started by that much work), so the expected waiting imposed on later arrivals is

    E = λ_a · ∫₀ˢ (W + s − x)/(1 − ρ) dx = λ_a · s · (W + s/2) / (1 − ρ).

With ``c`` servers we use the heavy-traffic (resource-pooling) version: the job adds ``s/c`` to
every later wait, ``E = λ_a · (s/c) · (W + s/(2c)) / (1 − ρ)``. ``λ_a`` and ``ρ`` are the
*admitted* arrival rate and load over a trailing window (the delay falls only on requests that
will be served), with ``ρ`` capped at ``rho_cap`` (a burst can push the trailing load past 1,
where the formula has no finite answer).

Realised externality (:func:`realised_externality`), exact for the schedule that was run: for
one server, from the formula above, the wait of the ``k``-th later request drops by
``min(s_i, min_{i<j≤k} W_j)`` (``W_j`` = waits in the schedule), summed in ``O(n log n)`` with
a monotone stack; for ``c`` servers, by re-simulating the schedule without each request, all
requests at once as one vectorised batch, each perturbed run dropped as soon as its servers'
state coincides with the original (from there on the two runs are identical). Both agree with
brute-force re-simulation in the tests.

Measured (one replica, offered load ρ = 0.9, λ = $0.01/s, values lognormal with median $0.50
and σ = 1, seed 0; ``tests/allocate/test_serving.py`` checks the direction on every trace):
on ``conv`` FCFS has p99 latency 503 s and welfare −$2,540, congestion pricing admits 79% with
p99 25 s and welfare $13,726; on ``code`` (on/off bursts) FCFS p99 1,322 s and −$57,886 against
52% admitted, p99 41 s, $4,960. Admitting on own latency alone (no externality term) gets
$4,199 and $13,257 with p99 112 s and 47 s: pricing the externality adds the rest. The online
estimate ranks the realised externalities well where arrivals are close to Poisson (Spearman
0.85 under FCFS and 0.53 under congestion pricing on ``conv``) and not at all inside ``code``'s
bursts under congestion pricing (≈ 0; there the queue is held at the admission threshold and
how long it lasts depends on when the burst ends, which no trailing window knows).

Modelling limits: service times are known at admission (an oracle for output length; a length
predictor would add error to ``W_i + s_i``); token cost is not charged (``ΔC = 0``: the replica
is paid for either way); the externality counts added waiting of later admitted requests, not
the surplus of requests the added delay pushes into rejection.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import spearmanr

from tokenomy.allocate.serving_trace import (
    ServiceModel,
    ServingTrace,
    ValueModel,
    load_azure_trace,
    rescale_to_load,
    synthetic_trace,
)
from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.prices import Prices

__all__ = [
    "POLICIES",
    "ServingResult",
    "compare_admission",
    "decision_log",
    "fcfs_waits",
    "realised_externality",
    "run_serving",
    "simulate_admission",
]

POLICIES = ("fcfs", "congestion")
"""Admission policies: admit everything, or admit when the value covers the full delay cost."""

DEFAULT_LATENCY_PRICE = 0.01
"""Default ``λ``: one cent per second of latency ($36 per hour of a person's waiting)."""

DEFAULT_WINDOW_ARRIVALS = 100.0
"""Default trailing window: this many mean inter-arrival times of the (rescaled) trace."""


def _f64(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be a 1-D array of finite numbers, got shape {arr.shape}")
    return arr


def _check_queue(
    arrival: ArrayLike, service: ArrayLike, servers: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = _f64(arrival, "arrival")
    s = _f64(service, "service")
    if t.shape != s.shape:
        raise ConfigError(f"arrival and service differ in length: {t.shape} vs {s.shape}")
    if np.any(np.diff(t) < 0) or np.any(s < 0):
        raise ConfigError("arrival must be non-decreasing and service times >= 0")
    if not isinstance(servers, int) or servers < 1:
        raise ConfigError(f"servers must be an integer >= 1, got {servers!r}")
    return t, s


def fcfs_waits(arrival: ArrayLike, service: ArrayLike, servers: int = 1) -> NDArray[np.float64]:
    """Waiting times (start − arrival) of requests served FCFS by ``servers`` replicas.

    Each request, in arrival order, starts on the replica that frees first, at
    ``max(arrival, free time)``.
    """
    t, s = _check_queue(arrival, service, servers)
    free = [-math.inf] * servers
    waits = np.empty(t.shape[0])
    for k, (tk, sk) in enumerate(zip(t.tolist(), s.tolist(), strict=True)):
        start = max(tk, free[0])
        waits[k] = start - tk
        heapq.heapreplace(free, start + sk)
    return waits


def realised_externality(
    arrival: ArrayLike, service: ArrayLike, servers: int = 1, *, method: str = "auto"
) -> NDArray[np.float64]:
    """Exact waiting each request imposes on the others in an FCFS schedule (request-seconds).

    Entry ``i`` is the total waiting of all other requests minus their total waiting if request
    ``i`` were removed and everything else kept (same arrival and service times).

    Args:
        arrival: arrival times of the requests that were served (non-decreasing).
        service: their service times.
        servers: number of replicas.
        method: ``"closed_form"`` (one server only: running minima of the waits, O(n log n)),
            ``"resimulate"`` (any number of servers: batched re-simulation until the perturbed
            state merges with the original) or ``"auto"`` (the first for one server).
    """
    t, s = _check_queue(arrival, service, servers)
    if method not in ("auto", "closed_form", "resimulate"):
        raise UnknownNameError("externality method", method, ["auto", "closed_form", "resimulate"])
    if method == "closed_form" and servers != 1:
        raise ConfigError("the closed-form externality holds for one server; use 'resimulate'")
    if servers == 1 and method != "resimulate":
        return _externality_single(fcfs_waits(t, s, 1), s)
    return _externality_resimulated(t, s, servers)


def _externality_single(
    waits: NDArray[np.float64], service: NDArray[np.float64]
) -> NDArray[np.float64]:
    # Removing i lowers the wait of the k-th later request by min(s_i, min_{i<j<=k} W_j).
    # f[j] = sum_{k>=j} min_{j<=l<=k} W_l via "next strictly smaller" jumps; the chain of strict
    # prefix minima starting at i+1 is the monotone stack, and the first entry below s_i ends
    # the stretch where the full s_i propagates.
    w = waits.tolist()
    n = len(w)
    f = [0.0] * (n + 1)
    stack: list[int] = []  # indices; their waits increase from bottom to top
    vals: list[float] = []
    out = np.zeros(n)
    for i in range(n - 1, -1, -1):
        si = float(service[i])
        pos = bisect.bisect_left(vals, si) - 1  # topmost (= earliest) entry with W < s_i
        p = stack[pos] if pos >= 0 else n
        out[i] = si * (p - i - 1) + f[p]
        wi = w[i]
        while vals and vals[-1] >= wi:
            stack.pop()
            vals.pop()
        nxt = stack[-1] if stack else n
        f[i] = wi * (nxt - i) + f[nxt]
        stack.append(i)
        vals.append(wi)
    return out


def _externality_resimulated(
    t: NDArray[np.float64], s: NDArray[np.float64], c: int
) -> NDArray[np.float64]:
    # Run k (the schedule without request k) starts from the replicas' state before k and
    # replays the later requests; every run still apart from the original advances as one row
    # of a (runs, c) array. A run whose state, seen from the next arrival (free times below the
    # arrival time are all "free now"), equals the original's is identical from then on and is
    # dropped (checked every few steps; until then it adds exactly zero).
    n = t.shape[0]
    out = np.zeros(n)
    orig = np.full(c, -np.inf)  # sorted free times of the replicas before arrival k
    runs = np.empty((n, c))  # sorted free times of the runs still apart
    which = np.empty(n, dtype=np.int64)  # the request each run leaves out
    m = 0
    for k, (tk, sk) in enumerate(zip(t.tolist(), s.tolist(), strict=True)):
        if m and k % 8 == 0:
            gap = np.abs(np.maximum(runs[:m], tk) - np.maximum(orig, tk))
            keep = np.flatnonzero(np.any(gap > 1e-12 * max(1.0, abs(tk)), axis=1))
            runs[: keep.size] = runs[keep]
            which[: keep.size] = which[keep]
            m = keep.size
        start_orig = max(tk, float(orig[0]))
        if m:
            active = runs[:m]
            start = np.maximum(active[:, 0], tk)
            out[which[:m]] += start_orig - start
            active[:, 0] = start + sk
            active.sort(axis=1)
        runs[m] = orig
        which[m] = k
        m += 1
        orig[0] = start_orig + sk
        orig.sort()
    return out


@dataclass
class ServingResult:
    """One admission policy run on one trace, with every per-request array kept for figures.

    Per-request arrays have one entry per offered request; entries of rejected requests are
    NaN where undefined (wait, latency, realised externality).

    Attributes:
        policy: ``"fcfs"`` or ``"congestion"``.
        trace: trace name.
        servers: number of replicas.
        load: offered load ``ρ`` of the trace that was run.
        prices: prices in force (``latency`` is ``λ``; ``value`` multiplies every ``V_i``).
        window_s: trailing window of the externality estimate, seconds.
        rho_cap: cap on the trailing load in the estimate.
        arrival: arrival times (s).
        service: service times (s).
        context: context tokens.
        generated: generated tokens.
        value: ``V_i`` in dollars (after the ``prices.value`` multiplier).
        admitted: whether each request was admitted.
        wait: queueing wait (s).
        expected_latency: own latency ``W_i + s_i`` predicted at decision time (s).
        externality_estimate: online estimate ``E_i`` of the waiting imposed (request-s).
        externality_realised: exact waiting imposed in the schedule that was run (request-s).
        net_value: net value of admitting at decision time, ``V_i − λ·(W_i + s_i + E_i)``.
    """

    policy: str
    trace: str
    servers: int
    load: float
    prices: Prices
    window_s: float
    rho_cap: float
    arrival: NDArray[np.float64]
    service: NDArray[np.float64]
    context: NDArray[np.int64]
    generated: NDArray[np.int64]
    value: NDArray[np.float64]
    admitted: NDArray[np.bool_]
    wait: NDArray[np.float64]
    expected_latency: NDArray[np.float64]
    externality_estimate: NDArray[np.float64]
    externality_realised: NDArray[np.float64] = field(repr=False)
    net_value: NDArray[np.float64] = field(repr=False)

    @property
    def latency(self) -> NDArray[np.float64]:
        """Own latency (wait + service) of each request; NaN when rejected."""
        return self.wait + np.where(self.admitted, self.service, np.nan)

    @property
    def n_requests(self) -> int:
        """Number of offered requests."""
        return int(self.arrival.shape[0])

    @property
    def n_admitted(self) -> int:
        """Number of admitted requests."""
        return int(self.admitted.sum())

    @property
    def duration_s(self) -> float:
        """From the first arrival to the later of the last arrival and the last completion."""
        if self.n_requests == 0:
            return 0.0
        done = self.arrival + self.latency
        end = max(float(self.arrival[-1]), float(np.nanmax(done, initial=-np.inf)))
        return end - float(self.arrival[0])

    @property
    def welfare(self) -> NDArray[np.float64]:
        """Per-request welfare: ``V_i − λ·latency_i`` when admitted, 0 when rejected."""
        net = _per_dollar(self.prices).net_value(self.value, 0.0, np.nan_to_num(self.latency))
        return np.where(self.admitted, net, 0.0)

    def underwater(self) -> int:
        """Admitted requests whose value was below their realised delay cost (own + imposed)."""
        cost = self.prices.full_price(0.0, self.latency + self.externality_realised)
        return int(np.sum(self.admitted & (self.value < cost)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-request arrays)."""
        adm = self.admitted
        lat = self.latency[adm]
        dur = self.duration_s
        est = self.externality_estimate[adm]
        real = self.externality_realised[adm]
        tokens = (self.context[adm] + self.generated[adm]).astype(np.float64)
        q = np.percentile(lat, [50, 90, 99]) if lat.size else np.full(3, np.nan)
        welfare = self.welfare
        varied = lat.size > 2 and np.ptp(real) > 0 and np.ptp(est) > 0
        corr = float(spearmanr(est, real).statistic) if varied else None
        return {
            "policy": self.policy,
            "trace": self.trace,
            "servers": self.servers,
            "load": self.load,
            "latency_price": self.prices.latency,
            "window_s": self.window_s,
            "rho_cap": self.rho_cap,
            "requests": self.n_requests,
            "admitted": self.n_admitted,
            "rejected": self.n_requests - self.n_admitted,
            "admitted_share": self.n_admitted / self.n_requests if self.n_requests else 0.0,
            "duration_s": dur,
            "throughput_rps": self.n_admitted / dur if dur > 0 else 0.0,
            "throughput_tokens_per_s": float(tokens.sum()) / dur if dur > 0 else 0.0,
            "throughput_generated_per_s": (
                float(self.generated[adm].sum()) / dur if dur > 0 else 0.0
            ),
            "latency_p50_s": float(q[0]),
            "latency_p90_s": float(q[1]),
            "latency_p99_s": float(q[2]),
            "latency_mean_s": float(lat.mean()) if lat.size else math.nan,
            "value_served": float(self.value[adm].sum()),
            "delay_cost": float(self.prices.latency * lat.sum()),
            "welfare_total": float(welfare.sum()),
            "welfare_per_request": float(welfare.mean()) if self.n_requests else 0.0,
            "underwater": self.underwater(),
            "externality_estimated_total": float(est.sum()),
            "externality_realised_total": float(real.sum()),
            "externality_estimate_ratio": (
                float(est.sum() / real.sum()) if real.sum() > 0 else None
            ),
            "externality_estimate_spearman": corr,
        }


def simulate_admission(
    trace: ServingTrace,
    values: ArrayLike,
    *,
    policy: str = "congestion",
    servers: int = 1,
    prices: Prices | None = None,
    service: ServiceModel | None = None,
    window_s: float | None = None,
    rho_cap: float = 0.95,
    load: float | None = None,
) -> ServingResult:
    """Run one admission policy over a trace (arrival times used as given).

    Args:
        trace: the requests.
        values: ``v_i`` in dollars per request; request ``i`` is worth ``V_i = prices.value·v_i``.
        policy: ``"fcfs"`` (admit all) or ``"congestion"`` (admit iff the value covers the full
            delay cost, own latency plus the estimated externality, each second priced at λ).
        servers: number of replicas.
        prices: ``λ = prices.latency`` (default :data:`DEFAULT_LATENCY_PRICE`).
        service: service model (default :class:`ServiceModel`).
        window_s: trailing window of the load estimate, seconds (default
            :data:`DEFAULT_WINDOW_ARRIVALS` mean inter-arrival times).
        rho_cap: cap on the trailing load in the estimate (``0 ≤ rho_cap < 1``).
        load: the trace's offered load, recorded in the result (computed when omitted).
    """
    if policy not in POLICIES:
        raise UnknownNameError("serving policy", policy, POLICIES)
    if not (0.0 <= rho_cap < 1.0):
        raise ConfigError(f"rho_cap must be in [0, 1), got {rho_cap!r}")
    prices = prices if prices is not None else Prices(latency=DEFAULT_LATENCY_PRICE)
    service = service if service is not None else ServiceModel()
    s = service.service_times(trace)
    t, s = _check_queue(trace.arrival, s, servers)
    v = _f64(values, "values") * prices.value
    if v.shape != t.shape or np.any(v < 0):
        raise ConfigError(f"values must be >= 0 with one per request ({t.shape[0]})")
    gap = trace.mean_interarrival()
    if window_s is None:
        window_s = DEFAULT_WINDOW_ARRIVALS * gap if math.isfinite(gap) and gap > 0 else 1.0
    if not (math.isfinite(window_s) and window_s > 0):
        raise ConfigError(f"window_s must be finite and > 0, got {window_s!r}")
    if load is None:
        load = float(s.mean() / gap / servers) if math.isfinite(gap) and gap > 0 else math.nan
    admitted, wait, own, ext, net = _run_queue(
        t, s, v, _per_dollar(prices), servers, policy == "fcfs", float(window_s), rho_cap
    )
    realised = np.full(t.shape[0], np.nan)
    realised[admitted] = realised_externality(t[admitted], s[admitted], servers)
    return ServingResult(
        policy=policy,
        trace=trace.name,
        servers=servers,
        load=float(load),
        prices=prices,
        window_s=float(window_s),
        rho_cap=rho_cap,
        arrival=t,
        service=s,
        context=trace.context,
        generated=trace.generated,
        value=v,
        admitted=admitted,
        wait=wait,
        expected_latency=own,
        externality_estimate=ext,
        externality_realised=realised,
        net_value=net,
    )


def _per_dollar(prices: Prices) -> Prices:
    # V_i is already in dollars (prices.value applied), so admit's ΔQ = V_i at V = 1 $/unit:
    # net_value(V_i, 0, dl) = V_i − λ·dl.
    return prices.with_(value=1.0)


def _run_queue(
    t: NDArray[np.float64],
    s: NDArray[np.float64],
    v: NDArray[np.float64],
    prices: Prices,
    c: int,
    admit_all: bool,
    window: float,
    rho_cap: float,
) -> tuple[
    NDArray[np.bool_],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
]:
    n = t.shape[0]
    tl, sl, vl = t.tolist(), s.tolist(), v.tolist()
    admitted = np.zeros(n, dtype=bool)
    wait = np.full(n, np.nan)
    own = np.empty(n)
    ext = np.empty(n)
    cum_n = [0.0] * (n + 1)  # admitted requests among arrivals < k
    cum_w = [0.0] * (n + 1)  # their work
    free = [-math.inf] * c  # heap of replica free times
    t0 = tl[0] if n else 0.0
    lo = 0
    for k in range(n):
        tk, sk = tl[k], sl[k]
        while tl[lo] < tk - window:
            lo += 1
        span = min(window, tk - t0)
        wk = max(0.0, free[0] - tk)
        e = 0.0
        if span > 0.0:
            rate = (cum_n[k] - cum_n[lo]) / span
            rho = min((cum_w[k] - cum_w[lo]) / (c * span), rho_cap)
            e = rate * (sk / c) * (wk + sk / (2 * c)) / (1.0 - rho)
        own[k] = wk + sk
        ext[k] = e
        take = admit_all or bool(prices.net_value(vl[k], 0.0, wk + sk + e) >= 0.0)
        if take:
            admitted[k] = True
            wait[k] = wk
            heapq.heapreplace(free, tk + wk + sk)
        cum_n[k + 1] = cum_n[k] + take
        cum_w[k + 1] = cum_w[k] + (sk if take else 0.0)
    net = prices.net_value(v, 0.0, own + ext)
    return admitted, wait, own, ext, net


def compare_admission(
    trace: ServingTrace,
    *,
    load: float | None = 0.9,
    servers: int = 1,
    prices: Prices | None = None,
    seed: int = 0,
    service: ServiceModel | None = None,
    values: ValueModel | None = None,
    window_s: float | None = None,
    rho_cap: float = 0.95,
) -> dict[str, ServingResult]:
    """Run ``fcfs`` and ``congestion`` on the same trace, load and request values.

    Args:
        trace: the requests (e.g. :func:`load_azure_trace` or :func:`synthetic_trace`).
        load: target offered load ``ρ``: arrival times are rescaled by one factor to reach it
            (``None`` keeps the trace's own time scale).
        servers: number of replicas.
        prices: ``λ = prices.latency``; default ``Prices(latency=0.01)``.
        seed: seed of the request values.
        service: service model (default :class:`ServiceModel`).
        values: request-value model (default :class:`ValueModel`).
        window_s: trailing window of the externality estimate (see :func:`simulate_admission`).
        rho_cap: cap on the trailing load in the estimate.

    Returns:
        ``{"fcfs": ServingResult, "congestion": ServingResult}``.
    """
    service = service if service is not None else ServiceModel()
    if load is not None:
        trace = rescale_to_load(trace, load, service, servers)
    v = (values if values is not None else ValueModel()).draw(trace.n, seed)
    return {
        policy: simulate_admission(
            trace,
            v,
            policy=policy,
            servers=servers,
            prices=prices,
            service=service,
            window_s=window_s,
            rho_cap=rho_cap,
            load=load,
        )
        for policy in POLICIES
    }


def decision_log(result: ServingResult) -> list[dict[str, Any]]:
    """One ``"serving"`` decision record per request, in the shared decision-log schema.

    Options are ``admit`` (``dq = 1`` at ``V = V_i``, ``dl`` = the full delay predicted at
    decision time: own latency ``W_i + s_i`` plus the estimated externality ``E_i``) and
    ``reject`` (all zero). Outcomes: ``delay_s`` = realised own latency and ``externality_s`` =
    realised waiting imposed on the others (both 0 for a rejected request).
    """
    lam, risk = result.prices.latency, result.prices.risk
    dl = (result.expected_latency + result.externality_estimate).tolist()
    delay = np.nan_to_num(result.latency).tolist()
    imposed = np.nan_to_num(result.externality_realised).tolist()
    records = []
    values, chosen = result.value.tolist(), result.admitted.tolist()
    for i, (val, adm) in enumerate(zip(values, chosen, strict=True)):
        records.append(
            {
                "id": f"{result.policy}-{i}",
                "layer": "serving",
                "prices": {"value": val, "latency": lam, "risk": risk},
                "options": [
                    {"name": "admit", "dq": 1.0, "dc": 0.0, "dl": dl[i], "dr": 0.0},
                    {"name": "reject", "dq": 0.0, "dc": 0.0, "dl": 0.0, "dr": 0.0},
                ],
                "chosen": "admit" if adm else "reject",
                "outcome": {"delay_s": delay[i], "externality_s": imposed[i]},
            }
        )
    return records


def run_serving(
    trace: str = "synthetic",
    *,
    load: float = 0.9,
    servers: int = 1,
    latency_price: float = DEFAULT_LATENCY_PRICE,
    seed: int = 0,
    data_dir: str | Path | None = None,
    synthetic_n: int = 20_000,
) -> tuple[dict[str, ServingResult], dict[str, Any]]:
    """Compare the two policies on a named trace (the function behind a CLI command).

    Args:
        trace: ``"synthetic"`` (Poisson, seeded, no data needed), ``"code"``, ``"conv"`` or a
            CSV path in the Azure format.
        load: target offered load ``ρ``.
        servers: number of replicas.
        latency_price: ``λ`` in dollars per second.
        seed: seed of the synthetic trace and of the request values.
        data_dir: folder of the shared data sets (for ``code``/``conv``).
        synthetic_n: number of requests of the synthetic trace.

    Returns:
        The results per policy and a JSON-ready summary ``{"settings": ..., "policies": ...}``.
    """
    if trace == "synthetic":
        requests = synthetic_trace(synthetic_n, rate=1.0, seed=seed)
    else:
        requests = load_azure_trace(trace, data_dir=data_dir)
    results = compare_admission(
        requests, load=load, servers=servers, prices=Prices(latency=latency_price), seed=seed
    )
    summary = {
        "settings": {
            "trace": trace,
            "requests": requests.n,
            "load": load,
            "servers": servers,
            "latency_price": latency_price,
            "seed": seed,
            "service_model": vars(ServiceModel()),
            "value_model": vars(ValueModel()),
        },
        "policies": {name: r.to_dict() for name, r in results.items()},
    }
    return results, summary
