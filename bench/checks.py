"""Benchmark of the quality and bias gates against a bare pandas read, scikit-learn and fairlearn.

    .venv/bin/python bench/checks.py [--rows 10000000] [--repeat 3] [--skip-fairlearn]
    .venv/bin/python bench/checks.py --high-cardinality [--repeat 3]

`--high-cardinality` runs only the many-groups case instead: the bias check (`mlgate check bias …
--json … --markdown …`, as a user runs it) on 300,000 rows with a sensitive attribute of 30,000
groups, against the same check with 2 groups. Target: within 2× the time, and a report that fits
a GitHub comment and says what it left out.

Generates (once, cached under bench/_data/, which git ignores) a Parquet predictions file with a
0/1 label, a float64 score, a 0/1 prediction and two sensitive attributes (stored as Parquet
dictionaries with pandas categorical metadata, as `DataFrame.to_parquet` writes a categorical).
Generation runs in a child process so its memory does not blur the measurements; everything else
runs in this one process, so interpreter and import start-up are not part of any number.

Peak memory is the growth of the process's resident set high-water mark (VmHWM, reset through
/proc/self/clear_refs before each measured call) over the resident set before the call: it counts
pandas/numpy and Arrow's own allocator alike. Without /proc it falls back to tracemalloc, which
sees numpy but not Arrow buffers (the output says which one was used).
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# `python bench/checks.py` puts bench/ first on sys.path, where this file would shadow the package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

DATA = HERE / "_data"
RACES = ["Asian", "Black", "Hispanic", "Other", "White"]
SEXES = ["Female", "Male"]


# ---- data ---------------------------------------------------------------------------------------


def data_path(rows: int) -> Path:
    return DATA / f"predictions_{rows}.parquet"


def generate(rows: int, path: Path, seed: int = 7, chunk: int = 1_000_000) -> None:
    """Write `rows` synthetic predictions chunk by chunk (bounded memory), with group-dependent
    base rates and score noise so the groups really differ, and ~1% missing sensitive values."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = None
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            race = rng.choice(len(RACES), n, p=[0.06, 0.13, 0.18, 0.03, 0.60])
            sex = rng.integers(0, 2, n)
            base = 0.25 + 0.05 * (race == 1) - 0.03 * (race == 2) + 0.04 * sex
            label = (rng.random(n) < base).astype(np.int8)
            logit = -1.2 + 2.4 * label + rng.normal(0, 1.0 + 0.2 * (race == 1), n)
            score = 1.0 / (1.0 + np.exp(-logit))
            race_codes = np.where(rng.random(n) < 0.01, -1, race)
            sex_codes = np.where(rng.random(n) < 0.01, -1, sex)
            frame = pd.DataFrame({
                "label": label,
                "score": score,
                "prediction": (score >= 0.5).astype(np.int8),
                "race": pd.Categorical.from_codes(race_codes, RACES),
                "sex": pd.Categorical.from_codes(sex_codes, SEXES),
            })
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)


def ensure_data(rows: int, regenerate: bool) -> Path:
    path = data_path(rows)
    if regenerate or not path.is_file():
        print(f"generating {rows:,} rows into {path.relative_to(ROOT)} (child process) …", flush=True)
        subprocess.run([sys.executable, __file__, "--rows", str(rows), "--generate-only"], check=True)
    return path


# ---- measuring ----------------------------------------------------------------------------------


class Meter:
    """Wall time and peak memory growth of one call."""

    def __init__(self) -> None:
        self.method = "rss" if _can_reset_hwm() else "tracemalloc"

    def __call__(self, fn: Callable[[], Any]) -> tuple[Any, float, int]:
        gc.collect()
        _release_arrow()
        if self.method == "rss":
            _reset_hwm()
            before = _status_kb("VmRSS")
            t0 = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - t0
            peak = (_status_kb("VmHWM") - before) * 1024
        else:
            tracemalloc.start()
            t0 = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return out, seconds, peak

    def best(self, fn: Callable[[], Any], repeat: int) -> tuple[Any, float, int]:
        """Fastest of `repeat` runs; the largest peak of them (memory is not a lucky draw)."""
        runs = [self(fn) for _ in range(repeat)]
        return runs[-1][0], min(r[1] for r in runs), max(r[2] for r in runs)

    @property
    def label(self) -> str:
        if self.method == "rss":
            return "peak RSS growth (VmHWM after − VmRSS before, HWM reset via /proc/self/clear_refs)"
        return "tracemalloc peak (numpy/pandas allocations; Arrow buffers not seen)"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _can_reset_hwm() -> bool:
    try:
        _reset_hwm()
        _status_kb("VmHWM")
        return True
    except OSError:
        return False
    except KeyError:
        return False


