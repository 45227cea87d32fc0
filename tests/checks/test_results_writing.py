"""Writing results: the fast `to_dict` and `dumps` give the same data as the plain dataclass form."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.checks.results import (
    Finding,
    GateResult,
    GroupRow,
    LimitCheck,
    Metric,
    RunResults,
    Status,
    _jsonable,
    dumps,
    results_json,
)


def _gate(groups: int = 3) -> GateResult:
    rows = [GroupRow("race×sex", f"g{i}×F", 10 + i, i % 2 == 0,
                     {"fpr": 0.1 * i, "fnr": float("nan") if i == 1 else np.float64(0.2), "tpr": None,
                      "count": np.int64(5)},
                     {"fpr": float("inf")} if i == 2 else {}, Status.FAIL if i == 0 else Status.PASS)
            for i in range(groups)]
    return GateResult(
        "bias", Status.FAIL, "s", baseline_used=True,
        metrics=[Metric("fpr_difference", np.float32(0.5), Status.FAIL, slice="race", baseline=0.1, delta=0.4,
                        limits=[LimitCheck("max_difference", 0.25, Status.FAIL, 0.5)], note="n")],
        findings=[Finding("fail", "m", column="race", count=2,
                          examples=[{"id": "1", "baseline": np.float64(0.1), "candidate": 0.2}, "x"])],
        groups=rows, details={"rows": np.int64(7), "nested": {"a": [1.5, float("nan")]}},
    )


def test_to_dict_equals_the_dataclass_form() -> None:
    gate = _gate()
    assert gate.to_dict() == _jsonable(asdict(gate))
    assert json.loads(json.dumps(gate.to_dict(), allow_nan=False))  # no NaN or inf left


def test_dumps_round_trips_and_stays_readable() -> None:
    results = RunResults([_gate(groups=50)], versions={"mlgate": "x", "files": {}}, baseline={"path": None})
    data = results.to_dict()
    text = dumps(data)
    assert json.loads(text) == data
    assert text.endswith("}\n") and '\n  "gates": [\n' in text
    lines = text.splitlines()
    group_lines = [line for line in lines if line.lstrip().startswith('{"attribute"')]
    assert len(group_lines) == 50  # a long list: one compact item per line
    assert '\n          "name": "fpr_difference",' in text  # short lists stay indented


def test_reading_back_gives_the_same_results_and_names_a_bad_group_field() -> None:
    import pytest

    from mlgate.checks.results import ResultsFormatError

    results = RunResults([_gate(groups=30)], versions={"mlgate": "x", "files": {}}, baseline={"path": None})
    data = json.loads(dumps(results.to_dict()))
    again = RunResults.from_dict(data)
    assert [g.to_dict() for g in again.gates] == [g.to_dict() for g in results.gates]
    for bad, where in (({"count": True}, "count"), ({"metrics": {"fpr": "high"}}, "metrics.fpr"),
                       ({"status": "great"}, "status"), ({"judged": 1}, "judged")):
        broken = json.loads(json.dumps(data))
        broken["gates"][0]["groups"][7].update(bad)
        with pytest.raises(ResultsFormatError, match=rf"gates\[0\]\.groups\[7\]\.{where}"):
            RunResults.from_dict(broken)


_LABELS = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.just(np.str_("np")), st.booleans())
_NUMBERS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                     st.floats(-1, 1).map(np.float64), st.just(np.int64(4)), st.just(True))
_ROWS = st.builds(GroupRow, _LABELS, _LABELS, st.one_of(st.integers(0, 10**6), st.just(np.int64(3)), st.just(True)),
                  st.one_of(st.booleans(), st.just(np.bool_(True))),
                  st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 3)), _NUMBERS, max_size=4),
                  st.dictionaries(st.text(max_size=6), _NUMBERS, max_size=3), st.sampled_from(list(Status)))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_ROWS, min_size=0, max_size=60))
def test_results_json_is_exactly_dumps_of_to_dict(rows: list[GroupRow]) -> None:
    """`results_json` writes long group lists without building a dict per group first; the text is
    exactly what `dumps(to_dict())` writes, for any labels and numbers (NaN, inf, numpy, ints, quotes)."""
    results = RunResults([_gate(2), GateResult("bias", Status.PASS, "s", groups=rows)], {"mlgate": "t"}, {})
    assert results_json(results) == dumps(results.to_dict())


def test_results_json_of_many_groups_is_one_group_a_line() -> None:
    rows = [GroupRow("colour", f'g"{i}\u2028\\', i, True, {"fpr": i / 7, "fnr": None}) for i in range(100)]
    text = results_json(RunResults([GateResult("bias", Status.PASS, "s", groups=rows)], {}, {}))
    lines = [ln for ln in text.split("\n") if '"attribute"' in ln]  # not splitlines: U+2028 stays raw in JSON
    assert len(lines) == 100 and json.loads(lines[3].strip().rstrip(","))["group"] == 'g"3\u2028\\'
