"""Serving layer: FCFS queue, congestion pricing, exact externalities, the Azure trace."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from tokenomy.allocate.serving import (
    ServingResult,
    compare_admission,
    decision_log,
    fcfs_waits,
    realised_externality,
    run_serving,
    simulate_admission,
)
from tokenomy.allocate.serving_trace import (
    ServiceModel,
    ServingTrace,
    ValueModel,
    load_azure_trace,
    offered_load,
    rescale_to_load,
    synthetic_trace,
)
from tokenomy.errors import ConfigError, DataError
from tokenomy.prices import Prices
from tokenomy.report.serving_figures import serving_figures

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
AZURE = SHARED / "azure-llm-trace"

# service time = generated tokens exactly (1 s per generated token, nothing else)
UNIT = ServiceModel(prefill_s_per_token=0.0, decode_s_per_token=1.0, overhead_s=0.0)


def hand_trace(arrival: list[float], service: list[int]) -> ServingTrace:
    return ServingTrace(
        "hand",
        np.asarray(arrival, dtype=np.float64),
        np.full(len(arrival), 7, dtype=np.int64),
        np.asarray(service, dtype=np.int64),
    )


@pytest.fixture(scope="module")
def azure() -> Path:
    if not (AZURE / "AzureLLMInferenceTrace_code.csv").is_file():
        missing = f"Azure LLM inference trace not found at {AZURE} (expected ../shared beside)"
        pytest.skip(reason=missing)
    return SHARED


def brute_force_waits(arrival: np.ndarray, service: np.ndarray, servers: int) -> np.ndarray:
    """Independent FCFS simulation: replicas as a list, each request to the first free one."""
    free = [0.0] * servers
    waits = []
    for t, s in zip(arrival.tolist(), service.tolist(), strict=True):
        j = min(range(servers), key=lambda r: free[r])
        start = max(t, free[j])
        waits.append(start - t)
        free[j] = start + s
    return np.asarray(waits)


def brute_force_externality(arrival: np.ndarray, service: np.ndarray, servers: int) -> np.ndarray:
    base = brute_force_waits(arrival, service, servers)
    out = []
    for i in range(arrival.size):
        keep = np.arange(arrival.size) != i
        without = brute_force_waits(arrival[keep], service[keep], servers)
        out.append(base[keep].sum() - without.sum())
    return np.asarray(out)


# ---------------------------------------------------------------------------------------------
# the queue, by hand


def test_hand_trace_one_server():
    # arrivals 0, 0, 1, 2, 3 with service 4, 2, 3, 1, 1 on one replica:
    #   r0 starts 0, ends 4                    latency 4
    #   r1 waits for r0: starts 4, ends 6      latency 6 - 0 = 6
    #   r2 starts 6, ends 9                    latency 9 - 1 = 8
    #   r3 starts 9, ends 10                   latency 10 - 2 = 8
    #   r4 starts 10, ends 11                  latency 11 - 3 = 8
    trace = hand_trace([0, 0, 1, 2, 3], [4, 2, 3, 1, 1])
    r = simulate_admission(trace, np.ones(5), policy="fcfs", servers=1, service=UNIT)
    assert r.latency.tolist() == [4.0, 6.0, 8.0, 8.0, 8.0]
    assert r.wait.tolist() == [0.0, 4.0, 5.0, 7.0, 7.0]
    assert fcfs_waits(trace.arrival, UNIT.service_times(trace), 1).tolist() == r.wait.tolist()


def test_hand_trace_two_servers():
    # same requests on two replicas A, B:
    #   r0 -> A at 0, A busy until 4           latency 4
    #   r1 -> B at 0, B busy until 2           latency 2
    #   r2 (t=1): A free at 4, B at 2 -> B, starts 2, ends 5       latency 5 - 1 = 4
    #   r3 (t=2): A free at 4, B at 5 -> A, starts 4, ends 5       latency 5 - 2 = 3
    #   r4 (t=3): both free at 5 -> starts 5, ends 6               latency 6 - 3 = 3
    trace = hand_trace([0, 0, 1, 2, 3], [4, 2, 3, 1, 1])
    r = simulate_admission(trace, np.ones(5), policy="fcfs", servers=2, service=UNIT)
    assert r.latency.tolist() == [4.0, 2.0, 4.0, 3.0, 3.0]
    assert r.wait.tolist() == [0.0, 0.0, 1.0, 2.0, 2.0]


def test_hand_externality_one_server():
    # Removing r0 (s=4) from the trace above: r1 0->2, r2 2->5, r3 5->6, r4 6->7, so the others
    # wait 0, 1, 3, 3 = 7 instead of 4, 5, 7, 7 = 23: r0 imposes 16 = 4 s on each of the four
    # (the queue never empties). Removing r4 (the last) changes nobody's wait: 0.
    t = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    s = np.array([4.0, 2.0, 3.0, 1.0, 1.0])
    ext = realised_externality(t, s, 1)
    assert ext[0] == pytest.approx(16.0, abs=1e-12)
    assert ext[4] == 0.0


def test_service_model_adds_prefill_decode_and_overhead():
    trace = hand_trace([0, 1], [10, 20])
    model = ServiceModel(prefill_s_per_token=0.5, decode_s_per_token=0.25, overhead_s=0.125)
    # 0.125 + 0.5*7 + 0.25*10 = 6.125 and 0.125 + 3.5 + 5 = 8.625
    assert model.service_times(trace).tolist() == [6.125, 8.625]


# ---------------------------------------------------------------------------------------------
# exact externalities against brute force


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_realised_externality_single_server_equals_brute_force(seed):
    gen = np.random.default_rng(seed)
    t = np.cumsum(gen.exponential(1.0, 40))
    s = gen.exponential(0.95, 40)  # load about 0.95: long busy periods and some idle gaps
    brute = brute_force_externality(t, s, 1)
    assert np.allclose(realised_externality(t, s, 1, method="closed_form"), brute, atol=1e-9)
    assert np.allclose(realised_externality(t, s, 1, method="resimulate"), brute, atol=1e-9)


@pytest.mark.parametrize(("servers", "seed"), [(2, 4), (3, 5), (4, 6)])
def test_realised_externality_multi_server_equals_brute_force(servers, seed):
    gen = np.random.default_rng(seed)
    t = np.cumsum(gen.exponential(1.0, 60))
    s = gen.exponential(0.9 * servers, 60)
    brute = brute_force_externality(t, s, servers)
    assert np.allclose(realised_externality(t, s, servers), brute, atol=1e-9)
    assert np.all(brute >= -1e-12)  # FCFS is monotone: removing a request never hurts others


def test_closed_form_needs_one_server():
    with pytest.raises(ConfigError, match="one server"):
        realised_externality([0.0, 1.0], [1.0, 1.0], 2, method="closed_form")


def test_fcfs_waits_match_independent_simulation():
    gen = np.random.default_rng(7)
    t = np.cumsum(gen.exponential(1.0, 300))
    s = gen.exponential(2.7, 300)
    for servers in (1, 3):
        assert np.array_equal(fcfs_waits(t, s, servers), brute_force_waits(t, s, servers))


# ---------------------------------------------------------------------------------------------
# the policies


def test_zero_latency_price_admits_everything_and_equals_fcfs():
    trace = synthetic_trace(3000, rate=1.0, seed=3)
    prices = Prices(latency=0.0)
    res = compare_admission(trace, load=0.95, servers=2, prices=prices, seed=3)
    fcfs, cong = res["fcfs"], res["congestion"]
    assert cong.admitted.all()
    assert np.array_equal(cong.wait, fcfs.wait)
    assert np.array_equal(cong.externality_realised, fcfs.externality_realised)
    assert cong.to_dict() | {"policy": "fcfs"} == fcfs.to_dict()


def test_congestion_admits_exactly_when_net_value_is_non_negative():
    trace = synthetic_trace(2000, rate=1.0, seed=11)
    r = compare_admission(trace, load=0.95, seed=11)["congestion"]
    assert 0 < r.n_admitted < r.n_requests
    assert np.array_equal(r.admitted, r.net_value >= 0)
    # the net value is the shared accounting object's, V_i − λ·(W_i + s_i + E_i)
    lam = r.prices.latency
    full = r.value - lam * (r.expected_latency + r.externality_estimate)
    assert np.allclose(r.net_value, full, rtol=0, atol=1e-12)
    # the own part of the prediction is exact under FCFS: later arrivals never delay a request
    adm = r.admitted
    assert np.allclose(r.expected_latency[adm], r.latency[adm], rtol=0, atol=1e-9)


def test_welfare_and_underwater_follow_their_definitions():
    trace = synthetic_trace(1500, rate=1.0, seed=5)
    r = compare_admission(trace, load=0.9, seed=5)["fcfs"]
    lam = r.prices.latency
    assert r.to_dict()["welfare_total"] == pytest.approx(float(np.sum(r.value - lam * r.latency)))
    below = r.value < lam * (r.latency + r.externality_realised)
    assert r.underwater() == int(below.sum())
    assert r.to_dict()["welfare_per_request"] == pytest.approx(
        r.to_dict()["welfare_total"] / r.n_requests
    )


def _assert_congestion_wins(res: dict[str, ServingResult]) -> tuple[dict, dict]:
    fcfs, cong = res["fcfs"].to_dict(), res["congestion"].to_dict()
    assert cong["latency_p99_s"] < fcfs["latency_p99_s"]
    assert cong["welfare_total"] > fcfs["welfare_total"]
    assert cong["underwater"] < fcfs["underwater"]
    assert 0 < cong["admitted"] < cong["requests"] == fcfs["admitted"]
    return fcfs, cong


def test_congestion_pricing_beats_fcfs_on_poisson_trace():
    trace = synthetic_trace(20_000, rate=1.0, seed=0)
    _assert_congestion_wins(compare_admission(trace, load=0.9, servers=1, seed=0))


@pytest.mark.parametrize("name", ["code", "conv"])
def test_congestion_pricing_beats_fcfs_on_azure_trace(azure, name):
    trace = load_azure_trace(name, data_dir=azure)
    for servers in (1, 4):
        res = compare_admission(trace, load=0.9, servers=servers, seed=0)
        fcfs, cong = _assert_congestion_wins(res)
        assert fcfs["load"] == cong["load"] == 0.9


def test_online_estimate_ranks_realised_externality_on_poisson_fcfs():
    # Under FCFS on a Poisson trace the M/G/1 formula's assumptions hold roughly, so the
    # estimate should order the requests by the delay they impose (rank correlation).
    trace = synthetic_trace(20_000, rate=1.0, seed=0)
    fcfs = compare_admission(trace, load=0.9, seed=0)["fcfs"].to_dict()
    assert fcfs["externality_estimate_spearman"] > 0.5


# ---------------------------------------------------------------------------------------------
# load, values, determinism


@pytest.mark.parametrize("servers", [1, 4])
def test_rescaling_hits_the_target_load_and_keeps_burstiness(servers):
    trace = synthetic_trace(5000, rate=3.0, seed=2)
    model = ServiceModel()
    scaled = rescale_to_load(trace, 0.93, model, servers)
    gaps = np.diff(scaled.arrival)
    rho = model.service_times(scaled).mean() / gaps.mean() / servers
    assert rho == pytest.approx(0.93, rel=1e-12)
    assert offered_load(scaled, model, servers) == pytest.approx(0.93, rel=1e-12)
    old = np.diff(trace.arrival)
    assert gaps.std() / gaps.mean() == pytest.approx(old.std() / old.mean(), rel=1e-12)


def test_rescaling_the_azure_trace(azure):
    trace = load_azure_trace("code", data_dir=azure)
    scaled = rescale_to_load(trace, 0.9, ServiceModel(), 1)
    rho = ServiceModel().service_times(scaled).mean() / np.diff(scaled.arrival).mean()
    assert rho == pytest.approx(0.9, rel=1e-12)


def test_same_seed_same_result_and_seed_matters():
    trace = synthetic_trace(3000, rate=1.0, seed=9)
    assert np.array_equal(trace.arrival, synthetic_trace(3000, rate=1.0, seed=9).arrival)
    a = compare_admission(trace, load=0.92, seed=9)
    b = compare_admission(trace, load=0.92, seed=9)
    c = compare_admission(trace, load=0.92, seed=10)
    for policy in a:
        assert a[policy].to_dict() == b[policy].to_dict()
        assert np.array_equal(a[policy].admitted, b[policy].admitted)
        assert np.array_equal(a[policy].wait, b[policy].wait, equal_nan=True)
    assert not np.array_equal(a["fcfs"].value, c["fcfs"].value)
    assert a["congestion"].to_dict() != c["congestion"].to_dict()


def test_values_are_keyed_by_request_and_lognormal():
    model = ValueModel(median=0.5, sigma=1.0)
    many = model.draw(50_000, seed=4)
    assert np.array_equal(model.draw(100, seed=4), many[:100])
    logs = np.log(many)
    # mean and sd of log-values: standard errors 1/sqrt(n) ≈ 0.0045 and ≈ 0.0032
    assert abs(logs.mean() - math.log(0.5)) < 5 * 0.0045
    assert abs(logs.std() - 1.0) < 5 * 0.0032


# ---------------------------------------------------------------------------------------------
# the trace files


def test_load_azure_trace_reads_every_row(azure):
    for name, file in [
        ("code", "AzureLLMInferenceTrace_code.csv"),
        ("conv", "AzureLLMInferenceTrace_conv.csv"),
    ]:
        lines = [
            ln for ln in (azure / "azure-llm-trace" / file).read_text().splitlines() if ln.strip()
        ]
        trace = load_azure_trace(name, data_dir=azure)
        assert trace.n == len(lines) - 1
        assert trace.arrival[0] == 0.0
        assert np.all(np.diff(trace.arrival) >= 0)
        first = lines[1].split(",")
        assert trace.context[0] == int(first[1])
        assert trace.generated[0] == int(first[2])
        # the last arrival: seconds between the first and the last timestamp
        last = np.datetime64(lines[-1].split(",")[0].replace(" ", "T"), "ns")
        start = np.datetime64(lines[1].split(",")[0].replace(" ", "T"), "ns")
        span = (last - start) / np.timedelta64(1, "ns") / 1e9
        assert trace.arrival[-1] == pytest.approx(span, abs=1e-6)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


def test_bad_token_count_names_file_line_field_and_value(tmp_path):
    path = _write(
        tmp_path,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:17:03.9799600,4808,10\n"
        "2023-11-16 18:17:04.0319600,lots,8\n",
    )
    with pytest.raises(DataError) as err:
        load_azure_trace(path)
    msg = str(err.value)
    assert str(path) in msg and "line 3" in msg and "ContextTokens" in msg and "'lots'" in msg
    assert err.value.field == "line 3, ContextTokens"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("2023-11-16 18:17:04.03,12,-3", "line 3, GeneratedTokens"),
        ("2023-11-16 18:17:04.03,12.5,3", "line 3, ContextTokens"),
        ("yesterday,12,3", "line 3, TIMESTAMP"),
    ],
)
def test_bad_rows_raise_data_error(tmp_path, row, field):
    path = _write(
        tmp_path, f"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.98,1,1\n{row}\n"
    )
    with pytest.raises(DataError) as err:
        load_azure_trace(path)
    assert err.value.field == field
    assert err.value.file == str(path)


def test_missing_column_and_missing_file(tmp_path):
    path = _write(tmp_path, "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03.98,1\n")
    with pytest.raises(DataError, match="GeneratedTokens"):
        load_azure_trace(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_azure_trace(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# decision log, CLI entry, figures


def test_decision_log_follows_the_schema_and_the_accounting_object():
    trace = synthetic_trace(800, rate=1.0, seed=8)
    r = compare_admission(trace, load=0.95, seed=8)["congestion"]
    log = decision_log(r)
    assert len(log) == r.n_requests
    json.dumps(log)  # plain JSON
    for rec, adm, value in zip(log, r.admitted.tolist(), r.value.tolist(), strict=True):
        assert rec["layer"] == "serving"
        assert [o["name"] for o in rec["options"]] == ["admit", "reject"]
        assert rec["chosen"] == ("admit" if adm else "reject")
        assert rec["prices"]["value"] == value
        admit = rec["options"][0]
        p = Prices(
            value=rec["prices"]["value"], latency=rec["prices"]["latency"], table=r.prices.table
        )
        net = float(p.net_value(admit["dq"], admit["dc"], admit["dl"], admit["dr"]))
        assert (net >= 0) == adm
        assert set(rec["outcome"]) == {"delay_s", "externality_s"}
        if not adm:
            assert rec["outcome"] == {"delay_s": 0.0, "externality_s": 0.0}
    delays = [rec["outcome"]["delay_s"] for rec in log if rec["chosen"] == "admit"]
    assert np.allclose(delays, r.latency[r.admitted])


def test_run_serving_synthetic_summary_is_json():
    results, summary = run_serving("synthetic", load=0.9, synthetic_n=2000, seed=1)
    text = json.dumps(summary)
    assert set(summary["policies"]) == {"fcfs", "congestion"}
    assert summary["settings"]["requests"] == 2000
    assert "latency_p99_s" in text
    assert results["fcfs"].n_requests == 2000


def test_figures_draw():
    results = compare_admission(synthetic_trace(1000, rate=1.0, seed=2), load=0.9, seed=2)
    figs = serving_figures(results)
    assert set(figs) == {
        "serving_latency_cdf",
        "serving_queue_wait",
        "serving_welfare",
        "serving_externality",
    }
    for fig in figs.values():
        assert isinstance(fig, Figure)
        assert fig.axes
        fig.savefig(__import__("io").BytesIO(), format="png")
    cdf = figs["serving_latency_cdf"].axes[0]
    assert cdf.get_xscale() == "log"
    assert len(cdf.get_lines()) == 2
