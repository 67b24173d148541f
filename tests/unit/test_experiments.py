"""Experiments: stable assignment to variants and test groups, the two tests, the decision."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import special as scipy_special
from scipy import stats as scipy_stats

from chalicelib.domain.experiments import (
    Decision,
    VariantRates,
    bucket,
    check_weights,
    chi_squared_sf,
    chi_squared_test,
    decide,
    in_test_group,
    two_proportion_z_test,
    upper_gamma_q,
    variant_of,
)


def openids(count: int, seed: int) -> list[str]:
    """WeChat-like openids: 28 characters of a URL-safe alphabet."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rng = random.Random(seed)
    return ["o" + "".join(rng.choices(alphabet, k=27)) for _ in range(count)]


# The standard deviation of a share p observed in n independent draws is sqrt(p(1-p)/n), at most
# sqrt(0.25/n): 0.35 points at n = 20 000, so ±3 points is more than 8 standard deviations (a
# chance below 1e-15 per variant and campaign). At n = 1 000 it would be 1.6 points, and ±3 only
# 1.9 standard deviations (a 50/50 split misses it in about 6 % of campaigns), hence the large
# fixed sample.
AUDIENCE = openids(20_000, seed=1)
# At n = 10 000 a share of at most 50 % has a standard deviation of at most 0.5 points: ±2 points
# is 4 standard deviations. That is too near for hypothesis to draw campaigns at random (about
# 6e-5 a draw), so the test group is checked on fixed campaigns for every test_percent.
TEST_AUDIENCE = openids(10_000, seed=2)
WEIGHT_VECTORS = [
    [50, 50],
    [10, 90],
    [1, 99],
    [34, 33, 33],
    [70, 20, 5, 5],
    [10] * 10,
]


@st.composite
def weight_vectors(draw) -> list[int]:
    """2 to 10 positive integer weights summing to 100."""
    k = draw(st.integers(2, 10))
    cuts = sorted(draw(st.sets(st.integers(1, 99), min_size=k - 1, max_size=k - 1)))
    return [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]


def named(weights: list[int]) -> list[tuple[str, int]]:
    return [(f"v{i}", w) for i, w in enumerate(weights)]


def split(campaign_id: str, audience: list[str], variants: list[tuple[str, int]]) -> dict:
    counts = Counter(variant_of(campaign_id, openid, variants) for openid in audience)
    return {name: 100 * counts[name] / len(audience) for name, _ in variants}


# --- assignment ---------------------------------------------------------------------------


@given(campaign_id=st.text(max_size=40), openid=st.text(max_size=40), weights=weight_vectors())
def test_a_recipients_variant_is_one_of_the_names_and_the_same_every_time(
    campaign_id, openid, weights
):
    variants = named(weights)
    first = variant_of(campaign_id, openid, variants)
    assert first in {name for name, _ in variants}
    assert variant_of(campaign_id, openid, variants) == first
    assert in_test_group(campaign_id, openid, 20) == in_test_group(campaign_id, openid, 20)


def test_the_assignment_is_pinned_so_a_deploy_never_moves_a_recipient():
    """Fixed values: Python's hash() would change them in every process."""
    variants = [("a", 50), ("b", 30), ("c", 20)]
    assert bucket("cmp_1:oAbC123") == 9879
    assert bucket("test:cmp_1:oXyZ789") == 1476
    assert variant_of("cmp_1", "oAbC123", variants) == "c"
    assert variant_of("cmp_1", "oXyZ789", variants) == "b"
    assert variant_of("cmp_2", "oAbC123", variants) == "a"
    assert in_test_group("cmp_1", "oXyZ789", 20)
    assert not in_test_group("cmp_1", "oAbC123", 20)


@pytest.mark.parametrize("weights", WEIGHT_VECTORS, ids=str)
def test_the_split_follows_the_weights_within_3_points(weights):
    for share, weight in zip(
        split("spring-sale", AUDIENCE, named(weights)).values(), weights, strict=True
    ):
        assert abs(share - weight) <= 3


