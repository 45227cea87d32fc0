"""The dashboard's pure helpers: charts are honest (the axis spans what it says, points sit where their
values are); alert text reads as plain text."""

from __future__ import annotations

import re

from mlgate.bot.web.charts import BOTTOM, HEIGHT, TOP, line_chart


def _ys(svg: str) -> list[float]:
    return [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]


def test_the_axis_is_labelled_with_the_range_it_spans() -> None:
    svg = str(line_chart("quality roc_auc", "roc_auc", ["a", "b", "c"], [0.73, 0.75, 0.74]))
    label = re.search(r'aria-label="([^"]*)"', svg).group(1)  # type: ignore[union-attr]
    low, high = map(float, re.search(r"axis from ([\d.]+) to ([\d.]+)", label).groups())  # type: ignore[union-attr]
    assert low <= 0.73 and high >= 0.75 and low > 0  # not from zero: the spread is small, and it says so
    ticks = [float(t) for t in re.findall(r'class="tick">([\d.]+)</text>', svg)]
    assert min(ticks) == low and max(ticks) == high
    ys = _ys(svg)
    bottom, top = HEIGHT - BOTTOM, TOP
    for value, y in zip([0.73, 0.75, 0.74], ys, strict=True):
        assert abs(y - (bottom - (value - low) / (high - low) * (bottom - top))) < 0.1
    assert "roc_auc" in svg and "landed commits" in svg


def test_a_wide_non_negative_range_starts_at_zero() -> None:
    svg = str(line_chart("count", "rows", ["a", "b"], [10, 200]))
    assert "axis from 0 to" in svg


def test_labels_are_escaped_and_no_data_is_said() -> None:
    svg = str(line_chart("<b>x</b>", "<i>", ["<s>"], [1.0]))
    assert "<b>" not in svg and "<s>" not in svg and "&lt;b&gt;" in svg
    assert "no data" in str(line_chart("t", "u", [], []))


def test_alert_markdown_reads_as_plain_text_and_stays_escaped() -> None:
    from mlgate.bot.web.views import plain

    text = plain("`staging` was rolled back to `bbbbbbb` (**failure**)")
    assert text == "staging was rolled back to bbbbbbb (failure)"
    assert plain(r"summary \*x\* &lt;script&gt;") == "summary *x* <script>"  # the template escapes it again
