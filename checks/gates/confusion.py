"""Confusion counts (tn, fp, fn, tp) per group, computed in one vectorised pass.

Both the quality and the bias gate derive their classification metrics from these counts, so the
numbers agree with each other. Counts are sums: results from chunks of a table can be added with
`+` and give exactly the counts of the whole table (no per-row state is kept). Per-group rates
follow fairlearn's `MetricFrame` definitions, except that a rate whose denominator is zero is NaN
(fairlearn reports 0 there, which would hide an empty cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np
import pandas as pd

MISSING = "(missing)"  # the group label of missing values in a sensitive attribute
COLUMNS = ("tn", "fp", "fn", "tp")  # column order of GroupCounts.counts
_DENSE_CELLS = 1 << 20  # above this many possible groups, combine keys through a hash table


@dataclass(frozen=True)
class Encoded:
    """One grouping column as integer codes 0..len(labels)-1 (missing values have their own code)."""

    name: str
    codes: np.ndarray
    labels: tuple[str, ...]


def encode(values: pd.Series, name: str | None = None) -> Encoded:
    """Factorize a column into sorted string labels; NaN/None become the group MISSING (last).

    A categorical column reuses its codes (no hashing of 10M strings).
    """
    name = str(name if name is not None else values.name)
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        labels = [str(c) for c in values.cat.categories]
    else:
        codes, uniques = pd.factorize(values, sort=True)
        labels = [str(u) for u in uniques]
    if len(codes) and codes.min() < 0:
        codes = codes.astype(np.int32 if len(labels) < 2**31 - 1 else np.int64)
        codes[codes < 0] = len(labels)
        labels.append(MISSING)
    return Encoded(name, codes, tuple(labels))


@dataclass(frozen=True)
class GroupCounts:
    """Confusion counts of the non-empty groups of one or more attributes.

    `codes[i]` indexes `levels` (one tuple of labels per attribute) for group i; rows are sorted by
    codes. With no attributes there is one row: the whole table.
    """

    attributes: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    codes: np.ndarray  # (groups, attributes) int64
    counts: np.ndarray  # (groups, 4) int64, columns COLUMNS

    @property
    def groups(self) -> list[tuple[str, ...]]:
        return [tuple(self.levels[j][c] for j, c in enumerate(row)) for row in self.codes.tolist()]

    @property
    def tn(self) -> np.ndarray:
        return self.counts[:, 0]

    @property
    def fp(self) -> np.ndarray:
        return self.counts[:, 1]

    @property
    def fn(self) -> np.ndarray:
        return self.counts[:, 2]

    @property
    def tp(self) -> np.ndarray:
        return self.counts[:, 3]

    @property
    def n(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def marginal(self, attributes: Sequence[str]) -> GroupCounts:
        """Counts for a subset of the attributes (summing over the others)."""
        pos = [self.attributes.index(a) for a in attributes]
        return _aggregate(tuple(attributes), tuple(self.levels[p] for p in pos), self.codes[:, pos], self.counts)

    def __add__(self, other: GroupCounts) -> GroupCounts:
        """Merge counts of two chunks; groups are matched by label, not by code."""
        if self.attributes != other.attributes:
            raise ValueError(f"cannot add counts over {other.attributes} to counts over {self.attributes}")
        levels, remapped = [], []
        for j, (mine, theirs) in enumerate(zip(self.levels, other.levels, strict=True)):
            merged = [lab for lab in mine if lab != MISSING]
            merged += [lab for lab in theirs if lab not in set(merged) and lab != MISSING]
            if MISSING in mine or MISSING in theirs:
                merged.append(MISSING)
            index = {lab: i for i, lab in enumerate(merged)}
            levels.append(tuple(merged))
            remapped.append(
                (
                    np.array([index[lab] for lab in mine], dtype=np.int64)[self.codes[:, j]],
                    np.array([index[lab] for lab in theirs], dtype=np.int64)[other.codes[:, j]],
                )
            )
        codes = np.vstack(
            [
                np.column_stack([a for a, _ in remapped]).reshape(len(self.counts), -1),
                np.column_stack([b for _, b in remapped]).reshape(len(other.counts), -1),
            ]
        )
        return _aggregate(self.attributes, tuple(levels), codes, np.vstack([self.counts, other.counts]))


def _aggregate(
    attributes: tuple[str, ...], levels: tuple[tuple[str, ...], ...], codes: np.ndarray, counts: np.ndarray
) -> GroupCounts:
    if not attributes:
        total = counts.sum(axis=0, keepdims=True).astype(np.int64)
        return GroupCounts((), (), np.zeros((1, 0), dtype=np.int64), total)
    uniq, inverse = np.unique(codes, axis=0, return_inverse=True)
    out = np.zeros((len(uniq), 4), dtype=np.int64)
    np.add.at(out, inverse.ravel(), counts)
    return GroupCounts(attributes, levels, uniq.astype(np.int64), out)


def count(
    y_true: np.ndarray, y_pred: np.ndarray, keys: Sequence[Encoded] = (), *, chunk: int = 1 << 20
) -> GroupCounts:
    """Confusion counts of 0/1 arrays, per combination of `keys` (empty combinations are dropped).

    np.bincount over `group * 4 + y_true * 2 + y_pred`, a million rows at a time: no Python loop
    over rows, and no full-length int64 index in memory (chunk counts are simply added).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.shape[0]} rows, y_pred {y_pred.shape[0]}")
    sizes = [len(k.labels) for k in keys]
    joint = None  # dense: the mixed-radix code is computed per chunk
    if not keys:
        combos = np.zeros((1, 0), dtype=np.int64)
    elif prod(sizes) <= _DENSE_CELLS:
        combos = np.indices(sizes, dtype=np.int64).reshape(len(sizes), -1).T
    else:
        joint, combos = _sparse_codes(keys)
    cells = len(combos) * 4
    flat = np.zeros(cells, dtype=np.int64)
    for start in range(0, len(y_true), chunk):
        stop = start + chunk
        if joint is not None:
            code = joint[start:stop].astype(np.intp)
        elif keys:
            code = keys[0].codes[start:stop].astype(np.intp)
            for key, size in zip(keys[1:], sizes[1:], strict=True):
                code *= size
                code += key.codes[start:stop]
        else:
            code = np.zeros(min(stop, len(y_true)) - start, dtype=np.intp)
        code *= 2
        code += y_true[start:stop]
        code *= 2
        code += y_pred[start:stop]
        flat += np.bincount(code, minlength=cells)
    table = flat.reshape(-1, 4)
    if not keys:
        return GroupCounts((), (), np.zeros((1, 0), dtype=np.int64), table)
    keep = table.sum(axis=1) > 0
    return GroupCounts(tuple(k.name for k in keys), tuple(k.labels for k in keys), combos[keep], table[keep])


