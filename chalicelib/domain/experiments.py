"""Experiments: which variant and test group a recipient is in, and which variant won."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, get_args

Method = Literal["two_proportion_z", "chi_squared"]
Metric = Literal["click_rate", "conversion_rate"]
Fallback = Literal["best", "first", "stop"]
Reason = Literal[
    "significant",
    "not_significant_best",
    "not_significant_first",
    "not_significant_stopped",
    "no_data",
]
METRICS: tuple[Metric, ...] = get_args(Metric)
FALLBACKS: tuple[Fallback, ...] = get_args(Fallback)
BUCKETS = 10_000


def bucket(key: str) -> int:
    """A bucket in 0..9999 that is the same in every process (unlike hash())."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def check_weights(variants: Sequence[tuple[str, int]]) -> None:
    names = [name for name, _ in variants]
    if len(set(names)) != len(names):
        raise ValueError("variant names must be unique")
    for name, weight in variants:
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise ValueError(f"weight of {name!r} must be an integer from 1 to 100")
    if sum(weight for _, weight in variants) != 100:
        raise ValueError("weights must sum to 100")


def variant_of(campaign_id: str, openid: str, variants: Sequence[tuple[str, int]]) -> str:
    check_weights(variants)
    position = bucket(f"{campaign_id}:{openid}")
    upper = 0
    for name, weight in variants:
        upper += weight * BUCKETS // 100
        if position < upper:
            return name
    raise AssertionError("weights summing to 100 cover every bucket")


def in_test_group(campaign_id: str, openid: str, test_percent: int) -> bool:
    if isinstance(test_percent, bool) or not isinstance(test_percent, int):
        raise ValueError("test_percent must be an integer")
    if not 1 <= test_percent <= 50:
        raise ValueError("test_percent must be from 1 to 50")
    # Another salt than variant_of's, so being tested says nothing about the variant.
    return bucket(f"test:{campaign_id}:{openid}") < test_percent * BUCKETS // 100


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float
    method: Method


def _check_counts(successes: int, trials: int) -> None:
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")


def two_proportion_z_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> TestResult:
    """Two-sided, pooled standard error; the statistic is positive when a's rate is higher."""
    _check_counts(successes_a, trials_a)
    _check_counts(successes_b, trials_b)
    successes, trials = successes_a + successes_b, trials_a + trials_b
    if trials_a == 0 or trials_b == 0 or successes in (0, trials):
        return TestResult(0.0, 1.0, "two_proportion_z")
    pooled = successes / trials
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    z = (successes_a / trials_a - successes_b / trials_b) / standard_error
    return TestResult(z, math.erfc(abs(z) / math.sqrt(2)), "two_proportion_z")


def chi_squared_test(counts: Sequence[tuple[int, int]]) -> TestResult:
    """Pearson's chi-squared on the k×2 table of successes and failures; counts are
    (successes, trials), one per variant; df = k - 1."""
    if len(counts) < 2:
        raise ValueError("need at least two variants")
    for successes, trials in counts:
        _check_counts(successes, trials)
    successes = sum(s for s, _ in counts)
    trials = sum(n for _, n in counts)
    if any(n == 0 for _, n in counts) or successes in (0, trials):
        return TestResult(0.0, 1.0, "chi_squared")
    statistic = 0.0
    for row_successes, row_trials in counts:
        for observed, column in (
            (row_successes, successes),
            (row_trials - row_successes, trials - successes),
        ):
            expected = row_trials * column / trials
            statistic += (observed - expected) ** 2 / expected
    return TestResult(statistic, chi_squared_sf(statistic, len(counts) - 1), "chi_squared")


def chi_squared_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-squared with df degrees of freedom."""
    return upper_gamma_q(df / 2, x / 2) if x > 0 else 1.0


_EPSILON = 1e-16
_TINY = 1e-300
_MAX_TERMS = 10_000


def upper_gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0."""
    if a <= 0 or x < 0:
        raise ValueError("need a > 0 and x >= 0")
    if x == 0:
        return 1.0
    scale = math.exp(a * math.log(x) - x - math.lgamma(a))  # x^a e^-x / Γ(a)
    if x < a + 1:
        # Below a + 1 the series for the lower function P converges in a few terms and
        # Q = 1 - P keeps its digits; above, the continued fraction gives Q directly.
        term = total = 1 / a
        for n in range(1, _MAX_TERMS):
            term *= x / (a + n)
            total += term
            if abs(term) < abs(total) * _EPSILON:
                break
        return min(1.0, max(0.0, 1 - scale * total))
    # Legendre's continued fraction for Q, evaluated by the modified Lentz method:
    # 1 / (x+1-a - 1(1-a) / (x+3-a - 2(2-a) / (x+5-a - ...))).
    denominator = x + 1 - a
    c, d = 1 / _TINY, 1 / denominator
    fraction = d
    for n in range(1, _MAX_TERMS):
        numerator = -n * (n - a)
        denominator += 2
        d = numerator * d + denominator
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = denominator + numerator / c
        c = c if abs(c) > _TINY else _TINY
        step = c * d
        fraction *= step
        if abs(step - 1) < _EPSILON:
            break
    return min(1.0, max(0.0, scale * fraction))


@dataclass(frozen=True)
class VariantRates:
    """One variant's counts for the metric compared: trials (sent or clicked) and successes."""

    name: str
    trials: int
    successes: int

    def __post_init__(self) -> None:
        _check_counts(self.successes, self.trials)

    @classmethod
    def of(cls, metric: Metric, name: str, sent: int, clicked: int, converted: int) -> VariantRates:
        if metric == "click_rate":
            return cls(name, sent, clicked)
        if metric == "conversion_rate":
            return cls(name, clicked, converted)
        raise ValueError(f"unknown metric {metric!r}")


@dataclass(frozen=True)
class Decision:
    winner: str | None
    p_value: float | None
    method: Method | None
    reason: Reason


def decide(
    variants: Sequence[VariantRates], metric: Metric, confidence: float, fallback: Fallback
) -> Decision:
    # The counts are already the metric's (VariantRates.of): the metric is only checked here.
    if len(variants) < 2:
        raise ValueError("need at least two variants")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if fallback not in FALLBACKS:
        raise ValueError(f"unknown fallback {fallback!r}")
    first = variants[0].name
    if all(v.trials == 0 for v in variants):
        return Decision(None if fallback == "stop" else first, None, None, "no_data")
    if len(variants) == 2:
        a, b = variants
        result = two_proportion_z_test(a.successes, a.trials, b.successes, b.trials)
    else:
        result = chi_squared_test([(v.successes, v.trials) for v in variants])
    # max() keeps the first of equal rates; a variant without trials has no rate to win with.
    best = max(variants, key=lambda v: Fraction(v.successes, v.trials) if v.trials else -1).name
    if result.p_value < 1 - confidence:
        return Decision(best, result.p_value, result.method, "significant")
    outcomes: dict[Fallback, tuple[str | None, Reason]] = {
        "best": (best, "not_significant_best"),
        "first": (first, "not_significant_first"),
        "stop": (None, "not_significant_stopped"),
    }
    winner, reason = outcomes[fallback]
    return Decision(winner, result.p_value, result.method, reason)