def _release_arrow() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _warm_page_cache(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


# ---- the workloads ------------------------------------------------------------------------------

SKLEARN_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "log_loss", "brier")
GROUP_METRICS = ("count", "selection_rate", "tpr", "fpr", "fnr", "accuracy")
GROUPINGS = (("race",), ("sex",), ("race", "sex"))


def configs(path: Path) -> SimpleNamespace:
    from mlgate.checks.config.bias import BiasConfig
    from mlgate.checks.config.predictions import PredictionsConfig
    from mlgate.checks.config.quality import QualityConfig

    return SimpleNamespace(
        predictions=PredictionsConfig(path=str(path), label="label", prediction="prediction", score="score"),
        quality=QualityConfig(metrics=list(SKLEARN_METRICS)),
        bias=BiasConfig(sensitive=["race", "sex"], intersections=True, metrics=list(GROUP_METRICS)),
    )


def sklearn_quality(y: Any, y_hat: Any, p: Any) -> dict[str, float]:
    from sklearn import metrics as skm

    return {
        "accuracy": skm.accuracy_score(y, y_hat),
        "precision": skm.precision_score(y, y_hat),
        "recall": skm.recall_score(y, y_hat),
        "f1": skm.f1_score(y, y_hat),
        "roc_auc": skm.roc_auc_score(y, p),
        "average_precision": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
    }


def fairlearn_groups(frame: Any) -> list[Any]:
    import pandas as pd
    from fairlearn import metrics as fm
    from sklearn.metrics import accuracy_score

    fns = {
        "count": fm.count,
        "selection_rate": fm.selection_rate,
        "tpr": fm.true_positive_rate,
        "fpr": fm.false_positive_rate,
        "fnr": fm.false_negative_rate,
        "accuracy": accuracy_score,
    }
    # fairlearn drops rows whose sensitive value is missing; give them the same "(missing)" group
    sens = {c: frame[c].cat.add_categories("(missing)").fillna("(missing)") for c in ("race", "sex")}
    out = []
    for attrs in GROUPINGS:
        mf = fm.MetricFrame(metrics=fns, y_true=frame["label"], y_pred=frame["prediction"],
                            sensitive_features=pd.DataFrame({a: sens[a] for a in attrs}))
        out.append((mf.by_group, mf.difference(), mf.ratio()))
    return out


# ---- many groups ---------------------------------------------------------------------------------

HC_ROWS = 300_000
HC_GROUPS = (2, 30_000)
HC_MIN_GROUP_SIZE = 5  # 300,000 rows in 30,000 groups is 10 rows a group: small enough to judge most


def hc_path(groups: int) -> Path:
    return DATA / f"groups_{groups}_{HC_ROWS}.parquet"