@settings(max_examples=20, deadline=None)
@given(campaign_id=st.text(min_size=1, max_size=20), weights=weight_vectors())
def test_the_split_follows_any_weights_for_any_campaign(campaign_id, weights):
    for share, weight in zip(
        split(campaign_id, AUDIENCE, named(weights)).values(), weights, strict=True
    ):
        assert abs(share - weight) <= 3


@pytest.mark.parametrize(
    "variants",
    [[], [("a", 100), ("a", 0)], [("a", 50), ("b", 49)], [("a", 0), ("b", 100)],
     [("a", 101), ("b", -1)], [("a", 50.0), ("b", 50)], [("a", True), ("b", 99)],
     [("a", 50), ("a", 50)]],
    ids=str,
)  # fmt: skip
def test_weights_must_be_integers_from_1_to_100_summing_to_100(variants):
    with pytest.raises(ValueError):
        check_weights(variants)
    with pytest.raises(ValueError):
        variant_of("c", "o", variants)


@pytest.mark.parametrize("campaign_id", ["spring-sale", "cmp_01J9Z3", "新品上线"])
def test_the_test_group_is_test_percent_of_the_audience_within_2_points(campaign_id):
    for test_percent in range(1, 51):
        chosen = sum(in_test_group(campaign_id, openid, test_percent) for openid in TEST_AUDIENCE)
        assert abs(100 * chosen / len(TEST_AUDIENCE) - test_percent) <= 2, test_percent


@pytest.mark.parametrize("weights", WEIGHT_VECTORS, ids=str)
def test_the_test_group_says_nothing_about_the_variant(weights):
    """Half of 20 000 are tested: among those 10 000 the split still follows the weights."""
    tested = [openid for openid in AUDIENCE if in_test_group("spring-sale", openid, 50)]
    assert len(tested) > 9_000
    for share, weight in zip(
        split("spring-sale", tested, named(weights)).values(), weights, strict=True
    ):
        assert abs(share - weight) <= 3


@pytest.mark.parametrize("test_percent", [0, 51, -1, 100, 10.0, True])
def test_test_percent_is_from_1_to_50(test_percent):
    with pytest.raises(ValueError):
        in_test_group("c", "o", test_percent)


# --- the statistics: known values -----------------------------------------------------------


def test_the_textbook_example_200_of_1000_against_250_of_1000():
    """Pooled rate 450/2000 = 0.225, standard error sqrt(0.225 × 0.775 × (1/1000 + 1/1000))
    = 0.018675, z = (0.20 - 0.25) / 0.018675 = -2.6774, two-sided p = 2 × Φ(-2.6774) = 0.00742:
    significant at 95 % and at 99 %; χ² = z² = 7.1685 with the same p."""
    z = two_proportion_z_test(200, 1000, 250, 1000)
    assert (z.method, round(z.statistic, 4), round(z.p_value, 5)) == (
        "two_proportion_z",
        -2.6774,
        0.00742,
    )
    chi = chi_squared_test([(200, 1000), (250, 1000)])
    assert (chi.method, round(chi.statistic, 4), round(chi.p_value, 5)) == (
        "chi_squared",
        7.1685,
        0.00742,
    )


@pytest.mark.parametrize(
    ("df", "critical_05", "critical_01"),
    [(1, 3.8414588206941285, 6.634896601021217), (2, 5.991464547107983, 9.210340371976182),
     (3, 7.814727903251178, 11.344866730144368), (9, 16.91897760462045, 21.665994333461928)],
)  # fmt: skip
def test_the_chi_squared_tables_critical_values(df, critical_05, critical_01):
    """The tables' 3.841 / 6.635, 5.991 / 9.210, 7.815 / 11.345, 16.919 / 21.666 (printed
    here to full precision) leave 5 % and 1 % in the upper tail."""
    assert math.isclose(chi_squared_sf(critical_05, df), 0.05, rel_tol=1e-9)
    assert math.isclose(chi_squared_sf(critical_01, df), 0.01, rel_tol=1e-9)


