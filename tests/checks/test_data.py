"""The data gate on real CSV/Parquet files: schema violations, missing shares, staleness, bad input."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import yaml
from pydantic import ValidationError

from mlgate.checks.config.data import DataConfig, parse_duration
from mlgate.checks.config.models import parse_config
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.data import build_schema, evaluate, run
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Metric, Status

SCHEMA = """\
min_rows: 3
columns:
  id:
    dtype: int64
    unique: true
  age:
    dtype: int64
    in_range: {min_value: 0, max_value: 120}
  sex:
    dtype: object
    isin: [F, M]
  income:
    dtype: float64
    nullable: true
    greater_than_or_equal_to: 0
"""

GOOD = pd.DataFrame({
    "id": [1, 2, 3, 4],
    "age": [25, 40, 61, 33],
    "sex": ["F", "M", "F", "M"],
    "income": [1000.0, np.nan, 2500.5, 0.0],
    "ts": ["2024-03-01", "2024-03-05T12:00:00Z", "2024-02-01", "2024-03-10"],
})

NOW = "2024-03-20T00:00:00Z"


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _run(tmp_path: Path, df: pd.DataFrame | None, section: dict, *, suffix: str = ".csv",
         schema_text: str | None = SCHEMA, baseline: GateResult | None = None) -> GateResult:
    if df is not None:
        _write(df, tmp_path / f"table{suffix}")
    if schema_text is not None:
        (tmp_path / "schema.yaml").write_text(schema_text)
    cfg = DataConfig.model_validate({"table": f"table{suffix}", **section})
    return run(SimpleNamespace(data=cfg), RunContext(base_dir=tmp_path), baseline)


def _codes(result: GateResult) -> list[str]:
    return [f.code for f in result.findings]


# ------------------------------------------------------------------------------------------ pass


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_valid_table_passes_with_hand_checked_numbers(tmp_path, suffix):
    section = {"schema": "schema.yaml", "missing": {"income": 0.3, "*": 0.0},
               "staleness": {"column": "ts", "max_age": "30d", "now": NOW}}
    result = _run(tmp_path, GOOD, section, suffix=suffix)

    assert result.status == Status.PASS, result.findings
    assert result.findings == []
    assert result.metric("rows").value == 4
    assert result.metric("missing_share", "income").value == pytest.approx(0.25)
    assert result.metric("missing_share", "age").value == 0.0
    # newest is 2024-03-10 00:00 UTC, now 2024-03-20 00:00 UTC: exactly 10 days
    assert result.metric("age_days", "ts").value == pytest.approx(10.0)
    assert "schema holds" in result.summary and "10.0 days old" in result.summary
    ctx_files = RunContext(base_dir=tmp_path)
    run(SimpleNamespace(data=DataConfig.model_validate({"table": f"table{suffix}", **section})), ctx_files, None)
    assert set(ctx_files.files) == {f"table{suffix}", "schema.yaml"}  # both files are recorded
    json.dumps(result.to_dict(), allow_nan=False)


def test_inline_schema_through_the_real_config_loader(tmp_path):
    _write(GOOD, tmp_path / "t.parquet")
    config = parse_config(yaml.safe_dump({"data": {"table": "t.parquet", "schema": yaml.safe_load(SCHEMA)}}))
    result = run(config, RunContext(base_dir=tmp_path), None)
    assert result.status == Status.PASS
    assert isinstance(config.data.table_schema, dict)


def test_pandera_to_yaml_output_loads(tmp_path):
    """Whatever pandera 0.35 writes (flat checks) must load, and so must the older `checks:` list form."""
    schema = pa.DataFrameSchema({
        "age": pa.Column(int, pa.Check.in_range(0, 120)),
        "sex": pa.Column(str, pa.Check.isin(["F", "M"]), nullable=True),
    })
    flat = yaml.safe_load(schema.to_yaml())
    legacy = {"columns": {
        "age": {"dtype": "int64", "checks": [{"min_value": 0, "max_value": 120,
                                              "options": {"check_name": "in_range"}}]},
        "sex": {"dtype": "str", "nullable": True, "checks": {"isin": ["F", "M"]}},
    }}
    bad = pd.DataFrame({"age": [5, 130], "sex": ["F", "X"]})
    for form in (flat, legacy):
        loaded = build_schema(form, "schema.yaml")
        result = evaluate(bad, DataConfig(table="t.csv", schema=form), None, schema=loaded)
        assert sorted(f.message for f in result.findings) == [
            "1 row of column 'age' fails in_range(0, 120)",
            "1 row of column 'sex' fails isin(['F', 'M'])",
        ]


# ------------------------------------------------------------------------------- every violation


def test_every_violation_grouped_by_column_and_check(tmp_path):
    df = pd.DataFrame({
        "id": [1, 1, 2, 3, 3, 3],
        "age": [-1, 20, 130, 140, 50, 60],
        "sex": ["F", "X", "M", "Y", "Z", "F"],
        "income": [1.0, -5.0, np.nan, 3.0, -1.0, 2.0],
    })
    result = _run(tmp_path, df, {"schema": "schema.yaml"})
    assert result.status == Status.FAIL
    by_key = {(f.column, f.code, f.message.split(" fail ")[-1]): f for f in result.findings}
    assert len(result.findings) == 4
    age = by_key[("age", "schema.check", "in_range(0, 120)")]
    assert age.count == 3  # -1, 130, 140: counted by hand
    assert age.examples == [{"index": 0, "value": -1}, {"index": 2, "value": 130}, {"index": 3, "value": 140}]
    sex = by_key[("sex", "schema.check", "isin(['F', 'M'])")]
    assert sex.count == 3 and [e["value"] for e in sex.examples] == ["X", "Y", "Z"]
    income = by_key[("income", "schema.check", "greater_than_or_equal_to(0)")]
    assert income.count == 2 and [e["index"] for e in income.examples] == [1, 4]
    ids = next(f for f in result.findings if f.code == "schema.unique")
    assert ids.column == "id" and ids.count == 5  # every row whose id occurs twice or more
    assert "4 violations in age, id, income, sex" in result.summary


def test_examples_are_capped_but_count_is_complete(tmp_path):
    df = pd.DataFrame({"id": range(50), "age": [200] * 50, "sex": ["F"] * 50, "income": [1.0] * 50})
    result = _run(tmp_path, df, {"schema": "schema.yaml"})
    (finding,) = result.findings
    assert finding.count == 50 and len(finding.examples) == 5


def test_wrong_dtype_names_column_expected_and_actual(tmp_path):
    df = GOOD.assign(age=["25", "40", "x", "33"])
    result = _run(tmp_path, df, {"schema": "schema.yaml"})
    assert result.status == Status.FAIL
    dtype = next(f for f in result.findings if f.code == "schema.dtype")
    assert dtype.column == "age"
    text_dtype = "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"  # pandas 3 reads text as str
    assert dtype.message == f"column 'age' has dtype {text_dtype}, the schema expects int64"


def test_integer_column_with_nan_explains_the_float_dtype(tmp_path):
    df = GOOD.assign(age=[25, None, 61, 33])  # a CSV reads this column as float64
    result = _run(tmp_path, df, {"schema": "schema.yaml", "missing": {"age": 0.5}})
    codes = _codes(result)
    assert "schema.dtype" in codes and "schema.nullable" in codes
    dtype = next(f for f in result.findings if f.code == "schema.dtype")
    assert "float64" in dtype.message and "int64" in dtype.message and "empty cells" in dtype.message
    nulls = next(f for f in result.findings if f.code == "schema.nullable")
    assert nulls.count == 1 and nulls.examples == [{"index": 1, "value": None}]
    assert result.metric("missing_share", "age").value == pytest.approx(0.25)
    json.dumps(result.to_dict(), allow_nan=False)


def test_min_rows_fails_the_row_metric(tmp_path):
    result = _run(tmp_path, GOOD.head(2), {"schema": "schema.yaml"})
    assert result.status == Status.FAIL
    assert result.metric("rows").status == Status.FAIL
    assert "fewer than the 3 required" in result.summary


# -------------------------------------------------------------------------------- warn and fail


def test_raise_warning_check_is_a_warning(tmp_path):
    schema = SCHEMA.replace("greater_than_or_equal_to: 0",
                            "greater_than_or_equal_to: {min_value: 0, raise_warning: true}")
    df = GOOD.assign(income=[-1.0, 2.0, 3.0, 4.0])
    result = _run(tmp_path, df, {"schema": "schema.yaml"}, schema_text=schema)
    assert result.status == Status.WARN
    (finding,) = result.findings
    assert finding.severity == "warn" and finding.column == "income" and finding.count == 1


def test_missing_share_limits_fail_and_warn(tmp_path):
    df = GOOD.assign(sex=["F", None, None, "M"])  # 50% missing, counted by hand
    fail = _run(tmp_path, df, {"missing": {"sex": 0.25}}, schema_text=None)
    assert fail.status == Status.FAIL
    m = fail.metric("missing_share", "sex")
    assert m.value == 0.5 and m.status == Status.FAIL and m.note == "2 of 4 rows missing"
    assert "too many missing values in sex (50.0%)" in fail.summary
    warn = _run(tmp_path, None, {"missing": {"sex": {"max_share": 0.25, "severity": "warn"}}}, schema_text=None)
    assert warn.status == Status.WARN


def test_star_covers_unnamed_columns(tmp_path):
    result = _run(tmp_path, GOOD, {"missing": {"*": 0.1, "income": 0.5}}, schema_text=None)
    assert {m.slice for m in result.metrics if m.name == "missing_share"} == set(GOOD.columns)
    assert result.metric("missing_share", "income").limits[0].threshold == 0.5
    assert result.status == Status.PASS


@pytest.mark.parametrize(("max_age", "severity", "expected"), [
    ("9d", "fail", Status.FAIL),
    ("9d", "warn", Status.WARN),
    ("240h", "fail", Status.PASS),
    ("2w", "fail", Status.PASS),
])
def test_staleness(tmp_path, max_age, severity, expected):
    section = {"staleness": {"column": "ts", "max_age": max_age, "now": NOW, "severity": severity}}
    result = _run(tmp_path, GOOD, section, schema_text=None)
    assert result.status == expected
    assert result.metric("age_days", "ts").value == pytest.approx(10.0)
    if expected != Status.PASS:
        assert "stale: newest row 10.0 days old" in result.summary


def test_staleness_clock_argument_and_naive_now(tmp_path):
    cfg = DataConfig.model_validate({"table": "t.csv", "staleness": {"column": "ts", "max_age": "1d"}})
    clock = datetime(2024, 3, 11, 12, tzinfo=timezone.utc)
    assert evaluate(GOOD, cfg, None, now=clock).metric("age_days", "ts").value == pytest.approx(1.5)
    pinned = DataConfig.model_validate({"table": "t.csv",
                                        "staleness": {"column": "ts", "max_age": "1d", "now": "2024-03-10T06:00"}})
    assert evaluate(GOOD, pinned, None, now=clock).metric("age_days", "ts").value == pytest.approx(0.25)


def test_staleness_on_year_column_and_unparseable_values(tmp_path):
    df = pd.DataFrame({"year": [1999, 2001, 2002], "ts": ["2024-01-01", "not a date", None]})
    cfg = DataConfig.model_validate({"table": "t.csv",
                                     "staleness": {"column": "year", "max_age": "400d", "now": "2003-01-01"}})
    result = evaluate(df, cfg, None)
    assert result.metric("age_days", "year").value == pytest.approx(365.0)  # 2002 reads as 2002-01-01
    cfg_ts = DataConfig.model_validate({"table": "t.csv",
                                        "staleness": {"column": "ts", "max_age": "400d", "now": "2024-01-02"}})
    bad = evaluate(df, cfg_ts, None)
    assert bad.status == Status.WARN
    assert bad.findings[0].code == "staleness.unparseable" and bad.findings[0].examples == [
        {"index": 1, "value": "not a date"}]
    with pytest.raises(InputError, match="not years"):
        evaluate(df.assign(year=[1.5e9, 1.6e9, 1.7e9]),
                 cfg, None)


def test_no_timestamps_fails_the_staleness_limit():
    df = pd.DataFrame({"ts": [None, None]}, dtype=object)
    cfg = DataConfig.model_validate({"table": "t.csv", "staleness": {"column": "ts", "max_age": "1d"}})
    result = evaluate(df, cfg, None)
    assert result.status == Status.FAIL and result.metric("age_days", "ts").value is None


def test_baseline_values_give_deltas(tmp_path):
    base = GateResult("data", Status.PASS, "", metrics=[Metric("missing_share", 0.1, slice="income"),
                                                       Metric("rows", 3)])
    result = _run(tmp_path, GOOD, {"missing": {"income": 0.5}}, schema_text=None, baseline=base)
    m = result.metric("missing_share", "income")
    assert m.baseline == 0.1 and m.delta == pytest.approx(0.15)
    assert result.metric("rows").delta == 1
    assert result.baseline_used


# ------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("section", [
    {"schema": "schema.yaml"},                       # a schema column is missing from the table
    {"missing": {"nope": 0.1}},
    {"staleness": {"column": "nope", "max_age": "1d"}},
])
def test_missing_column_is_an_input_error(tmp_path, section):
    with pytest.raises(InputError, match=r"missing column '(nope|income)'") as exc:
        _run(tmp_path, GOOD.drop(columns="income"), section)
    assert "table.csv" in str(exc.value)


def test_optional_schema_column_may_be_absent(tmp_path):
    schema = SCHEMA.replace("    nullable: true\n", "    nullable: true\n    required: false\n")
    assert _run(tmp_path, GOOD.drop(columns="income"), {"schema": "schema.yaml"}, schema_text=schema).status \
        == Status.PASS


def test_empty_and_header_only_and_missing_files(tmp_path):
    (tmp_path / "table.csv").write_text("")
    with pytest.raises(InputError, match="file is empty"):
        _run(tmp_path, None, {"schema": "schema.yaml"})
    (tmp_path / "table.csv").write_text("id,age,sex,income\n")
    with pytest.raises(InputError, match="no rows"):
        _run(tmp_path, None, {"schema": "schema.yaml"})
    with pytest.raises(InputError, match="file not found"):
        _run(tmp_path, None, {}, suffix=".parquet", schema_text=None)
    with pytest.raises(ConfigError, match=r"nope\.yaml: schema file not found"):
        _run(tmp_path, GOOD, {"schema": "nope.yaml"})


@pytest.mark.parametrize(("text", "message"), [
    ("columns: [a: b\n", "malformed YAML"),
    ("- a\n- b\n", "must be a mapping"),
    ("columns:\n  age:\n    dtype: notatype\n", "column 'age': unknown dtype 'notatype'"),
    ("columns:\n  age:\n    greter_than: 0\n", "column 'age': unknown key(s) 'greter_than'"),
    ("columns:\n  age:\n    checks:\n      is_fancy: 1\n", "unknown check 'is_fancy'"),
    ("columns:\n  age:\n    in_range: {lo: 1}\n", "invalid pandera schema: in_range()"),
    ("columns:\n  age: int64\n", "column 'age': expected a mapping"),
    ("columns: 5\n", "'columns' must be a mapping"),
    ("colums:\n  age: {dtype: int64}\n", "unknown schema key(s): colums"),
    ("columns:\n  age:\n    gt: 0\n    checks: {lt: 5}\n", "not both"),
    ("min_rows: -1\n", "min_rows must be a non-negative integer"),
    ("", "must be a mapping"),
    ("title: nothing\n", "schema is empty"),
])
def test_malformed_schema_file_is_a_config_error_naming_the_file(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        _run(tmp_path, GOOD, {"schema": "schema.yaml"}, schema_text=text)
    assert str(exc.value).startswith("schema.yaml: ")
    assert message in str(exc.value)


def test_malformed_inline_schema_names_the_config_key():
    cfg = DataConfig.model_validate({"table": "t.csv", "schema": {"columns": {"age": {"greter_than": 0}}}})
    with pytest.raises(ConfigError, match=r"^data\.schema: column 'age': unknown key"):
        evaluate(GOOD, cfg, None)


def test_config_errors():
    with pytest.raises(ValidationError, match="invalid duration"):
        DataConfig.model_validate({"table": "t.csv", "staleness": {"column": "ts", "max_age": "30 days"}})
    with pytest.raises(ValidationError):
        DataConfig.model_validate({"table": "t.csv", "missing": {"a": 1.5}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        DataConfig.model_validate({"table": "t.csv", "shema": "x.yaml"})
    with pytest.raises(ConfigError, match=r"data\.bogus \(line 5\): unknown key"):
        parse_config("data:\n  table: t.csv\n  schema:\n    columns: 3\n  bogus: 1\n")
    assert parse_duration("1.5h").total_seconds() == 5400


def test_a_check_that_cannot_run_is_reported_not_raised():
    cfg = DataConfig.model_validate({"table": "t.csv", "schema": {"columns": {"sex": {"greater_than": 0}}}})
    result = evaluate(GOOD, cfg, None)
    assert result.status == Status.FAIL
    (finding,) = result.findings
    assert finding.code == "schema.check_error" and finding.column == "sex"
    assert finding.message.startswith("check greater_than(0) could not run on column 'sex': TypeError")