def hc_generate(groups: int, path: Path, seed: int = 11) -> None:
    """Labels, predictions that agree 80% of the time, and a categorical attribute of `groups` labels."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, HC_ROWS)
    label = (rng.random(HC_ROWS) < 0.3).astype(np.int8)
    prediction = np.where(rng.random(HC_ROWS) < 0.8, label, 1 - label).astype(np.int8)
    names = np.array([f"g{i:05d}" for i in range(groups)])
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"label": label, "prediction": prediction,
                  "group": pd.Categorical.from_codes(group, names)}).to_parquet(path, index=False)


def high_cardinality(repeat: int) -> int:
    """The bias check end to end with 2 and with 30,000 groups, and where the time goes."""
    import json

    from mlgate.checks.gates import bias
    from mlgate.checks.gates.bias import BiasConfig
    from mlgate.checks.inputs.context import RunContext
    from mlgate.checks.inputs.predictions import PredictionsConfig
    from mlgate.checks.report import GITHUB_COMMENT_LIMIT, render_report
    from mlgate.checks.results import RunResults, results_json

    work = DATA / "hc-out"
    work.mkdir(parents=True, exist_ok=True)
    cli = [str(Path(sys.executable).parent / "mlgate")]
    if not Path(cli[0]).exists():
        cli = [sys.executable, "-m", "mlgate"]
    render_report(RunResults([], {"mlgate": "bench"}, {}))  # compile the templates once, outside the timings
    print(f"\nbias check on {HC_ROWS:,} rows, min_group_size {HC_MIN_GROUP_SIZE}; best of {repeat}\n")
    print(f"{'groups':>7} {'CLI end to end':>15} {'gate':>7} {'to JSON':>8} {'write':>7} {'report':>7} "
          f"{'read back':>9} {'JSON MiB':>9} {'report chars':>13}")
    cli_times: dict[int, float] = {}
    for groups in HC_GROUPS:
        if not hc_path(groups).is_file():
            hc_generate(groups, hc_path(groups))
    # The CLI runs alternate between the two cases, so that both meet the same load on a shared machine.
    for _ in range(repeat):
        for groups in HC_GROUPS:
            argv = [*cli, "check", "bias", "--predictions", str(hc_path(groups)), "--label", "label",
                    "--prediction", "prediction", "--sensitive", "group", "--min-group-size", str(HC_MIN_GROUP_SIZE),
                    "--json", str(work / f"{groups}.json"), "--markdown", str(work / f"{groups}.md")]
            t0 = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            if proc.returncode not in (0, 1):
                raise SystemExit(f"mlgate check bias failed ({proc.returncode}): {proc.stderr[-500:]}")
            cli_times[groups] = min(cli_times.get(groups, float("inf")), wall)
    for groups in HC_GROUPS:
        path = hc_path(groups)
        out_json = work / f"{groups}.json"
        cfg = SimpleNamespace(
            predictions=PredictionsConfig(path=str(path), label="label", prediction="prediction"),
            bias=BiasConfig(sensitive=["group"], min_group_size=HC_MIN_GROUP_SIZE))
        ctx = RunContext(base_dir=ROOT)
        parts: dict[str, float] = {}
        gc.disable()  # as `mlgate check` does while the gates run and write (checks/cli.py)
        for _ in range(repeat):
            t = [time.perf_counter()]
            gate = bias.run(cfg, ctx, None)
            t.append(time.perf_counter())
            results = RunResults([gate], {"mlgate": "bench"}, {"path": None})
            text = results_json(results)  # what `mlgate check --json` writes
            t.append(time.perf_counter())
            out_json.write_text(text, encoding="utf-8")
            t.append(time.perf_counter())
            report = render_report(results)
            t.append(time.perf_counter())
            RunResults.from_dict(json.loads(out_json.read_text(encoding="utf-8")))
            t.append(time.perf_counter())
            for name, a, b in zip(("gate", "to JSON", "write", "report", "read back"), t, t[1:], strict=False):
                parts[name] = min(parts.get(name, float("inf")), b - a)
        gc.enable()
        size = out_json.stat().st_size / (1 << 20)
        print(f"{groups:>7,} {cli_times[groups]:>14.2f}s {parts['gate']:>6.2f}s {parts['to JSON']:>7.2f}s "
              f"{parts['write']:>6.2f}s {parts['report']:>6.2f}s {parts['read back']:>8.2f}s {size:>9.1f} "
              f"{len(report):>13,}")
    ratio = cli_times[HC_GROUPS[1]] / cli_times[HC_GROUPS[0]]
    report = (work / f"{HC_GROUPS[1]}.md").read_text(encoding="utf-8")
    fits = len(report) <= GITHUB_COMMENT_LIMIT
    says = "The results JSON has every group." in report
    print(f"\n{'target':48} {'value':>8}  result")
    print(f"{'30,000 groups ≤ 2× the time of 2 groups (CLI)':48} {ratio:>7.2f}×  {'PASS' if ratio <= 2 else 'MISS'}")
    print(f"{'report fits a GitHub comment (65,536 chars)':48} {len(report):>8,}  {'PASS' if fits else 'MISS'}")
    print(f"{'report says what it left out':48} {'':>8}  {'PASS' if says else 'MISS'}")
    return 0


# ---- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per gate measurement (fastest time is shown)")
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--skip-fairlearn", action="store_true", help="fairlearn takes minutes at 10M rows")
    ap.add_argument("--high-cardinality", action="store_true",
                    help="only the many-groups case: 30,000 groups vs 2 on 300,000 rows")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.high_cardinality:
        return high_cardinality(args.repeat)
    if args.generate_only:
        generate(args.rows, data_path(args.rows))
        return 0

    path = ensure_data(args.rows, args.regenerate)
    import numpy as np
    import pandas as pd

    from mlgate.checks.gates import bias, quality
    from mlgate.checks.inputs.context import RunContext

    cfg = configs(path)
    ctx = RunContext(base_dir=ROOT)
    meter = Meter()
    _warm_page_cache(path)
    mb = 1 << 20
    print(f"\n{args.rows:,} rows, {path.stat().st_size / mb:.0f} MiB Parquet; python {sys.version.split()[0]}, "
          f"numpy {np.__version__}, pandas {pd.__version__}")
    print(f"memory: {meter.label}\n")

    # warm up (library imports, Arrow thread pools) so that no measurement pays for them, then the
    # gates first, while the process is small
    quality.run(cfg, ctx, None)
    bias.run(cfg, ctx, None)
    q_result, t_quality, m_quality = meter.best(lambda: quality.run(cfg, ctx, None), args.repeat)
    b_result, t_bias, m_bias = meter.best(lambda: bias.run(cfg, ctx, None), args.repeat)

    frame, t_read, m_read = meter.best(lambda: pd.read_parquet(path), args.repeat)
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    bias_cols = ["label", "prediction", "race", "sex"]
    _, t_read_bias_cols, m_read_bias_cols = meter.best(
        lambda: pd.read_parquet(path, columns=bias_cols), args.repeat)
    quality_cols = ["label", "prediction", "score"]
    _, t_read_quality_cols, m_read_quality_cols = meter.best(
        lambda: pd.read_parquet(path, columns=quality_cols), args.repeat)

    y = frame["label"].to_numpy()
    y_hat = frame["prediction"].to_numpy()
    p = frame["score"].to_numpy()
    sk, t_sklearn, _ = meter.best(lambda: sklearn_quality(y, y_hat, p), 1)
    worst = max(abs((q_result.metric(k).value or np.nan) - v) for k, v in sk.items())

    pred_cfg = cfg.predictions
    _, t_groups, _ = meter.best(lambda: bias.evaluate(frame, pred_cfg, cfg.bias, None), args.repeat)
    _, t_quality_eval, _ = meter.best(lambda: quality.evaluate(frame, pred_cfg, cfg.quality, None), args.repeat)

    t_fairlearn = None
    if not args.skip_fairlearn:
        print("running fairlearn MetricFrame (slow) …", flush=True)
        _, t_fairlearn, _ = meter.best(lambda: fairlearn_groups(frame), 1)

    rows = [
        ("pandas read_parquet, whole file", t_read, m_read),
        ("pandas read_parquet, the 4 columns bias needs", t_read_bias_cols, m_read_bias_cols),
        ("pandas read_parquet, the 3 columns quality needs", t_read_quality_cols, m_read_quality_cols),
        ("mlgate quality run (read + 8 metrics)", t_quality, m_quality),
        ("mlgate bias run (read + 3 groupings)", t_bias, m_bias),
        ("scikit-learn, same 8 metrics on loaded arrays", t_sklearn, None),
        ("mlgate quality evaluate on the loaded frame", t_quality_eval, None),
        ("mlgate bias evaluate on the loaded frame (per-group part)", t_groups, None),
        ("fairlearn MetricFrame, same metrics and groupings", t_fairlearn, None),
    ]
    print(f"{'measurement':58} {'seconds':>9} {'peak MiB':>9}")
    for name, seconds, peak in rows:
        s = "skipped" if seconds is None else f"{seconds:9.3f}"
        m = "" if peak is None else f"{peak / mb:9.0f}"
        print(f"{name:58} {s:>9} {m:>9}")
    print(f"{'loaded frame (memory_usage deep)':58} {'':>9} {frame_bytes / mb:9.0f}")
    print(f"\nquality status {q_result.status.value}: {q_result.summary}")
    print(f"bias status {b_result.status.value}: {b_result.summary[:300]}")
    print(f"largest |mlgate − scikit-learn| over the 8 metrics: {worst:.2e}\n")

    targets = [
        ("bias run ≤ 1.5× bare read (whole file)", t_bias / t_read, 1.5, "≤"),
        ("quality run ≤ scikit-learn on loaded arrays", t_quality / t_sklearn, 1.0, "≤"),
        ("per-group part ≥ 10× faster than MetricFrame",
         None if t_fairlearn is None else t_fairlearn / t_groups, 10.0, "≥"),
        ("quality peak memory ≤ 2× loaded frame", m_quality / frame_bytes, 2.0, "≤"),
        ("bias peak memory ≤ 2× loaded frame", m_bias / frame_bytes, 2.0, "≤"),
    ]
    print(f"{'target':48} {'ratio':>8}  result")
    for name, ratio, limit, op in targets:
        if ratio is None:
            print(f"{name:48} {'—':>8}  skipped")
            continue
        ok = ratio <= limit if op == "≤" else ratio >= limit
        print(f"{name:48} {ratio:8.2f}  {'PASS' if ok else 'MISS'}")
    print(f"(bias run vs reading only its 4 columns: {t_bias / t_read_bias_cols:.2f}×; peak memory of the bare "
          f"read of the quality columns alone: {m_read_quality_cols / frame_bytes:.2f}× the loaded frame)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