Z_CASES = [
    (200, 1000, 250, 1000),
    (30, 400, 45, 410),
    (1, 10, 9, 10),
    (5, 20_000, 12, 20_000),
    (480, 1000, 520, 1000),
    (0, 1000, 60, 1000),
    (123_456, 1_000_000, 124_987, 1_000_000),
]
CHI_CASES = [
    [(200, 1000), (250, 1000), (230, 1000)],
    [(10, 100), (15, 100), (20, 100), (25, 100)],
    [(0, 50), (5, 50), (50, 50)],
    [(3, 70), (4, 80), (5, 90)],
    [(k * 7 + 40, 1000 + 13 * k) for k in range(10)],
    [(900, 3000), (1200, 3000), (1000, 3000), (1100, 3000), (950, 3000)],
]


def table(counts: list[tuple[int, int]]) -> list[list[int]]:
    return [[successes, trials - successes] for successes, trials in counts]


@pytest.mark.parametrize("case", Z_CASES, ids=str)
def test_the_z_test_agrees_with_scipy(case):
    """scipy has no two-proportion z-test: Pearson's χ² on the 2×2 table without Yates'
    correction is the same test (z² = χ², df 1), and 2 Φ(-|z|) gives the two-sided p."""
    sa, na, sb, nb = case
    result = two_proportion_z_test(*case)
    reference = scipy_stats.chi2_contingency(table([(sa, na), (sb, nb)]), correction=False)
    assert math.isclose(abs(result.statistic), math.sqrt(reference.statistic), rel_tol=1e-9)
    assert (result.statistic < 0) == (sa / na < sb / nb)
    assert math.isclose(result.p_value, reference.pvalue, rel_tol=1e-9)
    two_sided = 2 * scipy_stats.norm.sf(abs(result.statistic))
    assert math.isclose(result.p_value, two_sided, rel_tol=1e-9)


@pytest.mark.parametrize("counts", CHI_CASES, ids=lambda c: f"k={len(c)}")
def test_chi_squared_agrees_with_scipy(counts):
    result = chi_squared_test(counts)
    reference = scipy_stats.chi2_contingency(table(counts), correction=False)
    assert reference.dof == len(counts) - 1
    assert math.isclose(result.statistic, reference.statistic, rel_tol=1e-9)
    assert math.isclose(result.p_value, reference.pvalue, rel_tol=1e-9)


@pytest.mark.parametrize("df", range(1, 21))
def test_the_chi_squared_tail_agrees_with_scipy(df):
    for x in [1e-6, 0.01, 0.1, *(i / 4 for i in range(1, 200)), 75, 100, 200, 400, 800, 1200]:
        expected = scipy_stats.chi2.sf(x, df)
        assert math.isclose(chi_squared_sf(x, df), expected, rel_tol=1e-10, abs_tol=1e-300), x


@given(a=st.floats(0.05, 60), x=st.floats(0, 400))
def test_the_upper_gamma_function_agrees_with_scipy(a, x):
    expected = scipy_special.gammaincc(a, x)
    assert math.isclose(upper_gamma_q(a, x), expected, rel_tol=1e-10, abs_tol=1e-300)


# --- the statistics: properties -------------------------------------------------------------


@st.composite
def variant_counts(draw, min_trials: int = 0) -> tuple[int, int]:
    """(successes, trials)"""
    trials = draw(st.integers(min_trials, 1_000_000))
    return draw(st.integers(0, trials)), trials


@given(a=variant_counts(), b=variant_counts())
def test_the_z_tests_p_value_is_a_probability(a, b):
    assert 0 <= two_proportion_z_test(*a, *b).p_value <= 1


@given(counts=st.lists(variant_counts(), min_size=2, max_size=10))
def test_the_chi_squared_p_value_is_a_probability(counts):
    result = chi_squared_test(counts)
    assert 0 <= result.p_value <= 1
    assert result.statistic >= 0


