"""Reading the tables the gates consume (CSV or Parquet) with errors that name the file and column."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mlgate.checks import progress
from mlgate.checks.errors import InputError

TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv"}


def table_format(path: Path) -> str:
    fmt = TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unsupported table format {path.suffix or '(no suffix)'!r}; use .csv, .tsv or .parquet",
            where=str(path),
        )
    return fmt


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV/Parquet table, only `columns` if given (Parquet then reads nothing else).

    Raises InputError for a missing or empty file, an unreadable one, or absent columns.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise InputError("file not found", where=str(path))
    if path.stat().st_size == 0:
        raise InputError("file is empty", where=str(path))
    wanted = list(dict.fromkeys(columns)) if columns is not None else None
    try:
        if fmt == "parquet":
            if wanted is not None:
                require_columns(parquet_columns(path), wanted, path)
            df = _read_parquet(path, wanted)
        else:
            sep = "\t" if fmt == "tsv" else ","
            header = pd.read_csv(path, sep=sep, nrows=0).columns
            if wanted is not None:
                require_columns(header, wanted, path)
            # round_trip: a CSV baseline must compare equal to the Parquet it was written from
            # (pandas 3 parses floats exactly by default and deprecates the option).
            exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
            df = pd.read_csv(path, sep=sep, usecols=wanted, **exact)
    except InputError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise InputError("file has no columns", where=str(path)) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {fmt}: {_first_line(exc)}", where=str(path)) from exc
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        raise InputError(f"cannot read {fmt}: {_first_line(exc)}", where=str(path)) from exc
    if len(df) == 0:
        raise InputError("table has no rows", where=str(path))
    progress.note(f"read {len(df):,} rows, {len(df.columns)} columns from {path.name}")
    return df


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """Read Parquet with a peak close to the size of the resulting frame.

    Numeric and boolean columns without nulls are copied row group by row group into preallocated
    numpy arrays (the peak is the frame plus one row group); other columns (text, categories,
    timestamps, nullable numbers) go through Arrow → pandas, releasing each Arrow column as it
    converts. A whole-file read (no column list) keeps pandas' handling of stored indexes.
    """
    import pyarrow.parquet as pq

    if columns is None:
        return pq.read_table(path).to_pandas(self_destruct=True, split_blocks=True)
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    arrays = {c: np.empty(pf.metadata.num_rows, dtype=schema.field(c).type.to_pandas_dtype())
              for c in columns if _plain_numeric(schema.field(c).type)}
    start = 0
    for i in range(pf.num_row_groups):
        if not arrays:
            break
        group = pf.read_row_group(i, columns=list(arrays))
        for name in list(arrays):
            column = group.column(name)
            if column.null_count:  # nullable: let pandas choose the dtype for the whole column
                del arrays[name]
                continue
            arrays[name][start:start + group.num_rows] = column.to_numpy()
        start += group.num_rows
        del group
    rest = [c for c in columns if c not in arrays]
    other = pq.read_table(path, columns=rest).to_pandas(self_destruct=True, split_blocks=True) if rest else None
    data = {c: arrays[c] if c in arrays else other[c] for c in columns}  # type: ignore[index]
    return pd.DataFrame(data, copy=False)


def _plain_numeric(arrow_type: object) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
                or pa.types.is_boolean(arrow_type))


def parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def require_columns(available: Iterable[str], wanted: Iterable[str], path: str | Path) -> None:
    have = set(available)
    missing = [c for c in wanted if c not in have]
    if missing:
        shown = ", ".join(sorted(map(str, have)))[:300]
        raise InputError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} (has: {shown})",
            where=str(path),
        )


def file_sha256(path: str | Path) -> str:
    """Content hash used as the data/model version in results (`sha256:<hex>`)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