def _sparse_codes(keys: Sequence[Encoded]) -> tuple[np.ndarray, np.ndarray]:
    """For many possible combinations: one code per row for the combinations that occur, and each
    code's per-key codes. The running code is re-factorized after each key, so it cannot overflow."""
    first = keys[0]
    code = first.codes.astype(np.intp, copy=True)
    combos = np.arange(len(first.labels), dtype=np.int64)[:, None]
    for key in keys[1:]:
        size = len(key.labels)
        code *= size
        code += key.codes
        if len(combos) * size <= _DENSE_CELLS:
            combos = np.column_stack(
                [np.repeat(combos, size, axis=0), np.tile(np.arange(size, dtype=np.int64), len(combos))]
            )
        else:
            new_code, seen = pd.factorize(code, sort=True)
            code = new_code.astype(np.intp, copy=False)
            combos = np.column_stack([combos[seen // size], seen % size])
    return code, combos


def total_cells(keys: Sequence[Encoded]) -> int:
    """How many groups the combination of keys can have (for sizing decisions and messages)."""
    return prod(len(k.labels) for k in keys)




def rates(gc: GroupCounts) -> dict[str, np.ndarray]:
    """Per-group metrics from counts (float64 arrays, NaN where the denominator is zero).

    selection_rate = (tp+fp)/n, base_rate = (tp+fn)/n, tpr = tp/(tp+fn), fnr = fn/(tp+fn),
    fpr = fp/(fp+tn), tnr = tn/(fp+tn), precision = tp/(tp+fp), accuracy = (tp+tn)/n,
    f1 = 2tp/(2tp+fp+fn). Integer sums divided once, so values equal scikit-learn's and
    fairlearn's bit for bit where those are defined.
    """
    tn, fp, fn, tp = (gc.counts[:, i].astype(np.float64) for i in range(4))
    n = tn + fp + fn + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "count": n,
            "selection_rate": (tp + fp) / n,
            "base_rate": (tp + fn) / n,
            "tpr": tp / (tp + fn),
            "tnr": tn / (fp + tn),
            "fpr": fp / (fp + tn),
            "fnr": fn / (tp + fn),
            "precision": tp / (tp + fp),
            "accuracy": (tp + tn) / n,
            "f1": 2 * tp / (2 * tp + fp + fn),
        }
