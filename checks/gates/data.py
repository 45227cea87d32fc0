"""The data gate: a table's schema holds, its missing values stay rare, and it is fresh.

The schema is a pandera `DataFrameSchema` in pandera's YAML form (a file, or the same mapping
inline in the config), so a team that already has pandera schemas reuses them. Validation is lazy:
every violated check is reported, grouped by column and check, with a count and example rows,
because a PR reader fixing one violation per CI run would need as many runs as there are problems.

mlgate adds to pandera's form:
- `min_rows` (top level of the schema): the table needs at least this many rows.
- a check with the option `raise_warning: true` is reported as a warning instead of a failure.
- unknown keys are errors. pandera itself drops a misspelt flat check key (`greter_than: 0`)
  silently, and a gate must not be disabled by a typo.

`evaluate` is pure (the clock is an argument); `run` reads the table and the schema file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.checks.config.data import DataConfig, MissingLimit, StalenessConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.limits import MetricLimits, judge
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.tables import read_table, require_columns
from mlgate.checks.results import Finding, GateResult, Metric, Status, finding_status
from mlgate.checks.wording import plural, verb

GATE = "data"
MAX_EXAMPLES = 5
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}

# ----------------------------------------------------------------------------------------- schema


@dataclass
class LoadedSchema:
    """A pandera schema plus what mlgate adds to it."""

    schema: Any  # pandera.api.pandas.container.DataFrameSchema
    min_rows: int | None = None
    warn_checks: set[int] = field(default_factory=set)  # id() of checks that only warn
    source: str = "schema"

    def required_columns(self) -> list[str]:
        return [
            str(name)
            for name, col in self.schema.columns.items()
            if getattr(col, "required", True) and not getattr(col, "regex", False)
        ]


_SCHEMA_KEYS = {
    "schema_type", "version", "api", "dataframe_library", "columns", "checks", "index", "multiindex",
    "dtype", "coerce", "strict", "name", "ordered", "unique", "report_duplicates", "unique_column_names",
    "add_missing_columns", "title", "description", "metadata", "drop_invalid_rows", "min_rows",
}
_COLUMN_KEYS = {
    "title", "description", "dtype", "nullable", "checks", "name", "unique", "coerce", "required", "regex",
    "default", "report_duplicates", "drop_invalid_rows",
}


def load_schema_file(path: Path, display: str) -> LoadedSchema:
    """Read a pandera YAML schema file; ConfigError naming the file when it is malformed."""
    from mlgate.checks.config.yamlpos import load_with_lines

    if not path.is_file():
        raise ConfigError("schema file not found", where=display)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read schema: {exc}", where=display) from exc
    data, _ = load_with_lines(text, display)
    return build_schema(data, display)


def build_schema(data: Any, where: str) -> LoadedSchema:
    """Turn pandera's serialised form (flat checks since 0.31, or `checks:` lists/dicts) into a schema."""
    import pandera.io.pandas_io as pio
    from pandera.api.checks import Check

    if not isinstance(data, dict):
        raise ConfigError(f"a pandera schema must be a mapping, got {type(data).__name__}", where=where)
    data = dict(data)
    min_rows = data.pop("min_rows", None)
    if min_rows is not None and (isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0):
        raise ConfigError(f"min_rows must be a non-negative integer, got {min_rows!r}", where=where)
    _check_keys(data, where, Check)
    if not data.get("columns") and not data.get("checks") and min_rows is None:
        raise ConfigError("schema is empty: it has no columns, checks or min_rows", where=where)
    try:
        schema = pio.deserialize_schema(data)
    except AttributeError as exc:
        raise ConfigError(f"invalid pandera schema: {_first_line(exc)}", where=where) from exc
    except Exception as exc:  # pandera raises TypeError/ValueError/SchemaDefinitionError for bad values
        raise ConfigError(f"invalid pandera schema: {_first_line(exc)}", where=where) from exc
    warn: set[int] = set()
    for check in _all_checks(schema):
        if getattr(check, "raise_warning", False):
            check.raise_warning = False  # collect it lazily like the others; judged as a warning below
            warn.add(id(check))
    return LoadedSchema(schema, min_rows, warn, where)


