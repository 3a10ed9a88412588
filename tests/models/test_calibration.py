"""Calibration helpers: temperature, ECE and the auto-accept threshold search."""

from __future__ import annotations

import numpy as np

from models.evaluate import (
    choose_threshold,
    expected_calibration_error,
    fit_gallery_map,
    fit_temperature,
)


def test_fit_temperature_recovers_known_temperature() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (4000, 10))
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    targets = np.array([rng.choice(10, p=row) for row in p])
    t = fit_temperature(true_logits * 2.0, targets)  # over-confident by 2x
    assert 1.7 < t < 2.3


def test_ece_zero_when_calibrated_and_large_when_not() -> None:
    conf = np.full(1000, 0.8)
    correct = np.arange(1000) < 800
    assert expected_calibration_error(conf, correct) < 1e-9
    assert expected_calibration_error(np.full(1000, 0.99), correct) > 0.15


def test_threshold_keeps_error_at_most_one_percent() -> None:
    conf = np.linspace(1.0, 0.0, 1000)
    correct = np.ones(1000, bool)
    correct[[5, 700, 800, 900]] = False  # one early mistake, more among low scores
    res = choose_threshold(conf, correct, max_error=0.01)
    accepted = conf >= res["threshold"]
    assert 1.0 - correct[accepted].mean() <= 0.01
    assert res["accepted"] == accepted.sum()
    assert res["accepted"] >= 699  # it goes past the first isolated mistake


def test_threshold_when_nothing_is_reliable() -> None:
    res = choose_threshold(np.array([0.9, 0.8]), np.array([False, False]))
    assert res["coverage"] == 0.0 and res["threshold"] == 1.0


def test_gallery_map_prefers_true_class_similarity() -> None:
    rng = np.random.default_rng(0)
    n, c = 300, 12
    targets = rng.integers(0, c, n)
    z = rng.normal(0, 1, (n, c))
    z[np.arange(n), targets] += 5
    sims = rng.uniform(0.0, 0.4, (n, c))
    sims[np.arange(n), targets] = rng.uniform(0.7, 0.9, n)
    kappa, beta = fit_gallery_map(z, sims, targets)
    assert kappa > 5  # a more similar gallery entry must get a clearly larger logit
    g_true = kappa * 0.8 + beta
    g_wrong = kappa * 0.2 + beta
    assert g_true > g_wrong + 3