@given(a=variant_counts(), b=variant_counts())
def test_for_two_variants_z_squared_is_chi_squared_with_the_same_p_value(a, b):
    z = two_proportion_z_test(*a, *b)
    chi = chi_squared_test([a, b])
    assert math.isclose(z.p_value, chi.p_value, rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(z.statistic**2, chi.statistic, rel_tol=1e-9, abs_tol=1e-9)


def rates_differ(counts: list[tuple[int, int]]) -> bool:
    return len({successes / trials for successes, trials in counts}) > 1


@given(a=variant_counts(min_trials=1), b=variant_counts(min_trials=1), factor=st.integers(2, 100))
def test_more_of_the_same_z_evidence_never_raises_the_p_value(a, b, factor):
    assume(rates_differ([a, b]))
    scaled = [count * factor for count in (*a, *b)]
    assert two_proportion_z_test(*scaled).p_value <= two_proportion_z_test(*a, *b).p_value


@given(
    counts=st.lists(variant_counts(min_trials=1), min_size=2, max_size=10),
    factor=st.integers(2, 100),
)
def test_more_of_the_same_chi_squared_evidence_never_raises_the_p_value(counts, factor):
    assume(rates_differ(counts))
    scaled = [(successes * factor, trials * factor) for successes, trials in counts]
    assert chi_squared_test(scaled).p_value <= chi_squared_test(counts).p_value
    assert chi_squared_test(scaled).p_value < 1


@pytest.mark.parametrize(
    "counts",
    [[(0, 0), (5, 10)], [(5, 10), (0, 0)], [(0, 0), (0, 0)], [(0, 10), (0, 20)],
     [(10, 10), (20, 20)], [(0, 10), (0, 20), (0, 5)], [(3, 10), (4, 10), (0, 0)]],
    ids=str,
)  # fmt: skip
def test_degenerate_counts_are_no_evidence(counts):
    chi = chi_squared_test(counts)
    assert (chi.statistic, chi.p_value) == (0.0, 1.0)
    if len(counts) == 2:
        z = two_proportion_z_test(*counts[0], *counts[1])
        assert (z.statistic, z.p_value) == (0.0, 1.0)


@pytest.mark.parametrize("counts", [[(11, 10), (1, 10)], [(-1, 10), (1, 10)], [(1, -1), (1, 2)]])
def test_impossible_counts_are_refused(counts):
    with pytest.raises(ValueError):
        chi_squared_test(counts)
    with pytest.raises(ValueError):
        two_proportion_z_test(*counts[0], *counts[1])


def test_chi_squared_needs_two_variants():
    with pytest.raises(ValueError):
        chi_squared_test([(1, 10)])


# --- the decision -------------------------------------------------------------------------

A_LOW, B_HIGH = VariantRates("a", 1000, 200), VariantRates("b", 1000, 250)  # p = 0.00742


def test_a_significant_difference_between_two_variants_picks_the_higher_rate():
    decision = decide([A_LOW, B_HIGH], "click_rate", 0.95, "first")
    assert (decision.winner, decision.method, decision.reason) == (
        "b", "two_proportion_z", "significant"
    )  # fmt: skip
    assert math.isclose(decision.p_value, 0.0074196, rel_tol=1e-4)


def test_more_than_two_variants_are_compared_by_chi_squared():
    variants = [VariantRates("a", 1000, 200), VariantRates("b", 1000, 260), A_LOW]
    decision = decide(variants, "click_rate", 0.95, "stop")
    assert (decision.winner, decision.method, decision.reason) == (
        "b", "chi_squared", "significant"
    )  # fmt: skip
    assert decision.p_value < 0.05


@pytest.mark.parametrize(
    ("fallback", "winner", "reason"),
    [("best", "b", "not_significant_best"), ("first", "a", "not_significant_first"),
     ("stop", None, "not_significant_stopped")],
)  # fmt: skip
def test_without_significance_the_fallback_decides(fallback, winner, reason):
    """p = 0.0074 is not below 1 - 0.995."""
    decision = decide([A_LOW, B_HIGH], "click_rate", 0.995, fallback)
    assert decision == Decision(winner, decision.p_value, "two_proportion_z", reason)
    assert math.isclose(decision.p_value, 0.0074196, rel_tol=1e-4)


def test_significance_needs_p_strictly_below_one_minus_confidence():
    p = two_proportion_z_test(200, 1000, 250, 1000).p_value
    assert decide([A_LOW, B_HIGH], "click_rate", 1 - p, "stop").reason == "not_significant_stopped"
    assert decide([A_LOW, B_HIGH], "click_rate", 1 - p * 1.01, "stop").reason == "significant"


def test_equal_best_rates_go_to_the_first_of_them():
    variants = [VariantRates("a", 100, 10), VariantRates("b", 100, 30), VariantRates("c", 50, 15)]
    assert decide(variants, "click_rate", 0.95, "stop") == Decision(
        "b", decide(variants, "click_rate", 0.95, "stop").p_value, "chi_squared", "significant"
    )
    level = [VariantRates("a", 100, 20), VariantRates("b", 50, 10)]
    assert decide(level, "click_rate", 0.95, "best") == Decision(
        "a", 1.0, "two_proportion_z", "not_significant_best"
    )


@pytest.mark.parametrize(
    ("fallback", "winner"), [("best", "a"), ("first", "a"), ("stop", None)]
)  # fmt: skip
def test_without_any_trial_there_is_no_data(fallback, winner):
    variants = [VariantRates("a", 0, 0), VariantRates("b", 0, 0), VariantRates("c", 0, 0)]
    assert decide(variants, "conversion_rate", 0.95, fallback) == Decision(
        winner, None, None, "no_data"
    )


def test_a_variant_without_trials_is_no_evidence_and_cannot_be_best():
    variants = [VariantRates("a", 0, 0), VariantRates("b", 500, 5)]
    assert decide(variants, "click_rate", 0.95, "best") == Decision(
        "b", 1.0, "two_proportion_z", "not_significant_best"
    )
    assert decide(variants, "click_rate", 0.95, "first").winner == "a"


def test_nobody_or_everybody_clicking_is_no_evidence():
    none = [VariantRates("a", 40, 0), VariantRates("b", 60, 0), VariantRates("c", 10, 0)]
    assert decide(none, "click_rate", 0.95, "best") == Decision(
        "a", 1.0, "chi_squared", "not_significant_best"
    )
    every = [VariantRates("a", 40, 40), VariantRates("b", 60, 60)]
    assert decide(every, "click_rate", 0.95, "stop") == Decision(
        None, 1.0, "two_proportion_z", "not_significant_stopped"
    )


def test_the_metric_chooses_the_counts_compared():
    assert VariantRates.of("click_rate", "a", 100, 20, 5) == VariantRates("a", 100, 20)
    assert VariantRates.of("conversion_rate", "a", 100, 20, 5) == VariantRates("a", 20, 5)
    with pytest.raises(ValueError):
        VariantRates.of("open_rate", "a", 100, 20, 5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variants", "metric", "confidence", "fallback"),
    [([A_LOW], "click_rate", 0.95, "best"), ([A_LOW, B_HIGH], "open_rate", 0.95, "best"),
     ([A_LOW, B_HIGH], "click_rate", 1.0, "best"), ([A_LOW, B_HIGH], "click_rate", 0.0, "best"),
     ([A_LOW, B_HIGH], "click_rate", 0.95, "last")],
    ids=["one variant", "metric", "confidence 1", "confidence 0", "fallback"],
)  # fmt: skip
def test_a_decision_refuses_what_it_cannot_decide(variants, metric, confidence, fallback):
    with pytest.raises(ValueError):
        decide(variants, metric, confidence, fallback)


def test_impossible_rates_are_refused():
    with pytest.raises(ValueError):
        VariantRates("a", 10, 11)
