"""Sparklines of `submsg stats`: a series of counts as block characters, scaled from zero."""

from __future__ import annotations

from cli.sparkline import BLOCKS, averages, run_length, sparkline


def test_the_largest_value_is_a_full_block_and_zero_the_lowest():
    assert sparkline([0, 7, 14]) == "▁▅█"


def test_a_flat_series_of_counts_is_full_blocks_all_along():
    assert sparkline([5, 5, 5, 5]) == "████"


def test_a_series_of_zeros_is_the_lowest_block_all_along():
    assert sparkline([0, 0, 0]) == "▁▁▁"


def test_a_single_day_is_one_block():
    assert sparkline([3]) == "█"
    assert sparkline([0]) == "▁"


def test_no_days_is_an_empty_line():
    assert sparkline([]) == ""


def test_a_small_count_beside_a_large_one_still_rises_above_zero():
    line = sparkline([0, 1, 10_000])
    assert line[0] == BLOCKS[0]
    assert line[1] == BLOCKS[1]
    assert line[2] == BLOCKS[-1]


def test_each_block_is_one_of_the_eight_and_the_order_of_values_is_kept():
    line = sparkline([1, 2, 3, 4, 5, 6, 7])
    assert set(line) <= set(BLOCKS)
    assert [BLOCKS.index(mark) for mark in line] == sorted(BLOCKS.index(m) for m in line)


def test_long_ranges_are_averaged_into_runs_so_that_the_line_fits():
    assert run_length(7, 40) == 1
    assert run_length(40, 40) == 1
    assert run_length(41, 40) == 2
    assert run_length(367, 40) == 10
    assert len(averages(list(range(367)), run_length(367, 40))) == 37


def test_a_short_last_run_is_averaged_not_summed():
    assert averages([2, 4, 6, 8, 10], 2) == [3.0, 7.0, 10.0]
    assert sparkline(averages([5] * 5, 2)) == "███"