def _check_keys(data: dict[str, Any], where: str, check_cls: Any) -> None:
    """Reject what pandera would silently ignore: unknown keys, misspelt or unregistered checks."""
    from pandera.engines import pandas_engine

    unknown = sorted(str(k) for k in data if k not in _SCHEMA_KEYS)
    if unknown:
        raise ConfigError(f"unknown schema key(s): {', '.join(unknown)}", where=where)
    columns = data.get("columns")
    if columns is None:
        columns = {}
    if isinstance(columns, list):
        columns = {str(c.get("name")) if isinstance(c, dict) else str(i): c for i, c in enumerate(columns)}
    if not isinstance(columns, dict):
        raise ConfigError(f"'columns' must be a mapping of column name to spec, got {type(columns).__name__}",
                          where=where)

    def known_check(name: str) -> bool:
        return callable(getattr(check_cls, name, None)) and not name.startswith("_")

    def check_names(checks: Any, ctx: str) -> list[str]:
        if checks is None:
            return []
        if isinstance(checks, dict):
            return [str(k) for k in checks]
        if isinstance(checks, list):
            names = []
            for item in checks:
                opts = item.get("options") if isinstance(item, dict) else None
                if not isinstance(opts, dict) or "check_name" not in opts:
                    raise ConfigError(f"{ctx}: each check in a 'checks' list needs options.check_name "
                                      f"(or use the flat form, e.g. 'greater_than_or_equal_to: 0')", where=where)
                names.append(str(opts["check_name"]))
            return names
        raise ConfigError(f"{ctx}: 'checks' must be a list or a mapping", where=where)

    def require_known(names: list[str], ctx: str) -> None:
        for name in names:
            if not known_check(name):
                raise ConfigError(
                    f"{ctx}: unknown check {name!r} (pandera's built-in checks only: custom checks are "
                    "not serialised by pandera and cannot be loaded from YAML)", where=where)

    require_known(check_names(data.get("checks"), "schema checks"), "schema checks")
    for name, spec in columns.items():
        ctx = f"column {name!r}"
        if spec is None:
            continue
        if not isinstance(spec, dict):
            raise ConfigError(f"{ctx}: expected a mapping (dtype, nullable, checks …), got {spec!r}", where=where)
        flat = [str(k) for k in spec if k not in _COLUMN_KEYS]
        bad = [k for k in flat if not known_check(k)]
        if bad:
            raise ConfigError(f"{ctx}: unknown key(s) {', '.join(map(repr, bad))} (neither a column option "
                              "nor a pandera check)", where=where)
        if flat and spec.get("checks") is not None:
            raise ConfigError(f"{ctx}: give checks either flat ({', '.join(flat)}) or under 'checks:', not both "
                              "(pandera ignores the flat ones then)", where=where)
        require_known(check_names(spec.get("checks"), ctx), ctx)
        if spec.get("dtype") is not None:
            try:
                pandas_engine.Engine.dtype(spec["dtype"])
            except Exception as exc:
                if not re.fullmatch(r"(?i)decimal\(\s*\d+\s*,\s*\d+\s*\)", str(spec["dtype"])):
                    raise ConfigError(f"{ctx}: unknown dtype {spec['dtype']!r}", where=where) from exc


def _all_checks(schema: Any) -> list[Any]:
    checks = list(schema.checks or [])
    for col in schema.columns.values():
        checks += list(col.checks or [])
    index = schema.index
    if index is not None:
        for part in getattr(index, "indexes", [index]):
            checks += list(part.checks or [])
    return checks


def _strings_as_object(df: pd.DataFrame, loaded: LoadedSchema) -> pd.DataFrame:
    """pandas 3 reads text as the `str` dtype where pandas 2 gave `object`; a schema written for
    either (`dtype: object`) must judge the same column the same way, so such columns are viewed
    as object for validation. `dtype: str` matches text under both."""
    columns = getattr(loaded.schema, "columns", {}) or {}
    convert = [
        name for name, col in columns.items()
        if name in df.columns and str(getattr(col, "dtype", "")) == "object"
        and isinstance(df[name].dtype, pd.StringDtype)
    ]
    if not convert:
        return df
    return df.assign(**{name: df[name].astype(object) for name in convert})


