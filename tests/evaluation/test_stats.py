"""Every figure held against scipy and statsmodels (test dependencies only)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from finetune_action.evaluation import stats


@pytest.mark.parametrize(("k", "n"), [(0, 0), (0, 1), (3, 10), (7, 10), (0, 25), (12, 25), (40, 100), (480, 1000)])
def test_binomial_two_sided_matches_scipy(k, n):
    expected = 1.0 if n == 0 else scipy_stats.binomtest(k, n, 0.5).pvalue
    assert stats.binomial_two_sided(k, n) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_mcnemar_matches_statsmodels_exact(seed):
    rng = random.Random(seed)
    n = rng.randint(20, 300)
    baseline = [rng.random() < 0.55 for _ in range(n)]
    candidate = [b if rng.random() < 0.7 else rng.random() < 0.7 for b in baseline]
    diff, low, high, p, improved, regressed = stats.mcnemar(baseline, candidate)
    table = [[sum(1 for b, c in zip(baseline, candidate) if b == x and c == y) for y in (True, False)] for x in (True, False)]
    assert p == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-9)
    assert (improved, regressed) == (table[1][0], table[0][1])
    differences = np.array(candidate, float) - np.array(baseline, float)
    assert diff == pytest.approx(differences.mean())
    sm_low, sm_high = DescrStatsW(differences).zconfint_mean(alpha=0.05)
    assert (low, high) == (pytest.approx(sm_low), pytest.approx(sm_high))


@pytest.mark.parametrize(("successes", "n", "confidence"), [(0, 10, 0.95), (10, 10, 0.95), (37, 60, 0.95), (5, 9, 0.9), (512, 1000, 0.99)])
def test_wilson_matches_statsmodels(successes, n, confidence):
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert stats.wilson(successes, n, confidence) == (pytest.approx(low), pytest.approx(high))


def test_z_value_matches_scipy():
    assert stats.z_value(0.95) == pytest.approx(scipy_stats.norm.ppf(0.975))


@pytest.mark.parametrize("seed", range(3))
def test_bootstrap_interval_agrees_with_scipy(seed):
    rng = random.Random(seed)
    baseline = [rng.random() for _ in range(200)]
    candidate = [min(1.0, b + rng.gauss(0.03, 0.2)) for b in baseline]
    diff, low, high, p = stats.bootstrap(baseline, candidate, seed=7, resamples=5000)
    differences = np.array(candidate) - np.array(baseline)
    reference = scipy_stats.bootstrap((differences,), np.mean, method="percentile", n_resamples=5000, random_state=np.random.default_rng(7)).confidence_interval
    assert diff == pytest.approx(differences.mean())
    # Different random streams: the intervals agree to well within their own width.
    width = high - low
    assert abs(low - reference.low) < 0.1 * width and abs(high - reference.high) < 0.1 * width
    assert (p < 0.05) == (low > 0 or high < 0)


def test_bootstrap_is_reproducible_from_its_seed():
    baseline, candidate = [0.1, 0.4, 0.5, 0.9] * 10, [0.2, 0.4, 0.7, 0.8] * 10
    assert stats.bootstrap(baseline, candidate, seed=3, resamples=500) == stats.bootstrap(baseline, candidate, seed=3, resamples=500)


def test_verdicts():
    settings = stats.Settings(min_examples=30)
    better = stats.compare_pass_fail([0.0] * 30 + [1.0] * 30, [1.0] * 60, settings)
    assert better.verdict == stats.BETTER and better.detail == {"improved": 30, "regressed": 0}
    worse = stats.compare_pass_fail([1.0] * 60, [0.0] * 30 + [1.0] * 30, settings)
    assert worse.verdict == stats.WORSE
    same = stats.compare_pass_fail([1.0, 0.0] * 30, [0.0, 1.0] * 30, settings)
    assert same.verdict == stats.NO_DIFFERENCE and same.p_value == 1.0
    few = stats.compare_pass_fail([0.0] * 10, [1.0] * 10, settings)
    assert few.verdict == stats.INSUFFICIENT
    errors = stats.compare_pass_fail([0.0] * 60, [1.0] * 50 + [None] * 10, settings)
    assert errors.verdict == stats.INSUFFICIENT and errors.errors == 10 and errors.n == 50


def test_pairwise_counts_ties_apart_and_uses_wilson():
    outcomes = [1.0] * 40 + [0.0] * 10 + [0.5] * 20 + [None]
    result = stats.compare_pairwise(outcomes, stats.Settings())
    assert result.detail == {"wins": 40, "losses": 10, "ties": 20} and result.errors == 1
    low, high = proportion_confint(40, 50, method="wilson")
    assert result.candidate == 0.8 and result.low == pytest.approx(low - 0.5) and result.high == pytest.approx(high - 0.5)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(40, 50).pvalue)
    assert result.verdict == stats.BETTER
