"""The regression gate on real golden-set files: changed labels, score changes, acknowledgements, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlgate.checks.config.models import parse_config
from mlgate.checks.config.regression import RegressionConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.regression import evaluate, run
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Metric, Status

BASE = pd.DataFrame({
    "id": list(range(1, 21)),
    "pred": ["yes", "no"] * 10,
    "p": np.linspace(0.05, 0.95, 20),
})


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _run(tmp_path: Path, golden: pd.DataFrame | None, section: dict | None = None, *, base: pd.DataFrame = BASE,
         golden_name: str = "golden.parquet", baseline: GateResult | None = None) -> GateResult:
    _write(base, tmp_path / "base.csv")
    if golden is not None:
        _write(golden, tmp_path / golden_name)
    cfg = RegressionConfig.model_validate({"golden": golden_name, "baseline_predictions": "base.csv", "id": "id",
                                           "prediction": "pred", "score": "p", **(section or {})})
    return run(SimpleNamespace(regression=cfg), RunContext(base_dir=tmp_path), baseline)


def _changed(df: pd.DataFrame, ids: list[int], pred: bool = True, dp: float = 0.0) -> pd.DataFrame:
    out = df.copy()
    rows = out["id"].isin(ids)
    if pred:
        out.loc[rows, "pred"] = out.loc[rows, "pred"].map({"yes": "no", "no": "yes"})
    out.loc[rows, "p"] += dp
    return out


def test_identical_predictions_pass(tmp_path):
    result = _run(tmp_path, BASE.sample(frac=1, random_state=1))  # order does not matter, ids do
    assert result.status == Status.PASS
    assert result.metric("rows_compared").value == 20
    assert result.metric("changed_share").value == 0.0
    # the CSV round trip of the baseline may move a score by one ulp
    assert result.metric("max_score_change").value == pytest.approx(0.0, abs=1e-12)
    assert result.findings == []
    assert result.summary.startswith("0 of 20 golden rows changed prediction (0.0% ≤ 0.0%); largest score change ")
    assert result.summary.endswith(" (≤ 0.05)")


def test_changed_labels_fail_with_example_ids(tmp_path):
    result = _run(tmp_path, _changed(BASE, [3, 8]))
    assert result.status == Status.FAIL
    assert result.metric("changed_share").value == pytest.approx(2 / 20)
    finding = next(f for f in result.findings if f.code == "regression.changed")
    assert finding.severity == "fail" and finding.count == 2
    assert finding.examples == [{"id": "3", "baseline": "yes", "candidate": "no"},
                                {"id": "8", "baseline": "no", "candidate": "yes"}]
    assert "2 of 20 golden rows changed prediction (10.0% > 0.0%)" in result.summary
    json.dumps(result.to_dict(), allow_nan=False)


def test_changed_share_within_limit_passes_but_is_shown(tmp_path):
    result = _run(tmp_path, _changed(BASE, [5]), {"max_changed_share": 0.05})
    assert result.status == Status.PASS
    (finding,) = result.findings
    assert finding.severity == "info" and finding.examples[0]["id"] == "5"


def test_score_change_beyond_tolerance_fails_with_largest_first(tmp_path):
    golden = BASE.copy()
    golden.loc[golden["id"] == 4, "p"] += 0.08
    golden.loc[golden["id"] == 9, "p"] -= 0.2
    golden.loc[golden["id"] == 12, "p"] += 0.01  # within tolerance
    result = _run(tmp_path, golden)
    assert result.status == Status.FAIL
    assert result.metric("changed_share").value == 0.0
    assert result.metric("max_score_change").value == pytest.approx(0.2)
    finding = next(f for f in result.findings if f.code == "regression.score_changed")
    assert finding.count == 2 and [e["id"] for e in finding.examples] == ["9", "4"]
    assert finding.examples[0]["change"] == pytest.approx(0.2)


def test_warn_severity(tmp_path):
    result = _run(tmp_path, _changed(BASE, [2], dp=0.1), {"severity": "warn"})
    assert result.status == Status.WARN
    assert {f.severity for f in result.findings} == {"warn"}


def test_acknowledged_changes_are_shown_not_judged(tmp_path):
    result = _run(tmp_path, _changed(BASE, [3, 8], dp=0.3), {"acknowledge": [3, "8", 15]})
    assert result.status == Status.PASS
    assert result.metric("changed_share").value == 0.0
    assert result.metric("max_score_change").value == pytest.approx(0.0, abs=1e-12)
    ack = next(f for f in result.findings if f.code == "regression.acknowledged")
    assert ack.severity == "info" and ack.count == 2
    assert ack.examples[0]["id"] == "3" and ack.examples[0]["candidate_score"] == pytest.approx(
        BASE.loc[2, "p"] + 0.3)
    stale = next(f for f in result.findings if f.code == "regression.ack_unused")
    assert stale.severity == "info" and stale.examples == [{"id": "15"}]
    assert "2 acknowledged" in result.summary


def test_rows_in_only_one_file_are_a_failure(tmp_path):
    golden = pd.concat([BASE[BASE["id"] != 7], pd.DataFrame({"id": [99], "pred": ["yes"], "p": [0.5]})])
    result = _run(tmp_path, golden, {"max_changed_share": 1.0, "max_score_change": 1.0})
    assert result.status == Status.FAIL
    finding = next(f for f in result.findings if f.code == "regression.rows_missing")
    assert finding.severity == "fail" and finding.count == 2
    assert finding.examples == [{"id": "7", "only_in": "baseline_predictions"}, {"id": "99", "only_in": "golden"}]
    assert result.metric("rows_compared").value == 19


def test_ids_match_across_csv_and_parquet_types(tmp_path):
    golden = BASE.assign(id=BASE["id"].astype(str))  # strings in Parquet, integers in the CSV
    assert _run(tmp_path, golden).status == Status.PASS
    float_ids = BASE.assign(id=BASE["id"].astype(float))
    assert _run(tmp_path, float_ids, golden_name="golden.csv").status == Status.PASS


def test_nan_predictions_and_scores(tmp_path):
    base = BASE.copy()
    base.loc[0, "p"] = np.nan
    base.loc[1, "pred"] = None
    golden = base.copy()  # missing on both sides: unchanged
    assert _run(tmp_path, golden, base=base).status == Status.PASS
    golden.loc[2, "p"] = np.nan  # missing on one side only
    golden.loc[1, "pred"] = "yes"
    result = _run(tmp_path, golden, base=base)
    assert result.status == Status.FAIL
    assert result.metric("changed_share").value == pytest.approx(1 / 20)
    gone = next(f for f in result.findings if f.code == "regression.score_missing")
    assert gone.examples == [{"id": "3"}]
    assert result.metric("max_score_change").value == pytest.approx(0.0, abs=1e-12)


def test_score_only_and_baseline_delta(tmp_path):
    base_result = GateResult("regression", Status.PASS, "", metrics=[Metric("max_score_change", 0.01)])
    result = _run(tmp_path, _changed(BASE, [1], pred=False, dp=0.03), {"prediction": None},
                  baseline=base_result)
    assert result.metric("changed_share") is None
    m = result.metric("max_score_change")
    assert m.value == pytest.approx(0.03) and m.delta == pytest.approx(0.02)
    assert result.status == Status.PASS and result.baseline_used


def test_columns_default_to_the_predictions_section(tmp_path):
    _write(BASE, tmp_path / "base.csv")
    _write(_changed(BASE, [1]), tmp_path / "golden.parquet")
    config = parse_config("predictions:\n  id: id\n  prediction: pred\n  score: p\n"
                          "regression:\n  golden: golden.parquet\n  baseline_predictions: base.csv\n")
    result = run(config, RunContext(base_dir=tmp_path), None)
    assert result.metric("changed_share").value == pytest.approx(0.05)
    assert result.metric("max_score_change") is not None


# ------------------------------------------------------------------------------------- bad input


def test_missing_column_and_files(tmp_path):
    with pytest.raises(InputError, match=r"golden\.parquet: missing column 'p'"):
        _run(tmp_path, BASE.drop(columns="p"))
    (tmp_path / "golden.parquet").unlink()
    with pytest.raises(InputError, match=r"golden\.parquet: file not found"):
        _run(tmp_path, None)
    (tmp_path / "golden.csv").write_text("")
    with pytest.raises(InputError, match=r"golden\.csv: file is empty"):
        _run(tmp_path, None, golden_name="golden.csv")


def test_duplicate_missing_ids_and_text_scores(tmp_path):
    with pytest.raises(InputError, match=r"golden\.parquet: id column 'id' has 1 duplicated id"):
        _run(tmp_path, pd.concat([BASE, BASE.head(1)]))
    with pytest.raises(InputError, match="id column 'id' has 1 missing value"):
        _run(tmp_path, BASE.assign(id=[None, *range(2, 21)]))
    with pytest.raises(InputError, match="score column 'p' must be numeric"):
        _run(tmp_path, BASE.assign(p="high"))
    with pytest.raises(InputError, match="no id appears in both"):
        _run(tmp_path, BASE.assign(id=BASE["id"] + 100))


def test_config_errors():
    with pytest.raises(ValidationError):
        RegressionConfig.model_validate({"golden": "g.csv", "baseline_predictions": "b.csv", "max_changed_share": 2})
    with pytest.raises(ValidationError, match="Extra inputs"):
        RegressionConfig.model_validate({"golden": "g.csv", "baseline_predictions": "b.csv", "tolerance": 0.1})
    with pytest.raises(ConfigError, match=r"regression\.id is not set"):
        evaluate(BASE, BASE, RegressionConfig(golden="g", baseline_predictions="b", prediction="pred"), None)
    with pytest.raises(ConfigError, match="prediction or a score"):
        evaluate(BASE, BASE, RegressionConfig(golden="g", baseline_predictions="b", id="id"), None)
