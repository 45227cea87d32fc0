"""The bias gate and the confusion counts under it: numbers built from known counts, limits,
defaults, small groups, missing values, baseline regression, bad input."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlgate.checks.config.bias import BiasConfig
from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.errors import InputError
from mlgate.checks.gates import confusion
from mlgate.checks.gates.bias import evaluate, run
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, GroupRow, Status

PRED = PredictionsConfig(label="y", prediction="yhat")


def _cells(group: str, tp: int, fp: int, tn: int, fn: int, **extra: object) -> pd.DataFrame:
    y = [1] * tp + [0] * fp + [0] * tn + [1] * fn
    yhat = [1] * tp + [1] * fp + [0] * tn + [0] * fn
    return pd.DataFrame({"y": y, "yhat": yhat, "race": group, **extra})


def _two_groups(fp_b: int = 10) -> pd.DataFrame:
    """A: fpr 10/100, fnr 10/100, selection 100/200. B: fpr fp_b/100, fnr 10/100."""
    return pd.concat(
        [_cells("A", tp=90, fp=10, tn=90, fn=10), _cells("B", tp=90, fp=fp_b, tn=100 - fp_b, fn=10)],
        ignore_index=True,
    )


def _metric(result: GateResult, name: str, attribute: str = "race") -> float | None:
    m = result.metric(name, attribute)
    assert m is not None, f"{name} [{attribute}] missing"
    return m.value


# ---- confusion counts ---------------------------------------------------------------------------


def test_counts_per_group_and_chunks_add_up() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    df = pd.DataFrame({
        "y": rng.integers(0, 2, n), "yhat": rng.integers(0, 2, n),
        "a": rng.choice(["x", "y", None], n), "b": rng.integers(0, 4, n),
    })
    keys = [confusion.encode(df.a, "a"), confusion.encode(df.b, "b")]
    whole = confusion.count(df.y.to_numpy(), df.yhat.to_numpy(), keys)
    expected = (
        df.assign(a=df.a.fillna("(missing)"), b=df.b.astype(str))
        .groupby(["a", "b"])
        .apply(lambda g: pd.Series({
            "tn": int(((g.y == 0) & (g.yhat == 0)).sum()), "fp": int(((g.y == 0) & (g.yhat == 1)).sum()),
            "fn": int(((g.y == 1) & (g.yhat == 0)).sum()), "tp": int(((g.y == 1) & (g.yhat == 1)).sum()),
        }), include_groups=False)
    )
    got = {g: tuple(c) for g, c in zip(whole.groups, whole.counts.tolist(), strict=True)}
    assert got == {k: tuple(v) for k, v in zip(expected.index, expected.to_numpy().tolist(), strict=True)}

    # chunks factorize differently (a chunk may lack a group) yet add up to the whole
    parts = []
    for chunk in (df.iloc[:1000], df.iloc[1000:1001], df.iloc[1001:]):
        k = [confusion.encode(chunk.a, "a"), confusion.encode(chunk.b, "b")]
        parts.append(confusion.count(chunk.y.to_numpy(), chunk.yhat.to_numpy(), k))
    merged = parts[0] + parts[1] + parts[2]
    assert dict(zip(merged.groups, merged.counts.tolist(), strict=True)) == dict(
        zip(whole.groups, whole.counts.tolist(), strict=True))

    only_b = whole.marginal(["b"])
    assert only_b.n.tolist() == df.b.value_counts().sort_index().tolist()
    total = confusion.count(df.y.to_numpy(), df.yhat.to_numpy())
    assert total.counts.tolist() == [whole.counts.sum(axis=0).tolist()]


def test_many_high_cardinality_keys_do_not_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confusion, "_DENSE_CELLS", 64)  # force the hash-table path
    rng = np.random.default_rng(1)
    n = 3000
    cols = {f"k{i}": rng.integers(0, 40, n) for i in range(3)}
    y, yhat = rng.integers(0, 2, n), rng.integers(0, 2, n)
    gc = confusion.count(y, yhat, [confusion.encode(pd.Series(v), k) for k, v in cols.items()])
    assert gc.n.sum() == n
    assert len(gc.groups) == len(pd.DataFrame(cols).drop_duplicates())
    first = gc.groups[0]
    mask = np.all([cols[f"k{i}"].astype(str) == first[i] for i in range(3)], axis=0)
    assert gc.tp[0] == int(((y == 1) & (yhat == 1) & mask).sum())


# ---- the gate -----------------------------------------------------------------------------------


def test_group_rates_and_gaps_from_known_counts() -> None:
    result = evaluate(_two_groups(fp_b=30), PRED, BiasConfig(sensitive=["race"], limits={}), None)
    rows = {r.group: r for r in result.groups}
    assert rows["A"].count == 200 and rows["B"].count == 200
    assert rows["A"].metrics["fpr"] == pytest.approx(10 / 100)
    assert rows["B"].metrics["fpr"] == pytest.approx(30 / 100)
    assert rows["B"].metrics["selection_rate"] == pytest.approx(120 / 200)
    assert rows["B"].metrics["accuracy"] == pytest.approx((90 + 70) / 200)
    assert _metric(result, "equalized_odds_difference") == pytest.approx(0.2)
    assert _metric(result, "demographic_parity_difference") == pytest.approx(20 / 200)
    assert result.status == Status.WARN  # limits: {} judges nothing, and the gate says it cannot block
    assert any(f.code == "bias.unjudged" for f in result.findings)
    assert "no limits configured" in result.summary


def test_pass_warn_fail_paths() -> None:
    limits = {"fpr": {"max_difference": 0.15}}
    ok = evaluate(_two_groups(fp_b=20), PRED, BiasConfig(sensitive=["race"], limits=limits), None)
    assert ok.status == Status.PASS
    assert _metric(ok, "fpr_difference") == pytest.approx(0.1)

    warn_cfg = BiasConfig(sensitive=["race"], limits={"fpr": {"max_difference": 0.15, "severity": "warn"}})
    warn = evaluate(_two_groups(fp_b=30), PRED, warn_cfg, None)
    assert warn.status == Status.WARN
    assert "fpr gap [race] 0.2 > 0.15 (highest B 0.3, lowest A 0.1)" in warn.summary

    fail = evaluate(_two_groups(fp_b=30), PRED, BiasConfig(sensitive=["race"], limits=limits), None)
    assert fail.status == Status.FAIL
    assert fail.metric("fpr_difference", "race").status == Status.FAIL

    eo = BiasConfig(sensitive=["race"], limits={}, equalized_odds_difference=0.19)
    assert evaluate(_two_groups(fp_b=30), PRED, eo, None).metric("equalized_odds_difference", "race").status \
        == Status.FAIL


def test_defaults_when_only_sensitive_is_given() -> None:
    # B selects (tp+fp) = 40 of 200, A 100 of 200: ratio 0.4 breaks the four-fifths rule
    df = pd.concat([_cells("A", 90, 10, 90, 10), _cells("B", 35, 5, 95, 65)], ignore_index=True)
    result = evaluate(df, PRED, BiasConfig(sensitive=["race"]), None)
    assert _metric(result, "selection_rate_ratio") == pytest.approx(40 / 100)
    assert result.metric("selection_rate_ratio", "race").status == Status.FAIL
    assert _metric(result, "fnr_difference") == pytest.approx(65 / 100 - 10 / 100)
    assert result.status == Status.FAIL
    assert "default limits: fpr gap ≤ 0.1, fnr gap ≤ 0.1, selection_rate ratio ≥ 0.8" in result.summary


def test_small_groups_are_shown_not_judged() -> None:
    df = pd.concat([_two_groups(fp_b=10), _cells("C", tp=1, fp=9, tn=1, fn=9)], ignore_index=True)
    result = evaluate(df, PRED, BiasConfig(sensitive=["race"], min_group_size=30), None)
    small = next(r for r in result.groups if r.group == "C")
    assert small.count == 20 and small.judged is False
    assert small.metrics["fpr"] == pytest.approx(0.9)
    assert _metric(result, "fpr_difference") == pytest.approx(0.0)
    assert result.status == Status.PASS
    assert "(1 below 30 rows, not judged)" in result.summary

    judged_all = evaluate(df, PRED, BiasConfig(sensitive=["race"], min_group_size=20), None)
    assert _metric(judged_all, "fpr_difference") == pytest.approx(0.9 - 0.1)
    assert judged_all.status == Status.FAIL


def test_missing_values_form_their_own_group() -> None:
    df = _two_groups()
    df["race"] = df.race.astype(object)
    df.loc[:49, "race"] = None
    result = evaluate(df, PRED, BiasConfig(sensitive=["race"]), None)
    groups = {r.group: r.count for r in result.groups}
    assert groups == {"A": 150, "B": 200, "(missing)": 50}


def test_intersections() -> None:
    df = _two_groups(fp_b=30)
    df["sex"] = np.where(np.arange(len(df)) % 2 == 0, "F", "M")
    result = evaluate(df, PRED, BiasConfig(sensitive=["race", "sex"], intersections=True, limits={}), None)
    inter = {r.group: r for r in result.groups if r.attribute == "race×sex"}
    assert set(inter) == {"A×F", "A×M", "B×F", "B×M"}
    sub = df[(df.race == "B") & (df.sex == "F")]
    fp = int(((sub.y == 0) & (sub.yhat == 1)).sum())
    assert inter["B×F"].metrics["fpr"] == pytest.approx(fp / int((sub.y == 0).sum()))
    assert result.details["attributes"] == ["race", "sex", "race×sex"]
    with pytest.raises(ValidationError, match="not in sensitive"):
        BiasConfig(sensitive=["race"], intersections=[["race", "sex"]])


def _base_result(fpr_a: float, fpr_b: float) -> GateResult:
    rows = [GroupRow("race", g, 200, True, {"fpr": v}) for g, v in (("A", fpr_a), ("B", fpr_b))]
    return GateResult(gate="bias", status=Status.PASS, summary="", groups=rows)


def test_group_regression_against_baseline() -> None:
    cfg = BiasConfig(sensitive=["race"], limits={}, max_group_regression={"fpr": 0.05})
    df = _two_groups(fp_b=30)  # fpr A 0.1, B 0.3

    fine = evaluate(df, PRED, cfg, _base_result(0.1, 0.27))
    assert fine.status == Status.PASS and fine.baseline_used
    rows = {r.group: r for r in fine.groups}
    assert rows["B"].baseline == {"fpr": 0.27}

    worse = evaluate(df, PRED, cfg, _base_result(0.12, 0.2))
    assert worse.status == Status.FAIL
    rows = {r.group: r for r in worse.groups}
    assert rows["B"].status == Status.FAIL and rows["A"].status == Status.PASS
    reg = worse.metric("fpr_group_regression", "race")
    assert reg.value == pytest.approx(0.3 - 0.2)
    assert any(f.code == "bias.group_regression" and "B 0.2 → 0.3" in f.message for f in worse.findings)

    alone = evaluate(df, PRED, cfg, None)  # the only limit needs a baseline: nothing judged, not green
    assert alone.status == Status.WARN and not alone.baseline_used
    assert any(f.code == "bias.nothing_judged" and "no baseline" in f.message for f in alone.findings)
    assert alone.metric("fpr_group_regression", "race") is None
    assert "no baseline" in alone.summary


def test_unknown_metric_names_are_config_errors() -> None:
    with pytest.raises(ValidationError) as err:
        BiasConfig(sensitive=["race"], limits={"false_positive_rate": {"max_difference": 0.1}})
    assert "'false_positive_rate'" in str(err.value) and "fpr" in str(err.value)
    with pytest.raises(ValidationError, match="'tpr_rate'"):
        BiasConfig(sensitive=["race"], metrics=["count", "tpr_rate"])
    with pytest.raises(ValidationError, match="max_group_regression"):
        BiasConfig(sensitive=["race"], max_group_regression={"recall": 0.1})
    with pytest.raises(ValidationError):
        BiasConfig(sensitive=[])
    from mlgate.checks.config.models import parse_config
    from mlgate.checks.errors import ConfigError

    with pytest.raises(ConfigError, match=r"bias\.limits \(line 3\): unknown bias metric 'FPR'"):
        parse_config("bias:\n  sensitive: [race]\n  limits:\n    FPR: {max_difference: 0.1}\n")


def test_bad_input() -> None:
    df = _two_groups()
    df["y"] = df.y.astype(float)
    df.loc[5, "y"] = np.nan
    with pytest.raises(InputError, match="1 missing values"):
        evaluate(df, PRED, BiasConfig(sensitive=["race"]), None)
    with pytest.raises(InputError, match="missing column 'sex'"):
        evaluate(_two_groups(), PRED, BiasConfig(sensitive=["sex"]), None)


def test_too_few_groups_is_a_warning_not_a_failure() -> None:
    df = _cells("A", 90, 10, 90, 10)
    result = evaluate(df, PRED, BiasConfig(sensitive=["race"]), None)
    assert result.status == Status.WARN
    assert _metric(result, "fpr_difference") is None
    assert any(f.code == "bias.too_few_groups" for f in result.findings)


def test_run_reads_only_what_it_needs(tmp_path) -> None:
    df = _two_groups(fp_b=30)
    df["p"] = np.where(df.yhat == 1, 0.9, 0.1)
    df["race"] = df.race.astype("category")
    df.to_parquet(tmp_path / "preds.parquet")
    config = SimpleNamespace(
        predictions=PredictionsConfig(path="preds.parquet", label="y", score="p", threshold=0.5),
        bias=BiasConfig(sensitive=["race"]),
    )
    result = run(config, RunContext(base_dir=tmp_path), None)
    assert result.gate == "bias"
    assert _metric(result, "fpr_difference") == pytest.approx(0.2)
    assert result.status == Status.FAIL
    assert {r.group for r in result.groups} == {"A", "B"}


# ---- a gate that judged nothing, and groups left out of a gap ---------------------------------------


def test_no_group_large_enough_says_nothing_was_judged_and_warns() -> None:
    df = pd.concat([_cells("A", 9, 2, 9, 2), _cells("B", 2, 9, 2, 9)], ignore_index=True)  # 22 rows each
    result = evaluate(df, PRED, BiasConfig(sensitive=["race"]), None)  # default limits, min_group_size 30
    assert result.status == Status.WARN
    assert "nothing judged" in result.summary
    assert "no limits configured" not in result.summary  # limits are configured (the defaults)
    nothing = [f for f in result.findings if f.code == "bias.nothing_judged"]
    assert len(nothing) == 1 and nothing[0].severity == "warn"
    assert "30 rows" in nothing[0].message
    assert not any(f.code == "bias.unjudged" for f in result.findings)


def test_group_regression_limits_without_baseline_and_without_gaps_are_not_green() -> None:
    df = _two_groups(fp_b=60)  # large groups, a big fpr gap, but no gap limit and no baseline
    cfg = BiasConfig(sensitive=["race"], limits={}, max_group_regression={"fpr": 0.05})
    result = evaluate(df, PRED, cfg, None)
    assert result.status == Status.WARN
    assert "nothing judged" in result.summary
    assert any(f.code == "bias.nothing_judged" for f in result.findings)


def test_judged_group_left_out_of_a_gap_gets_a_finding() -> None:
    # C has no positive labels: its tpr and fnr are undefined, so the fnr gap is A vs B only
    df = pd.concat([_cells("A", 40, 10, 40, 10), _cells("B", 40, 10, 40, 10), _cells("C", 0, 5, 95, 0)],
                   ignore_index=True)
    result = evaluate(df, PRED, BiasConfig(sensitive=["race"]), None)
    assert _metric(result, "fnr_difference") == pytest.approx(0.0)
    left = [f for f in result.findings if f.code == "bias.group_left_out"]
    assert len(left) == 1, result.findings
    assert left[0].severity == "warn" and left[0].column == "race"
    assert "C" in left[0].message and "fnr" in left[0].message and "no positive labels" in left[0].message
    assert result.metric("fnr_difference", "race").status == Status.PASS
