"""The shadow gate on a real export-shaped table: agreement, score differences, selection-rate shifts per group,
quality on the labelled part (against scikit-learn), the model version, too little traffic, and bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.metrics import accuracy_score, roc_auc_score

from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates import shadow
from mlgate.checks.gates.shadow import ShadowConfig, version_matches
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Status

N = 600
BASE = {"export": "export.parquet", "id": "rid", "shadow": {"score": "s_score", "prediction": "s_class"},
        "production": {"score": "p_score", "prediction": "p_class"}, "label": "y", "min_requests": 100,
        "min_group_size": 30}


def _export(flip_group_b: int = 0, labelled: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Production scores, and shadow scores that agree except for `flip_group_b` rows of group b."""
    rng = np.random.RandomState(seed)
    p = rng.rand(N)
    s = np.clip(p + rng.normal(0, 0.01, N), 0, 1)
    group = np.where(np.arange(N) % 3 == 0, "b", "a")
    flip = np.flatnonzero((group == "b") & (p >= 0.5))[:flip_group_b]
    s[flip] = 0.1
    y = np.where(rng.rand(N) < p, "yes", "no").astype(object)
    y[rng.rand(N) >= labelled] = None
    return pd.DataFrame({"rid": np.arange(N) + 1000, "s_score": s, "p_score": p,
                         "s_class": np.where(s >= 0.5, "yes", "no"), "p_class": np.where(p >= 0.5, "yes", "no"),
                         "y": y, "group": group})


def _run(tmp_path: Path, frame: pd.DataFrame, section: dict | None = None, **top: object) -> GateResult:
    frame.to_parquet(tmp_path / "export.parquet", index=False)
    config = MlgateConfig.model_validate({"shadow": {**BASE, **(section or {})},
                                          "predictions": {"positive_label": "yes"}, **top})
    return shadow.run(config, RunContext(base_dir=tmp_path), None)


def test_agreeing_models_pass_and_the_numbers_are_the_references(tmp_path: Path) -> None:
    frame = _export()
    r = _run(tmp_path, frame, {"sensitive": ["group"], "quality": {"roc_auc": {"max_drop": 0.05}, "accuracy": {}}})
    assert r.status == Status.PASS, r.summary
    agree = (frame["s_class"] == frame["p_class"]).mean()
    assert r.metric("agreement").value == pytest.approx(agree)
    diff = frame["s_score"] - frame["p_score"]
    assert r.metric("score_difference_mean").value == pytest.approx(diff.mean())
    assert r.metric("score_difference_p99").value == pytest.approx(np.percentile(diff.abs(), 99))
    sel = r.metric("selection_rate")
    assert sel.value == pytest.approx((frame["s_class"] == "yes").mean())
    assert sel.baseline == pytest.approx((frame["p_class"] == "yes").mean())
    lab = frame[frame["y"].notna()]
    auc = r.metric("roc_auc", "labelled")
    assert auc.value == pytest.approx(roc_auc_score(lab["y"] == "yes", lab["s_score"]), abs=1e-12)
    assert auc.baseline == pytest.approx(roc_auc_score(lab["y"] == "yes", lab["p_score"]), abs=1e-12)
    assert r.metric("accuracy", "labelled").value == pytest.approx(accuracy_score(lab["y"], lab["s_class"]))
    assert r.metric("labelled").value == len(lab)
    by_group = frame.groupby("group").apply(lambda g: (g["s_class"] == g["p_class"]).mean(), include_groups=False)
    rows = {g.group: g for g in r.groups}
    assert rows["b"].metrics["agreement"] == pytest.approx(by_group["b"])
    json.dumps(r.to_dict(), allow_nan=False)


def test_a_shift_in_one_group_fails_and_names_it(tmp_path: Path) -> None:
    r = _run(tmp_path, _export(flip_group_b=25), {"sensitive": ["group"], "min_agreement": 0.9})
    assert r.metric("agreement").status == Status.PASS  # 25 of 600 disagree: 95.8 % overall
    group_shift = r.metric("group_selection_rate_shift_max", "group")
    assert group_shift.status == Status.FAIL and group_shift.value == pytest.approx(25 / 200)
    assert next(g for g in r.groups if g.group == "b").status == Status.FAIL
    assert r.status == Status.FAIL and "group_selection_rate_shift_max [group] 0.125 > 0.05" in r.summary


def test_severity_warn_reports_the_same_breach_as_a_warning(tmp_path: Path) -> None:
    r = _run(tmp_path, _export(flip_group_b=25), {"sensitive": ["group"], "severity": "warn"})
    assert r.status == Status.WARN


def test_too_little_traffic_fails(tmp_path: Path) -> None:
    r = _run(tmp_path, _export().head(80))
    assert r.metric("requests").status == Status.FAIL and r.status == Status.FAIL
    assert "requests 80 < 100" in r.summary


