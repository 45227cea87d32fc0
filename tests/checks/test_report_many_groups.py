"""A bias check with tens of thousands of groups: per-group work is done column-wise (not once per
group over the whole table), the report fits a GitHub comment and says what it left out, and the
results file reads back the same."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlgate.checks.gates import confusion
from mlgate.checks.gates.bias import BiasConfig, judge_counts
from mlgate.checks.report import GITHUB_COMMENT_LIMIT, render_gate, render_report
from mlgate.checks.report_view import charts
from mlgate.checks.results import RunResults, dumps

GROUPS = 30_000


@pytest.fixture(scope="module")
def counts() -> confusion.GroupCounts:
    rng = np.random.default_rng(3)
    n = 10 * GROUPS
    group = pd.Series(rng.integers(0, GROUPS, n)).map(lambda i: f"g{i:05d}")
    y = (rng.random(n) < 0.3).astype(np.int8)
    yhat = np.where(rng.random(n) < 0.8, y, 1 - y).astype(np.int8)
    return confusion.count(y, yhat, [confusion.encode(group, "shop")])


def test_group_sizes_are_summed_once_per_attribute_not_once_per_group(counts, monkeypatch) -> None:
    """`GroupCounts.n` sums the whole count table; read once per group it made 30,000 groups cost
    30,000 full passes (the 25 s a profile found)."""
    reads = []
    original = confusion.GroupCounts.n
    monkeypatch.setattr(confusion.GroupCounts, "n", property(lambda self: reads.append(1) or original.fget(self)))
    result = judge_counts(counts, BiasConfig(sensitive=["shop"], min_group_size=5), None)
    assert len(result.groups) == GROUPS
    assert len(reads) <= 5


def test_the_report_of_30000_groups_fits_a_comment_and_says_what_it_left_out(counts) -> None:
    gate = judge_counts(counts, BiasConfig(sensitive=["shop"], min_group_size=5), None)
    results = RunResults([gate], {"mlgate": "t"}, {"path": None})
    for text in (render_report(results), render_gate(gate)):
        assert len(text) <= GITHUB_COMMENT_LIMIT
        assert "Showing 50 of 30,000 groups" in text and "The results JSON has every group." in text
        assert "the 6 highest and 6 lowest of" in text
    chart = charts(gate)[0].charts[0]
    assert len(chart.values) == 12 and chart.values == sorted(chart.values, reverse=True)
    judged = [r.metrics["fpr"] for r in gate.groups if r.judged and r.metrics["fpr"] is not None]
    assert chart.values[0] == max(judged) and chart.values[-1] == min(judged)
    again = RunResults.from_dict(json.loads(dumps(results.to_dict())))
    assert again.gates[0].to_dict() == gate.to_dict()
