"""The command line as a user runs it: a real subprocess, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import github_html

MLGATE = [sys.executable, "-m", "mlgate"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MLGATE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.fixture
def preds(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    n = 2000
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.35 + rng.random(n) * 0.65, 0, 1)
    frame = pd.DataFrame({
        "y": y, "p": score, "yhat": (score >= 0.5).astype(int),
        "race": rng.choice(["a", "b", "c"], n), "sex": rng.choice(["f", "m"], n),
    })
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    return path


def test_quality_from_flags_alone(preds: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    proc = run("check", "quality", "--predictions", str(preds), "--label", "y", "--score", "p", "--json", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(out.read_text())
    assert data["schema"] == "mlgate.results/v1"
    assert [g["gate"] for g in data["gates"]] == ["quality"]
    assert data["baseline"]["path"] is None and "only absolute limits" in data["baseline"]["note"]
    assert any(m["name"] == "roc_auc" for m in data["gates"][0]["metrics"])
    assert str(preds) in data["versions"]["files"]


def test_bias_from_flags_alone(preds: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    proc = run("check", "bias", "--predictions", str(preds), "--label", "y", "--prediction", "yhat",
               "--sensitive", "race", "--sensitive", "sex", "--json", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    gate = json.loads(out.read_text())["gates"][0]
    assert {g["attribute"] for g in gate["groups"]} == {"race", "sex"}


def test_missing_column_is_one_line_exit_2(preds: Path) -> None:
    proc = run("check", "bias", "--predictions", str(preds), "--label", "nope", "--prediction", "yhat",
               "--sensitive", "race")
    assert_user_error(proc, "mlgate: error: bias:", str(preds))
    assert "'nope'" in proc.stderr + proc.stdout


def test_missing_file(tmp_path: Path) -> None:
    proc = run("check", "quality", "--predictions", str(tmp_path / "none.parquet"), "--label", "y", "--score", "p")
    assert_user_error(proc, "file not found")


def test_gate_not_configured() -> None:
    assert_user_error(run("check", "skew"), "the skew gate is not configured")


def test_check_all_needs_config() -> None:
    assert_user_error(run("check", "all"), "check all needs --config")


def test_config_validate_ok_and_bad(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("version: 1\nbias:\n  sensitive: [race]\n")
    proc = run("config", "validate", str(good))
    assert proc.returncode == 0 and "valid; gates: bias" in proc.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nbias:\n  sensitive: [race]\n  min_group_sise: 5\n")
    assert_user_error(run("config", "validate", str(bad)), "bad.yml", "bias.min_group_sise (line 4): unknown key")
    broken = tmp_path / "broken.yml"
    broken.write_text("bias: [\n")
    assert_user_error(run("config", "validate", str(broken)), "malformed YAML")


def test_unknown_command_is_usage_error() -> None:
    proc = run("check", "fairness")
    assert proc.returncode == 2 and "No such command 'fairness'" in proc.stderr


def test_baseline_that_is_not_results(preds: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "base.json"
    bogus.write_text('{"hello": 1}')
    proc = run("check", "quality", "--predictions", str(preds), "--label", "y", "--score", "p",
               "--baseline", str(bogus))
    assert_user_error(proc, "not an mlgate results file")


def test_report_rerenders_results(preds: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    run("check", "quality", "--predictions", str(preds), "--label", "y", "--score", "p", "--json", str(out))
    proc = run("report", str(out))
    assert proc.returncode == 0 and proc.stdout.startswith("<!-- mlgate-report -->")


# ---- mlgate report on a results file someone else wrote ---------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A results file as `mlgate check bias` writes it (as text: each test edits its own copy)."""
    tmp = tmp_path_factory.mktemp("written")
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"y": rng.integers(0, 2, 300), "yhat": rng.integers(0, 2, 300),
                          "race": rng.choice(["a", "b", "c"], 300)})
    frame.to_csv(tmp / "preds.csv", index=False)
    run("check", "bias", "--predictions", "preds.csv", "--label", "y", "--prediction", "yhat",
        "--sensitive", "race", "--json", "out.json", cwd=tmp)
    return (tmp / "out.json").read_text()


def test_report_escapes_every_value_of_a_crafted_results_file(written: str, tmp_path: Path) -> None:
    data = json.loads(written)
    evil = "<img src=x> [x](https://evil.example) @admin owner/repo#3"
    gate = data["gates"][0]
    gate["gate"] = evil
    gate["summary"] = evil
    gate["metrics"][0]["name"] = evil
    gate["groups"][0]["metrics"] = {evil: 0.5, **gate["groups"][0]["metrics"]}
    gate["findings"].append({"severity": "warn", "message": evil, "column": evil, "count": 2,
                             "examples": [evil], "code": "x"})
    data["versions"]["files"] = {evil: "sha256:" + "a" * 64}
    data["versions"]["mlgate"] = evil
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    proc = run("report", str(path))
    assert proc.returncode == 0, proc.stderr
    html_text = github_html(proc.stdout)
    assert "<img" not in html_text and "<a " not in html_text and "<b>" not in html_text
    outside_code = re.sub(r"<code>.*?</code>", "", html_text)  # GitHub links and pings nothing in code
    assert "@admin" not in outside_code and "owner/repo#3" not in outside_code
    assert "https://evil" not in outside_code and outside_code.count("evil.example") >= 5


@pytest.mark.parametrize(("edit", "where"), [
    (lambda d: d["gates"][0].pop("status"), "gates[0].status"),
    (lambda d: d["gates"][0].pop("gate"), "gates[0].gate"),
    (lambda d: d["gates"][0]["metrics"][0].pop("name"), "gates[0].metrics[0].name"),
    (lambda d: d["gates"][0]["metrics"][0].update(value="high"), "gates[0].metrics[0].value"),
    (lambda d: d["gates"][0]["groups"][0].update(count="many"), "gates[0].groups[0].count"),
    (lambda d: d["gates"][0]["findings"].append({"message": "x"}), "gates[0].findings[0].severity"),
    (lambda d: d["gates"][0].update(status="green"), "gates[0].status"),
    (lambda d: d.pop("gates"), "gates"),
    (lambda d: d.update(versions=[]), "versions"),
    (lambda d: d["versions"].update(files={"a.csv": 7}), "versions.files"),
])
def test_report_on_a_results_file_missing_a_field_is_exit_2(written: str, tmp_path: Path, edit, where: str) -> None:
    data = json.loads(written)
    data["gates"][0]["findings"] = []
    edit(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    proc = run("report", str(path))
    assert_user_error(proc, str(path), where)
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("label", ["y", "nope"])  # a run that writes its results, and one that ends in bad input
def test_the_collector_is_paused_only_while_the_gates_run(preds: Path, tmp_path: Path, label: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlgate check` turns the cyclic garbage collector off while the gates run and write (many groups
    made its full passes the slowest part), and on again afterwards, also when the run fails."""
    import gc

    from click.testing import CliRunner

    from mlgate.checks import cli

    seen: list[bool] = []
    real_run_gates = cli.run_gates

    def run_gates(*args, **kwargs):
        seen.append(gc.isenabled())
        return real_run_gates(*args, **kwargs)

    monkeypatch.setattr(cli, "run_gates", run_gates)
    assert gc.isenabled()
    result = CliRunner().invoke(cli.check, ["bias", "--predictions", str(preds), "--label", label, "--prediction",
                                            "yhat", "--sensitive", "race", "--json", str(tmp_path / "out.json")])
    assert result.exit_code == 2 if label == "nope" else result.exit_code in (0, 1), result.output
    assert seen == [False] and gc.isenabled()