def validate_schema(df: pd.DataFrame, loaded: LoadedSchema) -> list[Finding]:
    """Lazily validate and turn every pandera SchemaError into one finding (column × check)."""
    from pandera.errors import SchemaError, SchemaErrors

    errors: list[Any]
    df = _strings_as_object(df, loaded)
    try:
        loaded.schema.validate(df, lazy=True)
        errors = []
    except SchemaErrors as exc:
        errors = list(exc.schema_errors)
    except SchemaError as exc:  # raised eagerly by some schema-wide options
        errors = [exc]
    except Exception as exc:
        raise InputError(f"schema validation failed: {_first_line(exc)}", where=loaded.source) from exc
    return [_finding(err, df, loaded) for err in errors]


_REASON_CODES = {
    "WRONG_DATATYPE": "schema.dtype",
    "SERIES_CONTAINS_NULLS": "schema.nullable",
    "SERIES_CONTAINS_DUPLICATES": "schema.unique",
    "DUPLICATES": "schema.unique",
    "DATAFRAME_CHECK": "schema.check",
    "CHECK_ERROR": "schema.check_error",
    "COLUMN_NOT_IN_DATAFRAME": "schema.column_missing",
    "COLUMN_NOT_IN_SCHEMA": "schema.column_unexpected",
    "COLUMN_NOT_ORDERED": "schema.column_order",
    "DATATYPE_COERCION": "schema.coercion",
}


def _finding(err: Any, df: pd.DataFrame, loaded: LoadedSchema) -> Finding:
    reason = getattr(getattr(err, "reason_code", None), "name", "") or "SCHEMA"
    column = getattr(err, "column_name", None)
    column = None if column is None else str(column)
    check = err.check
    check_text = check if isinstance(check, str) else (getattr(check, "error", None) or str(check))
    cases = err.failure_cases
    count, examples = _cases(cases)
    severity = "warn" if id(check) in loaded.warn_checks else "fail"
    code = _REASON_CODES.get(reason, f"schema.{reason.lower()}")
    where = f"column '{column}'" if column else "table"
    if reason == "WRONG_DATATYPE" and column in df.columns:
        expected = getattr(loaded.schema.columns.get(column), "dtype", "?")
        actual = df[column].dtype
        msg = f"{where} has dtype {actual}, the schema expects {expected}"
        if "int" in str(expected).lower() and actual.kind == "f" and df[column].isna().any():
            msg += " (an integer column with empty cells reads as float: allow nulls or fill them)"
    elif reason == "SERIES_CONTAINS_NULLS":
        msg = f"{_count(count, 'missing value')} in non-nullable {where}"
    elif reason in ("SERIES_CONTAINS_DUPLICATES", "DUPLICATES"):
        msg = (f"{_count(count, 'row')} of {where} {verb(count or 0, 'has a', 'have')} duplicated value (the schema "
               "requires unique values)")
    elif reason == "DATAFRAME_CHECK":
        msg = f"{_count(count, 'row')} of {where} {verb(count or 0, 'fails', 'fail')} {check_text}"
    elif reason == "CHECK_ERROR":
        msg = f"check {check_text} could not run on {where}: {_first_line(err).split(': ', 1)[-1]}"
        count, examples = None, []
    else:
        msg = f"{where}: {_first_line(err)}"
    return Finding(severity, msg, column=column, count=count, examples=examples, code=code)


def _cases(cases: Any) -> tuple[int | None, list[Any]]:
    if isinstance(cases, pd.DataFrame) and "failure_case" in cases.columns:
        head = cases.head(MAX_EXAMPLES)
        index = head["index"] if "index" in head.columns else pd.Series([None] * len(head))
        return len(cases), [{"index": _plain(i), "value": _plain(v)}
                            for i, v in zip(index, head["failure_case"], strict=False)]
    if cases is None:
        return None, []
    return 1, [{"index": None, "value": _plain(cases)}]


