"""Prediction latency and peak memory, measured in-process, and how noisy the measurement was.

One measurement is worth little on a shared CI machine, so a latency is never one number: each
repeat times `rows` single-row predictions and `batches` predictions of `batch_size` rows (after
`warmup` untimed calls), giving per-repeat p50 and p99; the figure reported is the median of the
repeats, with the lowest and highest repeat beside it (the spread). The budget gate judges that
median with a tolerance (checks/gates/budget.py), so a failure needs most repeats to agree.

Several models (the candidate and the base commit's) are measured interleaved, repeat by repeat,
so a slow spell of the machine hits both alike. The clock is a parameter: tests give a fake one
and check the arithmetic, never the machine's speed. Garbage collection is paused while timing,
as `timeit` does. Peak memory is what `tracemalloc` sees during one batch prediction: numpy and
Python allocations (numpy reports its buffers to tracemalloc), not memory of native libraries
that bypass it.
"""

from __future__ import annotations

import gc
import os
import platform
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Clock = Callable[[], int]  # nanoseconds, like time.perf_counter_ns
Predict = Callable[[Any], Any]


@dataclass(frozen=True)
class Spread:
    """One statistic (e.g. per-row p99, in ms) over the repeats: its median, lowest and highest."""

    median: float
    low: float
    high: float
    repeats: int

    @property
    def relative_spread(self) -> float | None:
        """(highest − lowest) / median: how far apart the repeats were."""
        return (self.high - self.low) / self.median if self.median > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "low": self.low, "high": self.high, "repeats": self.repeats,
                "relative_spread": self.relative_spread}


@dataclass
class LatencySample:
    """The timings of one model: per repeat, the milliseconds of each call."""

    row_ms: list[list[float]] = field(default_factory=list)
    batch_ms: list[list[float]] = field(default_factory=list)

    def spread(self, kind: str, percentile: float) -> Spread | None:
        """The `percentile` of `kind` ("row" or "batch") calls in each repeat, summarised over repeats."""
        repeats = self.row_ms if kind == "row" else self.batch_ms
        per_repeat = [float(np.percentile(calls, percentile)) for calls in repeats if calls]
        if not per_repeat:
            return None
        return Spread(float(np.median(per_repeat)), min(per_repeat), max(per_repeat), len(per_repeat))


@dataclass(frozen=True)
class Workload:
    """What to time for one model: its predict method, single rows and batches (inputs prepared beforehand,
    so slicing a table is not timed)."""

    predict: Predict
    rows: Sequence[Any]
    batches: Sequence[Any]


def measure(
    workloads: Mapping[str, Workload],
    *,
    repeats: int,
    warmup: int,
    clock: Clock = time.perf_counter_ns,
) -> dict[str, LatencySample]:
    """Time every model, repeat by repeat, interleaved (so a slow spell of the machine hits each alike)."""
    out = {name: LatencySample() for name in workloads}
    for w in workloads.values():
        for i in range(warmup):
            if w.rows:
                w.predict(w.rows[i % len(w.rows)])
            if w.batches:
                w.predict(w.batches[i % len(w.batches)])
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, w in workloads.items():
                out[name].row_ms.append(_time_calls(w.predict, w.rows, clock))
                out[name].batch_ms.append(_time_calls(w.predict, w.batches, clock))
    finally:
        if enabled:
            gc.enable()
    return out


def _time_calls(predict: Predict, inputs: Sequence[Any], clock: Clock) -> list[float]:
    times = []
    for x in inputs:
        start = clock()
        predict(x)
        times.append((clock() - start) / 1e6)
    return times


def peak_memory_bytes(predict: Predict, batch: Any) -> int:
    """The peak of traced allocations while predicting one batch (beyond what was allocated before)."""
    gc.collect()
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        predict(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already:
            tracemalloc.stop()
    return max(0, peak - before)


def machine() -> dict[str, Any]:
    """What the latency was measured on: a latency from another CPU is not comparable."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "system": platform.system()}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
