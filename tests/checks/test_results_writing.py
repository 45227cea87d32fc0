"""Writing results: the fast `to_dict` and `dumps` give the same data as the plain dataclass form."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

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