# ------------------------------------------------------------------------------------ evaluation


def evaluate(
    df: pd.DataFrame,
    cfg: DataConfig,
    baseline: GateResult | None,
    *,
    schema: LoadedSchema | None = None,
    now: datetime | None = None,
) -> GateResult:
    """Judge a loaded table. `schema` is required when the config names a schema file; `now` is the
    clock (staleness.now in the config wins; without either, the current time)."""
    if schema is None and isinstance(cfg.table_schema, dict):
        schema = build_schema(cfg.table_schema, "data.schema")
    if schema is None and cfg.table_schema is not None:
        raise ConfigError("the schema file must be loaded before evaluation (use run())", where="data.schema")
    needed = (schema.required_columns() if schema else []) + [c for c in cfg.missing if c != "*"]
    if cfg.staleness:
        needed.append(cfg.staleness.column)
    require_columns(df.columns, needed, cfg.table)
    if len(df) == 0:
        raise InputError("table has no rows", where=cfg.table)

    def base(name: str, slice: str) -> float | None:
        m = baseline.metric(name, slice) if baseline else None
        return None if m is None else m.value

    min_rows = schema.min_rows if schema else None
    metrics = [judge("rows", len(df), MetricLimits(min=min_rows) if min_rows is not None else None,
                     higher_is_better=None, baseline=base("rows", "all"))]
    findings = validate_schema(df, schema) if schema else []
    metrics += _missing_metrics(df, cfg, base)
    stale_metric, stale_findings, newest = _staleness(df, cfg.staleness, now, base)
    if stale_metric:
        metrics.append(stale_metric)
    findings += stale_findings
    status = Status.worst([*(m.status for m in metrics), *(finding_status(f.severity) for f in findings)])
    return GateResult(
        gate=GATE,
        status=status,
        summary=_summary(df, schema, findings, metrics),
        metrics=metrics,
        findings=findings,
        baseline_used=baseline is not None,
        details={"table": cfg.table, "rows": len(df), "columns": len(df.columns),
                 "newest": newest.isoformat() if newest is not None else None},
    )


def _missing_metrics(df: pd.DataFrame, cfg: DataConfig, base: Any) -> list[Metric]:
    """`missing_share` per configured column; "*" covers every column not named explicitly."""
    limits: dict[str, Any] = {c: v for c, v in cfg.missing.items() if c != "*"}
    if "*" in cfg.missing:
        for col in df.columns:
            limits.setdefault(str(col), cfg.missing["*"])
    metrics = []
    for col, lim in limits.items():
        if isinstance(lim, MissingLimit):
            ml = MetricLimits(max=lim.max_share, severity=lim.severity)
        else:
            ml = MetricLimits(max=float(lim))
        share = float(df[col].isna().mean())
        m = judge("missing_share", share, ml, higher_is_better=False, baseline=base("missing_share", col), slice=col)
        m.note = f"{int(df[col].isna().sum())} of {len(df)} rows missing"
        metrics.append(m)
    return metrics


def _staleness(
    df: pd.DataFrame, cfg: StalenessConfig | None, now: datetime | None, base: Any
) -> tuple[Metric | None, list[Finding], pd.Timestamp | None]:
    """Age in days of the newest timestamp; unparseable values are reported, not guessed."""
    if cfg is None:
        return None, [], None
    col = df[cfg.column]
    parsed = _to_utc(col, cfg.column)
    findings: list[Finding] = []
    bad = parsed.isna() & col.notna()
    if bad.any():
        examples = [{"index": _plain(i), "value": _plain(v)} for i, v in col[bad].head(MAX_EXAMPLES).items()]
        findings.append(Finding("warn", f"{plural(int(bad.sum()), 'value')} of '{cfg.column}' "
                                f"{verb(int(bad.sum()), 'is', 'are')} not timestamps",
                                column=cfg.column, count=int(bad.sum()), examples=examples,
                                code="staleness.unparseable"))
    clock = _utc(cfg.now) if cfg.now else (_utc(now) if now else datetime.now(timezone.utc))
    newest = parsed.max() if parsed.notna().any() else None
    age = None if newest is None else (pd.Timestamp(clock) - newest).total_seconds() / 86400
    metric = judge("age_days", age, MetricLimits(max=cfg.max_age_days, severity=cfg.severity),
                   higher_is_better=False, baseline=base("age_days", cfg.column), slice=cfg.column)
    metric.note = (f"newest {newest.isoformat()} at {pd.Timestamp(clock).isoformat()}; limit {cfg.max_age}"
                   if newest is not None else f"no timestamps in '{cfg.column}'")
    if newest is not None and age is not None and age < 0:
        findings.append(Finding("info", f"the newest '{cfg.column}' value {newest.isoformat()} is in the future",
                                column=cfg.column, code="staleness.future"))
    return metric, findings, newest


