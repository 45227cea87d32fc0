"""The skew gate on real files: PSI/KS/chi-square against hand computations, drift verdicts, parity."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats

from mlgate.checks.config.models import parse_config
from mlgate.checks.config.skew import SkewConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.skew import bin_counts, category_counts, chi2_pvalue, evaluate, psi, quantile_edges, run
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Metric, Status


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _run(tmp_path: Path, section: dict, baseline: GateResult | None = None) -> GateResult:
    return run(SimpleNamespace(skew=SkewConfig.model_validate(section)), RunContext(base_dir=tmp_path), baseline)


def _samples(n_train: int = 2000, n_serve: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame({
            "age": rng.normal(40, 10, n), "income": rng.lognormal(10, 1, n), "tenure": rng.integers(0, 30, n),
            "city": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]), "member": rng.random(n) < 0.4,
        })

    return draw(n_train), draw(n_serve)


# ---------------------------------------------------------------------------- the statistics


def test_psi_by_hand_on_a_tiny_numeric_example():
    train = np.arange(1, 11, dtype=float)  # 1..10: the median 5.5 splits it into two bins of 5
    serve = np.array([1, 2, 3, 6, 7, 8, 9, 10, 10, np.nan])
    edges = quantile_edges(train, 2)
    assert edges.tolist() == [5.5]
    tc, sc = bin_counts(train, edges), bin_counts(serve, edges)
    assert tc.tolist() == [5, 5, 0] and sc.tolist() == [3, 6, 1]  # below, above, missing
    expected = ((0.3 - 0.5) * math.log(0.3 / 0.5) + (0.6 - 0.5) * math.log(0.6 / 0.5)
                + (0.1 - 1e-4) * math.log(0.1 / 1e-4))  # the empty training bin counts as ε = 1e-4
    assert psi(tc, sc) == pytest.approx(expected, rel=1e-12)
    assert psi(tc, tc) == 0.0


def test_bins_put_edge_values_above_and_extend_to_infinity():
    edges = np.array([2.0, 5.0])
    assert bin_counts(np.array([-100, 1.9, 2.0, 4.9, 5.0, 1e9]), edges).tolist() == [2, 2, 2, 0]
    # a point mass gets a bin of its own: [3, next float after 3)
    assert quantile_edges(np.array([3.0, 3.0, 3.0, np.nan]), 10).tolist() == [3.0, np.nextafter(3.0, np.inf)]
    assert quantile_edges(np.array([np.nan]), 10).size == 0


def test_categorical_counts_psi_and_chi2_by_hand():
    train = pd.Series(["a", "a", "b", None, "a", "b"])
    serve = pd.Series(["a", "b", "b", "b", "c", None])
    cats, tc, sc = category_counts(train, serve)
    assert cats == ["a", "b", "c", "<missing>"]
    assert tc.tolist() == [3, 2, 0, 1] and sc.tolist() == [1, 3, 1, 1]
    t, s = np.array([3 / 6, 2 / 6, 1e-4, 1 / 6]), np.array([1, 3, 1, 1]) / 6
    assert psi(tc, sc) == pytest.approx(float(np.sum((s - t) * np.log(s / t))), rel=1e-12)
    # Pearson chi-square of the 2x4 table, computed by hand, p-value from the chi2 distribution
    table = np.array([tc, sc], dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    assert chi2_pvalue(tc, sc) == pytest.approx(stats.chi2.sf(stat, df=3), rel=1e-12)
    assert chi2_pvalue(np.array([5]), np.array([7])) == 1.0
    # 2x2 without continuity correction: expected counts are 25 and 15 in both rows
    two = ((30 - 25) ** 2 / 25 + (10 - 15) ** 2 / 15) * 2
    assert chi2_pvalue(np.array([30, 10]), np.array([20, 20])) == pytest.approx(stats.chi2.sf(two, df=1), rel=1e-12)


def test_gate_numbers_match_scipy_and_hand_psi(tmp_path):
    train, serve = _samples()
    serve["age"] += 3
    _write(train, tmp_path / "train.csv")
    _write(serve, tmp_path / "serve.parquet")
    result = _run(tmp_path, {"training": "train.csv", "serving": "serve.parquet", "bins": 5})
    t = pd.read_csv(tmp_path / "train.csv")
    ks = stats.ks_2samp(t["age"], serve["age"]).statistic
    assert result.metric("ks_statistic", "age").value == pytest.approx(ks, abs=1e-12)
    # PSI with numpy's percentile edges and pandas' cut, independently of the module's helpers
    inner = np.unique(np.percentile(t["age"], [20, 40, 60, 80]))
    bins = [-np.inf, *inner, np.inf]
    tp = pd.cut(t["age"], bins, right=False).value_counts(normalize=True, sort=False).to_numpy()
    sp = pd.cut(serve["age"], bins, right=False).value_counts(normalize=True, sort=False).to_numpy()
    assert result.metric("psi", "age").value == pytest.approx(float(np.sum((sp - tp) * np.log(sp / tp))), rel=1e-9)
    assert result.metric("rows", "training").value == 2000 and result.metric("rows", "serving").value == 1500
    json.dumps(result.to_dict(), allow_nan=False)


# ------------------------------------------------------------------------------ pass/warn/fail


def test_same_distribution_passes(tmp_path):
    train, serve = _samples()
    _write(train, tmp_path / "train.parquet")
    _write(serve, tmp_path / "serve.parquet")
    result = _run(tmp_path, {"training": "train.parquet", "serving": "serve.parquet"})
    assert result.status == Status.PASS, [(m.name, m.slice, m.value) for m in result.metrics if m.status != "pass"]
    assert {m.slice for m in result.metrics if m.name == "psi"} == {"age", "income", "tenure", "city", "member"}
    assert result.metric("chi2_pvalue", "member") is not None  # booleans are categorical
    assert result.metric("ks_statistic", "tenure") is not None
    assert result.metric("drifted_share").value == 0.0
    assert result.summary.startswith("0 of 5 features drifted (0% ≤ 30%); 2,000 training vs 1,500 serving rows")


def test_one_drifted_feature_warns(tmp_path):
    train, serve = _samples()
    serve["age"] += 8
    _write(train, tmp_path / "train.csv")
    _write(serve, tmp_path / "serve.csv")
    result = _run(tmp_path, {"training": "train.csv", "serving": "serve.csv"})
    assert result.status == Status.WARN
    assert result.metric("psi", "age").status == Status.WARN
    assert result.metric("drifted_share").value == pytest.approx(0.2)
    assert result.metric("drifted_share").status == Status.PASS
    assert result.details["drifted"] == ["age"]
    assert "1 of 5 features drifted (20% ≤ 30%): age" in result.summary


def test_many_drifted_features_fail(tmp_path):
    train, serve = _samples()
    serve["age"] += 8
    serve["income"] *= 3
    serve["city"] = "c"
    _write(train, tmp_path / "train.csv")
    _write(serve, tmp_path / "serve.csv")
    result = _run(tmp_path, {"training": "train.csv", "serving": "serve.csv"})
    assert result.status == Status.FAIL
    assert result.metric("drifted_share").value == pytest.approx(0.6)
    assert result.metric("drifted_share").status == Status.FAIL
    drifted = next(f for f in result.findings if f.code == "skew.drifted")
    assert drifted.severity == "fail" and drifted.examples == ["age", "income", "city"]


def test_per_feature_override_and_blocking_severity(tmp_path):
    train, serve = _samples()
    serve["age"] += 2.5  # a small shift: under the default limits, over a tight one
    _write(train, tmp_path / "train.csv")
    _write(serve, tmp_path / "serve.csv")
    base = {"training": "train.csv", "serving": "serve.csv", "numeric": {"ks": None}}
    loose = _run(tmp_path, base)
    assert 0.02 < loose.metric("psi", "age").value < 0.2
    assert loose.metric("ks_statistic", "age").limits == []  # `ks: null` disables the KS limit
    assert loose.status == Status.PASS
    tight = _run(tmp_path, {**base, "per_feature": {"age": {"psi": {"max": 0.02}}}})
    assert tight.status == Status.WARN and tight.metric("psi", "age").limits[0].threshold == 0.02
    blocking = _run(tmp_path, {**base, "per_feature": {"age": {"psi": {"max": 0.02, "severity": "fail"}}}})
    assert blocking.status == Status.FAIL and blocking.metric("drifted_share").status == Status.PASS


def test_override_can_disable_a_limit_and_force_a_kind():
    train = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3] * 20})
    serve = pd.DataFrame({"code": [1, 1, 1, 1, 2, 3] * 20})
    cfg = SkewConfig.model_validate({"training": "t.csv", "serving": "s.csv",
                                     "per_feature": {"code": {"kind": "categorical", "chi2_pvalue": None}}})
    result = evaluate(train, serve, cfg, None)
    assert result.metric("ks_statistic", "code") is None
    assert result.metric("chi2_pvalue", "code").limits == []  # disabled: shown, not judged
    assert result.metric("psi", "code").status == Status.WARN


def test_baseline_values_are_attached(tmp_path):
    train, serve = _samples()
    base = GateResult("skew", Status.PASS, "", metrics=[Metric("psi", 0.5, slice="age")])
    result = evaluate(train, serve, SkewConfig(training="t", serving="s"), base)
    m = result.metric("psi", "age")
    assert m.baseline == 0.5 and m.delta == pytest.approx(m.value - 0.5)


# ------------------------------------------------------------------------------ NaNs and types


def test_nans_are_counted_and_form_their_own_bin():
    train = pd.DataFrame({"x": np.arange(100, dtype=float), "c": ["a", "b"] * 50})
    serve = train.copy()
    serve.loc[:29, "x"] = np.nan  # 30% missing in serving only
    serve.loc[:9, "c"] = None
    result = evaluate(train, serve, SkewConfig(training="t", serving="s"), None)
    info = result.details["features"]["x"]
    assert info["training_missing"] == 0 and info["serving_missing"] == 30
    assert info["serving_counts"][-1] == 30
    assert result.metric("psi", "x").value > 0.2  # the missing bin alone drifts it
    assert "missing 0.0% vs 30.0%" in result.metric("psi", "x").note
    assert result.details["features"]["c"]["serving_counts"]["<missing>"] == 10


def test_all_missing_serving_column_cannot_pass_ks():
    train = pd.DataFrame({"x": np.arange(50, dtype=float)})
    serve = pd.DataFrame({"x": [np.nan] * 50})
    result = evaluate(train, serve, SkewConfig(training="t", serving="s"), None)
    ks = result.metric("ks_statistic", "x")
    assert ks.value is None and ks.status == Status.WARN
    assert result.status == Status.FAIL  # 1 of 1 features drifted > 30%


def test_numeric_in_training_text_in_serving_is_a_failure():
    result = evaluate(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": ["1", "two"]}),
                      SkewConfig(training="train.csv", serving="serve.csv"), None)
    assert result.status == Status.FAIL
    assert result.findings[0].code == "skew.dtype" and "serve.csv" in result.findings[0].message


def test_unseen_categories_are_reported():
    result = evaluate(pd.DataFrame({"c": ["a", "b"] * 10}), pd.DataFrame({"c": ["a", "b", "z"] * 10}),
                      SkewConfig(training="t", serving="s"), None)
    unseen = next(f for f in result.findings if f.code == "skew.unseen_category")
    assert unseen.examples == ["z"]


# ------------------------------------------------------------------------------ features, input


def test_default_features_are_the_common_columns_minus_exclude(tmp_path):
    train, serve = _samples()
    _write(train.assign(only_train=1, id=range(len(train))), tmp_path / "train.csv")
    _write(serve.assign(only_serve=1, id=range(len(serve))), tmp_path / "serve.csv")
    result = _run(tmp_path, {"training": "train.csv", "serving": "serve.csv", "exclude": ["id"]})
    assert set(result.details["features"]) == {"age", "income", "tenure", "city", "member"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_configured_feature_missing_is_an_input_error_naming_it(tmp_path, suffix):
    train, serve = _samples()
    _write(train, tmp_path / f"train{suffix}")
    _write(serve.drop(columns=["city", "age"]), tmp_path / f"serve{suffix}")
    with pytest.raises(InputError, match=rf"serve\{suffix}: missing columns 'age', 'city'"):
        _run(tmp_path, {"training": f"train{suffix}", "serving": f"serve{suffix}",
                        "features": ["age", "city", "income"]})


def test_no_common_columns_and_unknown_override_and_bad_limit_kind(tmp_path):
    with pytest.raises(InputError, match="no column in common"):
        evaluate(pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}), SkewConfig(training="t", serving="s"), None)
    with pytest.raises(ConfigError, match=r"skew\.per_feature: .*nope"):
        evaluate(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1.0]}),
                 SkewConfig.model_validate({"training": "t", "serving": "s", "per_feature": {"nope": {}}}), None)
    with pytest.raises(ConfigError, match="ks does not apply to categorical feature 'c'"):
        evaluate(pd.DataFrame({"c": ["a"]}), pd.DataFrame({"c": ["a"]}),
                 SkewConfig.model_validate({"training": "t", "serving": "s",
                                            "per_feature": {"c": {"ks": {"max": 0.1}}}}), None)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "train.csv").write_text("")
    _write(pd.DataFrame({"a": [1]}), tmp_path / "serve.csv")
    with pytest.raises(InputError, match=r"train\.csv: file is empty"):
        _run(tmp_path, {"training": "train.csv", "serving": "serve.csv"})
    with pytest.raises(InputError, match=r"nope\.parquet: file not found"):
        _run(tmp_path, {"training": "nope.parquet", "serving": "serve.csv"})


def test_config_validation():
    with pytest.raises(ValidationError, match="both 'training' and 'serving'"):
        SkewConfig.model_validate({"training": "t.csv"})
    with pytest.raises(ValidationError, match="nothing to check"):
        SkewConfig.model_validate({})
    with pytest.raises(ValidationError):
        SkewConfig.model_validate({"training": "t", "serving": "s", "bins": 1})
    with pytest.raises(ConfigError, match=r"skew\.numeric\.psi\.maxx \(line 5\): unknown key"):
        parse_config("skew:\n  training: t.csv\n  serving: s.csv\n  numeric:\n    psi: {maxx: 0.1}\n")
    config = parse_config("skew:\n  training: t.csv\n  serving: s.csv\n  per_feature:\n    age: {psi: {max: 0.1}}\n")
    assert config.skew.per_feature["age"].psi.max == 0.1


# ------------------------------------------------------------------------------------- parity


def _parity_files(tmp_path: Path, cand_scores: list[float], cand_ids: list | None = None) -> None:
    ids = [10, 11, 12, 13, 14]
    _write(pd.DataFrame({"id": ids, "score": [0.1, 0.2, 0.3, 0.4, np.nan], "label": list("ababa")}),
           tmp_path / "ref.csv")
    _write(pd.DataFrame({"id": [str(i) for i in (cand_ids or ids)], "score": cand_scores, "label": list("ababa")}),
           tmp_path / "cand.parquet")


PARITY = {"parity": {"reference": "ref.csv", "candidate": "cand.parquet", "id": "id", "columns": ["score", "label"]}}


def test_parity_passes_within_tolerance(tmp_path):
    _parity_files(tmp_path, [0.1 + 5e-7, 0.2, 0.3, 0.4, np.nan])  # ids: ints vs strings still match
    result = _run(tmp_path, PARITY)
    assert result.status == Status.PASS
    assert result.metric("parity_rows_compared").value == 5
    assert result.metric("parity_max_abs_diff", "score").value == pytest.approx(5e-7)
    assert result.summary == "prediction parity: 5 rows compared, all agree within 1e-06 (max diff 5e-07)"


def test_parity_fails_with_counts_and_worst_examples_first(tmp_path):
    _parity_files(tmp_path, [0.1, 0.25, 0.3, 0.41, 0.9])
    result = _run(tmp_path, PARITY)
    assert result.status == Status.FAIL
    assert result.metric("parity_over_tolerance", "score").value == 3  # 11, 13, and 14 (NaN vs 0.9)
    assert result.metric("parity_max_abs_diff", "score").value == pytest.approx(0.05)
    finding = next(f for f in result.findings if f.code == "parity.mismatch")
    assert [e["id"] for e in finding.examples] == ["14", "11", "13"]
    assert finding.examples[1] == {"id": "11", "reference": 0.2, "candidate": 0.25}
    assert result.details["parity"]["rows_over_tolerance"] == 3
    json.dumps(result.to_dict(), allow_nan=False)


def test_parity_missing_rows_and_warn_severity(tmp_path):
    _parity_files(tmp_path, [0.1, 0.2, 0.3, 0.4, np.nan], cand_ids=[10, 11, 12, 13, 99])
    result = _run(tmp_path, PARITY)
    assert result.status == Status.FAIL
    assert result.metric("parity_missing_rows").value == 2
    missing = next(f for f in result.findings if f.code == "parity.rows_missing")
    assert missing.examples == [{"id": "14", "only_in": "reference"}, {"id": "99", "only_in": "candidate"}]
    warn = _run(tmp_path, {"parity": {**PARITY["parity"], "severity": "warn"}})
    assert warn.status == Status.WARN


def test_parity_bad_input(tmp_path):
    _parity_files(tmp_path, [0.1] * 5, cand_ids=[10, 10, 12, 13, 14])
    with pytest.raises(InputError, match=r"cand\.parquet: id column 'id' has 1 duplicated id, e\.g\. 10"):
        _run(tmp_path, PARITY)
    _parity_files(tmp_path, [0.1] * 5)
    with pytest.raises(InputError, match="missing column 'proba'"):
        _run(tmp_path, {"parity": {**PARITY["parity"], "columns": ["proba"]}})


def test_drift_and_parity_together_through_the_config_loader(tmp_path):
    train, serve = _samples()
    _write(train, tmp_path / "train.parquet")
    _write(serve, tmp_path / "serve.parquet")
    _parity_files(tmp_path, [0.1, 0.2, 0.3, 0.4, np.nan])
    config = parse_config(
        "skew:\n  training: train.parquet\n  serving: serve.parquet\n  parity:\n    reference: ref.csv\n"
        "    candidate: cand.parquet\n    id: id\n    columns: [score]\n    tolerance: 1.0e-9\n")
    result = run(config, RunContext(base_dir=tmp_path), None)
    assert result.status == Status.PASS
    assert "; prediction parity: 5 rows compared" in result.summary


# ------------------------------------------------------------------------------ what is judged


def test_epsilon_replaces_only_empty_bins():
    """A bin with a share below ε is counted at its real share; only a share of 0 becomes ε."""
    tc = np.array([1, 99_999, 0])  # training shares 1e-5, 0.99999, 0
    sc = np.array([100, 99_850, 50])  # serving 1e-3, 0.9985, 5e-4
    t = np.array([1e-5, 0.99999, 1e-4])
    s = sc / sc.sum()
    assert psi(tc, sc) == pytest.approx(float(np.sum((s - t) * np.log(s / t))), rel=1e-12)


def _zero_inflated(n: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(3, 1, n) * scale
    x[rng.random(n) < 0.7] = 0.0
    return x


def test_a_point_mass_keeps_its_own_bin():
    train = _zero_inflated(20_000, 1.0, 1)
    edges = quantile_edges(train, 10)
    counts = bin_counts(train, edges)
    zero_bin = int(np.searchsorted(edges, 0.0, side="right"))
    assert counts[zero_bin] == int((train == 0).sum())  # the zeros, and nothing else
    # the non-zero 30% is still cut into quantile bins of its own, not merged with the zeros
    assert (counts[:-1] > 0).sum() >= 8


def test_a_shift_of_the_non_zero_part_of_a_zero_inflated_feature_drifts():
    train = pd.DataFrame({"x": _zero_inflated(20_000, 1.0, 1)})
    serve = pd.DataFrame({"x": _zero_inflated(20_000, 3.0, 2)})  # same share of zeros, the rest x3
    cfg = SkewConfig(training="t", serving="s", numeric={"ks": None})  # PSI alone must see it
    result = evaluate(train, serve, cfg, None)
    assert result.metric("psi", "x").value > 0.2
    assert result.details["drifted"] == ["x"]
    assert result.details["features"]["x"]["point_masses"] == [0.0]
    same = evaluate(train, pd.DataFrame({"x": _zero_inflated(20_000, 1.0, 3)}), cfg, None)
    assert same.metric("psi", "x").value < 0.02 and same.status == Status.PASS


def test_trivial_categorical_shift_in_a_large_sample_is_not_drift():
    rng = np.random.default_rng(2)
    n = 200_000
    train = pd.DataFrame({"c": rng.choice(list("abc"), n, p=[0.5, 0.3, 0.2])})
    serve = pd.DataFrame({"c": rng.choice(list("abc"), n, p=[0.51, 0.295, 0.195])})
    result = evaluate(train, serve, SkewConfig(training="t", serving="s"), None)
    p = result.metric("chi2_pvalue", "c")
    assert p.value < 1e-6 and p.limits == []  # "significant", reported, not judged
    assert result.metric("psi", "c").value < 0.01 and result.metric("psi", "c").limits  # judged
    v = result.metric("cramers_v", "c")
    table = np.array([train.c.value_counts().sort_index(), serve.c.value_counts().sort_index()])
    assert v.value == pytest.approx(stats.contingency.association(table, method="cramer"), rel=1e-9)
    assert v.limits == []
    assert result.status == Status.PASS
    assert result.details["judged"] == {"numeric": ["psi", "ks_statistic"], "categorical": ["psi"]}
    said = next(f for f in result.findings if f.code == "skew.judged")
    assert "chi2_pvalue" in said.message and "not judged" in said.message


def test_a_large_categorical_shift_still_drifts_and_limits_on_v_and_p_can_be_set():
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"c": rng.choice(list("abc"), 5000, p=[0.5, 0.3, 0.2])})
    serve = pd.DataFrame({"c": rng.choice(list("abc"), 5000, p=[0.2, 0.3, 0.5])})
    result = evaluate(train, serve, SkewConfig(training="t", serving="s"), None)
    assert result.metric("psi", "c").status == Status.WARN and result.details["drifted"] == ["c"]
    strict = SkewConfig(training="t", serving="s",
                        categorical={"psi": None, "cramers_v": {"max": 0.1}, "chi2_pvalue": {"min": 0.01}})
    judged = evaluate(train, serve, strict, None)
    assert judged.metric("cramers_v", "c").status == Status.WARN
    assert judged.metric("chi2_pvalue", "c").status == Status.WARN
    assert judged.metric("psi", "c").limits == []
    assert judged.details["judged"]["categorical"] == ["chi2_pvalue", "cramers_v"]


def test_every_limit_disabled_is_not_green():
    train, serve = _samples()
    serve["age"] += 20
    cfg = SkewConfig(training="t", serving="s", numeric={"psi": None, "ks": None}, categorical={"psi": None})
    result = evaluate(train, serve, cfg, None)
    assert result.status == Status.WARN
    assert any(f.code == "skew.nothing_judged" for f in result.findings)
    assert result.details["judged"] == {"numeric": [], "categorical": []}
