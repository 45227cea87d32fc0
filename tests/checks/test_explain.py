"""The explain gate: scikit-learn's permutation importance (same seed, same numbers), top-k changes against
the base, forbidden features and rank shifts, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, make_scorer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates import explain
from mlgate.checks.gates.explain import ExplainConfig, Importances, evaluate
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Status

FEATURES = ["mean_radius", "mean_texture", "mean_smoothness", "worst_concavity", "worst_symmetry", "mean_symmetry"]


def _imp(order: list[str]) -> Importances:
    """Importances that rank `order` first to last."""
    n = len(order)
    return Importances(list(order), [float(n - i) for i in range(n)], [0.1] * n, scoring="roc_auc")


# ------------------------------------------------------------------------------------- pure judging


def test_no_forbidden_feature_in_the_top_k_passes() -> None:
    r = evaluate(_imp(["a", "b", "c", "d"]), _imp(["a", "b", "c", "d"]), "baseline_model",
                 ExplainConfig(top_k=2), {"d": "a listed proxy"}, rows=10)
    assert r.status == Status.PASS and r.metric("rank", "d").value == 4
    assert r.details["entered"] == [] and r.details["left"] == []
    assert "top-k unchanged" in r.summary


def test_a_forbidden_feature_entering_the_top_k_warns_by_default_and_fails_when_asked() -> None:
    cand, base = _imp(["a", "d", "b", "c"]), _imp(["a", "b", "c", "d"])
    forbidden = {"d": "a sensitive attribute (bias.sensitive)"}
    warned = evaluate(cand, base, "baseline_model", ExplainConfig(top_k=2), forbidden, rows=10)
    assert warned.status == Status.WARN
    assert warned.details["entered"] == ["d"] and warned.details["left"] == ["b"]
    assert "forbidden d entered the top 2 (rank 2)" in warned.summary
    failed = evaluate(cand, base, "baseline_model", ExplainConfig(top_k=2, severity="fail"), forbidden, rows=10)
    assert failed.status == Status.FAIL and failed.metric("rank", "d").status == Status.FAIL


def test_a_forbidden_feature_already_in_the_base_top_k_did_not_enter() -> None:
    r = evaluate(_imp(["d", "a", "b"]), _imp(["a", "d", "b"]), "baseline_model",
                 ExplainConfig(top_k=2, severity="fail"), {"d": "proxy"}, rows=10)
    assert r.status == Status.PASS and "did not enter" in r.metric("rank", "d").note


def test_without_a_base_being_in_the_top_k_counts_as_entering() -> None:
    r = evaluate(_imp(["d", "a"]), None, None, ExplainConfig(top_k=1, severity="fail"), {"d": "proxy"}, rows=10)
    assert r.status == Status.FAIL and any(f.code == "explain.no_base" for f in r.findings)


def test_max_forbidden_importance_applies_outside_the_top_k_too() -> None:
    cand = _imp(["a", "b", "c", "d"])  # d has importance 1.0, rank 4
    r = evaluate(cand, None, None, ExplainConfig(top_k=1, max_forbidden_importance=0.5, severity="fail"),
                 {"d": "proxy"}, rows=10)
    assert r.metric("importance", "d").status == Status.FAIL and r.status == Status.FAIL


def test_rank_shift_limits() -> None:
    cand, base = _imp(["c", "a", "b", "d"]), _imp(["a", "b", "c", "d"])
    r = evaluate(cand, base, "x", ExplainConfig(max_rank_shift={"c": 1}, severity="fail"), {}, rows=10)
    assert r.metric("rank_shift", "c").value == 2 and r.status == Status.FAIL
    every = evaluate(cand, base, "x", ExplainConfig(max_rank_shift={"*": 2}), {}, rows=10)
    assert every.status == Status.PASS and len([m for m in every.metrics if m.name == "rank_shift"]) == 4


def test_a_sensitive_attribute_the_model_does_not_use_is_said_to_be_unused() -> None:
    r = evaluate(_imp(["a", "b"]), None, None, ExplainConfig(), {"race": "a sensitive attribute"}, rows=10)
    assert any(f.code == "explain.forbidden_unused" and f.column == "race" for f in r.findings)
    assert r.status == Status.PASS


def test_forbidden_comes_from_bias_sensitive_and_the_proxy_list() -> None:
    cfg = ExplainConfig(forbidden=["zip"])
    assert explain.forbidden_features(cfg, ["race"]) == {"race": "a sensitive attribute (bias.sensitive)",
                                                        "zip": "a listed proxy (explain.forbidden)"}
    assert explain.forbidden_features(ExplainConfig(forbid_sensitive=False), ["race"]) == {}


# ------------------------------------------------------------------------------------- against scikit-learn


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    data = load_breast_cancer(as_frame=True)  # real data, shipped inside scikit-learn
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["label"] = np.where(frame["target"] == 1, "benign", "malignant")
    train, holdout = frame.iloc[::2], frame.iloc[1::2]
    cand = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train[FEATURES], train["label"])
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train[FEATURES[:4]], train["label"])
    sio.dump(cand, root / "model.skops")
    sio.dump(base, root / "base.skops")
    holdout.to_parquet(root / "holdout.parquet", index=False)
    return root


def _run(project: Path, section: dict, baseline: GateResult | None = None, **top: object) -> GateResult:
    config = MlgateConfig.model_validate({"explain": {"model": "model.skops", "data": "holdout.parquet",
                                                      "label": "label", **section}, **top})
    return explain.run(config, RunContext(base_dir=project), baseline)


def test_importances_equal_scikit_learns_with_the_same_seed(project: Path) -> None:
    result = _run(project, {"scoring": "roc_auc", "n_repeats": 4, "random_state": 7, "max_rows": None})
    holdout = pd.read_parquet(project / "holdout.parquet")
    model = sio.load(project / "model.skops", trusted=sio.get_untrusted_types(file=project / "model.skops"))
    ref = permutation_importance(model, holdout[FEATURES], holdout["label"], scoring="roc_auc", n_repeats=4,
                                 random_state=7)
    got = result.details["importances"]
    assert [got[f]["mean"] for f in FEATURES] == pytest.approx(list(ref.importances_mean), abs=1e-12)
    assert [got[f]["std"] for f in FEATURES] == pytest.approx(list(ref.importances_std), abs=1e-12)
    assert result.details["rows"] == len(holdout)
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_sample_of_max_rows_is_the_seeded_pandas_sample(project: Path) -> None:
    result = _run(project, {"n_repeats": 2, "random_state": 3, "max_rows": 100})
    sample = pd.read_parquet(project / "holdout.parquet").sample(n=100, random_state=3)
    model = sio.load(project / "model.skops", trusted=sio.get_untrusted_types(file=project / "model.skops"))
    ref = permutation_importance(model, sample[FEATURES], sample["label"], n_repeats=2, random_state=3)
    assert [result.details["importances"][f]["mean"] for f in FEATURES] == pytest.approx(
        list(ref.importances_mean), abs=1e-12)
    assert result.details["rows"] == 100 and result.details["scoring"] == "the model's own score method"


def test_the_base_model_is_scored_on_the_same_rows(project: Path) -> None:
    result = _run(project, {"baseline_model": "base.skops", "scoring": "roc_auc", "n_repeats": 3, "top_k": 3,
                            "max_rows": None})
    holdout = pd.read_parquet(project / "holdout.parquet")
    base = sio.load(project / "base.skops", trusted=sio.get_untrusted_types(file=project / "base.skops"))
    ref = permutation_importance(base, holdout[FEATURES[:4]], holdout["label"], scoring="roc_auc", n_repeats=3,
                                 random_state=0)
    got = result.details["base_importances"]
    assert [got[f]["mean"] for f in FEATURES[:4]] == pytest.approx(list(ref.importances_mean), abs=1e-12)
    assert result.details["base_source"] == "baseline_model"
    new = [r for r in result.details["top"] if r["base_rank"] is None]
    assert all(r["feature"] in FEATURES[4:] for r in new)


def test_a_positive_label_scorer_gets_the_positive_class(project: Path) -> None:
    result = _run(project, {"scoring": "f1", "positive_label": "malignant", "n_repeats": 2, "max_rows": None})
    holdout = pd.read_parquet(project / "holdout.parquet")
    model = sio.load(project / "model.skops", trusted=sio.get_untrusted_types(file=project / "model.skops"))
    ref = permutation_importance(model, holdout[FEATURES], holdout["label"], n_repeats=2, random_state=0,
                                 scoring=make_scorer(f1_score, pos_label="malignant"))
    assert [result.details["importances"][f]["mean"] for f in FEATURES] == pytest.approx(
        list(ref.importances_mean), abs=1e-12)


def test_a_proxy_that_entered_the_top_k_fails_with_severity_fail(project: Path) -> None:
    probe = _run(project, {"scoring": "roc_auc", "n_repeats": 2})
    top = probe.details["top"][0]["feature"]
    result = _run(project, {"scoring": "roc_auc", "n_repeats": 2, "top_k": 2, "forbidden": [top],
                            "severity": "fail"})
    assert result.status == Status.FAIL and result.metric("rank", top).value == 1


def test_sensitive_attributes_come_from_the_bias_section(project: Path) -> None:
    result = _run(project, {"n_repeats": 2, "top_k": 1}, bias={"sensitive": ["mean_radius", "sex"]})
    assert result.details["forbidden"] == {"mean_radius": "a sensitive attribute (bias.sensitive)",
                                           "sex": "a sensitive attribute (bias.sensitive)"}
    assert any(f.code == "explain.forbidden_unused" and f.column == "sex" for f in result.findings)


def test_base_results_stand_in_for_a_missing_base_model(project: Path) -> None:
    first = _run(project, {"scoring": "roc_auc", "n_repeats": 2})
    again = _run(project, {"scoring": "roc_auc", "n_repeats": 2}, baseline=first)
    assert again.details["base_source"] == "baseline results"
    assert again.metric("importance", again.details["top"][0]["feature"]).delta == 0
    other = _run(project, {"n_repeats": 2}, baseline=first)  # another scoring: not comparable
    assert other.details["base_source"] is None and any(f.code == "explain.base_scoring" for f in other.findings)


@pytest.mark.parametrize("section, error, problem", [
    ({"label": "nope"}, InputError, "columns missing: nope"),
    ({"scoring": "rocauc"}, ConfigError, "not a scikit-learn scorer"),
    ({"data": None}, ConfigError, "set explain.data"),
    ({"model": "missing.skops"}, InputError, "model file not found"),
])
def test_bad_input(project: Path, section: dict, error: type, problem: str) -> None:
    with pytest.raises(error, match=problem):
        _run(project, section)


def test_a_model_that_cannot_be_loaded_safely_is_refused(project: Path) -> None:
    np.savez(project / "w.npz", w=np.ones(3))
    with pytest.raises(InputError, match="needs a scikit-learn model"):
        _run(project, {"model": "w.npz"})


def test_cli_bad_input_is_exit_2_with_one_line(project: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "mlgate", "check", "explain", "--model", "model.skops", "--data",
                           "holdout.parquet", "--label", "nope", "--json", "out.json"], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("mlgate: error: explain: holdout.parquet: columns missing: nope "
                                                    "(explain needs the model's features and the label)")
    ok = subprocess.run([sys.executable, "-m", "mlgate", "check", "explain", "--model", "model.skops", "--data",
                         "holdout.parquet", "--label", "label", "--top-k", "2", "--json", "ok.json"], cwd=project,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((project / "ok.json").read_text())["gates"][0]["details"]["top_k"] == 2


def test_the_report_renders_a_feature_the_base_does_not_have() -> None:
    """A new feature (colour, added by the change) has no base importance: the table says so and the chart
    draws it as 0 (this crashed the report, and with it the bot's comment, before)."""
    from mlgate.checks.report import render_report
    from mlgate.checks.results import RunResults

    r = evaluate(_imp(["a", "colour", "b"]), _imp(["a", "b"]), "baseline_model", ExplainConfig(top_k=2),
                 {"colour": "a sensitive attribute (bias.sensitive)"}, rows=10)
    text = render_report(RunResults([r], {}, {}))
    assert "xychart-beta" in text and "colour" in text
    chart = text.split("xychart-beta", 1)[1].split("```", 1)[0]
    assert chart.count("bar [") == 2 and "None" not in chart
