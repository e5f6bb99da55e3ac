"""Keyed random numbers: deterministic, batch-independent, independent streams."""

from __future__ import annotations

import numpy as np

from tokenomy.rng import keyed_bits, standardized_noise, uniform


def test_same_key_same_number_however_batched():
    a = np.arange(1000)
    b = np.arange(1000)[::-1]
    batch = uniform(7, "s", a[:, None], b[None, :])
    assert batch.shape == (1000, 1000)
    for i, j in [(0, 0), (3, 998), (999, 5)]:
        assert uniform(7, "s", i, b[j])[()] == batch[i, j]
        assert uniform(7, "s", np.array([i]), np.array([b[j]]))[0] == batch[i, j]


def test_streams_seeds_and_keys_change_the_numbers():
    base = uniform(1, "x", np.arange(100))
    assert not np.array_equal(base, uniform(2, "x", np.arange(100)))
    assert not np.array_equal(base, uniform(1, "y", np.arange(100)))
    assert not np.array_equal(uniform(1, "x", 1, 2), uniform(1, "x", 2, 1))
    assert len(np.unique(keyed_bits(1, "x", np.arange(100_000)))) == 100_000


def test_uniform_and_noise_moments():
    u = uniform(3, "u", np.arange(200_000))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005  # sd of the mean: 0.29/sqrt(2e5) = 6.5e-4
    z = standardized_noise(3, "z", np.arange(200_000))
    assert abs(z.mean()) < 0.012  # sd of the mean 1/sqrt(2e5) = 2.2e-3
    assert abs(z.var() - 1.0) < 0.02
    assert np.abs(z).max() <= 2 * np.sqrt(3) + 1e-12
