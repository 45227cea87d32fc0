"""Config loading: key paths and lines in errors, unknown keys refused, duplicates refused."""

from __future__ import annotations

import pytest

from mlgate.checks.config.models import MlgateConfig, load_config, parse_config
from mlgate.checks.errors import ConfigError


def test_valid_config_reports_configured_gates() -> None:
    cfg = parse_config(
        "version: 1\n"
        "predictions: {path: p.csv, label: y, score: s}\n"
        "quality:\n  metrics:\n    roc_auc: {min: 0.7}\n"
        "bias:\n  sensitive: [race]\n"
        "merge:\n  batch_size: 3\n  required_checks: [tests, {name: lint, app: github-actions}]\n"
    )
    assert isinstance(cfg, MlgateConfig)
    assert cfg.configured_gates() == ["quality", "bias"]
    assert cfg.merge.batch_size == 3


def test_unknown_key_names_path_and_line() -> None:
    text = "predictions:\n  path: p.csv\nquality:\n  metrics:\n    roc_auc: {min: 0.7, mni: 0.2}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "cfg.yml")
    msg = str(err.value)
    assert "cfg.yml" in msg and "quality.metrics.roc_auc.mni" in msg and "line 5" in msg and "unknown key" in msg


def test_unknown_top_level_section() -> None:
    with pytest.raises(ConfigError, match=r"qualty \(line 2\): unknown key"):
        parse_config("version: 1\nqualty: {}\n")


def test_wrong_type_names_line() -> None:
    with pytest.raises(ConfigError, match=r"merge.batch_size \(line 3\)"):
        parse_config("version: 1\nmerge:\n  batch_size: many\n")


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"duplicate key 'merge' \(line 3\)"):
        parse_config("merge: {}\nreview: {}\nmerge: {}\n")


def test_malformed_yaml_names_line() -> None:
    with pytest.raises(ConfigError, match=r"malformed YAML \(line 3, column 1\).*started at line 2"):
        parse_config("quality:\n  metrics: [roc_auc\n")


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- a\n- b\n")


def test_unsupported_version() -> None:
    with pytest.raises(ConfigError, match="unsupported config version 2"):
        parse_config("version: 2\n")


def test_empty_file_gives_defaults() -> None:
    cfg = parse_config("")
    assert cfg.configured_gates() == []
    assert cfg.merge.branches == ["main"]


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yml")


def test_predictions_path_and_model_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="either 'path' or 'model'"):
        parse_config("predictions:\n  path: a.csv\n  model: {path: m.skops, data: d.csv}\n")


def test_invalid_date_is_a_config_error_with_line() -> None:
    with pytest.raises(ConfigError, match=r"invalid value '2021-13-01' \(line 4\)"):
        parse_config("quality:\n  metrics: {roc_auc: {min: 0.5}}\n  future:\n    cutoff: 2021-13-01\n")
