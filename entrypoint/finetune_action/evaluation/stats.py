"""Paired statistics for comparing two models item by item on the same examples (pure functions).

Following Miller, "Adding Error Bars to Evals" (arXiv 2411.00640): pass/fail graders use
McNemar's exact test on the discordant pairs with the paired difference and its interval;
continuous scores a paired bootstrap of the mean difference with a reported seed; pairwise
judgements a Wilson interval on the win rate. Below a minimum number of graded examples, or
with too many grader errors, the verdict is "insufficient evidence" rather than a guess.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple

BETTER = "better"
WORSE = "worse"
NO_DIFFERENCE = "no significant difference"
INSUFFICIENT = "insufficient evidence"


class Settings(NamedTuple):
    confidence: float = 0.95
    min_examples: int = 30  # graded pairs needed for a verdict
    max_error_rate: float = 0.1  # of the examples, graded with an error by either model
    bootstrap_resamples: int = 2000  # enough for a 95% percentile interval; 1,000 examples take about a second
    seed: int = 0


class Comparison(NamedTuple):
    """The candidate against the baseline on one grader; difference = candidate - baseline."""

    method: str  # mcnemar | bootstrap | wilson
    n: int  # examples graded for both
    errors: int  # examples left out: a grader error for either model
    baseline: float | None  # mean score (pass rate); for pairwise: None
    candidate: float | None  # mean score; for pairwise: the win rate among decided examples
    difference: float | None  # for pairwise: win rate - 0.5
    low: float | None  # confidence interval of `difference`
    high: float | None
    p_value: float | None
    verdict: str
    detail: dict  # method-specific counts: discordant pairs, wins/losses/ties, the seed


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for `confidence` (1.96 at 0.95)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n fair coin flips (McNemar's exact test, the sign test)."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1))
    return min(1.0, 2 * tail / 2**n)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_interval(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-example differences and its normal interval (standard error with n - 1)."""
    n = len(differences)
    mean = sum(differences) / n
    if n < 2:
        return mean, mean, mean
    variance = sum((d - mean) ** 2 for d in differences) / (n - 1)
    half = z_value(confidence) * math.sqrt(variance / n)
    return mean, mean - half, mean + half


def mcnemar(baseline: Sequence[bool], candidate: Sequence[bool], confidence: float = 0.95) -> tuple[float, float, float, float, int, int]:
    """(difference, low, high, p-value, improved, regressed) for paired pass/fail results."""
    improved = sum(1 for b, c in zip(baseline, candidate) if c and not b)
    regressed = sum(1 for b, c in zip(baseline, candidate) if b and not c)
    differences = [float(c) - float(b) for b, c in zip(baseline, candidate)]
    mean, low, high = paired_interval(differences, confidence)
    return mean, low, high, binomial_two_sided(improved, improved + regressed), improved, regressed


def bootstrap(baseline: Sequence[float], candidate: Sequence[float], *, seed: int, resamples: int, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """(mean difference, low, high, p-value) by resampling examples with replacement (percentile interval).

    The p-value is twice the share of resampled means on the far side of zero, counted as
    (k + 1) / (resamples + 1) so that it is never an impossible 0 (capped at 1).
    """
    differences = [c - b for b, c in zip(baseline, candidate)]
    n = len(differences)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(resamples))
    alpha = 1 - confidence
    low = _quantile(means, alpha / 2)
    high = _quantile(means, 1 - alpha / 2)
    below = (sum(1 for m in means if m <= 0) + 1) / (resamples + 1)
    above = (sum(1 for m in means if m >= 0) + 1) / (resamples + 1)
    return sum(differences) / n, low, high, min(1.0, 2 * min(below, above))


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values (numpy's default)."""
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _verdict(n: int, errors: int, low: float | None, high: float | None, p_value: float | None, settings: Settings) -> str:
    total = n + errors
    if n < settings.min_examples or (total and errors / total > settings.max_error_rate):
        return INSUFFICIENT
    if p_value is None or low is None or high is None or p_value >= 1 - settings.confidence:
        return NO_DIFFERENCE
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return NO_DIFFERENCE


def _pairs(baseline: Sequence[float | None], candidate: Sequence[float | None]) -> tuple[list[float], list[float], int]:
    kept_b, kept_c, errors = [], [], 0
    for b, c in zip(baseline, candidate):
        if b is None or c is None:
            errors += 1
        else:
            kept_b.append(b)
            kept_c.append(c)
    return kept_b, kept_c, errors


def compare_pass_fail(baseline: Sequence[float | None], candidate: Sequence[float | None], settings: Settings) -> Comparison:
    """McNemar's exact test and the paired difference of pass rates (None: a grader error)."""
    b, c, errors = _pairs(baseline, candidate)
    if not b:
        return Comparison("mcnemar", 0, errors, None, None, None, None, None, None, INSUFFICIENT, {"improved": 0, "regressed": 0})
    diff, low, high, p, improved, regressed = mcnemar([x >= 1 for x in b], [x >= 1 for x in c], settings.confidence)
    verdict = _verdict(len(b), errors, low, high, p, settings)
    return Comparison("mcnemar", len(b), errors, sum(b) / len(b), sum(c) / len(c), diff, low, high, p, verdict, {"improved": improved, "regressed": regressed})


def compare_scores(baseline: Sequence[float | None], candidate: Sequence[float | None], settings: Settings) -> Comparison:
    """A paired bootstrap of the mean score difference, its seed reported in `detail`."""
    b, c, errors = _pairs(baseline, candidate)
    detail = {"seed": settings.seed, "resamples": settings.bootstrap_resamples}
    if not b:
        return Comparison("bootstrap", 0, errors, None, None, None, None, None, None, INSUFFICIENT, detail)
    diff, low, high, p = bootstrap(b, c, seed=settings.seed, resamples=settings.bootstrap_resamples, confidence=settings.confidence)
    verdict = _verdict(len(b), errors, low, high, p, settings)
    return Comparison("bootstrap", len(b), errors, sum(b) / len(b), sum(c) / len(c), diff, low, high, p, verdict, detail)


def compare_pairwise(outcomes: Sequence[float | None], settings: Settings) -> Comparison:
    """Win rate of the candidate among decided examples (ties left out), Wilson interval, sign test."""
    graded = [o for o in outcomes if o is not None]
    errors = len(outcomes) - len(graded)
    wins = sum(1 for o in graded if o > 0.5)
    losses = sum(1 for o in graded if o < 0.5)
    ties = len(graded) - wins - losses
    decided = wins + losses
    detail = {"wins": wins, "losses": losses, "ties": ties}
    if not decided:
        verdict = INSUFFICIENT if len(graded) < settings.min_examples or errors else NO_DIFFERENCE
        return Comparison("wilson", len(graded), errors, None, None, None, None, None, None, verdict, detail)
    rate = wins / decided
    low, high = wilson(wins, decided, settings.confidence)
    p = binomial_two_sided(wins, decided)
    verdict = _verdict(len(graded), errors, low - 0.5, high - 0.5, p, settings)
    return Comparison("wilson", len(graded), errors, None, rate, rate - 0.5, low - 0.5, high - 0.5, p, verdict, detail)