def _to_utc(col: pd.Series, name: str) -> pd.Series:
    """Timestamps in UTC. Whole numbers 1000–9999 are years (read as 1 January, UTC); other numbers
    are refused, because epoch seconds, milliseconds and days cannot be told apart."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return pd.to_datetime(col, utc=True)
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        v = col.dropna().to_numpy(dtype=float)
        if v.size and np.all(np.mod(v, 1) == 0) and v.min() >= 1000 and v.max() <= 9999:
            years = col.astype("Int64").astype("string")
            return pd.to_datetime(years, format="%Y", utc=True, errors="coerce")
        raise InputError(f"staleness column {name!r} holds numbers ({col.dtype}) that are not years; "
                         "store timestamps as ISO 8601 text or a datetime column", where=name)
    return pd.to_datetime(col.astype("string"), utc=True, errors="coerce", format="mixed")


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _summary(df: pd.DataFrame, schema: LoadedSchema | None, findings: list[Finding], metrics: list[Metric]) -> str:
    parts = [f"{len(df):,} rows"]
    rows = metrics[0]
    if rows.status != Status.PASS:
        parts[0] += f" (fewer than the {schema.min_rows if schema else 0:,} required)"
    if schema is not None:
        schema_f = [f for f in findings if f.code.startswith("schema.")]
        if schema_f:
            cols = sorted({f.column or "table" for f in schema_f})
            parts.append(f"schema: {plural(len(schema_f), 'violation')} in {', '.join(cols[:5])}"
                         + (f" and {len(cols) - 5} more" if len(cols) > 5 else ""))
        else:
            parts.append("schema holds")
    missing = [m for m in metrics if m.name == "missing_share"]
    over = [m for m in missing if m.status != Status.PASS]
    if over:
        parts.append("too many missing values in " + ", ".join(f"{m.slice} ({m.value:.1%})" for m in over[:5]))
    elif missing:
        parts.append("missing values within limits")
    age = next((m for m in metrics if m.name == "age_days"), None)
    if age is not None:
        limit = age.limits[0].threshold if age.limits else None
        if age.value is None:
            parts.append(f"no timestamps in '{age.slice}'")
        else:
            verdict = "stale: " if age.status != Status.PASS else ""
            parts.append(f"{verdict}newest row {age.value:.1f} days old (limit {limit:g} days)")
    return "; ".join(parts)


def _plain(v: Any) -> Any:
    """A JSON-friendly scalar for examples."""
    if v is None:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.isoformat()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None if np.isnan(v) else str(v)
    if isinstance(v, str | int | float | bool):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------------ I/O


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    """Read the table (and schema file) named by `config.data` and evaluate them."""
    cfg: DataConfig | None = getattr(config, "data", None)
    if cfg is None:
        raise ConfigError("no 'data' section in the config")
    schema = None
    if isinstance(cfg.table_schema, str):
        schema = load_schema_file(ctx.record(cfg.table_schema), cfg.table_schema)
    df = read_table(ctx.record(cfg.table))
    return evaluate(df, cfg, baseline, schema=schema, now=datetime.now(timezone.utc))


def _count(n: int | None, noun: str) -> str:
    """"1 row", "3 rows"; without a count, the plural noun alone."""
    return noun + "s" if n is None else plural(n, noun)
