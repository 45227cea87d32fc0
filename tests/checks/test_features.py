"""The features gate on real git repositories: static checks, the base...head change check, bad input."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from mlgate.checks.config.features import DEFAULT_DEFINITION_PATTERN, FeaturesConfig
from mlgate.checks.errors import InputError
from mlgate.checks.gates.feature_registry import CodeLocation, parse_registry, path_matches, static_prefix
from mlgate.checks.gates.features import Changes, CodeIndex, evaluate, run, symbol_span
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Metric, Status

REGISTRY = """\
features:
  - name: age_bucket
    description: Age in ten-year buckets.
    owner: "@risk-team"
    code: src/features/age.py::age_bucket
    docs: docs/features/age_bucket.md
  - name: income_log
    description: Natural log of yearly income.
    owner: "@risk-team"
"""

AGE_PY = """\
from features.registry import feature


@feature("age_bucket")
def age_bucket(age):
    return age // 10


def helper(x):
    return x + 1
"""

INCOME_PY = """\
import math

FEATURE_INCOME_LOG = "income_log"


def income_log(income):
    return math.log1p(income)
"""

FILES = {
    "features.yaml": REGISTRY,
    "src/features/age.py": AGE_PY,
    "src/features/income.py": INCOME_PY,
    "docs/features/age_bucket.md": "# age_bucket\n\nAge in ten-year buckets.\n",
    "docs/features/income_log.md": "# income_log\n\nlog1p of income.\n",
}


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits must not depend on the machine's git config (name, signing, default branch)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.com")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> str:
    write(repo, files or {})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-gpg-sign", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose `main` holds a documented registry, and a `pr` branch checked out from it."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "initial", FILES)
    git(root, "checkout", "-q", "-b", "pr")
    return root


def gate(repo: Path, base: str | None = None, head: str | None = None, **cfg: object) -> GateResult:
    config = SimpleNamespace(features=FeaturesConfig(**{"code_paths": ["src/**/*.py"], **cfg}))
    return run(config, RunContext(base_dir=repo), None, base_ref=base, head_ref=head)


def codes(result: GateResult) -> dict[str, str]:
    return {f.code: f.severity for f in result.findings}


def value(result: GateResult, name: str) -> float | None:
    metric = result.metric(name)
    assert metric is not None, f"no metric {name}"
    return metric.value


# --- static checks (no refs) ---------------------------------------------------------------------


def test_documented_registry_passes_and_says_the_change_check_was_skipped(repo: Path) -> None:
    result = gate(repo)
    assert result.status == Status.PASS, result.findings
    assert codes(result) == {"features.change_skipped": "info"}
    assert "skipped" in result.summary
    assert value(result, "features_total") == 2
    assert value(result, "features_in_code") == 2
    assert value(result, "missing_docs") == 0
    assert "change" not in result.details
    json.dumps(result.to_dict())  # the results file must be able to hold it


def test_blank_or_missing_owner_fails_naming_the_feature_and_line(repo: Path) -> None:
    write(repo, {"features.yaml": REGISTRY.replace('owner: "@risk-team"\n    code', 'owner: "  "\n    code', 1)
                 .replace('    owner: "@risk-team"\n', "", 1)})
    result = gate(repo)
    assert result.status == Status.FAIL
    finding = next(f for f in result.findings if f.code == "features.missing_owner")
    assert finding.severity == "fail" and finding.count == 2
    assert finding.examples == ["age_bucket (line 2)", "income_log (line 7)"]
    assert value(result, "missing_owner") == 2
    assert "no owner" in result.summary


def test_require_can_add_code_and_drop_owner(repo: Path) -> None:
    result = gate(repo, require=["description", "code"])
    finding = next(f for f in result.findings if f.code == "features.missing_code")
    assert finding.examples == ["income_log (line 7)"]
    assert result.metric("missing_owner") is None
    assert result.status == Status.FAIL


def test_unused_and_missing_code_warn(repo: Path) -> None:
    write(repo, {"features.yaml": REGISTRY + (
        "  - name: ghost\n"
        "    description: Was removed from the code long ago.\n"
        "    owner: '@nobody'\n"
        "    code: src/features/ghost.py\n"
        "    docs: docs/features/ghost.md\n"
        "  - name: renamed\n"
        "    description: Points at a function that no longer exists.\n"
        "    owner: '@risk-team'\n"
        "    code: src/features/age.py::old_name\n"
    )})
    result = gate(repo)
    assert result.status == Status.WARN, result.findings
    found = codes(result)
    assert found["features.unused"] == "warn"
    assert found["features.missing_code"] == "warn"
    assert found["features.missing_docs"] == "warn"
    unused = next(f for f in result.findings if f.code == "features.unused")
    assert [e.split()[0] for e in unused.examples] == ["ghost", "renamed"]
    broken = next(f for f in result.findings if f.code == "features.missing_code")
    assert broken.examples == ["ghost: src/features/ghost.py does not exist",
                               "renamed: old_name is not defined in src/features/age.py"]
    docs = next(f for f in result.findings if f.code == "features.missing_docs")
    assert docs.examples == ["ghost: docs/features/ghost.md does not exist", "renamed"]
    assert value(result, "unused") == 2


def test_unused_can_fail_or_be_turned_off(repo: Path) -> None:
    write(repo, {"features.yaml": REGISTRY + '  - {name: ghost, description: gone, owner: me}\n'})
    assert gate(repo, unused="fail", missing_docs="off").status == Status.FAIL
    result = gate(repo, unused="off", missing_docs="off")
    assert result.status == Status.PASS
    assert result.metric("unused").note == "check is off"
    assert value(result, "unused") == 1


@pytest.mark.parametrize(("rule", "status"), [("fail", Status.FAIL), ("warn", Status.WARN), ("off", Status.PASS)])
def test_feature_defined_in_code_but_not_registered(repo: Path, rule: str, status: Status) -> None:
    write(repo, {"src/features/extra.py": 'register_feature("tenure_months", compute)\n'})
    result = gate(repo, unregistered=rule)
    assert result.status == status
    if rule != "off":
        finding = next(f for f in result.findings if f.code == "features.unregistered")
        assert finding.examples == ["tenure_months (src/features/extra.py:1)"]


def test_docs_found_by_convention_in_docs_paths(repo: Path) -> None:
    (repo / "docs/features/income_log.md").unlink()
    result = gate(repo)
    finding = next(f for f in result.findings if f.code == "features.missing_docs")
    assert finding.examples == ["income_log"]
    assert "docs/features/" in finding.message
    write(repo, {"handbook/income_log.rst": "income\n"})
    assert gate(repo, docs_paths=["handbook/"]).status == Status.PASS


def test_code_paths_limit_where_definitions_are_found(repo: Path) -> None:
    write(repo, {"tests/test_x.py": '@feature("only_in_tests")\ndef f(): ...\n'})
    assert gate(repo).status == Status.PASS  # tests/ is outside src/**/*.py
    result = gate(repo, code_paths=["src/", "tests/**/*.py"])
    assert "features.unregistered" in codes(result)


def test_hidden_and_vendored_directories_are_not_scanned(repo: Path) -> None:
    write(repo, {".venv/lib/x.py": '@feature("vendored")\n', "node_modules/y.py": '@feature("npm")\n'})
    config = SimpleNamespace(features=FeaturesConfig())  # the default: **/*.py
    result = run(config, RunContext(base_dir=repo), None)
    assert result.status == Status.PASS, result.findings


# --- the change check (base...head) --------------------------------------------------------------


def test_code_change_with_docs_updated_passes(repo: Path) -> None:
    commit(repo, "finer buckets", {
        "src/features/age.py": AGE_PY.replace("age // 10", "age // 5"),
        "docs/features/age_bucket.md": "# age_bucket\n\nAge in five-year buckets.\n",
    })
    result = gate(repo, "main", "pr")
    assert result.status == Status.PASS, result.findings
    assert value(result, "changed_features") == 1
    assert value(result, "changed_without_docs") == 0
    assert codes(result)["features.changed"] == "info"
    assert result.details["change"]["merge_base"] == git(repo, "rev-parse", "main").strip()
    assert "documented" in result.summary


def test_code_change_with_registry_entry_updated_passes(repo: Path) -> None:
    commit(repo, "finer buckets", {
        "src/features/age.py": AGE_PY.replace("age // 10", "age // 5"),
        "features.yaml": REGISTRY.replace("ten-year", "five-year"),
    })
    assert gate(repo, "main", "pr").status == Status.PASS


def test_code_change_without_docs_fails(repo: Path) -> None:
    commit(repo, "finer buckets", {"src/features/age.py": AGE_PY.replace("age // 10", "age // 5")})
    result = gate(repo, "main", "pr")
    assert result.status == Status.FAIL
    finding = next(f for f in result.findings if f.code == "features.changed_without_docs")
    assert finding.severity == "fail"
    assert finding.examples == ["age_bucket: src/features/age.py changed; docs: docs/features/age_bucket.md"]
    assert "main...pr" in finding.message
    assert value(result, "changed_without_docs") == 1
    assert result.summary.startswith("1 feature changed in main...pr")


def test_a_reformatted_registry_does_not_count_as_an_entry_change(repo: Path) -> None:
    reordered = REGISTRY.replace('    owner: "@risk-team"\n    code: src/features/age.py::age_bucket\n',
                                 '    code: src/features/age.py::age_bucket\n    owner: "@risk-team"  # same\n')
    assert reordered != REGISTRY
    commit(repo, "reorder keys", {"src/features/age.py": AGE_PY.replace("age // 10", "age // 5"),
                                  "features.yaml": reordered})
    assert gate(repo, "main", "pr").status == Status.FAIL


def test_changed_without_docs_can_be_a_warning(repo: Path) -> None:
    commit(repo, "finer buckets", {"src/features/age.py": AGE_PY.replace("age // 10", "age // 5")})
    assert gate(repo, "main", "pr", changed_without_docs="warn").status == Status.WARN


def test_change_outside_the_named_symbol_does_not_count(repo: Path) -> None:
    commit(repo, "tweak helper", {"src/features/age.py": AGE_PY.replace("x + 1", "x + 2")})
    result = gate(repo, "main", "pr")
    assert result.status == Status.PASS, result.findings
    assert value(result, "changed_features") == 0


def test_removing_the_decorator_counts_as_a_change_to_the_feature(repo: Path) -> None:
    commit(repo, "drop decorator", {"src/features/age.py": AGE_PY.replace('@feature("age_bucket")\n', "")})
    result = gate(repo, "main", "pr", unused="off")
    assert value(result, "changed_without_docs") == 1


def test_feature_without_code_key_is_located_by_its_definition(repo: Path) -> None:
    commit(repo, "log base 10", {"src/features/income.py": INCOME_PY.replace("math.log1p(income)",
                                                                              "math.log10(income + 1)")})
    result = gate(repo, "main", "pr")
    finding = next(f for f in result.findings if f.code == "features.changed_without_docs")
    assert finding.examples[0].startswith("income_log: src/features/income.py changed")
    # docs found by convention (docs/features/income_log.md) also satisfy it
    commit(repo, "docs", {"docs/features/income_log.md": "# income_log\n\nlog10(1 + income).\n"})
    assert gate(repo, "main", "pr").status == Status.PASS


def test_only_the_pull_requests_own_changes_count_merge_base_semantics(repo: Path) -> None:
    commit(repo, "unrelated", {"README.md": "hello\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, "undocumented change on main", {"src/features/age.py": AGE_PY.replace("age // 10", "age // 7")})
    git(repo, "checkout", "-q", "pr")
    result = gate(repo, "main", "pr")
    assert result.status == Status.PASS, result.findings
    assert value(result, "changed_features") == 0
    # head defaults to HEAD (the checkout)
    assert gate(repo, "main").details["change"]["head_sha"] == git(repo, "rev-parse", "pr").strip()


def test_new_feature_with_entry_passes_and_registry_added_in_the_change(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "code only", {"src/features/age.py": AGE_PY})
    git(root, "checkout", "-q", "-b", "pr")
    commit(root, "add registry", {
        "src/features/age.py": AGE_PY.replace("age // 10", "age // 5"),
        "features.yaml": REGISTRY.split("  - name: income_log")[0],
        "docs/features/age_bucket.md": "x\n",
    })
    result = gate(root, "main", "pr")
    assert result.status == Status.PASS, result.findings
    notes = [f.message for f in result.findings if f.code == "features.change_note"]
    assert notes and "does not exist at the merge-base" in notes[0]


def test_broken_registry_at_the_merge_base_counts_entries_as_new(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    commit(repo, "break it", {"features.yaml": "features: [\n"})
    git(repo, "checkout", "-q", "-b", "fix")
    commit(repo, "fix it", {"features.yaml": REGISTRY, "src/features/age.py": AGE_PY.replace("10", "5")})
    result = gate(repo, "main", "fix")
    assert result.status == Status.PASS, result.findings
    assert any("could not be read" in f.message for f in result.findings)


# --- bad refs, bad registry, bad config ----------------------------------------------------------


def test_unknown_ref_is_an_input_error_naming_it(repo: Path) -> None:
    with pytest.raises(InputError, match=r"unknown git ref 'no-such-branch'.*fetch-depth"):
        gate(repo, "no-such-branch", "pr")
    with pytest.raises(InputError, match="unknown git ref 'deadbeef'"):
        gate(repo, "main", "deadbeef")


def test_refs_outside_a_git_checkout_are_an_input_error(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    assert gate(tmp_path).status == Status.PASS  # static checks need no git
    with pytest.raises(InputError, match="not a git checkout"):
        gate(tmp_path, "main", "HEAD")


def test_head_without_base_is_an_input_error(repo: Path) -> None:
    with pytest.raises(InputError, match="--head needs --base"):
        gate(repo, None, "pr")


def test_unrelated_histories_are_an_input_error(repo: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "other")
    commit(repo, "unrelated root", FILES)
    with pytest.raises(InputError, match="no common ancestor"):
        gate(repo, "main", "other")


def test_missing_registry_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"features\.yaml: feature registry not found"):
        gate(tmp_path)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("features:\n  - name: a\n    owner: [x\n", r"features\.yaml: malformed YAML \(line \d+"),
        ("", r"registry is empty"),
        ("- just a string\n", r"features\[0\] \(line 1\): Input should be a valid dictionary"),
        ("features:\n  - name: a\n    ownr: me\n",
         r"features\[0\]\.ownr \(line 3\): unknown key \(allowed: name, description, owner, code, docs\)"),
        ("features:\n  - name: a\n  - name: b\n  - name: a\n",
         r"duplicate feature name 'a' \(line 4; first on line 2\)"),
        ("features:\n  - description: nameless\n", r"features\[0\]\.name \(line 2\): required key is missing"),
        ("features:\n  - name: a\n    owner: 42\n", r"features\[0\]\.owner \(line 3\): Input should be a valid string"),
        ("features:\n  - name: a\n    code: {path: x}\n", r"features\[0\]\.code \(line 3\)"),
        ("features:\n  - name: '  '\n", r"name must not be blank"),
        ("feature:\n  - name: a\n", r"feature \(line 1\): unknown key"),
        ("features:\n  - name: a\nfeatures:\n  - name: b\n", r"duplicate key 'features' \(line 3\)"),
        ("42\n", r"expected a `features:` list at the top level, got int"),
    ],
)
def test_bad_registry_is_an_input_error_naming_file_and_line(repo: Path, text: str, pattern: str) -> None:
    write(repo, {"features.yaml": text})
    with pytest.raises(InputError, match=pattern) as info:
        gate(repo)
    assert str(info.value).startswith("features.yaml: ")


def test_bare_list_registry_and_code_lists_are_accepted() -> None:
    reg = parse_registry("- name: a\n  code: [src/a.py::f, 'src/b/*.py']\n", "r.yaml")
    assert reg.features[0].code == (CodeLocation("src/a.py", "f"), CodeLocation("src/b/*.py"))
    assert reg.features[0].line == 1


def test_yaml_off_means_off() -> None:
    cfg = FeaturesConfig(**yaml.safe_load("unused: off\nunregistered: warn\nchanged_without_docs: off\n"))
    assert (cfg.unused, cfg.unregistered, cfg.changed_without_docs) == ("off", "warn", "off")


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("definition_pattern", "(unclosed", "not a valid regular expression"),
        ("definition_pattern", r"feature\((\w+)\)(\w+)", "group named 'name'"),
        ("unused", "maybe", "Input should be 'fail', 'warn' or 'off'"),
        ("require", ["colour"], "Input should be"),
        ("code_paths", [], "at least one"),
        ("registy", "x", "Extra inputs are not permitted"),
    ],
)
def test_bad_config_is_rejected(field: str, bad: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        FeaturesConfig(**{field: bad})


# --- the pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ('@feature("age_bucket")', "age_bucket"),
        ("@registry.feature(name='income_log')", "income_log"),
        ('    register_feature( "tenure.months", fn)', "tenure.months"),
        ('FEATURE_AGE_BUCKET = "age_bucket"', "age_bucket"),
        ('    FEATURE_X: str = "x_feature"', "x_feature"),
        ('@feature_flag("nope")', None),
        ('MY_FEATURE_X = "nope"', None),
        ("register_feature(name)", None),
    ],
)
def test_default_definition_pattern(line: str, name: str | None) -> None:
    match = re.search(DEFAULT_DEFINITION_PATTERN, line, re.MULTILINE)
    assert (match.group("name") if match else None) == name


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("src/features/**/*.py", "src/features/a.py", True),
        ("src/features/**/*.py", "src/features/x/y/a.py", True),
        ("src/features/**/*.py", "src/other/a.py", False),
        ("src/*.py", "src/x/a.py", False),
        ("docs/features/", "docs/features/a/b.md", True),
        ("docs/features", "docs/features/a.md", True),
        ("docs/features", "docs/features_old/a.md", False),
        ("./src/a.py", "src/a.py", True),
        ("src/[ab].py", "src/b.py", True),
        ("src/[!ab].py", "src/b.py", False),
        ("**/*.py", "a.py", True),
        ("src/a?.py", "src/ab.py", True),
    ],
)
def test_path_matches(pattern: str, path: str, matches: bool) -> None:
    assert path_matches(pattern, path) is matches


def test_static_prefix() -> None:
    assert static_prefix("src/features/**/*.py") == "src/features"
    assert static_prefix("**/*.py") == ""
    assert static_prefix("docs/features/") == "docs/features"


def test_symbol_span_includes_decorators_and_finds_methods() -> None:
    text = "import x\n\n@a\n@b(1)\ndef f():\n    return 1\n\nclass C:\n    def m(self):\n        pass\n\nK = 3\n"
    assert symbol_span(text, "f") == (3, 6)
    assert symbol_span(text, "C.m") == (9, 10)
    assert symbol_span(text, "K") == (12, 12)
    assert symbol_span(text, "missing") is None
    assert symbol_span("def (:\n", "f") is None


def test_evaluate_is_pure_and_shows_baseline_counts() -> None:
    registry = parse_registry(REGISTRY, "features.yaml")
    index = CodeIndex(definitions={"age_bucket": ["src/features/age.py:4"], "income_log": ["src/features/income.py:3"]},
                      docs={"age_bucket": "docs/features/age_bucket.md", "income_log": "docs/features/income_log.md"})
    changes = Changes("main", "pr", "b" * 40, "h" * 40, "m" * 40, files=["src/features/age.py"],
                      lines={"src/features/age.py": [(9, 9)]}, spans={"src/features/age.py::age_bucket": (4, 6)},
                      base_entries={}, head_entries={})
    baseline = GateResult("features", Status.PASS, "", metrics=[Metric("features_total", 1)])
    result = evaluate(registry, changes, index, FeaturesConfig(), baseline)
    assert result.status == Status.PASS
    total = result.metric("features_total")
    assert (total.baseline, total.delta) == (1, 1)
    # the baseline's numbers are shown, so the result says a baseline was used (the bot otherwise
    # printed "no baseline was available" above a table of baseline values)
    assert result.baseline_used
    assert not evaluate(registry, changes, index, FeaturesConfig(), None).baseline_used
    hit = Changes("main", "pr", "b" * 40, "h" * 40, "m" * 40, files=["src/features/age.py"],
                  lines={"src/features/age.py": [(5, 5)]}, spans={"src/features/age.py::age_bucket": (4, 6)},
                  base_entries={}, head_entries={})
    assert evaluate(registry, hit, index, FeaturesConfig(), None).status == Status.FAIL


def test_project_in_a_subdirectory_sees_only_its_own_paths(tmp_path: Path) -> None:
    root = tmp_path / "mono"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "initial", {f"proj/{rel}": text for rel, text in FILES.items()} | {"other/x.py": "x = 1\n"})
    git(root, "checkout", "-q", "-b", "pr")
    commit(root, "change", {"proj/src/features/age.py": AGE_PY.replace("age // 10", "age // 5"),
                            "other/x.py": "x = 2\n"})
    result = gate(root / "proj", "main", "pr")
    finding = next(f for f in result.findings if f.code == "features.changed_without_docs")
    assert finding.examples[0].startswith("age_bucket: src/features/age.py changed")
    assert result.details["change"]["changed_files"] == 1
    commit(root, "docs", {"proj/docs/features/age_bucket.md": "five-year buckets\n"})
    assert gate(root / "proj", "main", "pr").status == Status.PASS
