"""Table reading: the row-group Parquet path must give exactly what pandas gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.checks.errors import InputError
from mlgate.checks.inputs.tables import read_table


def _frame() -> pd.DataFrame:
    n = 10
    return pd.DataFrame({
        "small": np.arange(n, dtype="int8"),
        "score": np.linspace(0, 1, n),
        "nullable": pd.array([1, None] * (n // 2), dtype="Int64"),
        "text": ["x", "y"] * (n // 2),
        "category": pd.Categorical(["u", "v"] * (n // 2)),
        "flag": [True, False] * (n // 2),
        "with_nan": [1.0, np.nan] * (n // 2),
        "when": pd.date_range("2020-01-01", periods=n, freq="D"),
    })


@pytest.mark.parametrize("row_group_size", [3, 1000])
def test_parquet_columns_equal_pandas(tmp_path: Path, row_group_size: int) -> None:
    path = tmp_path / "t.parquet"
    frame = _frame()
    frame.to_parquet(path, row_group_size=row_group_size)
    wanted = ["score", "text", "small", "nullable", "category", "flag", "with_nan", "when"]
    got = read_table(path, wanted)
    assert list(got.columns) == wanted
    pd.testing.assert_frame_equal(got, pd.read_parquet(path, columns=wanted))


def test_whole_file_read_keeps_a_stored_index(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame = _frame().set_index("small")
    frame.to_parquet(path)
    pd.testing.assert_frame_equal(read_table(path), pd.read_parquet(path))


def test_missing_parquet_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _frame().to_parquet(path)
    with pytest.raises(InputError, match="missing column 'label'"):
        read_table(path, ["score", "label"])


def test_csv_floats_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    values = np.random.default_rng(1).random(200)
    pd.DataFrame({"v": values}).to_csv(path, index=False, float_format="%.17g")
    assert np.array_equal(read_table(path, ["v"])["v"].to_numpy(), values)
