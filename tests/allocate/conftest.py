"""Fixtures of the allocator tests: the shared routing data (skipped with a reason when absent)
and a small synthetic routing problem with a learnable pattern."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tokenomy.allocate.route_data import RouteData, load_routellm_gsm8k, load_routellm_mmlu

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the shared public data sets."""
    if not (SHARED / "routellm").is_dir():
        pytest.skip(reason=f"routing data sets not found at {SHARED} (expected ../shared beside)")
    return SHARED


@pytest.fixture(scope="session")
def shared(shared_data: Path) -> Path:
    """The shared data folder, with the sets the routing tests read."""
    if (
        not (shared_data / "routellm" / "gsm8k").is_dir()
        or not (shared_data / "llmrouter").is_dir()
    ):
        pytest.skip(reason=f"routing data sets not found under {shared_data}")
    return shared_data


@pytest.fixture(scope="session")
def gsm8k(shared: Path) -> RouteData:
    """RouteLLM GSM8K, decontaminated."""
    return load_routellm_gsm8k(shared)


@pytest.fixture(scope="session")
def mmlu(shared: Path) -> RouteData:
    """RouteLLM MMLU (57 subjects), decontaminated."""
    return load_routellm_mmlu(shared)


def synthetic_prompts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Prompts where 'integral' questions defeat the small model and nothing defeats the large.

    Outcomes are drawn with success chances small 0.9 / 0.15 (easy / hard), large 0.95.
    """
    rng = np.random.default_rng(seed)
    easy = ["what is {a} plus {b}", "name the capital of country {a}", "spell the word {a}"]
    hard = ["compute the integral of x^{a} times sin {b}", "evaluate the integral of {a}/x^{b}"]
    prompts, outcomes = [], []
    for _ in range(n):
        is_hard = rng.random() < 0.4
        template = hard[rng.integers(len(hard))] if is_hard else easy[rng.integers(len(easy))]
        prompts.append(template.format(a=int(rng.integers(2, 99)), b=int(rng.integers(2, 9))))
        p_small = 0.15 if is_hard else 0.9
        outcomes.append([float(rng.random() < p_small), float(rng.random() < 0.95)])
    return prompts, np.array(outcomes)