def test_a_shadow_that_did_not_answer_counts_against_it(tmp_path: Path) -> None:
    frame = _export()
    frame.loc[:19, ["s_score", "s_class"]] = None
    r = _run(tmp_path, frame)
    m = r.metric("shadow_missing_share")
    assert m.value == pytest.approx(20 / N) and m.status == Status.FAIL  # default limit 1 %
    assert r.details["compared"] == N - 20


def test_few_labels_leave_quality_unjudged_and_say_so(tmp_path: Path) -> None:
    r = _run(tmp_path, _export(labelled=0.02), {"min_labelled": 50, "quality": {"roc_auc": {"max_drop": 0.01}}})
    assert r.metric("roc_auc", "labelled") is None
    assert any(f.code == "shadow.few_labels" and f.severity == "warn" for f in r.findings)


def test_the_export_must_be_of_this_commits_model(tmp_path: Path) -> None:
    (tmp_path / "model.skops").write_bytes(b"model bytes")
    digest = "sha256:" + hashlib.sha256(b"model bytes").hexdigest()
    frame = _export()
    frame["version"] = digest
    ok = _run(tmp_path, frame, {"shadow_version": "version"}, artifacts={"model": "model.skops"})
    assert ok.status == Status.PASS and ok.details["version_matches"] is True
    frame["version"] = digest.removeprefix("sha256:")[:12]  # a short hash names it too
    assert _run(tmp_path, frame, {"shadow_version": "version"}, artifacts={"model": "model.skops"}).status \
        == Status.PASS
    frame.loc[:9, "version"] = "sha256:" + "0" * 64
    wrong = _run(tmp_path, frame, {"shadow_version": "version"}, artifacts={"model": "model.skops"})
    assert wrong.status == Status.FAIL
    finding = next(f for f in wrong.findings if f.code == "shadow.version_mismatch")
    assert finding.count == 10 and digest in finding.message


def test_version_matching_rules() -> None:
    full = "sha256:" + "ab" * 32
    assert version_matches(full, full) and version_matches("AB" * 6, full)
    assert not version_matches("abab", full) and not version_matches("cd" * 32, full)


def test_classes_from_scores_need_probabilities_or_a_threshold(tmp_path: Path) -> None:
    frame = _export()
    frame["s_score"] *= 10
    section = {"shadow": {"score": "s_score"}}
    with pytest.raises(InputError, match="outside \\[0, 1\\]"):
        _run(tmp_path, frame, section)
    r = _run(tmp_path, frame, {**section, "threshold": 5.0, "production": {"score": "p_score",
                                                                           "prediction": "p_class"}})
    assert r.metric("agreement").value > 0.9


@pytest.mark.parametrize("edit, problem", [
    (lambda f: f.assign(rid=1), "ids more than once"),
    (lambda f: f.drop(columns=["p_class"]), "columns missing: p_class"),
    (lambda f: f.assign(s_score="high"), "not numbers"),
])
def test_bad_exports_are_input_errors(tmp_path: Path, edit, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        _run(tmp_path, edit(_export()))


def test_an_explicit_sensitive_column_missing_from_the_export_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="sensitive columns missing: race"):
        _run(tmp_path, _export(), {"sensitive": ["race"]})
    r = _run(tmp_path, _export(), bias={"sensitive": ["group", "race"]})  # from bias: used where present
    assert {g.attribute for g in r.groups} == {"group"}
    assert any(f.code == "shadow.no_sensitive" for f in r.findings)


def test_config_errors() -> None:
    with pytest.raises(ValidationError, match="score` column"):
        ShadowConfig.model_validate({**BASE, "shadow": {}})
    with pytest.raises(ValidationError, match="unknown metric 'auc'"):
        ShadowConfig.model_validate({**BASE, "quality": ["auc"]})
    with pytest.raises(ConfigError, match=r"needs artifacts\.model"):
        shadow.run(MlgateConfig.model_validate({"shadow": {**BASE, "shadow_version": "v"}}), RunContext(), None)


def test_cli_pass_fail_and_bad_input(tmp_path: Path) -> None:
    import subprocess
    import sys

    _export().to_parquet(tmp_path / "export.parquet", index=False)
    flags = ["--export", "export.parquet", "--id", "rid", "--shadow-score", "s_score", "--production-score",
             "p_score"]

    def cli(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlgate", "check", "shadow", *flags, *extra, "--json", "o.json"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert cli().returncode == 0
    (tmp_path / "strict.yml").write_text("shadow: {export: x, id: rid, shadow: {score: s}, production: {score: p}, "
                                         "min_requests: 1000}\n")
    failed = cli("--config", "strict.yml")
    assert failed.returncode == 1 and "requests 600 < 1,000 (too little traffic to judge)" in failed.stderr
    bad = cli("--label", "nope")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == "mlgate: error: shadow: export.parquet: columns missing: nope"
